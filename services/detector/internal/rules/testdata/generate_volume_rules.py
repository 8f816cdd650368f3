#!/usr/bin/env python3
"""Writes events.jsonl, config.yaml and expect.txt of the scenario cases of
rate_limit, account_rate_limit, limit_evasion, spf_rejections, spoofing and
auth_failures, in the form `ingest parse` emits (Postfix). Deterministic:
run it again (from this directory) and nothing changes. Review the goldens
with `go test ./internal/detector -run TestScenarios -update`."""
import json, datetime, os

T0 = datetime.datetime(2025, 3, 3, 9, 0, 0)
HOST = "mx1.example.net"

class Case:
    def __init__(self, rule, name, expect, config=None, files=None):
        self.dir = os.path.join(rule, name)
        self.expect, self.config, self.files = expect, config, files or {}
        self.rows = []

    def add(self, sec, **kw):
        self.rows.append((sec, kw))

    def write(self):
        os.makedirs(self.dir, exist_ok=True)
        self.rows.sort(key=lambda r: r[0])
        with open(os.path.join(self.dir, "events.jsonl"), "w") as f:
            for n, (sec, kw) in enumerate(self.rows):
                f.write(json.dumps(event(n, sec, **kw), separators=(",", ":")) + "\n")
        with open(os.path.join(self.dir, "expect.txt"), "w") as f:
            f.write(self.expect.strip("\n") + "\n")
        if self.config:
            with open(os.path.join(self.dir, "config.yaml"), "w") as f:
                f.write(self.config.strip("\n") + "\n")
        for name, text in self.files.items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)

OUTCOMES = {
    "sent": dict(status="sent", dsn="2.0.0", reply_code=250, reply_text="250 2.0.0 OK  1741000000 a1si1.12 - gsmtp", reason=""),
    "dmarc": dict(status="bounced", dsn="5.7.26", reply_code=550,
                  reply_text="550-5.7.26 Unauthenticated email from shop.example is not accepted due to domain's 550-5.7.26 DMARC policy. Please contact the administrator of shop.example domain. - gsmtp",
                  reason="auth_failure"),
    "spf": dict(status="bounced", dsn="5.7.27", reply_code=550,
                reply_text="550-5.7.27 The sender is not authorized to send on behalf of this domain (SPF fail). - gsmtp",
                reason="auth_failure"),
    "spamhaus": dict(status="bounced", dsn="5.7.1", reply_code=554,
                     reply_text="554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org",
                     reason="blocklisted"),
    "unknown": dict(status="bounced", dsn="5.1.1", reply_code=550,
                    reply_text="550 5.1.1 <x@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
                    reason="user_unknown"),
}

