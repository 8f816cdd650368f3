#!/usr/bin/env python3
"""Writes the events.jsonl of the banned_software cases. Deterministic."""
import base64, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sendergen import Stream, background

os.chdir(os.path.dirname(os.path.abspath(__file__)))

def case(name):
    os.makedirs(name, exist_ok=True)
    return os.path.join(name, "events.jsonl")

def b64(s):
    return "=?UTF-8?B?" + base64.b64encode(s.encode()).decode() + "?="

# Two V2Board panels over a day: "FastVPN" (English, Exim-style decoded
# subjects) mails a verification code on every sign-up and traffic and
# expiry reminders; "闪电加速" (Chinese, Postfix header_checks logging the
# raw RFC 2047 header) mails codes and traffic reminders.
s = Stream()
background(s, hours=24)
for i in range(40):
    s.add(600 + i * 1800, "noreply@fastvpn.example", f"u{i}@isp{i % 9}.example", sasl="fastvpn",
          subject="FastVPNEmail verification code")
    if i % 4 == 0:
        s.add(700 + i * 1800, "noreply@fastvpn.example", f"old{i}@isp{i % 9}.example", sasl="fastvpn",
              subject="The traffic usage in FastVPN has reached 80%")
        s.add(710 + i * 1800, "noreply@fastvpn.example", f"old{i + 1}@isp{i % 9}.example", sasl="fastvpn",
              subject="The service in FastVPN is about to expire")
    s.add(900 + i * 2000, "mail@sd-jiasu.example", f"yh{i}@qq.example", sasl="sdjiasu",
          subject=b64("闪电加速邮箱验证码"))
    if i % 3 == 0:
        s.add(950 + i * 2000, "mail@sd-jiasu.example", f"yh{i + 100}@qq.example", sasl="sdjiasu",
              subject=b64("在 闪电加速 的已用流量已达到 80%"))
s.write(case("v2board_panels"))

# Look-alikes over a day: an ordinary app's "Your Email verification
# code" (a space, not an app name glued to the phrase) 200 times, a
# hosting company's "The service in Acme Hosting is about to expire" to 3
# customers (a real match, under the volume), and a password-reset burst
# of 500 in 10 minutes. Nothing fires.
s = Stream()
background(s, hours=24)
for i in range(200):
    s.add(i * 400, "no-reply@shop.example", f"buyer{i}@isp{i % 11}.example", sasl="shop",
          subject="Your Email verification code")
for i in range(3):
    s.add(3600 + i * 60, "billing@acme-hosting.example", f"client{i}@corp{i}.example", sasl="acme",
          subject="The service in Acme Hosting is about to expire")
for i in range(500):
    s.add(7200 + i * 6 // 5, "noreply@app.example", f"user{i}@isp{i % 17}.example", sasl="app",
          subject=f"Reset your password ({700000 + i})")
s.write(case("look_alikes_and_reset_burst"))

# A fork's template the platform added in config (signatures): a
# subscription-link reset notice, 12 to 12 users in a day.
s = Stream()
for i in range(12):
    s.add(i * 3000, "admin@xpanel.example", f"member{i}@isp{i % 4}.example", sasl="xpanel",
          subject="XPanel订阅链接已重置")
s.write(case("config_signature"))

# A busy hosting company over a day: 600 invoices and support replies,
# and among them its own expiry reminders "The service in Acme Cloud is
# about to expire" (a real phrase match) to 6 customers, 8 messages with
# the reminders' re-sends: under min_messages 10. Nothing fires.
s = Stream()
for i in range(600):
    s.add(i * 140, "billing@acme-cloud.example", f"customer{i % 220}@corp{i % 31}.example", sasl="acmecloud",
          subject=f"Invoice {20260000 + i}" if i % 2 else f"Re: [Ticket #{9000 + i}] question")
for i in range(8):
    s.add(5000 + i * 9000, "billing@acme-cloud.example", f"customer{i % 6}@corp{i % 6}.example", sasl="acmecloud",
          subject="The service in Acme Cloud is about to expire")
s.write(case("hosting_company_own_reminders"))
