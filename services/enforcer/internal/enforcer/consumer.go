package enforcer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

// Pauses between attempts to list the bans topic's offsets (a topic just
// created may not have a leader yet).
const (
	minOffsetRetry = 100 * time.Millisecond
	maxOffsetRetry = 2 * time.Second
)

// consume reads the bans topic from the start into the ban set, and
// closes caughtUp once every partition reached the end offset listed
// before the first record was applied. There is no consumer group and no
// commit: every start reads the whole (compacted) topic.
func (s *Service) consume(ctx context.Context, cl *kgo.Client, caughtUp chan<- struct{}) error {
	logger := s.logger.With("component", "consumer", "topic", s.cfg.Kafka.Topics.Bans)
	if err := kafka.WaitReady(ctx, cl); err != nil {
		return ctxNil(ctx, err)
	}
	if err := kafka.EnsureTopics(ctx, cl, s.cfg.Kafka); err != nil {
		return ctxNil(ctx, fmt.Errorf("ensure topics: %w", err))
	}
	start := time.Now()
	targets, err := s.endOffsets(ctx, cl, logger)
	if err != nil {
		return ctxNil(ctx, err)
	}
	logger.Info("catching up", "partitions_with_records", len(targets))

	next := make(map[int32]int64, len(targets)) // per partition: offset after the last record seen
	done := false
	check := func() {
		if done {
			return
		}
		for p, end := range targets {
			if next[p] < end {
				return
			}
		}
		done = true
		close(caughtUp)
		logger.Info("caught up", "bans", s.set.Len(), "took", time.Since(start).Round(time.Millisecond).String())
	}
	check()
	warned := map[string]bool{}
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			s.m.fetchErrors.Inc()
			logger.Warn("fetch bans", "partition", p, "err", err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			next[r.Partition] = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			s.apply(r, done, warned, logger)
		})
		check()
	}
}

// apply applies one record and prints the change once caught up (the
// catch-up itself replays history and prints nothing).
func (s *Service) apply(r *kgo.Record, announce bool, warned map[string]bool, logger *slog.Logger) {
	c, err := s.set.Apply(r.Key, r.Value)
	if err != nil {
		reason := rejectReason(err)
		s.m.rejected.WithLabelValues(reason).Inc()
		// The first rejection per reason is a warning with a sample; the
		// rest are counted (the detector produced them: fix it there).
		log := logger.Debug
		if !warned[reason] {
			warned[reason] = true
			log = logger.Warn
		}
		log("ban record rejected", "reason", reason, "partition", r.Partition, "offset", r.Offset,
			"key", quoteSample(r.Key), "value", quoteSample(r.Value), "err", err)
		return
	}
	op := "ban"
	if r.Value == nil {
		op = "tombstone"
	}
	s.m.applied.WithLabelValues(op).Inc()
	if announce && s.printer != nil {
		s.printer.Change(c, s.now())
	}
}

// endOffsets lists, per partition holding records, the offset the
// consumer must reach to have seen everything committed at start: the
// last stable offset (read_committed end offset). Partitions whose start
// offset is at their end hold nothing to wait for. It retries until it
// gets an answer or ctx ends.
func (s *Service) endOffsets(ctx context.Context, cl *kgo.Client, logger *slog.Logger) (map[int32]int64, error) {
	adm := kadm.NewClient(cl)
	topic := s.cfg.Kafka.Topics.Bans
	for pause := minOffsetRetry; ; pause = min(2*pause, maxOffsetRetry) {
		targets, err := func() (map[int32]int64, error) {
			ends, err := adm.ListCommittedOffsets(ctx, topic)
			if err == nil {
				err = ends.Error()
			}
			if err != nil {
				return nil, fmt.Errorf("list end offsets: %w", err)
			}
			starts, err := adm.ListStartOffsets(ctx, topic)
			if err == nil {
				err = starts.Error()
			}
			if err != nil {
				return nil, fmt.Errorf("list start offsets: %w", err)
			}
			out := map[int32]int64{}
			ends.Each(func(o kadm.ListedOffset) {
				st, ok := starts.Lookup(o.Topic, o.Partition)
				if o.Offset > 0 && (!ok || st.Offset < o.Offset) {
					out[o.Partition] = o.Offset
				}
			})
			if len(ends[topic]) == 0 {
				return nil, fmt.Errorf("list end offsets: no partitions for %s", topic)
			}
			return out, nil
		}()
		if err == nil {
			return targets, nil
		}
		logger.Warn("list bans topic offsets, retrying", "err", err, "pause", pause.String())
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
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
