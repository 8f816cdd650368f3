package rules

import (
	_ "embed"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeBannedSoftware is the code of the banned_software rule.
const CodeBannedSoftware = "banned_software"

// v2boardTemplates are the V2Board panel's subjects with their source
// (data/v2board.tsv).
//
//go:embed data/v2board.tsv
var v2boardTemplates string

// BannedSoftwareConfig configures banned_software: mail sent by software
// the platform forbids, first on its policy page the V2Board
// proxy-subscription panel and its forks, recognised by the fixed subjects
// the software builds (data/v2board.tsv, each with its source file in
// github.com/v2board/v2board), counted over the window so one look-alike
// subject from an ordinary app does not ban.
//
// Defaults: research/thresholds.md has no number for this reason; the
// policy bans the software outright, so the volume only guards against a
// coincidence. A panel mails a verification code on every sign-up and
// password reset and traffic and expiry reminders every day to many users;
// an ordinary app that happens to use one such phrase sends it to a
// handful. So: 10 matching messages to at least 5 distinct recipients in
// 24 h.
type BannedSoftwareConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted; a multiple of state.bucket_width. Default 24h.
	Window time.Duration `koanf:"window"`
	// MinMessages is the fewest messages matching a signature in the window. Default 10.
	MinMessages int `koanf:"min_messages"`
	// MinRecipients is the fewest distinct recipients of those messages. Default 5.
	MinRecipients int `koanf:"min_recipients"`
	// Signatures are the platform's own subject templates, on top of the
	// built-in V2Board ones: literal text with at most one {app}
	// placeholder (1 to 64 bytes, no white space at either end).
	// Default none.
	Signatures []string `koanf:"signatures"`
}

// Default implements Section.
func (BannedSoftwareConfig) Default() Section {
	return BannedSoftwareConfig{On: true, Window: 24 * time.Hour, MinMessages: 10, MinRecipients: 5}
}

// Enabled implements Section.
func (c BannedSoftwareConfig) Enabled() bool { return c.On }

// signature is one subject template: pre{app}suf, or the literal pre when
// it has no placeholder.
type signature struct {
	pre, suf string
	app      bool
	source   string
}

// maxAppName bounds the {app} placeholder's value.
const maxAppName = 64

func parseSignature(t, source string) (signature, error) {
	if t == "" || !utf8.ValidString(t) || strings.ContainsAny(t, "\r\n\t\x00") {
		return signature{}, fmt.Errorf("signature %q: empty, not UTF-8 or holds a control character", t)
	}
	pre, suf, ok := strings.Cut(t, "{app}")
	if ok && strings.Contains(suf, "{app}") {
		return signature{}, fmt.Errorf("signature %q: more than one {app}", t)
	}
	if ok && pre == "" && suf == "" {
		return signature{}, fmt.Errorf("signature %q: nothing but {app}", t)
	}
	return signature{pre: pre, suf: suf, app: ok, source: source}, nil
}

// match reports whether a (decoded) subject is s.
func (s *signature) match(subj string) bool {
	if !s.app {
		return subj == s.pre
	}
	if len(subj) <= len(s.pre)+len(s.suf) || !strings.HasPrefix(subj, s.pre) || !strings.HasSuffix(subj, s.suf) {
		return false
	}
	app := subj[len(s.pre) : len(subj)-len(s.suf)]
	if len(app) > maxAppName {
		return false
	}
	first, _ := utf8.DecodeRuneInString(app)
	last, _ := utf8.DecodeLastRuneInString(app)
	return !unicode.IsSpace(first) && !unicode.IsSpace(last)
}

