#!/usr/bin/env python3
"""Writes the events.jsonl of the traffic-shaped invalid_recipients cases
(purchased_list, double_opt_in_newsletter, busy_account_few_bounces) in the
form `ingest parse` emits. Deterministic: run it again and nothing changes.
The other cases' events were written by hand or cut from earlier runs."""
import json, datetime

T0 = datetime.datetime(2025, 3, 3, 9, 0, 0)

def ev(n, host, sec, sender, sasl, rcpt, unknown, qid):
    ts = (T0 + datetime.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%SZ")
    e = {"v": 1, "id": f"{host}:maillog:{n}", "ts": ts, "mta": "postfix", "host": host,
         "queue_id": f"{qid:X}", "sender": sender, "recipient": rcpt}
    if unknown:
        e.update(status="bounced", dsn="5.1.1", reply_code=550,
                 reply_text=f"550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table",
                 reason="user_unknown")
    else:
        e.update(status="sent", dsn="2.0.0", reply_code=250, reply_text="250 2.0.0 Ok: queued", reason="")
    e.update(relay="mx.example.org[198.51.100.7]:25", client_ip="192.0.2.10", sasl_user=sasl,
             message_id=f"<{qid:x}@{sender.split('@')[1]}>", size=4096)
    return e

def background(out, hours=1):
    # ordinary customers: a few hundred deliveries, no bounces
    for i in range(300 * hours):
        out.append((i * 12, "alice@law-office.example", "lawoffice", f"client{i % 90}@mail{i % 7}.example", False))

def write(name, rows):
    rows.sort(key=lambda r: r[0])
    with open(f"{name}/events.jsonl", "w") as f:
        for n, (sec, sender, sasl, rcpt, unknown) in enumerate(rows):
            f.write(json.dumps(ev(1000 + n, "mx1.example.net", sec, sender, sasl, rcpt, unknown, 0x1A000 + n),
                               separators=(",", ":")) + "\n")

# A customer mails a purchased list: 900 messages in 45 minutes, 12 % of
# them (every 8th or so) to addresses that do not exist.
rows = []
background(rows)
for i in range(900):
    unknown = (i * 12) % 100 < 12  # 108 of 900: 12 %
    rows.append((i * 3, "offers@cheap-leads.example", "cheapleads", f"lead{i:04d}@isp{i % 23}.example", unknown))
write("purchased_list", rows)

# A double-opt-in newsletter: 2,000 messages in an hour, 1.5 % unknown
# (subscribers who left their provider), spread evenly.
rows = []
background(rows)
for i in range(2000):
    unknown = i % 67 == 33  # 30 of 2,000: 1.5 %
    rows.append((i * 18 // 10, "news@bakery.example", "bakery", f"reader{i:04d}@isp{i % 31}.example", unknown))
write("double_opt_in_newsletter", rows)

# A busy account: 600 messages an hour from three addresses, 4 typos
# bouncing, two of them among its first twenty messages (20 %).
rows = []
background(rows)
for i in range(600):
    unknown = i in (3, 11, 250, 480)
    sender = ["sales@wholesale.example", "billing@wholesale.example", "info@wholesale.example"][i % 3]
    rows.append((i * 6, "sales@wholesale.example" if i < 20 else sender, "wholesale", f"buyer{i % 150}@shop{i % 40}.example", unknown))
write("busy_account_few_bounces", rows)
