#!/usr/bin/env python3
"""Writes the events.jsonl of the bulk_marketing cases. Deterministic.
Headers are what Postfix header_checks INFO lines or an Exim logwrite
record (README, Logging headers); ingest has to fill event.headers."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sendergen import Stream, background

os.chdir(os.path.dirname(os.path.abspath(__file__)))

def case(name):
    os.makedirs(name, exist_ok=True)
    return os.path.join(name, "events.jsonl")

ONE_CLICK = ["List-Unsubscribe: <https://shoes.example/u/{n}>, <mailto:unsub@shoes.example>",
             "List-Unsubscribe-Post: List-Unsubscribe=One-Click"]
PHPLIST = ["X-Mailer: PHPlist v3.6.12 (https://www.phplist.com)", "Precedence: bulk",
           "List-Unsubscribe: <https://deals.example/lists/?p=unsubscribe&uid={n}>"]

# A shoe shop's sale campaign with one-click unsubscribe to 400 addresses
# in two hours, and a phpList campaign of a second customer: both banned
# at their 50th recipient.
s = Stream()
background(s, hours=2)
for i in range(400):
    s.add(i * 18, "news@shoes.example", f"fan{i}@isp{i % 13}.example", sasl="shoes",
          subject="Spring sale: 20% off everything until Sunday", headers=[h.format(n=i) for h in ONE_CLICK])
for i in range(120):
    s.add(100 + i * 50, "offers@deals.example", f"lead{i}@isp{i % 7}.example", sasl="deals",
          subject="Deals of the week 12", headers=[h.format(n=i) for h in PHPLIST])
s.write(case("sale_campaign"))

# A password-reset burst of 500 in 10 minutes through PHPMailer (its
# X-Mailer marks scripts, not marketing), and a Mailman discussion list
# (Precedence: list, List-Id, a mailto List-Unsubscribe, one subject per
# thread) to 300 members: not marketing. Nothing fires.
s = Stream()
background(s)
for i in range(500):
    s.add(i * 6 // 5, "noreply@app.example", f"user{i}@isp{i % 17}.example", sasl="app",
          subject=f"Reset your password ({600000 + i})",
          headers=["X-Mailer: PHPMailer 6.8.0 (https://github.com/PHPMailer/PHPMailer)"])
for t in range(6):
    for m in range(300):
        s.add(600 + t * 500 + m, "users-bounces@lists.project.example", f"member{m}@isp{m % 19}.example", sasl="project",
              subject=f"Re: [users] build fails on arm64 (thread {t})" if t % 2 else f"[users] question about release {t}",
              headers=["Precedence: list", "List-Id: Users of the project <users.lists.project.example>",
                       "List-Unsubscribe: <mailto:users-request@lists.project.example?subject=unsubscribe>"])
s.write(case("reset_burst_and_discussion_list"))

# A small club's one-click newsletter to its 30 members: marked, but under
# min_recipients 50. Nothing fires.
s = Stream()
for i in range(30):
    s.add(i * 20, "board@chess-club.example", f"member{i}@isp{i % 5}.example", sasl="chessclub",
          subject="Club night moved to Thursday", headers=[h.format(n=i) for h in ONE_CLICK])
s.write(case("small_club_newsletter"))
