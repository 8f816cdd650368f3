// Package traffic generates labelled mail-platform traffic: two simulated
// days of a shared outbound host's logs, in Postfix and in Exim format,
// with many benign customers (including the hard look-alikes: a busy
// account with a few bounces, a password-reset burst, a double-opt-in
// newsletter, a cron job mailing a real address, an account with three
// senders under the limit, a mail client with a stale password) and one
// abusive customer per rule of the policy page. Each family carries its
// label: the bans it must get (rule, kind, subject) or the identities that
// must never be banned. The lines are in the exact shapes the real MTAs
// write (Postfix 3.x with RFC 3339 timestamps and header_checks INFO
// subjects; Exim 4.9x main log with +subject), so `ingest parse` reads
// them like a real log.
//
// Everything is deterministic for a seed.
package traffic

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// T0 is the start of the first simulated day.
var T0 = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

// Days is how many days are simulated.
const Days = 2

// Outcome is what the receiving side answered one recipient.
type Outcome int

// The outcomes the generator writes.
const (
	Sent           Outcome = iota
	UserUnknown            // 550 5.1.1
	MailboxFull            // 452 4.2.2, deferred
	RecipientBlock         // 554 5.7.1 blocked by user
	DMARC                  // 550 5.7.26
	SpamRejected           // 550 5.7.1 content spam
	RateDeferred           // 421 4.7.28 rate limited
)

// Rcpt is one recipient of a message and its outcome.
type Rcpt struct {
	Addr string
	Out  Outcome
}

// Msg is one submitted message.
type Msg struct {
	At       time.Time
	Exim     bool // written to the Exim log, else the Postfix one
	Sender   string
	SASL     string // "" for unauthenticated or local submission
	Client   string // client IP ("" for local submission)
	Local    bool   // submitted locally (sendmail / pickup, P=local)
	UID      int    // local submitter's uid
	Subject  string
	Headers  []string // other logged headers, "Name: value" (Postfix header_checks INFO, Exim MXWARDEN-HEADERS logwrite)
	Size     int
	Rcpts    []Rcpt
	familyNo int
}

// AuthFail is one failed SMTP login.
type AuthFail struct {
	At   time.Time
	Exim bool
	IP   string
	User string
}

// Want is one ban a family must get: rule code, subject kind and subject.
type Want struct {
	Rule, Kind, Subject string
}

// Family is one customer's traffic and its label.
type Family struct {
	Name string
	// Abuse: the family must get at least one of Wants from its Rule;
	// otherwise it is benign and none of Identities may be banned.
	Abuse bool
	// Rule is the rule the abuse is meant for ("" when benign).
	Rule  string
	Wants []Want
	// Also lists other bans that are right for the family's traffic (it
	// breaks more than one policy, e.g. a purchased list sent at 3x the
	// hourly limit): they count as correct, not as misses.
	Also       []Want
	Identities []string // "kind:subject" that must never be banned
	Start, End time.Time
}

// Traffic is the generated logs and their labels.
type Traffic struct {
	Postfix, Exim []byte
	Families      []Family
	// OwnerFile is a DirectAdmin domainowners file for the spoofing rule.
	OwnerFile []byte
}

type gen struct {
	rng      *rand.Rand
	msgs     []Msg
	auths    []AuthFail
	families []Family
}

func (g *gen) family(f Family) int {
	g.families = append(g.families, f)
	return len(g.families) - 1
}

func (g *gen) msg(fam int, m Msg) {
	m.familyNo = fam
	if m.Size == 0 {
		m.Size = 3000 + g.rng.IntN(20000)
	}
	f := &g.families[fam]
	if f.Start.IsZero() || m.At.Before(f.Start) {
		f.Start = m.At
	}
	if m.At.After(f.End) {
		f.End = m.At
	}
	g.msgs = append(g.msgs, m)
}

func at(day int, d time.Duration) time.Time { return T0.Add(time.Duration(day)*24*time.Hour + d) }

// Generate builds the two days of traffic for seed.
func Generate(seed uint64) *Traffic {
	g := &gen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	g.benign()
	g.abuse()
	g.abuseOthers()
	g.abuseBulk()
	return g.render()
}

