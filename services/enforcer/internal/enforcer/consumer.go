package enforcer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

// Pauses between attempts to list the topics' offsets (a topic just
// created may not have a leader yet).
const (
	minOffsetRetry = 100 * time.Millisecond
	maxOffsetRetry = 2 * time.Second
	// lagInterval is how often the end offsets are listed for the lag
	// and last-success metrics.
	lagInterval = 5 * time.Second
)

type tp struct {
	topic     string
	partition int32
}

// positions is the offset after the last record seen, per partition,
// shared by the consumer (writer) and the lag probe (reader).
type positions struct {
	mu   sync.Mutex
	next map[tp]int64
}

func (p *positions) set(k tp, o int64) {
	p.mu.Lock()
	p.next[k] = o
	p.mu.Unlock()
}

func (p *positions) get(k tp) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next[k]
}

// consume reads the bans and allowlist topics from the start. Until it
// has reached the end offsets listed before the first record, records
// go into a fresh staging set; then the staging set replaces the served
// set in one swap (banset.Set.Replace) and caughtUp is closed; after
// that, records apply to the served set directly. There is no consumer
// group and no commit: every start reads the whole (compacted) topics, so
// a tombstone compacted away while this enforcer was down cannot leave a
// lifted ban behind in the set loaded from disk.
func (s *Service) consume(ctx context.Context, cl *kgo.Client, caughtUp chan<- struct{}) error {
	logger := s.logger.With("component", "consumer")
	if err := kafka.WaitReady(ctx, cl); err != nil {
		return ctxNil(ctx, err)
	}
	s.markKafkaOK()
	if err := kafka.EnsureTopics(ctx, cl, s.cfg.Kafka); err != nil {
		return ctxNil(ctx, fmt.Errorf("ensure topics: %w", err))
	}
	start := time.Now()
	topics := []string{s.cfg.Kafka.Topics.Bans, s.cfg.Kafka.Topics.Allowlist}
	targets, err := s.endOffsets(ctx, cl, topics, logger)
	if err != nil {
		return ctxNil(ctx, err)
	}
	logger.Info("catching up", "partitions_with_records", len(targets))

	staging := banset.New(s.now)
	into := staging
	done := false
	check := func() {
		if done {
			return
		}
		for p, end := range targets {
			if s.pos.get(p) < end {
				return
			}
		}
		done = true
		changes := s.set.Replace(staging)
		into = s.set
		if s.loadedFromDisk && s.printer != nil {
			// What changed while this enforcer was away.
			for _, c := range changes {
				s.printer.Change(c, s.now())
			}
		}
		s.synced.Store(s.now().UnixNano())
		s.live.Store(true)
		close(caughtUp)
		logger.Info("caught up", "bans", s.set.Len(), "allowlist", s.set.AllowLen(), "changed_since_snapshot", len(changes),
			"took", time.Since(start).Round(time.Millisecond).String())
	}
	check()
	warned := map[string]bool{}
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		ok := true
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			ok = false
			s.m.fetchErrors.Inc()
			logger.Warn("fetch", "topic", topic, "partition", p, "err", err)
		})
		if ok {
			s.markKafkaOK()
		}
		fetches.EachRecord(func(r *kgo.Record) {
			s.pos.set(tp{r.Topic, r.Partition}, r.Offset+1)
			if r.Attrs.IsControl() {
				return
			}
			s.apply(into, r, done, warned, logger)
		})
		check()
		if done {
			s.synced.Store(s.now().UnixNano())
		}
	}
}

