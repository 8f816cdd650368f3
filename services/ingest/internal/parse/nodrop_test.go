package parse

import (
	"errors"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// deliveryMarkers are the texts of a delivery-ish line (issue 9): such a
// line must become events or be counted, never both, never neither.
var deliveryMarkers = []string{"status=", "NOQUEUE: reject", " ** ", " == ", " => ", " -> ", "rejected RCPT"}

// noEventKinds are the counted classes a delivery-ish line may fall in
// without an event and without a LineError: the join state of a message
// (a queue expiry whose recipients were all settled, a part of a line
// being reassembled), or a known non-delivery line (an address
// verification probe, a reject of no message, a reject_warning or a
// delivery attempt's detail line, a reject log's header listing).
var noEventKinds = map[string]bool{
	"postfix_verify": true, "postfix_reject_session": true, "postfix_other": true, "postfix_expired": true,
	"exim_reject_session": true, "exim_other": true, "exim_part": true,
	"journal_field": true, "container_part": true,
}

// TestCorpusNoSilentDrop feeds every log file of the shared corpus
// (Postfix, Exim, Sendmail) and checks each line that carries a delivery
// marker: it yields events, or it is counted (a LineError, so a
// rejected_* counter and the dead-letter topic, or one of noEventKinds),
// never both and never neither.
func TestCorpusNoSilentDrop(t *testing.T) {
	root := sharedCorpus(t)
	files := map[string][]string{
		"fail2ban/sendmail-auth":   fail2banLines(t, filepath.Join(root, "fail2ban-fail2ban", "sendmail-auth")),
		"fail2ban/sendmail-reject": fail2banLines(t, filepath.Join(root, "fail2ban-fail2ban", "sendmail-reject")),
	}
	for k, v := range postfixCorpus(t) {
		files[k] = v
	}
	for k, v := range eximCorpus(t) {
		files[k] = v
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	marked, withEvents := 0, 0
	quiet := map[string]int{} // no-event kind -> marker lines
	rejected := map[string]int{}
	for _, name := range names {
		p := newTestParser(t, Options{Host: "corpus-host", Now: func() time.Time { return goldenNow }})
		for i, l := range files[name] {
			n := 0
			before := p.Stats()
			err := p.Feed([]byte(l), name+":"+strconv.Itoa(i+1), func(e *event.DeliveryEvent) {
				if verr := e.Validate(); verr != nil {
					t.Errorf("%s:%d: event fails Validate: %v", name, i+1, verr)
				}
				n++
			})
			if !hasMarker(l) {
				continue
			}
			marked++
			if errors.Is(err, ErrTruncated) {
				err = nil // parsed, and counted as truncated too
			}
			kind := changedLineKind(before, p.Stats())
			switch {
			case n > 0 && err != nil:
				t.Errorf("%s:%d: both %d events and %v: %s", name, i+1, n, err, l)
			case n > 0:
				withEvents++
			case err != nil:
				var le *LineError
				errors.As(err, &le)
				rejected[le.Kind]++
				if le.Kind == KindUnrecognised && testing.Verbose() {
					t.Logf("unrecognised %s:%d: %.200s", name, i+1, l)
				}
			case noEventKinds[kind]:
				quiet[kind]++
			default:
				t.Errorf("%s:%d: neither event nor count (%s): %s", name, i+1, kind, l)
			}
		}
	}
	t.Logf("%d delivery-ish lines in %d files: %d with events, counted without event %v, rejected by kind %v",
		marked, len(names), withEvents, quiet, rejected)
	if marked < 5000 || withEvents == 0 {
		t.Errorf("only %d marked lines, %d with events: corpus incomplete?", marked, withEvents)
	}
}

func hasMarker(l string) bool {
	for _, m := range deliveryMarkers {
		if strings.Contains(l, m) {
			return true
		}
	}
	return false
}

// changedLineKind is the line kind whose counter the last Feed moved.
func changedLineKind(before, after map[string]uint64) string {
	for k, v := range after {
		if isLineKind(k) && v != before[k] {
			return k
		}
	}
	return ""
}
