package desk

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
)

// MaxLookupLen bounds what the lookup accepts (an address is at most 254
// bytes by RFC 5321's path limit).
const MaxLookupLen = 254

// maxFormBytes bounds a public form's body.
const maxFormBytes = 16 << 10

// common is what every page's layout shows.
type common struct {
	Title    string
	Platform string
	Staff    *staffInfo // nil on public pages
}

type staffInfo struct {
	Name, Role, CSRF string
	Admin            bool
}

// publicBan is one ban as the public page shows it: only what concerns
// the subject looked up.
type publicBan struct {
	Heading   string
	Reason    Reason
	Summary   string
	Numbers   []Number
	Message   string // the SMTP text our servers answer with
	Since     time.Time
	Expires   time.Time // zero: does not expire on its own
	Level     int
	Escalated bool
	Defer     bool // a temporary refusal: mail is delayed
}

type lookupPage struct {
	common
	Query     string // as entered, for the form
	Subject   string // normalised
	Error     string
	Looked    bool
	Bans      []publicBan
	Common    []string
	Disputes  bool
	TicketURL string
	Form      disputeForm
	Filed     string // the reference of a dispute just filed
	Waiting   bool   // a dispute on the subject is open already
}

type disputeForm struct {
	Contact, Message string
	Errors           []string
}

// parseSubject normalises and checks what a person entered: an address,
// a domain or an IP address. problem, when not empty, is a sentence for
// the page saying what is wrong.
func parseSubject(raw string) (subject, problem string) {
	s := strings.TrimSpace(raw)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	s = strings.ToLower(s)
	switch {
	case s == "":
		return "", "Enter an email address or a domain."
	case len(s) > MaxLookupLen:
		return "", fmt.Sprintf("That is %d characters long; an email address has at most %d.", len(s), MaxLookupLen)
	}
	if err := event.CheckToken(s); err != nil {
		return "", "That holds spaces or invisible characters; enter a plain email address or domain."
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String(), ""
	}
	if strings.Contains(s, event.PairSeparator) {
		return "", "Enter one email address or one domain."
	}
	at := strings.LastIndexByte(s, '@')
	domain := s
	if at >= 0 {
		if at == 0 || at == len(s)-1 {
			return "", "That is not an email address: it needs a name before and a domain after the @."
		}
		domain = s[at+1:]
	}
	if strings.ContainsAny(domain, "@<>\"'()[]") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", "That domain is not valid."
	}
	if at < 0 && !strings.Contains(domain, ".") {
		return "", "Enter a full email address (name@example.com) or a domain (example.com)."
	}
	return s, ""
}

