"""Shared helper of the sender-side rules' scenario generators
(<rule>/generate.py): events in the form `ingest parse` writes them.
Deterministic: the same calls give the same bytes."""
import datetime
import json

T0 = datetime.datetime(2025, 3, 3, 9, 0, 0)

REPLIES = {
    "sent": ("sent", "2.0.0", 250, "250 2.0.0 Ok: queued as 4XyZ", ""),
    "unknown": ("bounced", "5.1.1", 550, "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table", "user_unknown"),
    "local_unknown": ("bounced", "5.1.1", 0, "unknown user: \"root\"", "user_unknown"),
    "spam": ("bounced", "5.7.1", 550, "550-5.7.1 [192.0.2.25] Gmail has detected that this message is likely suspicious due to the very low reputation of the sending domain", "spam_content"),
    "ratelimit": ("deferred", "4.7.28", 421, "421-4.7.28 [192.0.2.25] Gmail has detected an unusual rate of unsolicited mail originating from your IP address", "rate_limited"),
    "deferred": ("deferred", "4.4.1", 0, "connect to mx.example.org[198.51.100.7]:25: Connection timed out", "network"),
}


class Stream:
    """Collects (seconds, event) rows; write() sorts them by time (stable)
    and numbers the ids."""

    def __init__(self, host="mx1.example.net"):
        self.rows = []
        self.host = host

    def add(self, sec, sender, rcpt, reply="sent", sasl="", client_ip="192.0.2.10", subject=None, **extra):
        self.rows.append((sec, dict(sender=sender, rcpt=rcpt, reply=reply, sasl=sasl, client_ip=client_ip,
                                    subject=subject, extra=extra)))

    def write(self, path):
        self.rows.sort(key=lambda r: r[0])
        with open(path, "w") as f:
            for n, (sec, r) in enumerate(self.rows):
                f.write(json.dumps(self.event(1000 + n, sec, r), separators=(",", ":"), ensure_ascii=False) + "\n")

    def event(self, n, sec, r):
        ts = (T0 + datetime.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%SZ")
        status, dsn, code, text, reason = REPLIES[r["reply"]]
        rcpt = r["rcpt"]
        qid = 0x2B000 + n
        dom = r["sender"].split("@")[1] if "@" in r["sender"] else "localhost"
        e = {"v": 1, "id": f"{self.host}:maillog:{n}", "ts": ts, "mta": "postfix", "host": self.host,
             "queue_id": f"{qid:X}", "sender": r["sender"], "recipient": rcpt, "status": status, "dsn": dsn,
             "reply_code": code, "reply_text": text.format(rcpt=rcpt), "reason": reason,
             "relay": "local" if r["reply"] == "local_unknown" else "mx.example.org[198.51.100.7]:25",
             "client_ip": r["client_ip"], "sasl_user": r["sasl"], "message_id": f"<{qid:x}@{dom}>", "size": 4096}
        if r["subject"] is not None:
            e["subject"] = r["subject"]
        e.update(r["extra"])
        return e


def background(s, hours=1):
    """An ordinary customer in the same stream: 300 deliveries an hour, no bounces."""
    for i in range(300 * hours):
        s.add(i * 12, "alice@law-office.example", f"client{i % 90}@mail{i % 7}.example", sasl="lawoffice",
              subject=f"Re: case {4711 + i % 40}")
