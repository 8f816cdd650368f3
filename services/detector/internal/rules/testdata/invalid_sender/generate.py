#!/usr/bin/env python3
"""Writes the events.jsonl of the invalid_sender cases. Deterministic."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sendergen import Stream, background

os.chdir(os.path.dirname(os.path.abspath(__file__)))

def case(name):
    os.makedirs(name, exist_ok=True)
    return os.path.join(name, "events.jsonl")

# A customer relays a whole Linux server through the platform: cron mails
# every minute from root@localhost, a no-dot host name and a .localdomain
# box, each to a real address. Each sender is banned on its first message
# and then silent for the ban's TTL.
s = Stream()
background(s)
for m in range(60):
    s.add(m * 60, "root@localhost", "ops@customer-shop.example", client_ip="", subject="Cron <root@localhost> /usr/local/bin/sync.sh")
    s.add(m * 60 + 7, "cron@web1", "ops@customer-shop.example", client_ip="", subject="Cron <cron@web1> php artisan schedule:run")
    s.add(m * 60 + 9, "www-data@box.localdomain", "ops@customer-shop.example", reply="deferred", client_ip="",
          subject="Cron <www-data@box> /var/www/cleanup")
s.add(1800, "www-data", "ops@customer-shop.example", client_ip="")  # an unqualified sender (no @)
s.write(case("cron_from_root_localhost"))

# A cron job on a properly named server mailing a real address 4 times a
# day, plus senders that look odd but can receive bounces: a sub-domain,
# an IDN (SMTPUTF8), a domain literal, the null sender's bounces, and a
# busy account with a few typo bounces.
s = Stream()
background(s, hours=24)
for q in range(4):
    s.add(q * 6 * 3600 + 120, "root@web1.customer-shop.example", "ops@customer-shop.example", client_ip="",
          subject="Cron <root@web1> /usr/local/bin/backup.sh")
for i in range(40):
    s.add(300 + i * 900, "alerts@mail.shop.example", f"buyer{i}@isp{i % 5}.example", sasl="shop")
    s.add(310 + i * 900, "info@bücher.example", f"leser{i}@isp{i % 5}.example", sasl="buecher")
    s.add(320 + i * 900, "postmaster@[192.0.2.5]", "noc@upstream.example", sasl="noc")
    s.add(330 + i * 900, "", f"gone{i}@isp{i % 5}.example", reply="unknown", client_ip="")
    s.add(340 + i * 900, "sales@wholesale.example", f"typo{i}@isp{i % 5}.example", reply="unknown" if i % 13 == 0 else "sent", sasl="wholesale")
s.write(case("qualified_cron_and_odd_but_valid"))

# The same invalid senders from an account the platform allowlisted (a
# legacy appliance it knows about): the allowlist wins, nothing fires.
s = Stream()
for m in range(30):
    s.add(m * 60, "root@localhost", "ops@legacy.example", sasl="legacy-appliance", subject="Cron <root@localhost> /bin/poll")
    s.add(m * 60 + 1, "admin@nas.local", "ops@legacy.example", sasl="legacy-appliance", subject="NAS status")
s.write(case("allowlisted_account"))

# Shadow mode: the verdict is recorded as a flag, nothing is banned.
s = Stream()
s.add(0, "root@localhost", "ops@customer-shop.example", client_ip="", subject="Cron <root@localhost> /bin/true")
s.add(60, "root@localhost", "ops@customer-shop.example", client_ip="", subject="Cron <root@localhost> /bin/true")
s.write(case("shadow"))