def event(n, sec, sender="", rcpt="", sasl="", outcome="sent", subject=None, client="192.0.2.10",
          relay="gmail-smtp-in.l.google.com[142.250.27.26]:25", status=None):
    ts = (T0 + datetime.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%SZ")
    qid = f"{0x2B000 + n:X}"
    e = {"v": 1, "id": f"{HOST}:maillog:{5000 + n}", "ts": ts, "mta": "postfix", "host": HOST,
         "queue_id": qid if status != "auth_failed" else "", "sender": sender, "recipient": rcpt}
    if status == "auth_failed":
        e.update(status="auth_failed", dsn="5.7.8", reply_code=535, reply_text="SASL LOGIN authentication failed: UGFzc3dvcmQ6",
                 reason="auth_failure", relay="", client_ip=client, sasl_user=sasl, message_id="", size=0)
        return e
    e.update(OUTCOMES[outcome])
    e.update(relay=relay, client_ip=client, sasl_user=sasl,
             message_id=f"<{qid.lower()}@{sender.split('@')[1] if '@' in sender else 'localhost'}>", size=4096)
    if subject is not None:
        e["subject"] = subject
    return e

def background(c, hours=1):
    """Ordinary customers in the same hours: a law office, well under every limit."""
    for i in range(120 * hours):
        c.add(i * 30, sender="alice@law-office.example", rcpt=f"client{i % 60}@mail{i % 7}.example", sasl="lawoffice",
              subject=f"Re: case {1000 + i % 40}")

ONLY = {
    "rate_limit": ["rate_limit", "account_rate_limit"],
    "limit_evasion": ["limit_evasion"],
    "spf_rejections": ["spf_rejections"],
    "spoofing": ["spoofing"],
    "auth_failures": ["auth_failures"],
}

cases = []

# --- rate_limit -------------------------------------------------------------
c = Case("rate_limit", "runaway_script", """
# A script on a customer's site sends 1,200 messages in one hour from one
# address (one every 3 s). Over the 300/h ceiling every delivery is deferred
# for a 5-minute bucket at a time (rate_limit per address and
# account_rate_limit per login, each its own verdict); at 900 in the hour
# (3x the ceiling) the address is banned, which also ends its defers. The
# login is deferred on until its own 3x.
rate_limit sender:mailer@busy-site.example defer level=1
account_rate_limit account:busysite defer level=1
rate_limit sender:mailer@busy-site.example defer level=2
account_rate_limit account:busysite defer level=2
rate_limit sender:mailer@busy-site.example defer level=3
account_rate_limit account:busysite defer level=3
rate_limit sender:mailer@busy-site.example defer level=4
account_rate_limit account:busysite defer level=4
rate_limit sender:mailer@busy-site.example defer level=5
account_rate_limit account:busysite defer level=5
rate_limit sender:mailer@busy-site.example defer level=6
account_rate_limit account:busysite defer level=6
rate_limit sender:mailer@busy-site.example ban level=1
account_rate_limit account:busysite ban level=1
""")
background(c)
for i in range(1200):
    c.add(i * 3, sender="mailer@busy-site.example", rcpt=f"user{i}@isp{i % 17}.example", sasl="busysite",
          subject=f"Your order {20000 + i} has shipped")
cases.append(c)

c = Case("rate_limit", "password_reset_burst", """
# A password-reset burst: 500 messages in 10 minutes after a site's
# announcement. At the 301st the address and the login are deferred for a
# 5-minute bucket (a temporary refusal the application's queue retries),
# which outlasts the burst; never banned: 500 stays under 3x the ceiling.
rate_limit sender:no-reply@forum.example defer level=1
account_rate_limit account:forum defer level=1
""")
background(c)
for i in range(500):
    c.add(600 + i * 6 // 5, sender="no-reply@forum.example", rcpt=f"member{i}@isp{i % 29}.example", sasl="forum",
          subject="Reset your password")
cases.append(c)

c = Case("rate_limit", "three_senders_under_limit", """
# An account with three sender addresses, 90 messages an hour each (270 in
# sum) for a whole day: under 300/h per address and per login, and 6,480 a
# day, under 9,600. Nothing.
""")
for h in range(24):
    for i in range(90):
        for j, s in enumerate(["sales", "billing", "info"]):
            c.add(h * 3600 + i * 40 + j, sender=f"{s}@wholesale.example", rcpt=f"c{(i * 3 + j) % 400}@isp{i % 9}.example",
                  sasl="wholesale", subject=f"Quote {h * 100 + i}")
cases.append(c)

# --- limit_evasion ----------------------------------------------------------
c = Case("limit_evasion", "rotated_senders", """
# One login sends one campaign from sender1..sender5@: 80 an hour each (each
# address well under 300/h), 400 in sum with one subject fingerprint (the
# order number folds away). Past 300 in sum with 3+ addresses: the account
# is banned (banning one address would stop nothing).
limit_evasion account:promo ban level=1
""")
background(c)
for i in range(400):
    c.add(i * 9, sender=f"sender{i % 5 + 1}@deals.example", rcpt=f"lead{i}@isp{i % 23}.example", sasl="promo",
          subject=f"Spring sale: 40% off your order #{31000 + i * 7}")
cases.append(c)

c = Case("limit_evasion", "newsletter_under_limit", """
# Three addresses of one login send the same newsletter, 250 in sum in the
# hour: under the 300 the rule protects. Nothing.
""")
background(c)
for i in range(250):
    c.add(i * 14, sender=["news", "events", "offers"][i % 3] + "@bakery.example", rcpt=f"reader{i}@isp{i % 31}.example",
          sasl="bakery", subject="The bakery's March letter")
cases.append(c)

c = Case("limit_evasion", "busy_role_addresses", """
# A busy account: sales@, billing@ and info@ at 200 an hour each (600 in sum)
# with their own subjects (quotes, invoices, replies). No fingerprint is
# shared by several addresses, so no evasion; the 300/h ceilings are
# rate_limit's (off in this case).
""", config="""
rules:
  rate_limit:
    enabled: false
  account_rate_limit:
    enabled: false
""")
for i in range(600):
    s = ["sales", "billing", "info"][i % 3]
    subj = {"sales": f"Quote Q-{4000 + i} for your request", "billing": f"Invoice {9000 + i} from Wholesale Ltd",
            "info": f"Re: question about item {i}"}[s]
    c.add(i * 6, sender=f"{s}@wholesale.example", rcpt=f"c{i}@isp{i % 9}.example", sasl="wholesale", subject=subj)
cases.append(c)

# --- spf_rejections ---------------------------------------------------------
c = Case("spf_rejections", "missing_spf", """
# shop.example moved its mail to the platform without adding it to its SPF
# record: Gmail refuses one in three messages for DMARC / SPF (5.7.26,
# 5.7.27). At the 5th rejection (5 of 15 attempts, 33 %): the sender domain
# is banned until the record is fixed.
spf_rejections sender_domain:shop.example ban level=1
""")
background(c)
for i in range(60):
    o = "dmarc" if i % 3 == 1 else ("spf" if i % 9 == 5 else "sent")
    c.add(i * 50, sender=["orders", "news"][i % 2] + "@shop.example", rcpt=f"buyer{i}@gmail.com", sasl="shop", outcome=o)
cases.append(c)

c = Case("spf_rejections", "few_rejections", """
# A domain with a working SPF record and a couple of DMARC rejections from
# forwarded mail: 3 of 100 (3 %), under both the count and the share.
# Nothing.
""")
for i in range(100):
    c.add(i * 30, sender="team@agency.example", rcpt=f"client{i}@gmail.com", sasl="agency",
          outcome="dmarc" if i in (10, 50, 90) else "sent")
cases.append(c)

c = Case("spf_rejections", "blocklist_not_auth", """
# Twenty "blocked using zen.spamhaus.org" rejections: a block-list problem of
# the platform's IP (false_blocklist_claim's, on the recipient side), not the
# domain's authentication. Nothing here.
""")
for i in range(40):
    c.add(i * 60, sender="info@cafe.example", rcpt=f"guest{i}@mail.example.org", sasl="cafe",
          outcome="spamhaus" if i % 2 else "sent", relay="mx.example.org[198.51.100.7]:25")
cases.append(c)

# --- spoofing ---------------------------------------------------------------
OWNERS = """# DirectAdmin /etc/virtual/domainowners
bobs-shop.example: bob
bobs-blog.example: bob
anns-studio.example: ann
"""
SPOOF_CFG = """
rules:
  spoofing:
    owner_files: ["../rules/testdata/spoofing/%s/domainowners"]
"""
c = Case("spoofing", "foreign_domains", """
# The panel user bob owns bobs-shop.example and bobs-blog.example, and sends
# as ceo@bank.example and then support@payments.example: the second foreign
# address crosses (2 in 24 h) and is banned, and the first is banned at its
# next message. anns-studio.example belongs to another customer: bob
# sending as ann@ bans bob's account, not ann's address.
spoofing sender:support@payments.example ban level=1
spoofing sender:ceo@bank.example ban level=1
spoofing account:bob ban level=1
""", config=SPOOF_CFG % "foreign_domains", files={"domainowners": OWNERS})
background(c)
for i in range(20):
    c.add(i * 60, sender="orders@bobs-shop.example", rcpt=f"buyer{i}@isp.example", sasl="bob")
c.add(1300, sender="ceo@bank.example", rcpt="victim1@isp.example", sasl="bob")
c.add(1400, sender="support@payments.example", rcpt="victim2@isp.example", sasl="bob")
c.add(1500, sender="ceo@bank.example", rcpt="victim3@isp.example", sasl="bob")
c.add(1600, sender="ann@anns-studio.example", rcpt="victim4@isp.example", sasl="bob")
cases.append(c)

c = Case("spoofing", "own_domains", """
# bob sends as both his domains and a subdomain of one; a mailbox login of
# ann's domain sends as her domain. All owned. Nothing.
""", config=SPOOF_CFG % "own_domains", files={"domainowners": OWNERS})
for i in range(30):
    s = ["orders@bobs-shop.example", "me@bobs-blog.example", "alerts@mail.bobs-shop.example"][i % 3]
    c.add(i * 60, sender=s, rcpt=f"r{i}@isp.example", sasl="bob")
    c.add(i * 60 + 1, sender="hello@anns-studio.example", rcpt=f"r{i}@isp.example", sasl="hello@anns-studio.example")
cases.append(c)

c = Case("spoofing", "one_personal_identity", """
# A mailbox login relays its owner's personal Gmail identity ("send mail
# as"), with no owner files: one foreign address in 24 h, under the 2 the
# rule needs. Nothing.
""")
for i in range(10):
    c.add(i * 600, sender="jane.doe@gmail.com", rcpt=f"friend{i}@isp.example", sasl="jane@jane-consulting.example")
    c.add(i * 600 + 5, sender="jane@jane-consulting.example", rcpt=f"client{i}@isp.example", sasl="jane@jane-consulting.example")
cases.append(c)

# --- auth_failures ----------------------------------------------------------
c = Case("auth_failures", "credential_stuffing", """
# 203.0.113.9 tries 40 logins in 5 minutes against submission: at the 5th
# failure it has tried 5 different logins (>= 3 with >= 5 failures): the IP
# is banned at every MTA.
auth_failures client_ip:203.0.113.9 ban level=1
""")
background(c)
for i in range(40):
    c.add(300 + i * 7, status="auth_failed", sasl=f"{['info', 'admin', 'sales', 'office', 'test'][i % 5]}@victim{i // 5}.example",
          client="203.0.113.9")
cases.append(c)

c = Case("auth_failures", "stale_password", """
# An office mail client with a stale saved password retries one login every
# two minutes: 9 failures in 18 minutes, never 10 within 10 minutes, one
# login only. Nothing: the user fixes the password.
""")
for i in range(9):
    c.add(i * 120, status="auth_failed", sasl="reception@clinic.example", client="198.51.100.20")
cases.append(c)

c = Case("auth_failures", "two_offices", """
# Two offices, each with one mistyped login, 6 failures each within the same
# 10 minutes: each IP stays under 10 and tries one login. Nothing.
""")
for i in range(6):
    c.add(i * 60, status="auth_failed", sasl="ann@firm.example", client="198.51.100.30")
    c.add(i * 60 + 20, status="auth_failed", sasl="bob@firm.example", client="198.51.100.31")
cases.append(c)

for c in cases:
    rule = c.dir.split("/")[0]
    if c.config is None:
        # Pin the case to its own rules: the same traffic's other verdicts
        # belong to those rules' cases.
        c.config = "rules:\n" + "".join(
            f"  {r}:\n    enabled: false\n" for r in ["invalid_recipients", "rate_limit", "account_rate_limit", "limit_evasion",
                                                        "spf_rejections", "spoofing", "auth_failures"]
            if r not in ONLY[rule])
    c.write()