// publicBans returns the bans the public may see for subject: enforced
// now, on the subject itself or its domain (an address: as sender,
// recipient, sender domain or recipient domain; a domain: its domain bans;
// an IP: its client_ip ban). They are fetched by their exact keys, so a
// lookup costs the same however many bans there are, and nothing else can
// show: not other addresses of a domain looked up (no enumeration), not
// account bans (internal names), not sender→recipient pairs (they name a
// third party).
func (s *Server) publicBans(r *http.Request, subject string) ([]event.Ban, []publicBan, error) {
	var keys []struct {
		kind event.SubjectKind
		sub  string
	}
	add := func(k event.SubjectKind, sub string) {
		keys = append(keys, struct {
			kind event.SubjectKind
			sub  string
		}{k, sub})
	}
	switch {
	case strings.Contains(subject, "@"):
		add(event.KindSender, subject)
		add(event.KindRecipient, subject)
		add(event.KindSenderDomain, event.Domain(subject))
		add(event.KindRecipientDomain, event.Domain(subject))
	case isIP(subject):
		add(event.KindClientIP, subject)
	default:
		add(event.KindSenderDomain, subject)
		add(event.KindRecipientDomain, subject)
	}
	var raw []event.Ban
	var out []publicBan
	for _, k := range keys {
		v, err := s.d.Backend.Get(r.Context(), k.kind, k.sub)
		if api.IsNotFound(err) || errors.Is(err, api.ErrInvalid) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if !v.Enforced {
			continue
		}
		b := v.Ban
		reason := ReasonFor(b.Rule)
		raw = append(raw, b)
		out = append(out, publicBan{
			Heading: sideOf(b.SubjectKind), Reason: reason, Summary: Summarize(reason, b.Evidence),
			Numbers: PublicNumbers(reason, b.Evidence), Since: b.TS, Expires: b.Expires.Time,
			Level: b.Level, Escalated: b.Level > 1, Defer: b.Action == event.ActionDefer,
			// The SMTP text was already given to whoever sent the mail.
			Message: b.Message,
		})
	}
	return raw, out, nil
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func (s *Server) newLookupPage() lookupPage {
	return lookupPage{
		common:    common{Title: "Why was my mail blocked?", Platform: s.cfg.Platform},
		Common:    CommonReasons,
		Disputes:  s.cfg.Disputes,
		TicketURL: s.cfg.TicketURL,
	}
}

// tooMany answers 429 and counts it.
func (s *Server) tooMany(w http.ResponseWriter, what string, retry time.Duration) {
	s.m.limited.WithLabelValues(what).Inc()
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
	s.render(w, http.StatusTooManyRequests, "message", messagePage{
		common: common{Title: "Too many requests", Platform: s.cfg.Platform},
		Text:   "You made too many requests from your network in a short time. Wait a minute and try again.",
	})
}

type messagePage struct {
	common
	Text string
	Back string
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	p := s.newLookupPage()
	raw, ok := r.URL.Query()["a"]
	if !ok {
		s.render(w, http.StatusOK, "lookup", p)
		return
	}
	if !s.lookups.allow(clientIP(r, s.trusted)) {
		s.tooMany(w, "lookup", time.Duration(float64(time.Minute)/s.cfg.LookupsPerMinute))
		return
	}
	q := ""
	if len(raw) > 0 {
		q = raw[0]
	}
	p.Query = q
	subject, problem := parseSubject(q)
	if problem != "" {
		p.Error = problem
		s.render(w, http.StatusBadRequest, "lookup", p)
		return
	}
	p.Subject, p.Looked = subject, true
	_, bans, err := s.publicBans(r, subject)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	p.Bans = bans
	p.Waiting = len(bans) > 0 && s.openDisputeOn(subject)
	s.render(w, http.StatusOK, "lookup", p)
}

func (s *Server) openDisputeOn(subject string) bool {
	return len(s.disputes.list(true, func(d *event.Dispute) bool { return d.Subject == subject })) > 0
}

func (s *Server) unavailable(w http.ResponseWriter, err error) {
	s.logger.Warn("desk backend", "err", err)
	s.render(w, http.StatusServiceUnavailable, "message", messagePage{
		common: common{Title: "Temporarily unavailable", Platform: s.cfg.Platform},
		Text:   "We cannot answer right now. Please try again in a few minutes.",
	})
}

// dispute records a dispute from the lookup page's form.
func (s *Server) dispute(w http.ResponseWriter, r *http.Request) {
	p := s.newLookupPage()
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.m.filed.WithLabelValues("refused").Inc()
		p.Form.Errors = []string{fmt.Sprintf("The form was too large or malformed; write at most %d characters.", event.MaxDisputeMessage)}
		s.render(w, http.StatusBadRequest, "lookup", p)
		return
	}
	if !s.cfg.Disputes {
		s.render(w, http.StatusNotFound, "message", messagePage{common: common{Title: "Not found", Platform: s.cfg.Platform},
			Text: "Disputes are not taken here."})
		return
	}
	if !s.filings.allow(clientIP(r, s.trusted)) {
		s.tooMany(w, "dispute", time.Duration(float64(time.Hour)/s.cfg.DisputesPerHour))
		return
	}
	q := r.PostFormValue("a")
	p.Query = q
	p.Form.Contact, p.Form.Message = r.PostFormValue("contact"), r.PostFormValue("message")
	subject, problem := parseSubject(q)
	if problem != "" {
		s.m.filed.WithLabelValues("refused").Inc()
		p.Error = problem
		s.render(w, http.StatusBadRequest, "lookup", p)
		return
	}
	p.Subject, p.Looked = subject, true
	raw, bans, err := s.publicBans(r, subject)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	p.Bans = bans
	contact := strings.ToLower(strings.TrimSpace(p.Form.Contact))
	if at := strings.LastIndexByte(contact, '@'); at <= 0 || at == len(contact)-1 || len(contact) > MaxLookupLen ||
		event.CheckToken(contact) != nil || !strings.Contains(contact[at+1:], ".") {
		p.Form.Errors = append(p.Form.Errors, "Enter the email address we should answer you at (name@example.com).")
	}
	if err := event.CheckDisputeText(p.Form.Message); err != nil {
		msg := "Tell us in a few sentences why you think the block is wrong."
		switch {
		case len(p.Form.Message) > event.MaxDisputeMessage:
			msg = fmt.Sprintf("Your message is %d characters long; please shorten it to at most %d.", len(p.Form.Message), event.MaxDisputeMessage)
		case strings.TrimSpace(p.Form.Message) != "":
			msg = "Your message holds invisible or control characters; please type it as plain text."
		}
		p.Form.Errors = append(p.Form.Errors, msg)
	}
	if len(bans) == 0 {
		p.Form.Errors = append(p.Form.Errors, "There is no block on this address or domain to dispute.")
	} else if s.openDisputeOn(subject) {
		p.Waiting = true
		p.Form.Errors = append(p.Form.Errors, "A dispute about this address is already waiting for our staff; we will answer it.")
	}
	if len(p.Form.Errors) > 0 {
		s.m.filed.WithLabelValues("refused").Inc()
		s.render(w, http.StatusBadRequest, "lookup", p)
		return
	}
	now := s.now().UTC().Truncate(time.Second)
	d := &event.Dispute{
		ID: "d-" + now.Format("20060102") + "-" + randomHex(6), TS: now, Filed: now, Subject: subject,
		Contact: contact, Message: p.Form.Message, Status: event.DisputeOpen, Bans: []string{}, Rules: []string{},
	}
	for _, b := range raw {
		if len(d.Bans) < event.MaxDisputeBans {
			d.Bans = append(d.Bans, b.Key())
			d.Rules = append(d.Rules, b.Rule)
		}
	}
	if err := s.disputes.produce(r.Context(), s.getProducer(), s.d.Kafka.Topics.Disputes, d, s.d.ProduceTimeout); err != nil {
		s.m.filed.WithLabelValues("unavailable").Inc()
		if errors.Is(err, api.ErrUnavailable) {
			s.unavailable(w, err)
			return
		}
		p.Form.Errors = []string{"Your dispute could not be recorded: " + err.Error()}
		s.render(w, http.StatusBadRequest, "lookup", p)
		return
	}
	s.m.filed.WithLabelValues("filed").Inc()
	s.logger.Info("dispute filed", "id", d.ID, "subject", strconv.QuoteToASCII(subject), "bans", len(d.Bans))
	p.Filed, p.Form = d.ID, disputeForm{}
	s.render(w, http.StatusOK, "lookup", p)
}
