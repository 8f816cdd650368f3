#!/usr/bin/env python3
"""Writes the scenarios of the recipient stage's rules (events.jsonl as
`ingest parse` emits them, queue samples as ingest produces them to
mail.queue, config.yaml, expect.txt). Deterministic: run it again and
nothing changes. Run from this directory, then regenerate the goldens:
go test ./internal/detector -run TestScenarios -update (and review them).
DNS answers come from the test zone of internal/resolve/dnstest."""
import json, datetime, os

T0 = datetime.datetime(2025, 3, 3, 9, 0, 0)
HOST = "mx1.example.net"

REPLIES = {
    "sent": ("sent", "2.0.0", 250, "250 2.0.0 OK 1741000000 queued", ""),
    "unknown": ("bounced", "5.1.1", 550, "550 5.1.1 <{r}>: Recipient address rejected: User unknown in virtual mailbox table", "user_unknown"),
    "full_4xx": ("deferred", "4.2.2", 452, "452 4.2.2 <{r}>: Mailbox full, quota exceeded", "mailbox_full"),
    "full_5xx": ("bounced", "5.2.2", 552, "552 5.2.2 <{r}>: Mailbox full", "mailbox_full"),
    "blocked_by_user": ("bounced", "5.7.1", 550, "550 5.7.1 <{r}>: Recipient address rejected: Message rejected by recipient's policy (sender blocked by user)", "recipient_block"),
    "rate_4xx": ("deferred", "4.2.1", 450, "450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered", "rate_limited"),
    "no_host": ("bounced", "5.4.4", 0, "Host or domain name not found. Name service error for name={d} type=MX: Host not found", "host_not_found"),
    "no_host_try_again": ("deferred", "4.4.3", 0, "Host or domain name not found. Name service error for name={d} type=MX: Host not found, try again", "host_not_found"),
    "timed_out": ("deferred", "4.4.1", 0, "connect to mx.{d}[93.184.216.37]:25: Connection timed out", "network"),
    "spamhaus": ("bounced", "5.7.1", 554, "554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/{ip}", "blocklisted"),
}