// apply applies one record and prints the change once caught up (the
// catch-up itself replays history and prints nothing).
func (s *Service) apply(set *banset.Set, r *kgo.Record, announce bool, warned map[string]bool, logger *slog.Logger) {
	var c banset.Change
	var err error
	op := "ban"
	if r.Topic == s.cfg.Kafka.Topics.Allowlist {
		op = "allow"
		if r.Value == nil {
			op = "disallow"
		}
		_, err = set.ApplyAllow(r.Key, r.Value)
	} else {
		if r.Value == nil {
			op = "tombstone"
		}
		c, err = set.Apply(r.Key, r.Value)
	}
	if err != nil {
		reason := rejectReason(err)
		s.m.rejected.WithLabelValues(reason).Inc()
		// The first rejection per reason is a warning with a sample; the
		// rest are counted (the producer made them: fix it there).
		log := logger.Debug
		if !warned[reason] {
			warned[reason] = true
			log = logger.Warn
		}
		log("record rejected", "topic", r.Topic, "reason", reason, "partition", r.Partition, "offset", r.Offset,
			"key", quoteSample(r.Key), "value", quoteSample(r.Value), "err", err)
		return
	}
	s.m.applied.WithLabelValues(op).Inc()
	if announce && s.printer != nil && c.Key != "" {
		s.printer.Change(c, s.now())
	}
}

// endOffsets lists, per partition holding records, the offset the
// consumer must reach to have seen everything committed at start: the
// last stable offset (read_committed end offset). Partitions whose start
// offset is at their end hold nothing to wait for. It retries until it
// gets an answer or ctx ends.
func (s *Service) endOffsets(ctx context.Context, cl *kgo.Client, topics []string, logger *slog.Logger) (map[tp]int64, error) {
	adm := kadm.NewClient(cl)
	for pause := minOffsetRetry; ; pause = min(2*pause, maxOffsetRetry) {
		targets, err := func() (map[tp]int64, error) {
			ends, err := adm.ListCommittedOffsets(ctx, topics...)
			if err == nil {
				err = ends.Error()
			}
			if err != nil {
				return nil, fmt.Errorf("list end offsets: %w", err)
			}
			starts, err := adm.ListStartOffsets(ctx, topics...)
			if err == nil {
				err = starts.Error()
			}
			if err != nil {
				return nil, fmt.Errorf("list start offsets: %w", err)
			}
			out := map[tp]int64{}
			ends.Each(func(o kadm.ListedOffset) {
				st, ok := starts.Lookup(o.Topic, o.Partition)
				if o.Offset > 0 && (!ok || st.Offset < o.Offset) {
					out[tp{o.Topic, o.Partition}] = o.Offset
				}
			})
			for _, t := range topics {
				if len(ends[t]) == 0 {
					return nil, fmt.Errorf("list end offsets: no partitions for %s", t)
				}
			}
			return out, nil
		}()
		if err == nil {
			s.markKafkaOK()
			return targets, nil
		}
		logger.Warn("list topic offsets, retrying", "err", err, "pause", pause.String())
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// probeLag lists the end offsets every lagInterval and sets the lag and
// last-success gauges. Failures only leave the last success behind.
func (s *Service) probeLag(ctx context.Context, cl *kgo.Client) error {
	adm := kadm.NewClient(cl)
	topics := []string{s.cfg.Kafka.Topics.Bans, s.cfg.Kafka.Topics.Allowlist}
	t := time.NewTicker(lagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, lagInterval)
		ends, err := adm.ListCommittedOffsets(pctx, topics...)
		cancel()
		if err != nil || ends.Error() != nil {
			continue
		}
		var lag int64
		ends.Each(func(o kadm.ListedOffset) {
			if d := o.Offset - s.pos.get(tp{o.Topic, o.Partition}); d > 0 {
				lag += d
			}
		})
		s.m.lag.Set(float64(lag))
		s.markKafkaOK()
		if lag == 0 && s.live.Load() {
			s.synced.Store(s.now().UnixNano())
		}
	}
}

func (s *Service) markKafkaOK() {
	s.m.kafkaLastSuccess.Set(float64(time.Now().UnixNano()) / 1e9)
}

func rejectReason(err error) string {
	switch {
	case errors.Is(err, event.ErrUnsupportedVersion):
		return reasonVersion
	case errors.Is(err, banset.ErrDecode):
		return reasonDecode
	default:
		return reasonInvalid
	}
}

func quoteSample(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return fmt.Sprintf("%q", b)
}

// ctxNil turns an error caused by ctx ending into nil: shutdown is not a failure.
func ctxNil(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