func (g *gen) benign() {
	// A law office on Postfix: 20 messages an hour in business hours, two
	// typos a day.
	f := g.family(Family{Name: "law office, business hours", Identities: []string{
		"sender:alice@law-office.example", "account:lawoffice", "sender_domain:law-office.example", "client_ip:198.51.100.33"}})
	for day := range Days {
		for i := range 200 {
			out := Sent
			if i == 37 || i == 151 {
				out = UserUnknown
			}
			g.msg(f, Msg{At: at(day, 8*time.Hour+time.Duration(i)*3*time.Minute), Sender: "alice@law-office.example", SASL: "lawoffice",
				Client: "198.51.100.33", Subject: fmt.Sprintf("Re: case %d", 1000+i%40),
				Rcpts: []Rcpt{{fmt.Sprintf("client%d@mail%d.example", i%60, i%7), out}}})
		}
	}
	// A shop on Exim: order confirmations around the clock, 1 % bounces.
	f = g.family(Family{Name: "shop, transactional", Identities: []string{
		"sender:orders@corner-shop.example", "account:cornershop", "sender_domain:corner-shop.example"}})
	for day := range Days {
		for i := range 480 {
			out := Sent
			if i%100 == 42 {
				out = UserUnknown
			}
			g.msg(f, Msg{At: at(day, time.Duration(i)*3*time.Minute), Exim: true, Sender: "orders@corner-shop.example", SASL: "cornershop",
				Client: "192.0.2.21", Subject: fmt.Sprintf("Your order %d is confirmed", 50000+day*1000+i),
				Rcpts: []Rcpt{{fmt.Sprintf("buyer%d@%s", i, freemail[i%len(freemail)]), out}}})
		}
	}
	// A busy account: three role addresses at 90 an hour each, a few
	// typos, its own subjects.
	f = g.family(Family{Name: "busy account, three senders under the limit", Identities: []string{
		"sender:sales@wholesale.example", "sender:billing@wholesale.example", "sender:info@wholesale.example",
		"account:wholesale", "sender_domain:wholesale.example"}})
	for day := range Days {
		for i := range 90 * 10 {
			s := []string{"sales", "billing", "info"}[i%3]
			out := Sent
			if i%211 == 5 {
				out = UserUnknown
			}
			subj := map[string]string{"sales": "Quote Q-%d for your request", "billing": "Invoice %d from Wholesale Ltd", "info": "Re: question about item %d"}[s]
			g.msg(f, Msg{At: at(day, 8*time.Hour+time.Duration(i)*40*time.Second), Sender: s + "@wholesale.example", SASL: "wholesale",
				Client: "192.0.2.30", Subject: fmt.Sprintf(subj, 4000+i), Rcpts: []Rcpt{{fmt.Sprintf("c%d@isp%d.example", i%400, i%9), out}}})
		}
	}
	// A password-reset burst: 500 in 10 minutes on day 1 (deferred past
	// the ceiling, never banned).
	f = g.family(Family{Name: "password-reset burst", Identities: []string{
		"sender:no-reply@forum.example", "account:forum", "sender_domain:forum.example"}})
	for i := range 500 {
		g.msg(f, Msg{At: at(0, 14*time.Hour+time.Duration(i)*1200*time.Millisecond), Sender: "no-reply@forum.example", SASL: "forum",
			Client: "192.0.2.40", Subject: "Reset your password", Rcpts: []Rcpt{{fmt.Sprintf("member%d@%s", i, freemail[i%len(freemail)]), Sent}}})
	}
	// A double-opt-in newsletter on Exim: 2,000 over eight hours, 1.5 %
	// unknown.
	f = g.family(Family{Name: "double-opt-in newsletter", Identities: []string{
		"sender:news@bakery.example", "account:bakery", "sender_domain:bakery.example"}})
	for i := range 2000 {
		out := Sent
		if i%67 == 33 {
			out = UserUnknown
		}
		g.msg(f, Msg{At: at(1, 6*time.Hour+time.Duration(i)*14*time.Second), Exim: true, Sender: "news@bakery.example", SASL: "bakery",
			Client: "192.0.2.50", Subject: "The bakery's March letter", Rcpts: []Rcpt{{fmt.Sprintf("reader%d@isp%d.example", i, i%31), out}}})
	}
	// A cron job mailing its admin's real address four times a day.
	f = g.family(Family{Name: "cron job to a real mailbox, 4 a day", Identities: []string{
		"sender:root@web1.acme-hosting.example", "sender_domain:acme-hosting.example", "recipient:ops@acme-hosting.example"}})
	for day := range Days {
		for i := range 4 {
			g.msg(f, Msg{At: at(day, time.Duration(i)*6*time.Hour+5*time.Minute), Sender: "root@web1.acme-hosting.example", Local: true,
				Subject: "Cron <root@web1> /usr/local/bin/backup.sh", Rcpts: []Rcpt{{"ops@acme-hosting.example", Sent}}})
		}
	}
	// One personal identity relayed ("send mail as").
	f = g.family(Family{Name: "one relayed personal address", Identities: []string{
		"sender:jane.doe@gmail.com", "account:jane@jane-consulting.example", "sender:jane@jane-consulting.example"}})
	for day := range Days {
		for i := range 10 {
			g.msg(f, Msg{At: at(day, 9*time.Hour+time.Duration(i)*37*time.Minute), Sender: "jane.doe@gmail.com", SASL: "jane@jane-consulting.example",
				Client: "198.51.100.60", Subject: fmt.Sprintf("Lunch %d?", i), Rcpts: []Rcpt{{fmt.Sprintf("friend%d@isp.example", i), Sent}}})
		}
	}
	// A mail client with a stale password: 9 failures in 18 minutes.
	f = g.family(Family{Name: "stale password in a mail client", Identities: []string{"client_ip:198.51.100.20"}})
	for i := range 9 {
		g.auth(f, AuthFail{At: at(0, 10*time.Hour+time.Duration(i)*2*time.Minute), IP: "198.51.100.20", User: "reception@clinic.example"})
	}
	// A big provider answering a few 4xx rate limits, and a mailbox full
	// for one hour, then fine.
	f = g.family(Family{Name: "provider 4xx and a briefly full mailbox", Identities: []string{
		"recipient_domain:gmail.com", "recipient:busy.person@gmail.com", "sender:team@agency.example", "account:agency"}})
	for i := range 60 {
		out := Sent
		switch {
		case i%20 == 3:
			out = RateDeferred
		case i >= 10 && i < 14:
			out = MailboxFull
		}
		g.msg(f, Msg{At: at(0, 12*time.Hour+time.Duration(i)*15*time.Minute), Sender: "team@agency.example", SASL: "agency",
			Client: "192.0.2.70", Subject: fmt.Sprintf("Project update %d", i), Rcpts: []Rcpt{{"busy.person@gmail.com", out}}})
	}
}

