#!/usr/bin/env python3
"""Writes the events.jsonl of the automated_mail cases. Deterministic."""
import os, random, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sendergen import Stream, background

os.chdir(os.path.dirname(os.path.abspath(__file__)))

def case(name):
    os.makedirs(name, exist_ok=True)
    return os.path.join(name, "events.jsonl")

rnd = random.Random(5)

# An Alertmanager firing the same alert every 5 minutes for a day to two
# on-call addresses (SMTP login, Auto-Submitted logged): flagged in
# shadow once it has 100 messages of one subject in 18 distinct hours.
s = Stream()
background(s, hours=24)
for m in range(24 * 12):
    for rcpt in ("ops@customer-shop.example", "oncall@customer-shop.example"):
        s.add(m * 300 + rnd.randint(0, 20), "alertmanager@monitor.customer-shop.example", rcpt, sasl="monitoring",
              subject="[FIRING:1] DiskFull (web1 /var critical)", headers=["Auto-Submitted: auto-generated"])
s.write(case("alerts_around_the_clock"))

# A cron job mailing a real address 4 times a day; a Zabbix alert storm of
# 300 messages during a 2-hour incident (not around the clock); a
# password-reset burst of 500 in 10 minutes from local PHP (many
# recipients). Nothing is flagged.
s = Stream()
background(s, hours=24)
for q in range(4):
    s.add(q * 6 * 3600 + 60, "root@web1.customer-shop.example", "ops@customer-shop.example", client_ip="",
          subject="Cron <root@web1> /usr/local/bin/backup.sh",
          headers=["Auto-Submitted: auto-generated", "X-Cron-Env: <SHELL=/bin/sh>"])
for i in range(300):
    s.add(36000 + i * 24, "zabbix@monitor.other.example", "noc@other.example", sasl="zabbix",
          subject="Problem: High CPU utilization on db2")
t = 50000.0
for i in range(500):
    t += rnd.expovariate(500 / 600)
    s.add(int(t), "noreply@shop.example", f"user{i}@isp{i % 17}.example", client_ip="", subject=f"Reset your password ({300000 + i})")
s.write(case("cron_incident_and_reset_burst"))

# A help desk's ticket notifications, Auto-Submitted: auto-generated, one
# templated subject around the clock, but to 300 different customers:
# mail people read. Nothing is flagged.
s = Stream()
for i in range(600):
    s.add(i * 144, "support@helpdesk.example", f"client{i % 300}@isp{i % 23}.example", sasl="helpdesk",
          subject=f"[Ticket #{40000 + i}] has been updated", headers=["Auto-Submitted: auto-generated"])
s.write(case("helpdesk_notifications"))
