package desk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
)

// maxEvents bounds the events shown under a ban, maxTimeline its timeline.
const (
	maxEvents   = 200
	maxTimeline = 200
	historyWait = 5 * time.Second
	// maxDisputesShown bounds the open disputes listed on the staff page.
	maxDisputesShown = 200
)

func (s *Server) info(se *session) *staffInfo {
	return &staffInfo{Name: se.name, Role: se.role, CSRF: se.csrf, Admin: se.role == api.RoleAdmin}
}

// staffSession returns the request's session, or redirects to the login
// page and returns nil.
func (s *Server) staffSession(w http.ResponseWriter, r *http.Request) *session {
	if s.d.Auth == nil {
		s.render(w, http.StatusNotFound, "message", messagePage{common: common{Title: "Staff view off", Platform: s.cfg.Platform},
			Text: "The staff view needs the operator API's tokens (api.tokens or api.tokens_file)."})
		return nil
	}
	se := s.sessions.get(r)
	if se == nil {
		if r.Method == http.MethodGet {
			http.Redirect(w, r, "/staff/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		} else {
			s.render(w, http.StatusForbidden, "message", messagePage{common: common{Title: "Signed out", Platform: s.cfg.Platform},
				Text: "Your session has ended; sign in again.", Back: "/staff/login"})
		}
		return nil
	}
	return se
}

type loginPage struct {
	common
	Next  string
	Error string
}

func safeNext(n string) string {
	if !strings.HasPrefix(n, "/staff") || strings.HasPrefix(n, "//") || strings.ContainsAny(n, "\\\r\n") {
		return "/staff"
	}
	return n
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login", loginPage{common: common{Title: "Staff sign-in", Platform: s.cfg.Platform},
		Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	p := loginPage{common: common{Title: "Staff sign-in", Platform: s.cfg.Platform}}
	if s.d.Auth == nil {
		s.staffSession(w, r)
		return
	}
	if !s.lookups.allow(clientIP(r, s.trusted)) {
		s.tooMany(w, "login", time.Duration(float64(time.Minute)/s.cfg.LookupsPerMinute))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.Error = "The form was malformed."
		s.render(w, http.StatusBadRequest, "login", p)
		return
	}
	p.Next = safeNext(r.PostFormValue("next"))
	name, role, err := s.d.Auth.Check("Bearer " + strings.TrimSpace(r.PostFormValue("token")))
	if err != nil {
		s.logger.Warn("desk sign-in refused", "client", clientIP(r, s.trusted).String())
		p.Error = "That token is not valid."
		s.render(w, http.StatusForbidden, "login", p)
		return
	}
	id, _ := s.sessions.create(name, role)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/staff", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || strings.HasPrefix(s.cfg.PublicURL, "https:"),
		MaxAge: int(s.cfg.SessionTTL.Seconds())})
	s.logger.Info("desk sign-in", "actor", name, "role", role)
	http.Redirect(w, r, p.Next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if se := s.sessions.get(r); se != nil && r.ParseForm() == nil && se.checkCSRF(r) {
		s.sessions.drop(r)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/staff", HttpOnly: true, MaxAge: -1,
		SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/staff/login", http.StatusSeeOther)
}

type staffPage struct {
	common
	Query    api.ListQuery
	Kinds    []event.SubjectKind
	Page     api.Page
	Error    string
	Disputes []disputeView
	Prev     string
	Next     string
	// First and Last number the bans shown (from 1).
	First, Last int
	// Waiting counts the open disputes (the oldest maxDisputesShown shown).
	Waiting int
}

type disputeView struct {
	event.Dispute
	Lines []string
	Links []banLink
}

type banLink struct {
	Key, Href string
}

func banHref(key string) string {
	kind, subject, _ := strings.Cut(key, ":")
	return "/staff/ban?" + url.Values{"kind": {kind}, "subject": {subject}}.Encode()
}

func (s *Server) viewDisputes(ds []event.Dispute) []disputeView {
	out := make([]disputeView, 0, len(ds))
	for _, d := range ds {
		v := disputeView{Dispute: d, Lines: DisplayText(d.Message, event.MaxDisputeMessage)}
		for _, k := range d.Bans {
			v.Links = append(v.Links, banLink{Key: k, Href: banHref(k)})
		}
		out = append(out, v)
	}
	return out
}

func (s *Server) staff(w http.ResponseWriter, r *http.Request) {
	se := s.staffSession(w, r)
	if se == nil {
		return
	}
	p := staffPage{common: common{Title: "Abuse desk", Platform: s.cfg.Platform, Staff: s.info(se)},
		Kinds: []event.SubjectKind{event.KindSender, event.KindAccount, event.KindSenderDomain, event.KindClientIP,
			event.KindSenderRecipient, event.KindRecipient, event.KindRecipientDomain}}
	v := r.URL.Query()
	if q := v.Get("q"); q != "" && !v.Has("subject") {
		v.Set("subject", q)
	}
	if v.Get("limit") == "" {
		v.Set("limit", "50")
	}
	q, err := api.ParseListQuery(v, s.now())
	code := http.StatusOK
	if err == nil {
		p.Page, err = s.d.Backend.List(r.Context(), q)
	}
	if err != nil {
		p.Error, code = err.Error(), http.StatusBadRequest
	}
	p.Query = q
	p.First, p.Last = p.Page.Offset+1, p.Page.Offset+len(p.Page.Bans)
	page := func(off int) string {
		c := url.Values{}
		for k, vs := range v {
			c[k] = vs
		}
		c.Set("offset", strconv.Itoa(off))
		return "/staff?" + c.Encode()
	}
	if p.Page.NextOffset != nil {
		p.Next = page(*p.Page.NextOffset)
	}
	if q.Offset > 0 {
		p.Prev = page(max(0, q.Offset-q.Limit))
	}
	open := s.disputes.list(true, nil)
	p.Waiting = len(open)
	if len(open) > maxDisputesShown {
		open = open[:maxDisputesShown]
	}
	p.Disputes = s.viewDisputes(open)
	s.render(w, code, "staff", p)
}

type banPage struct {
	common
	Ban       api.BanView
	Href      string
	Reason    Reason
	Summary   string
	Public    []Number
	All       []Number
	History   bool
	HistErr   string
	Events    []event.DeliveryEvent
	Timeline  []TimelineEntry
	Allow     []event.AllowEntry
	Disputes  []disputeView
	Done      string
	Error     string
	Kind      string
	Subject   string
	NoBan     bool
	ExtendTTL string
}

// doneText maps the result codes of a change's redirect to sentences
// (never text taken from the URL).
var doneText = map[string]string{
	"unban":  "The ban was lifted. Every enforcer applies it within a second.",
	"allow":  "The subject was added to the allowlist; its bans are no longer enforced.",
	"extend": "The ban was extended.",
	"close":  "The dispute was closed.",
}

func (s *Server) ban(w http.ResponseWriter, r *http.Request) {
	se := s.staffSession(w, r)
	if se == nil {
		return
	}
	kind, subject := r.URL.Query().Get("kind"), r.URL.Query().Get("subject")
	p := banPage{common: common{Title: "Ban", Platform: s.cfg.Platform, Staff: s.info(se)},
		Kind: kind, Subject: subject, Done: doneText[r.URL.Query().Get("done")], ExtendTTL: "168h"}
	code := http.StatusOK
	b, err := s.d.Backend.Get(r.Context(), event.SubjectKind(kind), subject)
	switch {
	case api.IsNotFound(err):
		p.NoBan = true
		if p.Done == "" {
			code = http.StatusNotFound
		}
	case err != nil:
		p.Error, code = err.Error(), http.StatusBadRequest
		if errors.Is(err, api.ErrUnavailable) {
			code = http.StatusServiceUnavailable
		}
	default:
		p.Ban, p.Href = b, banHref(b.Key)
		p.Reason = ReasonFor(b.Rule)
		p.Summary = Summarize(p.Reason, b.Evidence)
		p.Public = PublicNumbers(p.Reason, b.Evidence)
		p.All = AllNumbers(b.Evidence)
	}
	if p.Error == "" {
		if al, err := s.d.Backend.Allowlist(r.Context(), event.SubjectKind(kind), subject); err == nil {
			for _, a := range al {
				if strings.EqualFold(a.Subject, subject) {
					p.Allow = append(p.Allow, a)
				}
			}
		}
		key := event.BanKey(event.SubjectKind(kind), subject)
		p.Disputes = s.viewDisputes(s.disputes.list(false, func(d *event.Dispute) bool {
			for _, k := range d.Bans {
				if k == key {
					return true
				}
			}
			return false
		}))
		s.history(r.Context(), &p)
	}
	s.render(w, code, "ban", p)
}

// history fills the events and the timeline, from history when there is
// one, else from what the ban, the allowlist and the disputes hold.
func (s *Server) history(ctx context.Context, p *banPage) {
	if s.d.History != nil {
		p.History = true
		ctx, cancel := context.WithTimeout(ctx, historyWait)
		defer cancel()
		var errs []string
		if !p.NoBan {
			ev, err := s.d.History.Events(ctx, p.Ban.Ban, maxEvents)
			if err != nil {
				errs = append(errs, "events: "+err.Error())
			}
			p.Events = ev
		}
		tl, err := s.d.History.Timeline(ctx, event.SubjectKind(p.Kind), p.Subject, maxTimeline)
		if err != nil {
			errs = append(errs, "timeline: "+err.Error())
		}
		p.Timeline = tl
		if len(errs) > 0 {
			s.m.historyErr.Inc()
			p.HistErr = strings.Join(errs, "; ")
		} else {
			return
		}
	}
	// Without history (or when it failed): the timeline this enforcer knows.
	var tl []TimelineEntry
	if !p.NoBan {
		b := p.Ban
		if !b.WindowStart.IsZero() && !b.WindowStart.Equal(b.TS) {
			tl = append(tl, TimelineEntry{TS: b.WindowStart, What: "window start", Rule: b.Rule, Detail: "first event counted: " + b.FirstEventID})
		}
		what := "ban"
		if b.Action != event.ActionBan {
			what = string(b.Action)
		}
		tl = append(tl, TimelineEntry{TS: b.TS, What: what, Rule: b.Rule, Actor: b.Actor,
			Detail: strings.TrimSpace("level " + strconv.Itoa(b.Level) + " " + b.Reason)})
		if !b.Expires.IsZero() {
			tl = append(tl, TimelineEntry{TS: b.Expires.Time, What: "expires", Rule: b.Rule})
		}
	}
	for _, a := range p.Allow {
		tl = append(tl, TimelineEntry{TS: a.TS, What: "allow", Actor: a.Actor, Detail: a.Reason})
	}
	for _, d := range p.Disputes {
		tl = append(tl, TimelineEntry{TS: d.Filed, What: "dispute", Detail: d.ID + " from " + d.Contact})
		if d.Status == event.DisputeClosed {
			tl = append(tl, TimelineEntry{TS: d.TS, What: "dispute closed", Actor: d.Actor, Detail: d.Note})
		}
	}
	sortTimeline(tl)
	if p.Timeline == nil {
		p.Timeline = tl
	}
}

func sortTimeline(tl []TimelineEntry) {
	for i := 1; i < len(tl); i++ {
		for j := i; j > 0 && tl[j].TS.After(tl[j-1].TS); j-- {
			tl[j], tl[j-1] = tl[j-1], tl[j]
		}
	}
}

// change handles the staff view's buttons. Every change goes through the
// API's Backend with the session's token name as the actor, so it is
// produced to Kafka with its actor before it applies.
func (s *Server) change(what string) http.HandlerFunc {
	for _, r := range []string{"done", "refused", "forbidden", "error"} {
		s.m.changes.WithLabelValues(what, r)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			s.m.changes.WithLabelValues(what, "refused").Inc()
			s.render(w, http.StatusBadRequest, "message", messagePage{common: common{Title: "Refused", Platform: s.cfg.Platform},
				Text: "The form was too large or malformed."})
			return
		}
		se := s.staffSession(w, r)
		if se == nil {
			return
		}
		c := common{Title: "Refused", Platform: s.cfg.Platform, Staff: s.info(se)}
		if !se.checkCSRF(r) {
			s.m.changes.WithLabelValues(what, "forbidden").Inc()
			s.render(w, http.StatusForbidden, "message", messagePage{common: c,
				Text: "The form's security token did not match your session; reload the page and try again."})
			return
		}
		kind, subject := event.SubjectKind(r.PostFormValue("kind")), r.PostFormValue("subject")
		back := banHref(event.BanKey(kind, subject))
		if se.role != api.RoleAdmin {
			s.m.changes.WithLabelValues(what, "forbidden").Inc()
			s.logger.Warn("desk change refused: read-only token", "actor", se.name, "change", what)
			s.render(w, http.StatusForbidden, "message", messagePage{common: c, Back: back,
				Text: "Your token is read-only: it may look, not change. Ask an admin."})
			return
		}
		reason := strings.TrimSpace(r.PostFormValue("reason"))
		ctx := r.Context()
		var err error
		switch what {
		case "unban":
			err = s.d.Backend.Unban(ctx, se.name, api.ChangeRequest{Kind: kind, Subject: subject, Reason: reason})
		case "allow":
			_, err = s.d.Backend.Allow(ctx, se.name, api.AllowRequest{Kind: kind, Subject: subject, Reason: reason,
				TTL: strings.TrimSpace(r.PostFormValue("ttl"))})
		case "extend":
			// The API's extend: the same ban (rule, evidence, window,
			// level, message) with a later expiry, recorded with the actor.
			_, err = s.d.Backend.Extend(ctx, se.name, api.ExtendRequest{Kind: kind, Subject: subject,
				TTL: strings.TrimSpace(r.PostFormValue("ttl")), Reason: reason})
		case "close":
			err = s.closeDispute(ctx, se.name, r.PostFormValue("id"), reason)
			if d, ok := s.disputes.get(r.PostFormValue("id")); ok && len(d.Bans) > 0 {
				back = banHref(d.Bans[0])
			} else {
				back = "/staff"
			}
		}
		if err != nil {
			result, code := "refused", http.StatusBadRequest
			switch {
			case errors.Is(err, api.ErrNotFound):
				code = http.StatusNotFound
			case errors.Is(err, api.ErrUnavailable):
				result, code = "error", http.StatusServiceUnavailable
			case errors.Is(err, api.ErrForbidden):
				result, code = "forbidden", http.StatusForbidden
			}
			s.m.changes.WithLabelValues(what, result).Inc()
			s.render(w, code, "message", messagePage{common: c, Back: back, Text: "The change was refused: " + err.Error()})
			return
		}
		s.m.changes.WithLabelValues(what, "done").Inc()
		s.logger.Info("desk change", "actor", se.name, "change", what, "key", strconv.QuoteToASCII(event.BanKey(kind, subject)))
		sep := "&"
		if !strings.Contains(back, "?") {
			sep = "?"
		}
		http.Redirect(w, r, back+sep+"done="+what, http.StatusSeeOther)
	}
}

func (s *Server) closeDispute(ctx context.Context, actor, id, note string) error {
	d, ok := s.disputes.get(id)
	if !ok {
		return api.ErrNotFound
	}
	if d.Status == event.DisputeClosed {
		return errors.New("already closed")
	}
	if note == "" {
		return fmt.Errorf("%w: a note is required", api.ErrInvalid)
	}
	d.Status, d.Actor, d.Note, d.TS = event.DisputeClosed, actor, note, s.now().UTC().Truncate(time.Second)
	if err := d.Validate(); err != nil {
		return errors.Join(api.ErrInvalid, err)
	}
	return s.disputes.produce(ctx, s.getProducer(), s.d.Kafka.Topics.Disputes, &d, s.d.ProduceTimeout)
}
