package rules

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeQueueFlood is the code of the queue_flood rule.
const CodeQueueFlood = "queue_flood"

// QueueFloodConfig configures queue_flood: an MTA's queue rising sharply
// (the policy page: cron spam that "floods our queue, sets off alerts").
// It reads ingest's queue samples (mail.queue): when a host's queue holds
// at least min_messages and at least factor times its average over the
// window before this sample, it flags (action flag: an alert for on-call,
// never a ban) the top contributing sender of the sample, with the
// queue's numbers, the deferred share (the deferral rate of what waits)
// and up to five top senders and delay reasons in the evidence
// ("sender:<address>", "reason:<text>" with their queued counts), so
// on-call knows whom to stop. The sender rules ban the offender on their
// own evidence.
//
// Defaults: no provider publishes a queue threshold; cPanel queues a
// domain's mail only up to 125 % of its hourly limit
// (email_send_limits_defer_cutoff, research/thresholds.md §1) and MXroute's
// 400/h ACL bounds one account's hour. So: at least 1,000 messages
// (2.5 hours of one account at the 400/h ceiling) and 3 times the hour's
// average of at least 3 earlier samples.
type QueueFloodConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow marks its verdicts shadow. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span of the baseline (a multiple of state.bucket_width). Default 1h.
	Window time.Duration `koanf:"window"`
	// MinMessages is the fewest queued messages that flag. Default 1000.
	MinMessages int `koanf:"min_messages"`
	// Factor is how many times the baseline the queue must reach, > 1. Default 3.
	Factor float64 `koanf:"factor"`
	// MinSamples is the fewest earlier samples in the window for a baseline. Default 3.
	MinSamples int `koanf:"min_samples"`
}

// Default implements Section.
func (QueueFloodConfig) Default() Section {
	return QueueFloodConfig{On: true, Window: time.Hour, MinMessages: 1000, Factor: 3, MinSamples: 3}
}

// Enabled implements Section.
func (c QueueFloodConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c QueueFloodConfig) Build(env Env) (Rule, error) {
	var errs []error
	if c.MinMessages < 1 {
		errs = append(errs, fmt.Errorf("min_messages %d: must be at least 1", c.MinMessages))
	}
	if !(c.Factor > 1) || math.IsInf(c.Factor, 0) {
		errs = append(errs, fmt.Errorf("factor %v: must be above 1", c.Factor))
	}
	if c.MinSamples < 1 {
		errs = append(errs, fmt.Errorf("min_samples %d: must be at least 1", c.MinSamples))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Hosts share the recipient_domain table under a "queue:" prefix no
	// domain has.
	l := env.Layout(event.KindRecipientDomain)
	r := &queueFlood{cfg: c}
	var err error
	if r.counts, err = l.Counters(c.Window, 2); err != nil {
		return nil, err
	}
	r.msgFormat = "Your sending address has been flagged by admins: it leads a mail queue that rose to %d messages. Open a ticket at " +
		strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, math.MaxInt64)); err != nil {
		return nil, err
	}
	return r, nil
}

const (
	qfSum = iota // sum of the samples' totals
	qfN          // samples
)

type queueFlood struct {
	cfg       QueueFloodConfig
	counts    state.Counters
	msgFormat string
	prev      [2]uint64 // the window's sums before this sample
}

// queueKeyPrefix sets hosts apart from domains in the shared table.
const queueKeyPrefix = "queue:"

func (r *queueFlood) Info() Info {
	return Info{Code: CodeQueueFlood, Stage: StageRecipient, Kind: event.KindRecipientDomain,
		Window: r.cfg.Window, Action: event.ActionFlag, Shadow: r.cfg.Shadow}
}

func (r *queueFlood) Key(in *Input) string {
	if in.Queue == nil || in.Queue.Host == "" || event.CheckToken(in.Queue.Host) != nil {
		return ""
	}
	return queueKeyPrefix + strings.ToLower(in.Queue.Host)
}

func (r *queueFlood) Filter(in *Input) bool { return in.Queue != nil }

func (r *queueFlood) Update(in *Input, rec state.Record) {
	rec.Sums(r.counts, r.prev[:])
	total := uint32(min(max(in.Queue.Total, 0), math.MaxUint32))
	if rec.Add(r.counts, qfSum, total) {
		rec.Add(r.counts, qfN, 1)
	}
}

func (r *queueFlood) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	q := in.Queue
	n := r.prev[qfN]
	if q.Total < r.cfg.MinMessages || n < uint64(r.cfg.MinSamples) {
		return Crossing{}, false
	}
	avg := float64(r.prev[qfSum]) / float64(n)
	if float64(q.Total) < r.cfg.Factor*avg {
		return Crossing{}, false
	}
	var top string
	f := map[string]float64{
		"queued": float64(q.Total), "baseline_average": math.Round(avg*100) / 100, "baseline_samples": float64(n),
		"factor": r.cfg.Factor, "min_messages": float64(r.cfg.MinMessages), "window_seconds": r.cfg.Window.Seconds(),
		"host:" + strings.TrimPrefix(rec.Key(), queueKeyPrefix): 1,
	}
	if d, ok := q.Queues["deferred"]; ok && q.Total > 0 {
		f["deferred"] = float64(d)
		f["deferred_share"] = math.Round(float64(d)/float64(q.Total)*1e4) / 1e4
	}
	named := 0
	for _, c := range q.TopSenders {
		s := strings.ToLower(c.Name)
		if s == "" || event.CheckToken(s) != nil || named == 5 {
			continue
		}
		if top == "" {
			top = s
		}
		f["sender:"+s] = float64(c.Count)
		named++
	}
	named = 0
	for _, c := range q.TopReasons {
		if c.Name == "" || len(c.Name) > 120 || named == 5 || strings.ContainsAny(c.Name, "\r\n\x00") {
			continue
		}
		f["reason:"+c.Name] = float64(c.Count)
		named++
	}
	if top == "" {
		return Crossing{}, false // nobody to name (the MTA lists no senders): the queue gauge alerts
	}
	return Crossing{
		Kind:     event.KindSender,
		Subject:  top,
		Message:  fmt.Sprintf(r.msgFormat, q.Total),
		Evidence: f,
	}, true
}
