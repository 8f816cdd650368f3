#!/usr/bin/env python3
"""Writes the events.jsonl of the cron_flood cases. Deterministic."""
import os, random, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sendergen import Stream, background

os.chdir(os.path.dirname(os.path.abspath(__file__)))

def case(name):
    os.makedirs(name, exist_ok=True)
    return os.path.join(name, "events.jsonl")

rnd = random.Random(7)

# A per-minute job on a properly named server (so invalid_sender has
# nothing to say) mails its output to the customer's admin: banned at its
# 30th message; a second job with no subject logged (Postfix without
# header_checks), submitted locally every 2 minutes, is banned too.
s = Stream()
background(s, hours=2)
for m in range(120):
    s.add(m * 60 + rnd.randint(0, 3), "root@web1.customer-shop.example", "admin@customer-shop.example", client_ip="",
          subject="Cron <root@web1> /usr/bin/php /var/www/artisan schedule:run")
for m in range(60):
    s.add(m * 120 + 30 + rnd.randint(0, 2), "backup@db2.customer-shop.example", "admin@customer-shop.example", client_ip="")
s.write(case("every_minute_job"))

# A cron job mailing a real address 4 times a day, and a job every 5
# minutes (12 an hour, under the 30): neither is a flood.
s = Stream()
background(s, hours=24)
for q in range(4):
    s.add(q * 6 * 3600 + 60, "root@web1.customer-shop.example", "ops@customer-shop.example", client_ip="",
          subject="Cron <root@web1> /usr/local/bin/backup.sh")
for m in range(24 * 12):
    s.add(m * 300 + 5, "monitor@web1.customer-shop.example", "ops@customer-shop.example", client_ip="",
          subject="Cron <monitor@web1> /usr/local/bin/check-disk")
s.write(case("cron_four_times_a_day"))

# A password-reset burst of 500 in 10 minutes from the site's PHP (local
# submission, one templated subject, arrivals at random) and a throttled
# newsletter script sending one message every 30 s exactly, to 240
# distinct readers: regular, but not to a cron job's few recipients.
s = Stream()
t = 0.0
for i in range(500):
    t += rnd.expovariate(500 / 600)
    s.add(int(t), "noreply@shop.example", f"user{i}@isp{i % 17}.example", client_ip="",
          subject=f"Reset your password (request {900000 + i})")
for i in range(240):
    s.add(i * 30, "news@bakery.example", f"reader{i:04d}@isp{i % 31}.example", client_ip="",
          subject="The bakery's March letter")
s.write(case("reset_burst_and_throttled_newsletter"))
