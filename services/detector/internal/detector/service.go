package detector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/pkg/metrics"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

// Dead-letter headers: the error, its reason class and where the record
// came from ("topic/partition/offset").
const (
	HeaderError  = "mxwarden-error"
	HeaderReason = "mxwarden-reason"
	HeaderSource = "mxwarden-source"
)

const (
	// maxPoll bounds the records processed between two commits.
	maxPoll = 10_000
	// drainTimeout is how long a batch in progress may still take to be
	// produced and committed after shutdown begins.
	drainTimeout = 10 * time.Second
	// maxErrorLen bounds the error text put in a dead-letter header.
	maxErrorLen = 512
)

// Service is `detector run`: a consumer group member on the events topic
// that runs the rules per partition and produces verdicts and bans.
//
// Delivery: the records of a poll are processed, everything they caused
// (verdicts, bans, dead letters) is produced and acknowledged, and only then
// are the poll's offsets committed; a rebalance waits for that
// (BlockRebalanceOnPoll). A crash therefore never loses an event's output,
// and may at worst produce it twice.
//
// Duplicates: a record whose event id its partition's Processor already
// processed is skipped (counted in events_duplicate_total, not dead-lettered),
// so the repeats at-least-once delivery brings are not counted twice.
//
// State: one Processor per owned partition, in memory. A revoked or lost
// partition's state is dropped with it; a partition assigned again starts
// empty from the committed offset. Persisting state across restarts and
// rebalances (changelog or checkpoint holding the input offset) is a later
// issue.
type Service struct {
	cfg    Config
	logger *slog.Logger
	reg    *prometheus.Registry
	m      *serviceMetrics
	http   *metrics.Server
	now    func() time.Time

	newest   atomic.Int64 // newest event time processed, Unix nanoseconds; 0 = none
	httpAddr atomic.Value // string: the metrics server's bound address
	codes    []string     // the enabled rules' codes
	allow    *Allow
	kinds    []event.SubjectKind // key kinds with state

	mu       sync.Mutex // guards parts and rejected
	parts    map[int32]*partitionState
	rejected map[string]bool // reasons already logged with a sample
}

// partitionState is one partition's processor and what of its running
// totals the metrics already counted.
type partitionState struct {
	proc    *Processor
	seen    map[string]RuleStats // per rule, the totals already counted in metrics
	dropped uint64               // event ids forgotten for dedup.max_ids
}

// New builds the service; cfg must be valid (config.Load validates it).
func New(cfg Config, logger *slog.Logger, reg *prometheus.Registry) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	logger = logger.With("component", "detector")
	s := &Service{
		cfg:      cfg,
		logger:   logger,
		reg:      reg,
		http:     metrics.NewServer(cfg.HTTP.Addr, reg, logger),
		now:      time.Now,
		parts:    map[int32]*partitionState{},
		rejected: map[string]bool{},
	}
	s.m = newServiceMetrics(reg, s.eventTimeLag)
	allow, err := NewAllow(cfg.Allowlist)
	if err != nil {
		return nil, err
	}
	s.allow = allow
	p, err := NewProcessor(cfg, rules.StageSender, Options{Now: s.now, Allow: s.allow})
	if err != nil {
		return nil, err
	}
	s.codes = p.Codes()
	if len(s.codes) == 0 {
		logger.Warn("no rule enabled: the detector will produce nothing")
	}
	for _, code := range s.codes {
		s.m.late.WithLabelValues(code)
		s.m.suppressed.WithLabelValues(code)
		s.m.allowlisted.WithLabelValues(code)
		s.m.bans.WithLabelValues(code)
		for _, a := range []event.Action{event.ActionBan, event.ActionFlag, event.ActionDefer} {
			s.m.verdicts.WithLabelValues(code, string(a))
		}
	}
	for _, t := range p.Tables() {
		s.kinds = append(s.kinds, t.Kind)
		s.m.stateKeys.WithLabelValues(string(t.Kind))
	}
	return s, nil
}

// HTTPAddr is the metrics server's bound address once Run has bound it
// ("" before, or when the server is disabled).
func (s *Service) HTTPAddr() string {
	a, _ := s.httpAddr.Load().(string)
	return a
}

