#!/usr/bin/env python3
"""Writes the events.jsonl of the webform_spam cases. Deterministic."""
import os, random, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sendergen import Stream, background

os.chdir(os.path.dirname(os.path.abspath(__file__)))

def case(name):
    os.makedirs(name, exist_ok=True)
    return os.path.join(name, "events.jsonl")

FREE = ["gmail.com", "hotmail.com", "yahoo.com", "outlook.com", "gmx.de", "mail.ru"]

# A WordPress contact form abused as a relay: wordpress@ (PHP mail(),
# submitted on the host) mails 150 distinct free-mail addresses in 40
# minutes; a quarter are refused as spam or rate-limited. A second form,
# noreply@ through an authenticated SMTP plugin, does the same.
s = Stream()
background(s)
for i in range(150):
    reply = "spam" if i % 8 == 3 else "ratelimit" if i % 8 == 6 else "sent"
    s.add(i * 16, "wordpress@blog.customer.example", f"victim{i}@{FREE[i % 6]}", reply=reply, client_ip="",
          subject="[Customer Blog] New message: claim your prize now")
    s.add(i * 16 + 5, "noreply@forms.other.example", f"target{i}@{FREE[(i + 2) % 6]}", reply=reply, sasl="otherforms",
          subject=f"Contact request #{5000 + i}")
s.write(case("wordpress_contact_form_relay"))

# A password-reset burst of 500 in 10 minutes from noreply@ to free-mail
# users, 2 of them rate-limited (0.4 %), and a shop's order confirmations
# to 300 free-mail customers with 3 spam bounces (1 %) over the hour.
s = Stream()
background(s)
for i in range(500):
    s.add(600 + i * 6 // 5, "noreply@app.example", f"user{i}@{FREE[i % 6]}", reply="ratelimit" if i in (100, 400) else "sent",
          client_ip="", subject=f"Reset your password ({800000 + i})")
for i in range(300):
    s.add(i * 12, "noreply@shop.example", f"buyer{i}@{FREE[(i + 1) % 6]}", reply="spam" if i in (10, 150, 290) else "sent",
          sasl="shop", subject=f"Your order {12000 + i} is confirmed")
s.write(case("reset_burst_and_order_mail"))

# A contact form doing its job: 120 submissions in an hour, all mailed to
# the site owner's gmail address, 30 of them refused as spam (the visitors
# wrote spam; the form did not relay it to third parties). One recipient:
# nothing fires.
rnd = random.Random(11)
s = Stream()
background(s)
t = 0.0
for i in range(120):
    t += rnd.expovariate(1 / 30)  # visitors arrive at random
    s.add(int(t), "wordpress@bakery.example", "bakery.owner@gmail.com", reply="spam" if i % 4 == 0 else "sent", client_ip="",
          subject="[Bakery] New contact form submission")
s.write(case("form_mailing_its_owner"))