class Case:
    def __init__(self, rule, name, expect, comment, config=None):
        self.dir = f"{rule}/{name}"
        self.expect, self.comment, self.config = expect, comment, config
        self.rows = []  # (sec, kind, dict)

    def mail(self, sec, sender, rcpt, reply, subject=None, sasl=None, ip="1.2.3.6"):
        self.rows.append((sec, "ev", dict(sender=sender, rcpt=rcpt, reply=reply, subject=subject, sasl=sasl or sender.split("@")[0], ip=ip)))

    def queue(self, sec, total, deferred, senders=(), reasons=()):
        self.rows.append((sec, "q", dict(total=total, deferred=deferred, senders=senders, reasons=reasons)))

    def write(self):
        os.makedirs(self.dir, exist_ok=True)
        self.rows.sort(key=lambda r: r[0])
        with open(f"{self.dir}/events.jsonl", "w") as f:
            for n, (sec, kind, d) in enumerate(self.rows):
                ts = (T0 + datetime.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%SZ")
                if kind == "q":
                    rec = {"v": 1, "ts": ts, "mta": "postfix", "host": HOST,
                           "queues": {"active": d["total"] - d["deferred"], "deferred": d["deferred"]},
                           "total": d["total"]}
                    if d["senders"]:
                        rec["top_senders"] = [{"name": s, "count": c} for s, c in d["senders"]]
                    if d["reasons"]:
                        rec["top_reasons"] = [{"name": s, "count": c} for s, c in d["reasons"]]
                else:
                    status, dsn, code, text, reason = REPLIES[d["reply"]]
                    r = d["rcpt"]
                    dom = r.split("@")[1]
                    text = text.format(r=r, d=dom, ip=d["ip"])
                    qid = 0x2B000 + n
                    rec = {"v": 1, "id": f"{HOST}:maillog:{1000 + n}", "ts": ts, "mta": "postfix", "host": HOST,
                           "queue_id": f"{qid:X}", "sender": d["sender"], "recipient": r, "status": status,
                           "dsn": dsn, "reply_code": code, "reply_text": text, "reason": reason,
                           "relay": "none" if reason == "host_not_found" else f"mx.{dom}[93.184.216.34]:25",
                           "client_ip": "192.0.2.10", "sasl_user": d["sasl"],
                           "message_id": f"<{qid:x}@{d['sender'].split('@')[1]}>", "size": 2048}
                    if d["subject"]:
                        rec["subject"] = d["subject"]
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        with open(f"{self.dir}/expect.txt", "w") as f:
            f.write("".join(f"# {l}\n" for l in self.comment.strip().split("\n")))
            f.write("".join(l + "\n" for l in self.expect))
        if self.config:
            with open(f"{self.dir}/config.yaml", "w") as f:
                f.write(self.config)
        elif os.path.exists(f"{self.dir}/config.yaml"):
            os.remove(f"{self.dir}/config.yaml")

H = 3600
cases = []

def busy(c, hours=2, rcpt_domain="gmail-like.com"):
    """Ordinary traffic: two customers mailing many recipients, all delivered."""
    for i in range(60 * hours):
        c.mail(i * 60, "alice@law-office.example", f"client{i % 40}@{rcpt_domain}", "sent")
        c.mail(i * 60 + 30, "news@shop.example", f"buyer{i % 50}@ok-mail.com", "sent")

# --- sms_gateway
c = Case("sms_gateway", "to_gateway", ["sms_gateway recipient_domain:vtext.com ban level=1"],
         "One message to an email-to-SMS gateway bans its domain at once (policy);\nthe second message is silenced by the ban in force.")
busy(c, 1)
c.mail(600, "alerts@monitor.example", "5551234567@vtext.com", "sent")
c.mail(900, "alerts@monitor.example", "5557654321@vtext.com", "sent")
cases.append(c)
c = Case("sms_gateway", "look_alikes", [],
         "Domains that merely resemble gateways, and a gateway taken off the list\nin config, are not banned.",
         "rules:\n  sms_gateway:\n    exclude: [txt.att.net]\n")
busy(c, 1)
c.mail(600, "alerts@monitor.example", "ops@vtext.community", "sent")
c.mail(700, "alerts@monitor.example", "ops@myvtext.com", "sent")
c.mail(800, "alerts@monitor.example", "5551234567@txt.att.net", "sent")
cases.append(c)
c = Case("sms_gateway", "added_in_config", ["sms_gateway recipient_domain:sms.carrier-x.example ban level=1"],
         "A gateway the operator adds in config is banned like the shipped ones.",
         "rules:\n  sms_gateway:\n    domains: [sms.carrier-x.example]\n")
c.mail(60, "alerts@monitor.example", "5551234567@sms.carrier-x.example", "sent")
cases.append(c)

# --- nonexistent_recipient
c = Case("nonexistent_recipient", "dead_address", ["nonexistent_recipient recipient:old.employee@corp-x.com ban level=1"],
         "An address that bounces 5.1.1 for three senders over three days, never\ndelivered, is dead.")
busy(c, 1, "corp-x.com")
for d, s in enumerate(["alice@law-office.example", "news@shop.example", "alice@law-office.example"]):
    c.mail(d * 24 * H + 1800, s, "old.employee@corp-x.com", "unknown")
cases.append(c)
c = Case("nonexistent_recipient", "big_provider_4xx", [],
         "A big provider deferring now and then (4.2.1 rate limits) between\ndeliveries: no recipient is banned.")
busy(c, 3)
for i in range(30):
    c.mail(i * 300 + 10, "alice@law-office.example", f"client{i % 40}@gmail-like.com", "rate_4xx")
cases.append(c)
c = Case("nonexistent_recipient", "delivered_between", [],
         "Two bounces, then a delivery (the mailbox was re-created), then one more\nbounce: a delivery in the window clears it.")
for d, r in enumerate(["unknown", "unknown", "sent", "unknown"]):
    c.mail(d * 12 * H, "alice@law-office.example", "flaky@corp-x.com", r)
cases.append(c)

# --- mailbox_full
c = Case("mailbox_full", "always_full", ["mailbox_full recipient:hoarder@ok-mail.com ban level=1",
                                          "lift mailbox_full recipient:hoarder@ok-mail.com"],
         "Full for more than a day for three senders (deferred 4.2.2 and bounced\n5.2.2): banned. The next retry of a queued copy is delivered (the owner\nmade room): the ban is lifted at once.")
for i, s in enumerate(["alice@law-office.example", "news@shop.example", "bob@startup.example"] * 3):
    c.mail(i * 4 * H, s, "hoarder@ok-mail.com", "full_4xx" if i % 2 else "full_5xx")
c.mail(40 * H, "news@shop.example", "hoarder@ok-mail.com", "sent")
cases.append(c)
c = Case("mailbox_full", "full_for_an_hour", [],
         "A mailbox full for one hour (ten refusals, three senders), then emptied:\nnever banned.")
busy(c, 2)
for i in range(10):
    c.mail(i * 360, ["alice@law-office.example", "news@shop.example", "bob@startup.example"][i % 3], "busy.person@ok-mail.com", "full_4xx")
c.mail(H + 600, "alice@law-office.example", "busy.person@ok-mail.com", "sent")
cases.append(c)

# --- unwanted
c = Case("unwanted", "blocks_one_sender", ["unwanted sender_recipient:pushy@spammy-shop.example=>ceo@corp-x.com ban level=1"],
         "A recipient that keeps refusing one sender by its own policy while it\naccepts others: the pair is banned, nobody else's mail.")
for i in range(6):
    c.mail(i * 6 * H, "alice@law-office.example", "ceo@corp-x.com", "sent")
for i in range(3):
    c.mail(i * 8 * H + 100, "pushy@spammy-shop.example", "ceo@corp-x.com", "blocked_by_user")
cases.append(c)
c = Case("unwanted", "refuses_everyone", [],
         "A recipient refusing every sender is not refusing one: no pair ban.")
for i in range(3):
    c.mail(i * 8 * H, "alice@law-office.example", "closed@corp-x.com", "blocked_by_user")
    c.mail(i * 8 * H + 100, "pushy@spammy-shop.example", "closed@corp-x.com", "blocked_by_user")
cases.append(c)

# --- junk_to_third_party
c = Case("junk_to_third_party", "cron_to_gmail", ["cron_flood sender:root@web1.customer.example ban level=1",
                                                  "junk_to_third_party sender_recipient:root@web1.customer.example=>owner@gmail-like.com ban level=1"],
         "A per-minute cron job mails its output to the owner's free-mail inbox:\nthe sender stage's cron_flood bans the sender at 30, and the 100th\nmessage of one kind in a day bans the pair (kept when the sender ban ends).")
busy(c, 2)
for i in range(130):
    c.mail(i * 60 + 5, "root@web1.customer.example", "owner@gmail-like.com", "sent",
           subject=f"Cron <root@web1> /usr/bin/php /var/www/site/cron.php --run {i}", sasl="customer1")
cases.append(c)
c = Case("junk_to_third_party", "daily_correspondence", [],
         "Forty different messages a day from one person to a colleague, and a\nnightly report: not junk.")
for i in range(40):
    c.mail(i * 900, "alice@law-office.example", "partner@gmail-like.com", "sent", subject=f"Re: case {['Smith', 'Jones', 'Brown', 'Lee'][i % 4]} - {['filing', 'hearing', 'notes', 'invoice', 'draft'][i % 5]} {chr(65 + i % 26)}")
for d in range(3):
    c.mail(d * 24 * H + 3600, "root@web1.customer.example", "owner@gmail-like.com", "sent", subject="Daily backup report")
cases.append(c)

# --- no_mx
c = Case("no_mx", "cannot_receive", ["no_mx recipient_domain:nxdomain-here.com ban level=1",
                                     "no_mx recipient_domain:null-mx.com ban level=1",
                                     "no_mx recipient_domain:private-mx.com ban level=1",
                                     "no_mx recipient_domain:localhost ban level=1",
                                     "no_mx recipient_domain:txt-only.com ban level=1"],
         "Failures citing DNS, decided by the test zone: NXDOMAIN, null MX, an MX on\na private address, a reserved name (no lookup), a domain with neither MX\nnor A.")
busy(c, 1)
for i, d in enumerate(["nxdomain-here.com", "null-mx.com", "private-mx.com", "localhost", "txt-only.com"]):
    c.mail(300 + i * 60, "alice@law-office.example", f"someone@{d}", "no_host")
cases.append(c)
c = Case("no_mx", "benign_look_alikes", [],
         "Domains that can receive although a delivery cited DNS: only an A record\n(implicit MX), a CNAME'd MX host, an MX down for an hour (timeouts, then\none 'try again' DNS deferral while it resolves), and lookups that fail\n(SERVFAIL, REFUSED, timeout, an MX host that SERVFAILs): never evidence.")
busy(c, 2)
for i, d in enumerate(["a-only.com", "cname-mx.com", "servfail.com", "refused.com", "timeout.com", "servfail-mx.com", "big-mx.com"]):
    c.mail(300 + i * 60, "alice@law-office.example", f"someone@{d}", "no_host")
for i in range(12):
    c.mail(1200 + i * 300, "news@shop.example", "buyer@mx-down.com", "timed_out")
c.mail(2000, "news@shop.example", "buyer@mx-down.com", "no_host_try_again")
c.mail(H + 1200, "news@shop.example", "buyer@mx-down.com", "sent")
cases.append(c)

c = Case("no_mx", "hostile_names", [],
         "Domains no query may carry (a 64-byte label, a name over 253 bytes, an\nunderscore, an empty label, a hyphen at a label's edge, markup): refused\nbefore any query, counted in mxwarden_detector_dns_names_rejected_total,\nnever a verdict.")
long = "abcdefghi." * 28 + "com"
for i, d in enumerate(["x" * 64 + ".com", long, "under_score.com", "a..b.com", "-lead.com", "<b>.com", "xn--.com"]):
    c.mail(300 + i * 60, "alice@law-office.example", f"someone@{d}", "no_host")
cases.append(c)

# --- false_blocklist_claim
cfg = "rules:\n  false_blocklist_claim:\n    platform_ips: [1.2.3.6, 1.2.3.4, 1.2.3.5]\n    zones: [spamhaus=bl.dnsbl-test.net]\n"
c = Case("false_blocklist_claim", "false_spamhaus_claim", ["false_blocklist_claim recipient_domain:misconfigured.com ban level=1"],
         "Three 'blocked using zen.spamhaus.org' rejections citing our IP 1.2.3.6,\nwhich the list (after its self-test) does not list: the recipient domain\nis cooled down; our IP never is.", cfg)
busy(c, 1)
for i in range(3):
    c.mail(600 + i * 600, "alice@law-office.example", f"x{i}@misconfigured.com", "spamhaus", ip="1.2.3.6")
cases.append(c)
c = Case("false_blocklist_claim", "true_or_unknown_claims", [],
         "Claims that are true (1.2.3.4 is listed), or that the list answers with\nan error code (127.255.255.254 for 1.2.3.5: unknown), or only two claims:\nno ban.", cfg)
busy(c, 1)
for i in range(3):
    c.mail(600 + i * 600, "alice@law-office.example", f"x{i}@strict.com", "spamhaus", ip="1.2.3.4")
    c.mail(650 + i * 600, "alice@law-office.example", f"x{i}@public-resolver.com", "spamhaus", ip="1.2.3.5")
for i in range(2):
    c.mail(700 + i * 600, "alice@law-office.example", f"x{i}@twice.com", "spamhaus", ip="1.2.3.6")
cases.append(c)
c = Case("false_blocklist_claim", "header_parsing", ["false_blocklist_claim recipient_domain:reads-headers.com ban level=1"],
         "The rejections cite an IP that is not ours (the customer's own, read from\nour Received headers): a false claim about our connection.", cfg)
for i in range(3):
    c.mail(600 + i * 600, "alice@law-office.example", f"x{i}@reads-headers.com", "spamhaus", ip="203.0.113.9")
cases.append(c)

# --- queue_flood
c = Case("queue_flood", "cron_flood", ["queue_flood sender:root@web1.customer.example flag"],
         "The queue jumps from ~120 to 1,500 with one customer's cron mail at the\ntop: flagged (an alert naming the sender), never a ban. The next samples\nare silenced while the verdict holds.")
for i in range(8):
    c.queue(i * 300, 110 + i * 3, 20)
c.queue(2400, 1500, 1300, senders=[("root@web1.customer.example", 1200), ("news@shop.example", 40)],
        reasons=[("connect to mx.invalid-domain.example: Connection timed out", 900)])
c.queue(2700, 1700, 1500, senders=[("root@web1.customer.example", 1400)])
cases.append(c)
c = Case("queue_flood", "steady_busy_queue", [],
         "A big queue that stays big (a busy host, 2,000 messages all hour) or a\nsmall spike below 1,000: no flag.")
for i in range(12):
    c.queue(i * 300, 2000 + (i % 3) * 50, 300, senders=[("news@shop.example", 800)])
for i in range(12):
    c.queue(3 * H + i * 300, 100 if i != 6 else 900, 10, senders=[("news@shop.example", 50)])
cases.append(c)

for c in cases:
    c.write()
