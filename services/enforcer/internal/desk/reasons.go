package desk

import (
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Reason is the plain-words explanation of one rule, in the spirit of the
// platform's "blocked by admins" page: what we saw, why it matters to the
// platform, what to fix. It is data: one entry per rule code in Reasons,
// and Generic for a code this build does not know.
type Reason struct {
	Code string
	// Title is the one-line heading.
	Title string
	// Saw says what we saw; Summary, when every evidence key it names is
	// present, adds the numbers ("{user_unknown} of {attempts} ...").
	Saw     string
	Summary string
	// Matters says why it matters to the platform.
	Matters string
	// Fix lists what to do, in order.
	Fix []string
	// Public lists the evidence keys safe to show on the public page, in
	// order; keys not listed here are shown to staff only.
	Public []string
}

// Evidence labels: how each known number is named and formatted. A key
// without a label is never shown publicly.
var evidenceLabels = map[string]struct {
	Label  string
	Format string // count, ratio, seconds, number
}{
	"attempts":            {"Delivery attempts in the window", "count"},
	"user_unknown":        {"Attempts to recipients that do not exist", "count"},
	"ratio":               {"Share of the attempts that matched", "ratio"},
	"threshold_ratio":     {"Share at which we block", "ratio"},
	"min_attempts":        {"Fewest attempts before we judge", "count"},
	"window_seconds":      {"Window we looked at", "seconds"},
	"count":               {"Messages that matched", "count"},
	"threshold":           {"Count at which we block", "count"},
	"messages":            {"Messages in the window", "count"},
	"recipients":          {"Distinct recipients", "count"},
	"rejections":          {"Messages refused by the receiving servers", "count"},
	"bounces":             {"Bounced messages", "count"},
	"failures":            {"Failed attempts", "count"},
	"limit":               {"Limit", "count"},
	"limit_per_hour":      {"Hourly limit", "count"},
	"rate_per_hour":       {"Messages per hour we saw", "number"},
	"senders":             {"Sending addresses involved", "count"},
	"interval_seconds":    {"Typical time between messages", "seconds"},
	"queue_messages":      {"Messages left in our queue", "count"},
	"deferrals":           {"Deferred deliveries", "count"},
	"over_quota":          {"Deliveries refused as mailbox full", "count"},
	"complaints":          {"Refusals or complaints by the recipient", "count"},
	"spf_failures":        {"Messages refused for SPF", "count"},
	"auth_failures":       {"Failed logins", "count"},
	"blocklist_claims":    {"Refusals claiming a blocklist listing", "count"},
	"dns_failures":        {"Failed MX look-ups", "count"},
	"identical_messages":  {"Copies of the same message", "count"},
	"distinct_recipients": {"Distinct recipients", "count"},
}

// Reasons is the explanation of every rule code, keyed by code.
var Reasons = indexReasons([]Reason{
	{
		Code:    "invalid_recipients",
		Title:   "Too many messages to recipients that do not exist",
		Saw:     "You recently sent too many messages to addresses that do not exist.",
		Summary: "{user_unknown} of {attempts} recipients did not exist, in {window_seconds}.",
		Matters: "Sending to addresses that do not exist is what spammers and unconfirmed mailing lists do. Receiving providers lower the reputation of our servers for it, which hurts every customer who sends through us, and it threatens your own domain's reputation.",
		Fix: []string{
			"Clean your list: remove every address that bounced.",
			"Only send to people who confirmed their subscription (double opt-in).",
			"If a script or form sends the mail, check it is not sending to made-up or mistyped addresses.",
		},
		Public: []string{"user_unknown", "attempts", "ratio", "threshold_ratio", "window_seconds"},
	},
	{
		Code:    "banned_software",
		Title:   "Mail from software we do not allow",
		Saw:     "Mail from this address was sent by software our policy does not allow on the platform (for example v2board panels).",
		Matters: "This software is widely used to send unsolicited mail in bulk; its traffic has put our servers on blocklists before.",
		Fix: []string{
			"Stop relaying this software's mail through us.",
			"If you believe this is a mistake, dispute it below and tell us what sends your mail.",
		},
	},
	{
		Code:    "cron_flood",
		Title:   "A cron job is flooding our queue",
		Saw:     "A scheduled job sends a message every time it runs, often to an address that cannot receive it.",
		Summary: "{count} such messages in {window_seconds}.",
		Matters: "Mail nobody reads fills our queues, sets off alerts and makes us clean up after it. We are not a place to dump a server's output.",
		Fix: []string{
			"Remove the cron job's mail (MAILTO=\"\" in the crontab, or redirect its output to a log file).",
			"Or send it to a real mailbox someone reads.",
			"Learn what your server sends before relaying it through us: only mail a person needs to read.",
		},
	},
	{
		Code:    "invalid_sender",
		Title:   "An invalid sender address",
		Saw:     "Mail was sent from an address that cannot receive replies, such as root@localhost or a domain that does not exist.",
		Matters: "We cannot return a bounce to an invalid sender, so every failed message stays in our queues; refusing it at once gives you an error instead.",
		Fix: []string{
			"Set a real sender address on your domain in the application or server that sends the mail.",
			"Make sure that address can receive mail.",
		},
	},
	{
		Code:    "webform_spam",
		Title:   "Your contact form is sending spam",
		Saw:     "Your website's contact form (WordPress or similar) was used to send spam to outside mail services.",
		Summary: "{count} messages in {window_seconds}.",
		Matters: "Gmail, Outlook, Yahoo and others judge our servers by what reaches their users; spam from a form hurts every customer.",
		Fix: []string{
			"Add a CAPTCHA or a similar check to the form.",
			"Stop the form from sending a copy to the address the visitor typed in.",
			"Update the form plugin and the site.",
		},
	},
	{
		Code:    "limit_evasion",
		Title:   "Getting around the sending limit",
		Saw:     "The same campaign was sent from several addresses (sender1, sender2, ...) to get around the hourly sending limit.",
		Summary: "{senders} sending addresses were used.",
		Matters: "The limit protects the platform's reputation; going around it is a breach of policy.",
		Fix: []string{
			"Send from one address and stay within the limit.",
			"If you need to send more, talk to us first.",
		},
	},
	{
		Code:    "rate_limit",
		Title:   "Over the sending limit",
		Saw:     "This account sent more mail than its limit allows.",
		Summary: "{count} messages in {window_seconds}; the limit is {limit}.",
		Matters: "Limits keep one customer from flooding the servers everyone shares.",
		Fix: []string{
			"Wait: the block lifts when it expires (see below), and new mail is only delayed, not lost.",
			"Spread your sending out over time.",
		},
	},
	{
		Code:    "automated_mail",
		Title:   "Mail not intended for human consumption",
		Saw:     "This address sends automated mail (scripts, monitoring, notifications) at a volume no person reads.",
		Summary: "{count} messages in {window_seconds}.",
		Matters: "Our platform is for mail people read. Machine traffic wastes resources and looks like spam to receiving providers.",
		Fix: []string{
			"Send only mail a person needs to read.",
			"Use a log file, a monitoring system or a webhook for the rest.",
		},
	},
	{
		Code:    "bulk_marketing",
		Title:   "Marketing mail",
		Saw:     "This address sent marketing mail to many recipients.",
		Summary: "{recipients} recipients in {window_seconds}.",
		Matters: "We do not allow marketing mail on the platform. Only the sending address was blocked, which means we think the account can still be saved.",
		Fix: []string{
			"Use a service made for newsletters and marketing mail.",
			"Send only personal and transactional mail through us.",
		},
	},
	{
		Code:    "spf_rejections",
		Title:   "Refused for SPF",
		Saw:     "Receiving services refused a significant number of messages from your domain because its SPF record does not include our servers.",
		Summary: "{rejections} messages were refused in {window_seconds}.",
		Matters: "Every refused message costs our servers reputation, and none of your mail arrives.",
		Fix: []string{
			"Add our servers to your domain's SPF record (the include: our documentation names).",
			"Then dispute this block below or open a ticket, so we can lift it.",
		},
	},
	{
		Code:    "spoofing",
		Title:   "Sending as a domain you do not own",
		Saw:     "Mail used this address as its From address, but the sender does not own the domain.",
		Matters: "Forged senders are phishing; receiving providers block platforms that carry them.",
		Fix: []string{
			"Send only from domains you own and have set up with us.",
			"If you do own the domain, dispute this block below and tell us how to verify it.",
		},
	},
	{
		Code:    "auth_failures",
		Title:   "Too many failed logins",
		Saw:     "There were many failed login attempts for this account or from this address.",
		Summary: "{auth_failures} failed logins in {window_seconds}.",
		Matters: "Repeated failed logins are how accounts get stolen and then used to send spam.",
		Fix: []string{
			"Check the password in every mail program and device that uses this account.",
			"If you did not make these attempts, change your password.",
		},
	},
	{
		Code:    "sms_gateway",
		Title:   "Mail to an SMS gateway",
		Saw:     "Mail was sent to an email-to-SMS gateway, which our policy forbids.",
		Matters: "Carriers treat mail to their SMS gateways strictly and block whole platforms for it.",
		Fix: []string{
			"Use an SMS service to send text messages.",
			"Remove the gateway address from your application or list.",
		},
	},
	{
		Code:    "nonexistent_recipient",
		Title:   "Recipient does not exist",
		Saw:     "Mail kept being sent to this address although it does not exist.",
		Summary: "{count} attempts in {window_seconds}.",
		Matters: "Each attempt makes a bounce we have to deliver; refusing the address at once saves that overhead.",
		Fix: []string{
			"Remove the address from your list or application.",
			"If the address exists now, dispute this block below.",
		},
	},
	{
		Code:    "mailbox_full",
		Title:   "Recipient's mailbox is always full",
		Saw:     "This mailbox is kept full, so every message to it bounces.",
		Summary: "{over_quota} deliveries were refused as mailbox full in {window_seconds}.",
		Matters: "We will not keep bouncing mail on the mailbox owner's behalf.",
		Fix: []string{
			"Empty the mailbox or raise its quota, then dispute this block below.",
			"Or stop sending to this address.",
		},
	},
	{
		Code:    "unwanted",
		Title:   "Recipient does not want this mail",
		Saw:     "Mail kept being sent to someone who refused it.",
		Summary: "{complaints} refusals or complaints in {window_seconds}.",
		Matters: "Mail to people who do not want it is spam, and a direct error tells the sender at once.",
		Fix: []string{
			"Stop sending to this address.",
		},
	},
	{
		Code:    "junk_to_third_party",
		Title:   "Junk mail to an outside service",
		Saw:     "Large amounts of automated mail (such as cron notifications) went to this address at an outside mail service.",
		Summary: "{count} messages in {window_seconds}.",
		Matters: "Nobody reads hundreds of notifications a day; they waste resources and use up our rate limits at the receiving service.",
		Fix: []string{
			"Send fewer, useful notifications, or keep them in a log.",
		},
	},
	{
		Code:    "no_mx",
		Title:   "Domain cannot receive mail",
		Saw:     "This domain has no valid MX record in DNS, so mail to it cannot be delivered.",
		Matters: "Mail that cannot be delivered fills our queues and harms our IP reputation.",
		Fix: []string{
			"Check the address for typos.",
			"If you own the domain, publish a valid MX record, then dispute this block below.",
		},
	},
	{
		Code:    "false_blocklist_claim",
		Title:   "Recipient's server wrongly claims we are blocklisted",
		Saw:     "The recipient's server refuses our mail saying our servers are on a blocklist (such as Spamhaus) when they are not.",
		Summary: "{blocklist_claims} such refusals in {window_seconds}.",
		Matters: "These refusals put our sending IPs into a cooldown for everyone; we cannot fix the recipient's server for them.",
		Fix: []string{
			"Ask the recipient's mail administrator to fix their blocklist configuration.",
			"Once fixed, dispute this block below.",
		},
	},
	{
		Code:    "queue_flood",
		Title:   "Flooding our mail queue",
		Saw:     "Mail from here filled our queues with messages that could not be delivered.",
		Summary: "{queue_messages} messages were left in our queue.",
		Matters: "A flooded queue delays every customer's mail and sets off our alerts.",
		Fix: []string{
			"Find what sends the mail (a script, a form, a cron job) and stop it.",
			"Send only to addresses that exist.",
		},
	},
	{
		Code:    "manual",
		Title:   "Blocked by our abuse desk",
		Saw:     "Our staff blocked this after reviewing its mail.",
		Matters: "Your sending behaviour violates our policy, and not just by a little.",
		Fix: []string{
			"Dispute this block below or open a ticket; staff will tell you what to change.",
		},
	},
})

// Generic explains a rule code Reasons does not know.
var Generic = Reason{
	Code:    "",
	Title:   "Blocked by our automatic abuse checks",
	Saw:     "Our automatic checks found mail here that breaks our sending policy.",
	Matters: "Mail that breaks policy harms the reputation of servers every customer shares.",
	Fix: []string{
		"Review what you send through us: only wanted mail, to addresses that exist, from addresses you own.",
		"Dispute this block below if you think it is a mistake.",
	},
}

// CommonReasons are listed when a lookup finds no block: other reasons a
// message might bounce.
var CommonReasons = []string{
	"The recipient's address is mistyped or no longer exists (5.1.1 user unknown).",
	"The recipient's mailbox is full (5.2.2).",
	"The receiving server refused the message as spam, or because of your domain's SPF, DKIM or DMARC records.",
	"Your account was over its hourly sending limit; the mail is delayed, not lost.",
	"Your mail program used a wrong password, or none (authentication required).",
	"The recipient's domain has no working mail server (no MX record).",
	"A block on your account, which this page does not show: open a ticket. (A block on your server's IP address shows when you look the IP up here.)",
}

func indexReasons(rs []Reason) map[string]Reason {
	m := make(map[string]Reason, len(rs))
	for _, r := range rs {
		if _, dup := m[r.Code]; dup {
			panic("desk: duplicate reason " + r.Code)
		}
		m[r.Code] = r
	}
	return m
}

// ReasonFor returns the explanation of rule code, Generic for an unknown one.
func ReasonFor(code string) Reason {
	if r, ok := Reasons[code]; ok {
		return r
	}
	g := Generic
	g.Code = code
	return g
}

// Number is one labelled, formatted evidence value.
type Number struct {
	Key, Label, Value string
}

// formatEvidence formats one value by its label's format.
func formatEvidence(key string, v float64) string {
	f := evidenceLabels[key].Format
	if strings.HasSuffix(key, "_seconds") {
		f = "seconds"
	}
	switch f {
	case "ratio":
		return strconv.FormatFloat(math.Round(v*1000)/10, 'f', -1, 64) + " %"
	case "seconds":
		return humanDuration(time.Duration(v * float64(time.Second)))
	case "count":
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// humanDuration writes d in the largest whole units ("1 hour", "90 minutes").
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.FormatInt(n, 10) + " " + unit + "s"
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	}
	return plural(int64(d.Round(time.Second)/time.Second), "second")
}

// PublicNumbers returns the evidence safe to show the public: the keys the
// reason lists (or every labelled key when it lists none), in order.
func PublicNumbers(r Reason, ev map[string]float64) []Number {
	keys := r.Public
	if len(keys) == 0 {
		for k := range ev {
			if _, ok := evidenceLabels[k]; ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
	}
	var out []Number
	for _, k := range keys {
		v, ok := ev[k]
		l, known := evidenceLabels[k]
		if !ok || !known || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		out = append(out, Number{Key: k, Label: l.Label, Value: formatEvidence(k, v)})
	}
	return out
}

// AllNumbers returns every evidence value, sorted by key (staff view).
func AllNumbers(ev map[string]float64) []Number {
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Number, 0, len(keys))
	for _, k := range keys {
		label := evidenceLabels[k].Label
		if label == "" {
			label = k
		}
		out = append(out, Number{Key: k, Label: label, Value: formatEvidence(k, ev[k])})
	}
	return out
}

var placeholder = regexp.MustCompile(`\{([a-z0-9_]+)\}`)

// Summarize fills the reason's Summary with the evidence; "" when a
// number it names is missing or not labelled (never shown half-filled).
func Summarize(r Reason, ev map[string]float64) string {
	if r.Summary == "" {
		return ""
	}
	ok := true
	s := placeholder.ReplaceAllStringFunc(r.Summary, func(m string) string {
		k := m[1 : len(m)-1]
		v, has := ev[k]
		if _, known := evidenceLabels[k]; !has || !known || math.IsNaN(v) || math.IsInf(v, 0) {
			ok = false
			return ""
		}
		return formatEvidence(k, v)
	})
	if !ok {
		return ""
	}
	return s
}

// sideOf says which side of the mail a ban blocks, in words.
func sideOf(k event.SubjectKind) string {
	switch k {
	case event.KindSender:
		return "Your sending address has been blocked"
	case event.KindSenderDomain:
		return "Mail from your domain has been blocked"
	case event.KindRecipient:
		return "Mail to this recipient address has been blocked"
	case event.KindRecipientDomain:
		return "Mail to this domain has been blocked"
	case event.KindSenderRecipient:
		return "Mail from this address to one particular recipient has been blocked"
	case event.KindClientIP:
		return "Mail from this IP address has been blocked"
	}
	return "Mail has been blocked"
}