// Run consumes until ctx ends, then finishes the batch in progress,
// leaves the group and returns nil. Any other stop is an error.
func (s *Service) Run(ctx context.Context) error {
	opts, err := kafka.BuildOpts(s.cfg.Kafka, s.logger)
	if err != nil {
		return fmt.Errorf("kafka options: %w", err)
	}
	opts = append(opts,
		kafka.Metrics(s.reg, "mxwarden_detector"),
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.cfg.Kafka.Topics.Events),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	if s.cfg.HTTP.Addr != "" {
		if err := s.http.Listen(); err != nil {
			cl.Close()
			return err
		}
		s.httpAddr.Store(s.http.Addr())
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.http.Run(gctx) })
	g.Go(func() error {
		defer s.http.SetReady(false)
		// Leaving the group runs onRevoked, which commits what is left.
		defer cl.CloseAllowingRebalance()
		return s.consume(gctx, cl)
	})
	return g.Wait()
}

func (s *Service) consume(ctx context.Context, cl *kgo.Client) error {
	if err := kafka.WaitReady(ctx, cl); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if err := kafka.EnsureTopics(ctx, cl, s.cfg.Kafka); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("ensure topics: %w", err)
	}
	s.http.SetReady(true)
	s.logger.Info("consuming", "group", s.cfg.Group, "topic", s.cfg.Kafka.Topics.Events)
	for {
		fetches := cl.PollRecords(ctx, maxPoll)
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				s.logger.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
			}
		})
		if err := s.handle(ctx, cl, fetches); err != nil {
			return err
		}
		cl.AllowRebalance()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// handle processes one poll, produces its output and commits its offsets.
func (s *Service) handle(ctx context.Context, cl *kgo.Client, fetches kgo.Fetches) error {
	if fetches.NumRecords() == 0 {
		return nil
	}
	start := time.Now()
	recs, out, err := s.process(fetches)
	if err != nil {
		return err
	}
	dctx, cancel := drainContext(ctx, drainTimeout)
	defer cancel()
	if len(recs) > 0 {
		if err := cl.ProduceSync(dctx, recs...).FirstErr(); err != nil {
			// Nothing of this poll is committed: after a restart it is
			// consumed again, so its output is not lost.
			return fmt.Errorf("produce %d records: %w", len(recs), err)
		}
	}
	for i := range out.Verdicts {
		v := &out.Verdicts[i]
		s.m.verdicts.WithLabelValues(v.Rule, string(v.Action)).Inc()
	}
	for i := range out.Bans {
		s.m.bans.WithLabelValues(out.Bans[i].Rule).Inc()
	}
	if err := cl.CommitUncommittedOffsets(dctx); err != nil {
		// The next commit (or the one on revoke) covers these offsets.
		s.m.commitErrors.Inc()
		s.logger.Warn("commit offsets failed", "err", err)
	}
	s.m.batchDuration.Observe(time.Since(start).Seconds())
	return nil
}