func (g *gen) auth(fam int, a AuthFail) {
	f := &g.families[fam]
	if f.Start.IsZero() || a.At.Before(f.Start) {
		f.Start = a.At
	}
	if a.At.After(f.End) {
		f.End = a.At
	}
	g.auths = append(g.auths, a)
}

var freemail = []string{"gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "gmx.de"}

func (g *gen) abuse() {
	// invalid_recipients: a purchased list, 900 in 45 minutes, 12 % unknown.
	f := g.family(Family{Name: "purchased list", Abuse: true, Rule: "invalid_recipients",
		Wants: []Want{{"invalid_recipients", "sender", "offers@cheap-leads.example"}},
		Also:  []Want{{"rate_limit", "sender", "offers@cheap-leads.example"}, {"account_rate_limit", "account", "cheapleads"}}})
	for i := range 900 {
		out := Sent
		if (i*12)%100 < 12 {
			out = UserUnknown
		}
		g.msg(f, Msg{At: at(0, 9*time.Hour+time.Duration(i)*3*time.Second), Sender: "offers@cheap-leads.example", SASL: "cheapleads",
			Client: "203.0.113.66", Subject: fmt.Sprintf("Exclusive offer %d for you", i), Rcpts: []Rcpt{{fmt.Sprintf("lead%04d@isp%d.example", i, i%23), out}}})
	}
	// rate_limit: a runaway script on Exim, 1,200 in an hour.
	f = g.family(Family{Name: "runaway script", Abuse: true, Rule: "rate_limit",
		Wants: []Want{{"rate_limit", "sender", "mailer@busy-site.example"}},
		Also:  []Want{{"account_rate_limit", "account", "busysite"}}})
	for i := range 1200 {
		g.msg(f, Msg{At: at(1, 15*time.Hour+time.Duration(i)*3*time.Second), Exim: true, Sender: "mailer@busy-site.example", SASL: "busysite",
			Client: "192.0.2.80", Subject: fmt.Sprintf("Your order %d has shipped", 20000+i), Rcpts: []Rcpt{{fmt.Sprintf("user%d@isp%d.example", i, i%17), Sent}}})
	}
	// limit_evasion: one campaign from sender1..sender5.
	f = g.family(Family{Name: "rotated senders", Abuse: true, Rule: "limit_evasion",
		Wants: []Want{{"limit_evasion", "account", "promo"}}})
	for i := range 400 {
		g.msg(f, Msg{At: at(0, 16*time.Hour+time.Duration(i)*9*time.Second), Sender: fmt.Sprintf("sender%d@deals.example", i%5+1), SASL: "promo",
			Client: "203.0.113.70", Subject: fmt.Sprintf("Spring sale: 40%% off your order #%d", 31000+i*7),
			Rcpts: []Rcpt{{fmt.Sprintf("lead%d@isp%d.example", i, i%23), Sent}}})
	}
	// spf_rejections: a domain without the platform in its SPF record.
	f = g.family(Family{Name: "missing SPF record", Abuse: true, Rule: "spf_rejections",
		Wants: []Want{{"spf_rejections", "sender_domain", "shop.example"}}})
	for i := range 60 {
		out := Sent
		if i%3 == 1 {
			out = DMARC
		}
		g.msg(f, Msg{At: at(1, 10*time.Hour+time.Duration(i)*50*time.Second), Exim: true, Sender: []string{"orders", "news"}[i%2] + "@shop.example",
			SASL: "shop", Client: "192.0.2.90", Subject: fmt.Sprintf("Order %d", 700+i), Rcpts: []Rcpt{{fmt.Sprintf("buyer%d@gmail.com", i), out}}})
	}
	// spoofing: bob sends as two domains he does not own.
	f = g.family(Family{Name: "spoofed bank addresses", Abuse: true, Rule: "spoofing",
		Wants: []Want{{"spoofing", "sender", "ceo@bank.example"}, {"spoofing", "sender", "support@payments.example"}}})
	for i, s := range []string{"orders@bobs-shop.example", "ceo@bank.example", "support@payments.example", "ceo@bank.example"} {
		g.msg(f, Msg{At: at(0, 20*time.Hour+time.Duration(i)*100*time.Second), Sender: s, SASL: "bob", Client: "198.51.100.90",
			Subject: "Urgent: verify your account", Rcpts: []Rcpt{{fmt.Sprintf("victim%d@isp.example", i), Sent}}})
	}
	// auth_failures: credential stuffing from one IP.
	f = g.family(Family{Name: "credential stuffing", Abuse: true, Rule: "auth_failures",
		Wants: []Want{{"auth_failures", "client_ip", "203.0.113.9"}}})
	for i := range 40 {
		g.auth(f, AuthFail{At: at(1, 3*time.Hour+time.Duration(i)*7*time.Second), Exim: i%2 == 1, IP: "203.0.113.9",
			User: fmt.Sprintf("%s@victim%d.example", []string{"info", "admin", "sales", "office", "test"}[i%5], i/5)})
	}
}

// abuseOthers: the families of the content and recipient-side rules. A
// family is only scored when its rule is registered in the detector.
func (g *gen) abuseOthers() {
	// invalid_sender: a cron job on a customer's server mailing as
	// root@localhost, which nobody can bounce to.
	f := g.family(Family{Name: "root@localhost", Abuse: true, Rule: "invalid_sender",
		Wants: []Want{{"invalid_sender", "sender", "root@localhost"}},
		Also:  []Want{{"cron_flood", "sender", "root@localhost"}, {"nonexistent_recipient", "recipient", "root@localhost.localdomain"}}})
	for i := range 30 {
		g.msg(f, Msg{At: at(0, 2*time.Hour+time.Duration(i)*time.Minute), Sender: "root@localhost", Local: true,
			Subject: "Cron <root@localhost> /usr/bin/php /var/www/cron.php", Rcpts: []Rcpt{{"root@localhost.localdomain", UserUnknown}}})
	}
	// cron_flood: a per-minute job from a qualified local sender to an
	// address that does not exist, for two hours.
	f = g.family(Family{Name: "per-minute cron job", Abuse: true, Rule: "cron_flood",
		Wants: []Want{{"cron_flood", "sender", "www-data@web7.cheap-vps.example"}},
		Also: []Want{{"nonexistent_recipient", "recipient", "admin@web7.cheap-vps.example"},
			{"invalid_sender", "sender", "www-data@web7.cheap-vps.example"}}})
	for i := range 120 {
		g.msg(f, Msg{At: at(1, 1*time.Hour+time.Duration(i)*time.Minute), Sender: "www-data@web7.cheap-vps.example", Local: true, UID: 33,
			Subject: "Cron <www-data@web7> php /var/www/artisan schedule:run", Rcpts: []Rcpt{{"admin@web7.cheap-vps.example", UserUnknown}}})
	}
	// banned_software: a V2Board panel mailing verification codes.
	f = g.family(Family{Name: "V2Board verification codes", Abuse: true, Rule: "banned_software",
		Wants: []Want{{"banned_software", "sender", "noreply@fastnet-vpn.example"}, {"banned_software", "account", "fastnet"},
			{"banned_software", "sender_domain", "fastnet-vpn.example"}}})
	for i := range 200 {
		g.msg(f, Msg{At: at(0, 13*time.Hour+time.Duration(i)*18*time.Second), Exim: true, Sender: "noreply@fastnet-vpn.example", SASL: "fastnet",
			Client: "203.0.113.80", Subject: "FastNet邮箱验证码", Rcpts: []Rcpt{{fmt.Sprintf("user%d@%s", i, freemail[i%len(freemail)]), Sent}}})
	}
	// webform_spam: a WordPress contact form abused to mail freemail users.
	f = g.family(Family{Name: "abused contact form", Abuse: true, Rule: "webform_spam",
		Wants: []Want{{"webform_spam", "sender", "wordpress@blog-site.example"}}})
	for i := range 120 {
		out := Sent
		if i%3 == 0 {
			out = SpamRejected
		}
		g.msg(f, Msg{At: at(1, 18*time.Hour+time.Duration(i)*20*time.Second), Sender: "wordpress@blog-site.example", Local: true, UID: 33,
			Subject: "New message from your website", Rcpts: []Rcpt{{fmt.Sprintf("target%d@%s", i, freemail[i%3]), out}}})
	}
	// sms_gateway: mail to an email-to-SMS gateway.
	f = g.family(Family{Name: "mail to SMS", Abuse: true, Rule: "sms_gateway",
		Wants: []Want{{"sms_gateway", "recipient_domain", "txt.att.net"}, {"sms_gateway", "recipient", "5551234567@txt.att.net"}}})
	for i := range 3 {
		g.msg(f, Msg{At: at(0, 11*time.Hour+time.Duration(i)*time.Hour), Sender: "alerts@monitoring.example", SASL: "monitoring",
			Client: "192.0.2.100", Subject: "Server down", Rcpts: []Rcpt{{"5551234567@txt.att.net", Sent}}})
	}
	// nonexistent_recipient: a departed employee's address, mailed by
	// several customers, always unknown.
	f = g.family(Family{Name: "departed employee", Abuse: true, Rule: "nonexistent_recipient",
		Wants: []Want{{"nonexistent_recipient", "recipient", "old.employee@bigcorp.example"}}})
	for i := range 6 {
		s := []struct{ addr, sasl, ip string }{{"alice@law-office.example", "lawoffice", "198.51.100.33"},
			{"orders@corner-shop.example", "cornershop", "192.0.2.21"}, {"team@agency.example", "agency", "192.0.2.70"}}[i%3]
		g.msg(f, Msg{At: at(i/3, 9*time.Hour+time.Duration(i)*97*time.Minute), Exim: i%3 == 1, Sender: s.addr, SASL: s.sasl,
			Client: s.ip, Subject: "Following up", Rcpts: []Rcpt{{"old.employee@bigcorp.example", UserUnknown}}})
	}
	// mailbox_full: a mailbox kept full for two days, from four senders.
	f = g.family(Family{Name: "always-full mailbox", Abuse: true, Rule: "mailbox_full",
		Wants: []Want{{"mailbox_full", "recipient", "full.box@isp5.example"}}})
	for i := range 12 {
		g.msg(f, Msg{At: at(0, 1*time.Hour+time.Duration(i)*4*time.Hour), Sender: fmt.Sprintf("sender%d@friends%d.example", i%4, i%4), SASL: fmt.Sprint("friend", i%4),
			Client: "192.0.2.120", Subject: "Hello", Rcpts: []Rcpt{{"full.box@isp5.example", MailboxFull}}})
	}
	// unwanted: a recipient that blocks one sender and accepts others.
	f = g.family(Family{Name: "unwanted sender", Abuse: true, Rule: "unwanted",
		Wants: []Want{{"unwanted", "sender_recipient", "stalker@persistent.example=>ex@partner.example"}}})
	for i := range 10 {
		g.msg(f, Msg{At: at(0, 8*time.Hour+time.Duration(i)*90*time.Minute), Sender: "stalker@persistent.example", SASL: "persistent",
			Client: "192.0.2.130", Subject: "Please answer", Rcpts: []Rcpt{{"ex@partner.example", RecipientBlock}}})
		g.msg(f, Msg{At: at(0, 8*time.Hour+time.Duration(i)*90*time.Minute+time.Minute), Sender: "colleague@office.example", SASL: "office",
			Client: "192.0.2.131", Subject: "Meeting notes", Rcpts: []Rcpt{{"ex@partner.example", Sent}}})
	}
	// junk_to_third_party: a cron job's 600 notifications a day into one
	// Gmail inbox, all accepted.
	f = g.family(Family{Name: "600 cron mails a day to Gmail", Abuse: true, Rule: "junk_to_third_party",
		Wants: []Want{{"junk_to_third_party", "recipient", "myadmin@gmail.com"},
			{"junk_to_third_party", "sender_recipient", "root@server9.example=>myadmin@gmail.com"}}})
	for i := range 600 {
		g.msg(f, Msg{At: at(0, time.Duration(i)*144*time.Second), Sender: "root@server9.example", Local: true,
			Subject: "Cron <root@server9> /opt/check.sh", Rcpts: []Rcpt{{"myadmin@gmail.com", Sent}}})
	}
}

// abuseBulk: marketing from the platform, and a discussion list that
// looks like it. Needs the headers logged (README, Logging headers).
func (g *gen) abuseBulk() {
	f := g.family(Family{Name: "marketing campaign", Abuse: true, Rule: "bulk_marketing",
		Wants: []Want{{"bulk_marketing", "sender", "marketing@shoes.example"}}})
	for i := range 400 {
		g.msg(f, Msg{At: at(1, 9*time.Hour+time.Duration(i)*36*time.Second), Exim: i%2 == 0, Sender: "marketing@shoes.example", SASL: "shoes",
			Client: "192.0.2.140", Subject: "Spring collection: 30% off this week",
			Headers: []string{"List-Unsubscribe: <https://shoes.example/u/" + fmt.Sprint(i) + ">", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"},
			Rcpts:   []Rcpt{{fmt.Sprintf("fan%d@isp%d.example", i, i%13), Sent}}})
	}
	f = g.family(Family{Name: "discussion list", Identities: []string{
		"sender:users-bounces@lists.project.example", "account:project", "sender_domain:lists.project.example"}})
	for post := range 6 {
		for i := range 60 {
			g.msg(f, Msg{At: at(0, 10*time.Hour+time.Duration(post)*50*time.Minute+time.Duration(i)*time.Second), Sender: "users-bounces@lists.project.example",
				SASL: "project", Client: "192.0.2.150", Subject: fmt.Sprintf("[users] Re: build fails on arm64 (%d)", post),
				Headers: []string{"List-Id: <users.lists.project.example>", "Precedence: list", "List-Unsubscribe: <mailto:users-leave@lists.project.example>"},
				Rcpts:   []Rcpt{{fmt.Sprintf("member%d@isp%d.example", i, i%11), Sent}}})
		}
	}
}

// render writes both logs in time order.
func (g *gen) render() *Traffic {
	sort.SliceStable(g.msgs, func(i, j int) bool { return g.msgs[i].At.Before(g.msgs[j].At) })
	sort.SliceStable(g.auths, func(i, j int) bool { return g.auths[i].At.Before(g.auths[j].At) })
	type line struct {
		at   time.Time
		exim bool
		text string
	}
	var lines []line
	pid := 2000
	for n, m := range g.msgs {
		pid += 3
		qid := fmt.Sprintf("4Z%09X", 0x1000+n)
		eid := fmt.Sprintf("1t%04X-%06X-%02X", n%0xffff, 0x100000+n, n%256)
		add := func(d time.Duration, s string) { lines = append(lines, line{m.At.Add(d), m.Exim, s}) }
		if m.Exim {
			for i, s := range eximMessage(m, eid) {
				add(time.Duration(i)*time.Second/4, s)
			}
		} else {
			for i, s := range postfixMessage(m, qid, pid) {
				add(time.Duration(i)*time.Second/8, s)
			}
		}
	}
	for _, a := range g.auths {
		pid++
		if a.Exim {
			lines = append(lines, line{a.At, true, fmt.Sprintf("dovecot_login authenticator failed for (pc) [%s]:52100 I=[192.0.2.25]:587: 535 Incorrect authentication data (set_id=%s)", a.IP, a.User)})
		} else {
			lines = append(lines, line{a.At, false, fmt.Sprintf("postfix/submission/smtpd[%d]: warning: unknown[%s]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=%s", pid, a.IP, a.User)})
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.Before(lines[j].at) })
	var pf, ex bytes.Buffer
	for _, l := range lines {
		if l.exim {
			fmt.Fprintf(&ex, "%s %s\n", l.at.Format("2006-01-02 15:04:05"), l.text)
		} else {
			fmt.Fprintf(&pf, "%s mx1 %s\n", l.at.Format("2006-01-02T15:04:05.000000+00:00"), l.text)
		}
	}
	return &Traffic{Postfix: pf.Bytes(), Exim: ex.Bytes(), Families: g.families, OwnerFile: g.owners()}
}

// owners is the DirectAdmin domainowners file of the platform: every
// domain its customers send as with a panel login, and the domains the
// spoofing family does not own left out.
func (g *gen) owners() []byte {
	own := map[string]string{"bobs-shop.example": "bob", "bobs-blog.example": "bob", "anns-studio.example": "ann"}
	for _, m := range g.msgs {
		if m.SASL == "" || strings.Contains(m.SASL, "@") || m.SASL == "bob" {
			continue
		}
		if d := m.Sender[strings.LastIndexByte(m.Sender, '@')+1:]; own[d] == "" {
			own[d] = m.SASL
		}
	}
	doms := make([]string, 0, len(own))
	for d := range own {
		doms = append(doms, d)
	}
	sort.Strings(doms)
	var b bytes.Buffer
	b.WriteString("# DirectAdmin /etc/virtual/domainowners\n")
	for _, d := range doms {
		fmt.Fprintf(&b, "%s: %s\n", d, own[d])
	}
	return b.Bytes()
}

func relayOf(rcpt string) (host, ip string) {
	d := rcpt[strings.LastIndexByte(rcpt, '@')+1:]
	switch d {
	case "gmail.com":
		return "gmail-smtp-in.l.google.com", "142.250.102.27"
	case "outlook.com", "hotmail.com":
		return "outlook-com.olc.protection.outlook.com", "52.101.73.3"
	case "yahoo.com":
		return "mta7.am0.yahoodns.net", "67.195.204.79"
	}
	return "mx." + d, "198.51.100.7"
}

// reply is the remote server's answer for an outcome: basic code, DSN,
// text (as the server wrote it) and the command it answered.
func reply(o Outcome, rcpt string) (code int, dsn, text, after string) {
	switch o {
	case UserUnknown:
		return 550, "5.1.1", fmt.Sprintf("550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table", rcpt), "RCPT TO"
	case MailboxFull:
		return 452, "4.2.2", "452-4.2.2 The recipient's inbox is out of storage space. Please direct the recipient to 452 4.2.2 https://support.google.com/mail/?p=OverQuotaTemp a1si1.12 - gsmtp", "RCPT TO"
	case RecipientBlock:
		return 554, "5.7.1", fmt.Sprintf("554 5.7.1 <%s>: Recipient address rejected: blocked by user", rcpt), "RCPT TO"
	case DMARC:
		return 550, "5.7.26", "550-5.7.26 Unauthenticated email from shop.example is not accepted due to domain's 550-5.7.26 DMARC policy. Please contact the administrator of shop.example domain. - gsmtp", "end of DATA"
	case SpamRejected:
		return 550, "5.7.1", "550-5.7.1 Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked. - gsmtp", "end of DATA"
	case RateDeferred:
		return 421, "4.7.28", "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. - gsmtp", "end of DATA"
	}
	return 250, "2.0.0", "250 2.0.0 OK  1741000000 a1si123456wrb.12 - gsmtp", ""
}

func postfixMessage(m Msg, qid string, pid int) []string {
	pre := func(prog string, p int) string { return fmt.Sprintf("postfix/%s[%d]: %s: ", prog, p, qid) }
	var out []string
	from := "local"
	if m.Local {
		user := m.Sender[:strings.IndexByte(m.Sender, '@')]
		out = append(out, pre("pickup", pid)+fmt.Sprintf("uid=%d from=<%s>", m.UID, user))
	} else {
		host := "unknown[" + m.Client + "]"
		from = host
		out = append(out, pre("submission/smtpd", pid)+fmt.Sprintf("client=%s, sasl_method=PLAIN, sasl_username=%s", host, m.SASL))
	}
	dom := m.Sender[strings.LastIndexByte(m.Sender, '@')+1:]
	out = append(out, pre("cleanup", pid+1)+fmt.Sprintf("message-id=<%s@%s>", strings.ToLower(qid), dom))
	if m.Subject != "" {
		// Postfix's cleanup_act_log: local submission names no proto/helo.
		tail := " proto=ESMTP helo=<pc>"
		if m.Local {
			tail = ""
		}
		out = append(out, pre("cleanup", pid+1)+fmt.Sprintf("info: header Subject: %s from %s; from=<%s> to=<%s>%s", m.Subject, from, m.Sender, m.Rcpts[0].Addr, tail))
	}
	for _, h := range m.Headers {
		out = append(out, pre("cleanup", pid+1)+fmt.Sprintf("info: header %s from %s; from=<%s> to=<%s> proto=ESMTP helo=<pc>", h, from, m.Sender, m.Rcpts[0].Addr))
	}
	out = append(out, pre("qmgr", pid+2)+fmt.Sprintf("from=<%s>, size=%d, nrcpt=%d (queue active)", m.Sender, m.Size, len(m.Rcpts)))
	for _, r := range m.Rcpts {
		host, ip := relayOf(r.Addr)
		code, dsn, text, after := reply(r.Out, r.Addr)
		relay := fmt.Sprintf("%s[%s]:25", host, ip)
		switch {
		case code < 300:
			out = append(out, pre("smtp", pid+3)+fmt.Sprintf("to=<%s>, relay=%s, delay=0.52, delays=0.05/0/0.21/0.26, dsn=%s, status=sent (%s)", r.Addr, relay, dsn, text))
		case code < 500:
			out = append(out, pre("smtp", pid+3)+fmt.Sprintf("to=<%s>, relay=%s, delay=0.6, delays=0.1/0/0.3/0.2, dsn=%s, status=deferred (host %s[%s] said: %s (in reply to %s command))", r.Addr, relay, dsn, host, ip, text, after))
		default:
			out = append(out, pre("smtp", pid+3)+fmt.Sprintf("to=<%s>, relay=%s, delay=0.6, delays=0.1/0/0.3/0.2, dsn=%s, status=bounced (host %s[%s] said: %s (in reply to %s command))", r.Addr, relay, dsn, host, ip, text, after))
		}
	}
	deferred := false
	for _, r := range m.Rcpts {
		if c, _, _, _ := reply(r.Out, r.Addr); c >= 400 && c < 500 {
			deferred = true
		}
	}
	if !deferred {
		out = append(out, pre("qmgr", pid+2)+"removed")
	}
	return out
}

func eximMessage(m Msg, id string) []string {
	var arr string
	if m.Local {
		arr = fmt.Sprintf("%s <= %s U=root P=local S=%d", id, m.Sender, m.Size)
	} else {
		arr = fmt.Sprintf("%s <= %s H=(pc) [%s]:51234 I=[192.0.2.25]:587 P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_plain:%s S=%d", id, m.Sender, m.Client, m.SASL, m.Size)
	}
	dom := m.Sender[strings.LastIndexByte(m.Sender, '@')+1:]
	arr += fmt.Sprintf(" id=%s@%s", strings.ToLower(id), dom)
	if m.Subject != "" {
		arr += " T=\"" + strings.ReplaceAll(m.Subject, `"`, `\"`) + "\""
	}
	out := []string{arr}
	if len(m.Headers) > 0 {
		out = append([]string{eximHeaders(id, m.Headers)}, out...)
	}
	done := true
	for _, r := range m.Rcpts {
		host, ip := relayOf(r.Addr)
		code, _, text, after := reply(r.Out, r.Addr)
		switch {
		case code < 300:
			out = append(out, fmt.Sprintf("%s => %s R=dnslookup T=remote_smtp H=%s [%s]:25 X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C=\"%s\"", id, r.Addr, host, ip, text))
		case code < 500:
			done = false
			out = append(out, fmt.Sprintf("%s == %s R=dnslookup T=remote_smtp defer (-44) H=%s [%s]: SMTP error from remote mail server after %s:<%s>: %s", id, r.Addr, host, ip, after, r.Addr, text))
		default:
			cmd := after
			if cmd == "RCPT TO" {
				cmd = "RCPT TO:<" + r.Addr + ">"
			}
			out = append(out, fmt.Sprintf("%s ** %s R=dnslookup T=remote_smtp H=%s [%s]:25: SMTP error from remote mail server after %s: %s", id, r.Addr, host, ip, cmd, text))
		}
	}
	if done {
		out = append(out, id+" Completed")
	}
	return out
}

// eximHeaders is the line the README's acl_smtp_data logwrite writes
// before the message's "<=" line: MXWARDEN-HEADERS with ${quote:}d values.
func eximHeaders(id string, headers []string) string {
	val := map[string]string{}
	cron := "0"
	for _, h := range headers {
		n, v, _ := strings.Cut(h, ": ")
		switch strings.ToLower(n) {
		case "list-unsubscribe":
			val["lu"] = v
		case "list-unsubscribe-post":
			val["lup"] = v
		case "precedence":
			val["prec"] = v
		case "x-mailer":
			val["xm"] = v
		case "auto-submitted":
			val["as"] = v
		case "x-cron-env":
			cron = "1"
		}
	}
	q := func(k string) string {
		v := val[k]
		if v != "" && !strings.ContainsAny(v, " <>\"=") {
			return k + "=" + v
		}
		return k + "=\"" + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + "\""
	}
	return fmt.Sprintf("%s MXWARDEN-HEADERS %s %s %s %s %s cron=%s", id, q("lu"), q("lup"), q("prec"), q("xm"), q("as"), cron)
}
