package desk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
)

// disputes holds the latest record of every dispute read from (or
// produced to) the disputes topic; the staff view lists the open ones.
type disputes struct {
	max     int
	dropped prometheus.Counter
	bad     prometheus.Counter

	mu   sync.RWMutex
	byID map[string]*event.Dispute
	open int
}

func newDisputes(max int, dropped, bad prometheus.Counter) *disputes {
	return &disputes{max: max, dropped: dropped, bad: bad, byID: map[string]*event.Dispute{}}
}

// put stores d as the latest record of its id (a closed dispute replaces
// the open one; an older open record never reopens a closed one).
func (s *disputes) put(d *event.Dispute) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byID[d.ID]
	if ok && old.Status == event.DisputeClosed && d.Status == event.DisputeOpen {
		return
	}
	if ok && old.Status == event.DisputeOpen {
		s.open--
	}
	if d.Status == event.DisputeOpen {
		s.open++
	}
	s.byID[d.ID] = d
	if len(s.byID) > s.max {
		s.evict()
	}
}

// evict drops closed disputes first, then the oldest open ones, down to
// max; every open one dropped is counted.
func (s *disputes) evict() {
	all := make([]*event.Dispute, 0, len(s.byID))
	for _, d := range s.byID {
		all = append(all, d)
	}
	sort.Slice(all, func(i, j int) bool {
		if (all[i].Status == event.DisputeClosed) != (all[j].Status == event.DisputeClosed) {
			return all[i].Status == event.DisputeClosed
		}
		return all[i].Filed.Before(all[j].Filed)
	})
	for _, d := range all[:len(all)-s.max] {
		delete(s.byID, d.ID)
		if d.Status == event.DisputeOpen {
			s.open--
			s.dropped.Inc()
		}
	}
}

func (s *disputes) get(id string) (event.Dispute, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.byID[id]
	if !ok {
		return event.Dispute{}, false
	}
	return *d, true
}

// list returns the disputes that are open (or all, with the closed ones),
// oldest first, optionally only those about subject or naming ban key.
func (s *disputes) list(openOnly bool, match func(*event.Dispute) bool) []event.Dispute {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []event.Dispute
	for _, d := range s.byID {
		if openOnly && d.Status != event.DisputeOpen || match != nil && !match(d) {
			continue
		}
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Filed.Equal(out[j].Filed) {
			return out[i].Filed.Before(out[j].Filed)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (s *disputes) openCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.open
}

// apply decodes one record of the topic; a bad one is counted and logged.
func (s *disputes) apply(logger *slog.Logger, r *kgo.Record) {
	if r.Value == nil {
		s.mu.Lock()
		if d, ok := s.byID[string(r.Key)]; ok {
			if d.Status == event.DisputeOpen {
				s.open--
			}
			delete(s.byID, string(r.Key))
		}
		s.mu.Unlock()
		return
	}
	d, err := event.UnmarshalDispute(r.Value)
	if err == nil && d.ID != string(r.Key) {
		err = fmt.Errorf("key %q is not the dispute id", r.Key)
	}
	if err != nil {
		s.bad.Inc()
		logger.Warn("dispute record rejected", "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	s.put(d)
}

// produce writes d to the topic and waits for the acknowledgement, at
// most timeout; only then is it stored. Past it the person is told to try
// again and nothing is stored.
func (s *disputes) produce(ctx context.Context, p api.Producer, topic string, d *event.Dispute, timeout time.Duration) error {
	if err := d.Validate(); err != nil {
		return err
	}
	b, err := event.MarshalDispute(d)
	if err != nil {
		return err
	}
	if p == nil {
		return fmt.Errorf("%w: the desk is not connected to Kafka yet", api.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := p.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(d.ID), Value: b}); err != nil {
		return fmt.Errorf("%w: produce dispute: %w", api.ErrUnavailable, err)
	}
	s.put(d)
	return nil
}

// consume reads the disputes topic from the start until ctx ends.
func (s *disputes) consume(ctx context.Context, cl *kgo.Client, logger *slog.Logger) error {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				logger.Warn("fetch disputes", "topic", t, "partition", p, "err", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { s.apply(logger, r) })
	}
}