// process runs the poll's records through their partitions' processors
// and returns the records to produce.
func (s *Service) process(fetches kgo.Fetches) ([]*kgo.Record, *Output, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		recs       []*kgo.Record
		out        Output
		events     int
		duplicates int
		newest     time.Time
		err        error
	)
	topics := s.cfg.Kafka.Topics
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if err != nil || len(fp.Records) == 0 {
			return
		}
		var ps *partitionState
		if ps, err = s.partition(fp.Partition); err != nil {
			return
		}
		for _, r := range fp.Records {
			processed := false
			ev, perr := event.UnmarshalEvent(r.Value)
			if perr == nil {
				processed, perr = ps.proc.Process(ev, &out)
			}
			if perr != nil {
				recs = append(recs, s.deadLetter(r, perr))
				continue
			}
			if !processed {
				duplicates++
				continue
			}
			events++
			if ev.TS.After(newest) {
				newest = ev.TS
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	for i := range out.Verdicts {
		v := &out.Verdicts[i]
		b, err := event.MarshalVerdict(v)
		if err != nil {
			return nil, nil, fmt.Errorf("encode verdict: %w", err)
		}
		recs = append(recs, &kgo.Record{Topic: topics.Verdicts, Key: []byte(event.BanKey(v.SubjectKind, v.Subject)), Value: b})
	}
	for i := range out.Bans {
		b := &out.Bans[i]
		val, err := event.MarshalBan(b)
		if err != nil {
			return nil, nil, fmt.Errorf("encode ban: %w", err)
		}
		recs = append(recs, &kgo.Record{Topic: topics.Bans, Key: []byte(b.Key()), Value: val})
	}
	s.m.events.Add(float64(events))
	s.m.duplicates.Add(float64(duplicates))
	if !newest.IsZero() && newest.UnixNano() > s.newest.Load() {
		s.newest.Store(newest.UnixNano())
	}
	s.updateStateMetrics()
	return recs, &out, nil
}

// partition returns p's state, creating it on first use. Callers hold s.mu.
func (s *Service) partition(p int32) (*partitionState, error) {
	if ps, ok := s.parts[p]; ok {
		return ps, nil
	}
	proc, err := NewProcessor(s.cfg, rules.StageSender, Options{Now: s.now, Allow: s.allow})
	if err != nil {
		return nil, err
	}
	ps := &partitionState{proc: proc, seen: map[string]RuleStats{}}
	s.parts[p] = ps
	s.logger.Debug("partition state created", "partition", p)
	return ps, nil
}

// updateStateMetrics refreshes the gauges and adds the counters' news.
// Callers hold s.mu.
func (s *Service) updateStateMetrics() {
	keys := map[event.SubjectKind]int{}
	ids := 0
	for _, ps := range s.parts {
		d := ps.proc.Dedup()
		ids += d.IDs
		s.m.dedupDropped.Add(float64(d.Dropped - ps.dropped))
		ps.dropped = d.Dropped
		for _, st := range ps.proc.Stats() {
			was := ps.seen[st.Rule]
			s.m.late.WithLabelValues(st.Rule).Add(float64(st.Late - was.Late))
			s.m.suppressed.WithLabelValues(st.Rule).Add(float64(st.Suppressed - was.Suppressed))
			s.m.allowlisted.WithLabelValues(st.Rule).Add(float64(st.Allowlisted - was.Allowlisted))
			ps.seen[st.Rule] = st
		}
		for _, t := range ps.proc.Tables() {
			keys[t.Kind] += t.Keys
		}
	}
	for _, k := range s.kinds {
		s.m.stateKeys.WithLabelValues(string(k)).Set(float64(keys[k]))
	}
	s.m.dedupIDs.Set(float64(ids))
	s.m.partitions.Set(float64(len(s.parts)))
}

// deadLetter counts a record that could not be processed and returns it
// for the dead-letter topic, raw, with the reason in headers. Callers hold s.mu.
func (s *Service) deadLetter(r *kgo.Record, err error) *kgo.Record {
	reason := classify(err)
	s.m.rejected.WithLabelValues(reason).Inc()
	msg := err.Error()
	if len(msg) > maxErrorLen {
		msg = msg[:maxErrorLen]
	}
	if !s.rejected[reason] {
		s.rejected[reason] = true
		sample := r.Value
		if len(sample) > 256 {
			sample = sample[:256]
		}
		s.logger.Warn("record rejected, dead-lettered (logged once per reason)",
			"reason", reason, "partition", r.Partition, "offset", r.Offset, "sample", string(sample), "err", err)
	}
	h := slices.Clip(r.Headers)
	h = append(h,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(msg)},
		kgo.RecordHeader{Key: HeaderReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderSource, Value: fmt.Appendf(nil, "%s/%d/%d", r.Topic, r.Partition, r.Offset)},
	)
	return &kgo.Record{Topic: s.cfg.Kafka.Topics.DeadLetter, Key: r.Key, Value: r.Value, Headers: h}
}

// classify maps a decode or processing error onto a rejection reason.
func classify(err error) string {
	switch {
	case errors.Is(err, event.ErrUnsupportedVersion):
		return ReasonVersion
	case errors.Is(err, ErrFutureEvent):
		return ReasonFuture
	case errors.Is(err, event.ErrDecode):
		return ReasonDecode
	}
	return ReasonInvalid
}

func (s *Service) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	// Every polled record was processed and produced before the rebalance
	// was allowed; commit what a failed commit may have left.
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		s.m.commitErrors.Inc()
		s.logger.Warn("commit offsets on revoke failed", "err", err)
	}
	s.drop(revoked, "revoked")
}

func (s *Service) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.drop(lost, "lost")
}

// drop forgets the state of partitions this member no longer owns.
func (s *Service) drop(parts map[string][]int32, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var dropped []int32
	for _, p := range parts[s.cfg.Kafka.Topics.Events] {
		if _, ok := s.parts[p]; ok {
			delete(s.parts, p)
			dropped = append(dropped, p)
		}
	}
	if len(dropped) == 0 {
		return
	}
	slices.Sort(dropped)
	s.logger.Info("partition state dropped", "why", why, "partitions", dropped)
	s.updateStateMetrics()
}

func (s *Service) eventTimeLag() float64 {
	n := s.newest.Load()
	if n == 0 {
		return 0
	}
	return s.now().Sub(time.Unix(0, n)).Seconds()
}

// drainContext is ctx without its cancellation, cancelled only grace after
// ctx ends, so a batch in progress at shutdown can still be produced and
// committed.
func drainContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return dctx, func() { stop(); cancel() }
}