// builtinSignatures parses data/v2board.tsv.
func builtinSignatures() ([]signature, error) {
	var out []signature
	for i, line := range strings.Split(v2boardTemplates, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		t, src, ok := strings.Cut(line, "\t")
		if !ok || src == "" {
			return nil, fmt.Errorf("data/v2board.tsv:%d: want template TAB source", i+1)
		}
		s, err := parseSignature(t, "github.com/v2board/v2board: "+src)
		if err != nil {
			return nil, fmt.Errorf("data/v2board.tsv:%d: %w", i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func (c BannedSoftwareConfig) validate() error {
	var errs []error
	if c.MinMessages < 1 {
		errs = append(errs, fmt.Errorf("min_messages %d: must be at least 1", c.MinMessages))
	}
	if c.MinRecipients < 1 {
		errs = append(errs, fmt.Errorf("min_recipients %d: must be at least 1", c.MinRecipients))
	}
	return errors.Join(errs...)
}

// Build implements Section.
func (c BannedSoftwareConfig) Build(env Env) (Rule, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	sigs, err := builtinSignatures()
	if err != nil {
		return nil, err
	}
	for _, t := range c.Signatures {
		s, err := parseSignature(t, "config")
		if err != nil {
			return nil, fmt.Errorf("signatures: %w", err)
		}
		sigs = append(sigs, s)
	}
	l := env.Layout(event.KindSender)
	r := &bannedSoftware{cfg: c, sigs: sigs}
	// A one-entry fingerprint slot as the message count: allocated only
	// for senders that matched (counters would cost every sender).
	if r.count, err = l.Fingerprints(c.Window, 1); err != nil {
		return nil, err
	}
	if r.rcpts, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.which, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your sending address has been blocked by admins: v2board. We do not allow V2Board panels or their forks on our platform " +
		"(%d of their messages in " + FormatWindow(c.Window) + "). Stop sending through us and open a ticket at " +
		strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, uint64(1<<32))); err != nil {
		return nil, err
	}
	return r, nil
}

// bannedSoftware counts, per envelope sender, the messages whose subject
// matches a signature (one event per recipient attempt: sent, bounced,
// rejected or deferred alike — what the software tried to send), their
// distinct recipients and the distinct signatures matched. The count
// restarts when no matching message came for a whole window.
type bannedSoftware struct {
	cfg       BannedSoftwareConfig
	sigs      []signature
	count     state.Fingerprints
	rcpts     state.Distinct
	which     state.Distinct
	first     state.Mark
	msgFormat string
	matched   int // signature index of the input Filter accepted
	dec       mime.WordDecoder
	n         uint32
}

func (r *bannedSoftware) Info() Info {
	return Info{
		Code: CodeBannedSoftware, Stage: StageSender, Kind: event.KindSender,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow,
	}
}

// decodeSubject undoes RFC 2047 encoded words and trims white space.
// Postfix header_checks logs the raw header ("=?UTF-8?B?...?="), which
// ingest decodes already (and Exim's octal escapes); this covers events
// from other producers.
func (r *bannedSoftware) decodeSubject(s string) string {
	if strings.Contains(s, "=?") {
		if d, err := r.dec.DecodeHeader(s); err == nil {
			s = d
		}
	}
	return strings.TrimSpace(s)
}

func (r *bannedSoftware) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.Sender == "" || ev.Subject == "" || ev.Status == event.StatusAuthFailed {
		return false
	}
	subj := r.decodeSubject(ev.Subject)
	for i := range r.sigs {
		if r.sigs[i].match(subj) {
			r.matched = i
			return true
		}
	}
	return false
}

func (r *bannedSoftware) Update(in *Input, rec state.Record) {
	r.n = rec.AddFingerprint(r.count, 1)
	rec.AddDistinct(r.rcpts, state.Hash(strings.ToLower(in.Event.Recipient)))
	rec.AddDistinct(r.which, smallValue(uint64(r.matched)))
	rec.MarkFirst(r.first, in.Event.ID)
}

func (r *bannedSoftware) Threshold(_ *Input, rec state.Record) (Crossing, bool) {
	n := uint64(r.n)
	if n < uint64(r.cfg.MinMessages) {
		return Crossing{}, false
	}
	rcpts := rec.Distinct(r.rcpts)
	if rcpts < uint64(r.cfg.MinRecipients) {
		return Crossing{}, false
	}
	config := 0.0
	if r.sigs[r.matched].source == "config" {
		config = 1
	}
	return Crossing{
		Message: fmt.Sprintf(r.msgFormat, n),
		Evidence: map[string]float64{
			"messages":         float64(n),
			"recipients":       float64(rcpts),
			"signatures":       float64(rec.Distinct(r.which)),
			"signature_index":  float64(r.matched),
			"config_signature": config,
			"min_messages":     float64(r.cfg.MinMessages),
			"min_recipients":   float64(r.cfg.MinRecipients),
			"window_seconds":   r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}
