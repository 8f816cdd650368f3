package parse

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// isLineKind reports whether a Stats key counts lines by kind (each line
// counts under exactly one of them).
func isLineKind(k string) bool {
	return !strings.HasPrefix(k, "rejected_") && !strings.HasPrefix(k, "messages_") && !strings.HasPrefix(k, "texts_")
}

// corpusRun feeds one group of lines through a fresh parser.
type corpusRun struct {
	lines, events int
	byStatus      map[event.Status]int
	byReason      map[string]int
	stats         map[string]uint64
	samples       map[string][]string // a few lines per rejected / unknown kind
}

func runCorpus(t *testing.T, lines []string, host string) corpusRun {
	t.Helper()
	p := newTestParser(t, Options{Host: host, Now: func() time.Time { return goldenNow }})
	r := corpusRun{byStatus: map[event.Status]int{}, byReason: map[string]int{}, samples: map[string][]string{}}
	emit := func(e *event.DeliveryEvent) {
		if err := e.Validate(); err != nil {
			t.Errorf("event %s fails Validate: %v", e.ID, err)
		}
		r.events++
		r.byStatus[e.Status]++
		if e.Status != event.StatusSent {
			r.byReason[string(e.Reason)]++
		}
	}
	for i, l := range lines {
		before := p.Stats()
		err := p.Feed([]byte(l), "c:"+strconv.Itoa(i), emit)
		r.lines++
		after := p.Stats()
		for k := range after {
			if after[k] != before[k] && (strings.HasSuffix(k, "_unknown") || strings.HasSuffix(k, "_unrecognised") || (err != nil && isLineKind(k))) {
				key := k
				if err != nil {
					var le *LineError
					errors.As(err, &le)
					key = k + "/" + le.Kind
				}
				if len(r.samples[key]) < 3 {
					r.samples[key] = append(r.samples[key], l)
				}
			}
		}
	}
	p.Expire(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), emit)
	r.stats = p.Stats()
	return r
}

func (r *corpusRun) add(o corpusRun) {
	r.lines += o.lines
	r.events += o.events
	for k, v := range o.byStatus {
		r.byStatus[k] += v
	}
	for k, v := range o.byReason {
		r.byReason[k] += v
	}
	for k, v := range o.stats {
		r.stats[k] += v
	}
	for k, v := range o.samples {
		if len(r.samples[k]) < 3 {
			r.samples[k] = append(r.samples[k], v...)
		}
	}
}

func (r *corpusRun) report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d lines, %d events\n", r.lines, r.events)
	var keys []string
	for k, v := range r.stats {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "    %-28s %7d\n", k, r.stats[k])
	}
	fmt.Fprintf(&b, "    events by status: %v\n", r.byStatus)
	fmt.Fprintf(&b, "    non-sent events by reason: %v\n", r.byReason)
	var sk []string
	for k := range r.samples {
		sk = append(sk, k)
	}
	sort.Strings(sk)
	for _, k := range sk {
		for _, l := range r.samples[k] {
			if len(l) > 160 {
				l = l[:160] + "..."
			}
			fmt.Fprintf(&b, "    e.g. %s: %q\n", k, l)
		}
	}
	return b.String()
}

// TestCorpusCoverage parses every real Postfix and Exim line of the shared
// corpus and logs what each line was taken for. It fails when a line of a
// message-bearing kind (client=, message-id=, header, qmgr from=/removed/
// expired, delivery to=, bounce, reject; Exim <= => -> *> ** == Completed,
// rejected) could not be read, when a line is not counted exactly once,
// or when an event fails Validate.
func TestCorpusCoverage(t *testing.T) {
	groups := map[string]map[string][]string{"postfix": postfixCorpus(t), "exim": eximCorpus(t)}
	for _, mta := range []string{"postfix", "exim"} {
		total := corpusRun{byStatus: map[event.Status]int{}, byReason: map[string]int{}, stats: map[string]uint64{}, samples: map[string][]string{}}
		bySource := map[string]*corpusRun{}
		var names []string
		for name := range groups[mta] {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			r := runCorpus(t, groups[mta][name], "corpus-host")
			var counted uint64
			for k, v := range r.stats {
				if isLineKind(k) {
					counted += v
				}
			}
			if counted != uint64(r.lines) {
				t.Errorf("%s: %d lines but %d counted by kind", name, r.lines, counted)
			}
			total.add(r)
			src := name
			if strings.HasPrefix(name, "exim/test/") { // group the test suite's files
				src = name[:strings.LastIndexByte(name, '/')]
			}
			if bySource[src] == nil {
				bySource[src] = &corpusRun{byStatus: map[event.Status]int{}, byReason: map[string]int{}, stats: map[string]uint64{}, samples: map[string][]string{}}
			}
			bySource[src].add(r)
		}
		var srcs []string
		for s := range bySource {
			srcs = append(srcs, s)
		}
		sort.Strings(srcs)
		for _, s := range srcs {
			r := bySource[s]
			t.Logf("%s corpus %s: %d lines, %d events, %d unknown", mta, s, r.lines, r.events, r.stats[mta+"_unknown"])
		}
		t.Logf("%s corpus coverage: %s", mta, total.report())
		if n := total.stats[mta+"_unknown"]; n != 0 {
			t.Errorf("%d %s lines of a message-bearing kind could not be read", n, mta)
		}
		if total.events == 0 {
			t.Errorf("no %s events", mta)
		}
	}
}

// TestGrokExpectations checks the events of the whyscream/postfix-grok-patterns
// test bodies against the fields their authors expect.
func TestGrokExpectations(t *testing.T) {
	root := sharedCorpus(t)
	checked := 0
	for _, c := range grokCases(t, root) {
		p := newTestParser(t, Options{})
		var evs []*event.DeliveryEvent
		line := strings.NewReplacer("\r", "#015", "\n", "#012").Replace(grokLine(c))
		err := p.Feed([]byte(line), c.file, func(e *event.DeliveryEvent) { evs = append(evs, e) })
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		r := c.results
		if st := r["postfix_status"]; st == "sent" || st == "deferred" || st == "bounced" {
			if len(evs) != 1 || string(evs[0].Status) != st {
				t.Errorf("%s: want one %s event, got %+v", c.file, st, evs)
				continue
			}
		}
		if r["postfix_action"] == "reject" && (r["postfix_smtp_stage"] == "RCPT" || r["postfix_smtp_stage"] == "END-OF-MESSAGE") {
			if len(evs) != 1 || evs[0].Status != event.StatusRejected {
				t.Errorf("%s: want one rejected event, got %+v", c.file, evs)
				continue
			}
		}
		for _, e := range evs {
			checked++
			if q := r["postfix_queueid"]; q != "" && q != "NOQUEUE" && e.QueueID != q {
				t.Errorf("%s: queue id %q, want %q", c.file, e.QueueID, q)
			}
			if ip := r["postfix_client_ip"]; ip != "" && e.ClientIP != ip {
				t.Errorf("%s: client ip %q, want %q", c.file, e.ClientIP, ip)
			}
			if code := r["postfix_status_code"]; code != "" && strconv.Itoa(e.ReplyCode) != code {
				t.Errorf("%s: reply code %d, want %s", c.file, e.ReplyCode, code)
			}
			if d := r["postfix_status_code_enhanced"]; d != "" && e.DSN != d {
				t.Errorf("%s: dsn %q, want %q", c.file, e.DSN, d)
			}
			if h := r["postfix_relay_hostname"]; h != "" && !strings.HasPrefix(e.Relay, h) {
				t.Errorf("%s: relay %q, want %q...", c.file, e.Relay, h)
			}
			if kv := r["postfix_keyvalue_data"]; strings.Contains(kv, "to=<") {
				to := kv[strings.Index(kv, "to=<")+4:]
				to = to[:strings.IndexByte(to, '>')]
				if e.Recipient != strings.ToLower(to) {
					t.Errorf("%s: recipient %q, want %q", c.file, e.Recipient, to)
				}
			}
		}
	}
	t.Logf("checked %d events against the grok expectations", checked)
	if checked < 20 {
		t.Errorf("only %d events checked", checked)
	}
}
