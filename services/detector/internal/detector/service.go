package detector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
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
	// maxPoll bounds the records processed in one transaction.
	maxPoll = 10_000
	// drainTimeout is how long a batch in progress may still take to be
	// produced and committed after shutdown begins.
	drainTimeout = 10 * time.Second
	// maxErrorLen bounds the error text put in a dead-letter header.
	maxErrorLen = 512
	// sessionTimeout: a member that stops heartbeating (kill -9) loses
	// its partitions after this long; transactionTimeout must be below it
	// so a dead member's open transaction is aborted by then.
	sessionTimeout     = 10 * time.Second
	transactionTimeout = 8 * time.Second
)

// Service is `detector run`: a consumer group member on the events topic
// (the sender stage) that runs the rules per partition and produces
// verdicts and bans, with exactly-once effect.
//
// Delivery and state: each poll is one Kafka transaction
// (kgo.GroupTransactSession, with BlockRebalanceOnPoll) holding the poll's
// verdicts, bans and dead letters, the changelog records of the state it
// changed (every touched key of every table, the ban ledger's changes, the
// new dedup ids; see Processor.Flush) and the consumed offsets. They commit
// together or not at all. The changelog is a compacted topic with one
// partition per events partition. When a partition's records first
// arrive (after an assignment, a restart, or an aborted transaction),
// its state is restored from its changelog partition up to the last stable
// offset: exactly the state the committed offsets stand for. A kill -9
// therefore loses only an open transaction, which the broker aborts and
// the next owner redoes: no ban doubled, none lost.
//
// Duplicates from at-least-once ingest: a record whose event id its
// partition's Processor already processed is skipped (counted in
// events_duplicate_total, not dead-lettered); the ids survive restarts too.
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
	base     []kgo.Opt           // the shared client options, for restore clients

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
	lag     int64                // records behind the high watermark after the last poll
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
	s.m.lag.WithLabelValues(string(rules.StageSender))
	return s, nil
}

// HTTPAddr is the metrics server's bound address once Run has bound it
// ("" before, or when the server is disabled).
func (s *Service) HTTPAddr() string {
	a, _ := s.httpAddr.Load().(string)
	return a
}

// TransactionalID is the producer's transactional id: the group and the
// static instance id (or the host name). A restarted member with the same
// id fences its predecessor's open transaction at once.
func (s *Service) TransactionalID() string {
	id := s.cfg.State.InstanceID
	if id == "" {
		id, _ = os.Hostname()
		if id == "" {
			id = "detector"
		}
	}
	return s.cfg.Group + "." + id
}

// statePartitioner sends changelog records to the partition they name
// (the events partition whose state they hold) and everything else by key
// hash, as every other producer of the flow does.
type statePartitioner struct {
	topic string
	byKey kgo.Partitioner
}

func (p statePartitioner) ForTopic(t string) kgo.TopicPartitioner {
	if t == p.topic {
		return kgo.ManualPartitioner().ForTopic(t)
	}
	return p.byKey.ForTopic(t)
}

// Run consumes until ctx ends, then finishes the batch in progress,
// leaves the group and returns nil. Any other stop is an error.
func (s *Service) Run(ctx context.Context) error {
	base, err := kafka.BuildOpts(s.cfg.Kafka, s.logger)
	if err != nil {
		return fmt.Errorf("kafka options: %w", err)
	}
	stateTopic := s.cfg.StateTopic()
	s.base = base
	opts := append(slices.Clip(base),
		kafka.Metrics(s.reg, "mxwarden_detector"),
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.cfg.Kafka.Topics.Events),
		// Both set: franz-go >= 1.22 no longer derives one from the other.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.TransactionalID(s.TransactionalID()),
		kgo.TransactionTimeout(transactionTimeout),
		kgo.SessionTimeout(sessionTimeout),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		kgo.RecordPartitioner(statePartitioner{topic: stateTopic, byKey: kgo.StickyKeyPartitioner(nil)}),
	)
	if s.cfg.State.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(s.cfg.State.InstanceID))
	}
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	// The restore client lists changelog offsets; each restore reads its
	// partition with a client of its own, keeping markers so the last
	// stable offset is always reached.
	rcl, err := kgo.NewClient(slices.Clip(base)...)
	if err != nil {
		sess.Close()
		return fmt.Errorf("kafka restore client: %w", err)
	}
	defer rcl.Close()
	if s.cfg.HTTP.Addr != "" {
		if err := s.http.Listen(); err != nil {
			sess.Close()
			return err
		}
		s.httpAddr.Store(s.http.Addr())
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.http.Run(gctx) })
	allowReady := make(chan struct{})
	g.Go(func() error { return s.followAllowlist(gctx, base, allowReady) })
	g.Go(func() error {
		defer s.http.SetReady(false)
		// Leaving the group runs onRevoked.
		defer sess.CloseAllowingRebalance()
		return s.consume(gctx, sess, rcl, allowReady)
	})
	return g.Wait()
}

func (s *Service) consume(ctx context.Context, sess *kgo.GroupTransactSession, rcl *kgo.Client, allowReady <-chan struct{}) error {
	cl := sess.Client()
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
	if err := s.ensureStateTopic(ctx, kadm.NewClient(cl)); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// The allowlist always wins: read it whole before the first verdict.
	select {
	case <-allowReady:
	case <-ctx.Done():
		return nil
	}
	s.http.SetReady(true)
	s.logger.Info("consuming", "group", s.cfg.Group, "topic", s.cfg.Kafka.Topics.Events,
		"state_topic", s.cfg.StateTopic(), "transactional_id", s.TransactionalID(), "instance_id", s.cfg.State.InstanceID)
	for {
		fetches := sess.PollRecords(ctx, maxPoll)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				s.logger.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
			}
		})
		if err := s.handle(ctx, sess, rcl, fetches); err != nil {
			return err
		}
		sess.AllowRebalance()
	}
}

// ensureStateTopic creates the compacted changelog with as many
// partitions as the events topic, and refuses one that has another count.
func (s *Service) ensureStateTopic(ctx context.Context, adm *kadm.Client) error {
	events, topic := s.cfg.Kafka.Topics.Events, s.cfg.StateTopic()
	var want, waited int
	for {
		td, err := adm.ListTopics(ctx, events)
		if err != nil {
			return fmt.Errorf("describe %s: %w", events, err)
		}
		if d, ok := td[events]; ok && d.Err == nil && len(d.Partitions) > 0 {
			want = len(d.Partitions)
			break
		}
		// Not created yet (kafka.create_topics off and nobody made it).
		if waited++; waited%30 == 0 {
			s.logger.Warn("waiting for the events topic to exist", "topic", events)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	compact := "compact"
	if s.cfg.Kafka.CreateTopics {
		resp, err := adm.CreateTopic(ctx, int32(want), s.cfg.Kafka.ReplicationFactor, map[string]*string{"cleanup.policy": &compact}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create state topic %s: %w", topic, err)
		}
	}
	// A topic just created takes a moment to show in the metadata.
	var d kadm.TopicDetail
	for try := 0; ; try++ {
		td, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return fmt.Errorf("describe %s: %w", topic, err)
		}
		var ok bool
		if d, ok = td[topic]; ok && d.Err == nil && len(d.Partitions) > 0 {
			break
		}
		if try == 50 {
			return fmt.Errorf("state topic %s missing (create it compacted with %d partitions, or set kafka.create_topics)", topic, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if len(d.Partitions) != want {
		return fmt.Errorf("state topic %s has %d partitions, %s has %d: they must match", topic, len(d.Partitions), events, want)
	}
	return nil
}

// handle runs one poll as one transaction.
func (s *Service) handle(ctx context.Context, sess *kgo.GroupTransactSession, rcl *kgo.Client, fetches kgo.Fetches) error {
	if fetches.NumRecords() == 0 {
		return nil
	}
	start := time.Now()
	dctx, cancel := drainContext(ctx, drainTimeout)
	defer cancel()
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	recs, out, st, err := s.process(dctx, rcl, fetches)
	if err != nil {
		_, _ = sess.End(dctx, kgo.TryAbort)
		s.dropAll("failed")
		return err
	}
	var (
		pmu     sync.Mutex
		prodErr error
	)
	for _, r := range recs {
		sess.Produce(dctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				pmu.Lock()
				prodErr = cmpErr(prodErr, err)
				pmu.Unlock()
			}
		})
	}
	if err := sess.Client().Flush(dctx); err != nil {
		prodErr = cmpErr(prodErr, err)
	}
	try := kgo.TryCommit
	if prodErr != nil {
		try = kgo.TryAbort
	}
	committed, err := sess.End(dctx, try)
	if err != nil {
		s.m.commitErrors.Inc()
	}
	if !committed {
		// The state moved on with records that did not commit: forget it.
		// The session rewound to the committed offsets, and each partition
		// is restored from its changelog when its records come again.
		s.m.aborted.Inc()
		s.dropAll("transaction aborted")
		if prodErr != nil {
			return fmt.Errorf("produce %d records: %w", len(recs), prodErr)
		}
		if err != nil {
			if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) {
				return fmt.Errorf("end transaction: fenced by another detector with transactional id %s: %w", s.TransactionalID(), err)
			}
			s.logger.Warn("transaction aborted", "err", err)
		} else {
			s.logger.Info("transaction aborted (rebalance), reprocessing from the committed offsets")
		}
		return nil
	}
	s.m.events.Add(float64(st.events))
	s.m.duplicates.Add(float64(st.duplicates))
	for r, n := range st.rejected {
		s.m.rejected.WithLabelValues(r).Add(float64(n))
	}
	for i := range out.Verdicts {
		v := &out.Verdicts[i]
		s.m.verdicts.WithLabelValues(v.Rule, string(v.Action)).Inc()
	}
	for i := range out.Bans {
		s.m.bans.WithLabelValues(out.Bans[i].Rule).Inc()
	}
	s.m.changelog.Add(float64(st.changelog))
	if !st.newest.IsZero() && st.newest.UnixNano() > s.newest.Load() {
		s.newest.Store(st.newest.UnixNano())
	}
	s.mu.Lock()
	s.updateStateMetrics()
	s.mu.Unlock()
	s.m.batchDuration.Observe(time.Since(start).Seconds())
	return nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// batchStats count one poll; they reach the metrics only once it commits.
type batchStats struct {
	events, duplicates, changelog int
	rejected                      map[string]int
	newest                        time.Time
}

// process runs the poll's records through their partitions' processors
// and returns the records to produce in the transaction.
func (s *Service) process(ctx context.Context, rcl *kgo.Client, fetches kgo.Fetches) ([]*kgo.Record, *Output, batchStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		recs []*kgo.Record
		out  Output
		st   = batchStats{rejected: map[string]int{}}
		err  error
	)
	topics := s.cfg.Kafka.Topics
	stateTopic := s.cfg.StateTopic()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if err != nil || len(fp.Records) == 0 {
			return
		}
		var ps *partitionState
		if ps, err = s.partition(ctx, rcl, fp.Partition); err != nil {
			return
		}
		for _, r := range fp.Records {
			processed := false
			ev, perr := event.UnmarshalEvent(r.Value)
			if perr == nil {
				processed, perr = ps.proc.Process(ev, &out)
			}
			if perr != nil {
				dl, reason := s.deadLetter(r, perr)
				st.rejected[reason]++
				recs = append(recs, dl)
				continue
			}
			if !processed {
				st.duplicates++
				continue
			}
			st.events++
			if ev.TS.After(st.newest) {
				st.newest = ev.TS
			}
		}
		ps.lag = max(0, fp.HighWatermark-(fp.Records[len(fp.Records)-1].Offset+1))
		st.changelog += ps.proc.Flush(func(k, v []byte) {
			rec := &kgo.Record{Topic: stateTopic, Partition: fp.Partition, Key: slices.Clone(k)}
			if v != nil {
				rec.Value = slices.Clone(v)
			}
			recs = append(recs, rec)
		})
	})
	if err != nil {
		return nil, nil, st, err
	}
	for i := range out.Verdicts {
		v := &out.Verdicts[i]
		b, err := event.MarshalVerdict(v)
		if err != nil {
			return nil, nil, st, fmt.Errorf("encode verdict: %w", err)
		}
		recs = append(recs, &kgo.Record{Topic: topics.Verdicts, Key: []byte(event.BanKey(v.SubjectKind, v.Subject)), Value: b})
	}
	for i := range out.Bans {
		b := &out.Bans[i]
		val, err := event.MarshalBan(b)
		if err != nil {
			return nil, nil, st, fmt.Errorf("encode ban: %w", err)
		}
		recs = append(recs, &kgo.Record{Topic: topics.Bans, Key: []byte(b.Key()), Value: val})
	}
	return recs, &out, st, nil
}

// partition returns p's state, restoring it from the changelog on first
// use. Callers hold s.mu.
func (s *Service) partition(ctx context.Context, rcl *kgo.Client, p int32) (*partitionState, error) {
	if ps, ok := s.parts[p]; ok {
		return ps, nil
	}
	proc, err := NewProcessor(s.cfg, rules.StageSender, Options{Now: s.now, Allow: s.allow, Persist: true})
	if err != nil {
		return nil, err
	}
	if rcl != nil {
		start := time.Now()
		st, err := restorePartition(ctx, kadm.NewClient(rcl), s.base, s.cfg.StateTopic(), p, proc)
		if err != nil {
			return nil, fmt.Errorf("restore partition %d: %w", p, err)
		}
		d := time.Since(start)
		s.m.restoreDuration.Observe(d.Seconds())
		s.m.restoreDiscarded.Add(float64(st.Discarded))
		s.logger.Info("partition state restored", "partition", p, "from", st.From, "to", st.To, "records", st.Records, "keys", st.Keys,
			"discarded", st.Discarded, "watermark", proc.Watermark(), "duration", d)
	}
	ps := &partitionState{proc: proc, seen: map[string]RuleStats{}}
	s.parts[p] = ps
	return ps, nil
}

// restorePartition reads partition p of the changelog from its start to
// its end into proc. It first waits until no transaction is open on the
// partition (last stable offset = high watermark): the changelog has one
// writer at a time, the partition's owner, and a transaction that ended
// (our own aborted one, or a dead owner's, which the broker aborts after
// its transaction timeout or when its transactional id is reused) may
// have its markers written a moment later. Reading only up to a lagging
// last stable offset would drop the newest committed state.
func restorePartition(ctx context.Context, adm *kadm.Client, base []kgo.Opt, topic string, p int32, proc *Processor) (RestoreStats, error) {
	var st RestoreStats
	var so, eo kadm.ListedOffset
	deadline := time.Now().Add(2*transactionTimeout + 10*time.Second)
	for {
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			return st, err
		}
		stable, err := adm.ListCommittedOffsets(ctx, topic) // last stable offsets
		if err != nil {
			return st, err
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return st, err
		}
		var ok1, ok2, ok3 bool
		var lso kadm.ListedOffset
		so, ok1 = starts.Lookup(topic, p)
		lso, ok2 = stable.Lookup(topic, p)
		eo, ok3 = ends.Lookup(topic, p)
		if !ok1 || !ok2 || !ok3 || so.Err != nil || lso.Err != nil || eo.Err != nil {
			return st, fmt.Errorf("list offsets of %s/%d: %w", topic, p, errors.Join(so.Err, lso.Err, eo.Err))
		}
		if lso.Offset >= eo.Offset {
			break
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%s/%d: a transaction stays open (last stable offset %d, end %d)", topic, p, lso.Offset, eo.Offset)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	st.From, st.To = so.Offset, eo.Offset
	if eo.Offset > so.Offset {
		// A client of its own per restore: re-adding a partition to a
		// client that consumed it before does not reliably rewind it.
		cl, err := kgo.NewClient(append(slices.Clip(base),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(so.Offset)}}))...)
		if err != nil {
			return st, err
		}
		defer cl.Close()
		for done := false; !done; {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return st, err
			}
			var ferr error
			fs.EachError(func(_ string, _ int32, err error) { ferr = err })
			if ferr != nil {
				return st, ferr
			}
			fs.EachRecord(func(r *kgo.Record) {
				if done || r.Partition != p {
					return
				}
				if r.Offset >= eo.Offset-1 {
					done = true
				}
				if r.Offset >= eo.Offset || r.Attrs.IsControl() {
					return
				}
				var v []byte
				if len(r.Value) > 0 {
					v = r.Value
				}
				proc.Restore(r.Key, v, &st)
			})
		}
	}
	err := proc.FinishRestore(&st)
	return st, err
}

// updateStateMetrics refreshes the gauges and adds the counters' news.
// Callers hold s.mu.
func (s *Service) updateStateMetrics() {
	keys := map[event.SubjectKind]int{}
	ids := 0
	var lag int64
	for _, ps := range s.parts {
		d := ps.proc.Dedup()
		ids += d.IDs
		s.m.dedupDropped.Add(float64(d.Dropped - ps.dropped))
		ps.dropped = d.Dropped
		lag += ps.lag
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
	s.m.lag.WithLabelValues(string(rules.StageSender)).Set(float64(lag))
	s.m.dedupIDs.Set(float64(ids))
	s.m.partitions.Set(float64(len(s.parts)))
}

// deadLetter returns a record that could not be processed for the
// dead-letter topic, raw, with the reason in headers. Callers hold s.mu.
func (s *Service) deadLetter(r *kgo.Record, err error) (*kgo.Record, string) {
	reason := classify(err)
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
	return &kgo.Record{Topic: s.cfg.Kafka.Topics.DeadLetter, Key: r.Key, Value: r.Value, Headers: h}, reason
}

// classify maps a decode or processing error onto a rejection reason.
func classify(err error) string {
	switch {
	case errors.Is(err, event.ErrUnsupportedVersion):
		return ReasonVersion
	case errors.Is(err, ErrFutureEvent):
		return ReasonFuture
	case errors.Is(err, ErrLateEvent):
		return ReasonLate
	case errors.Is(err, event.ErrDecode):
		return ReasonDecode
	}
	return ReasonInvalid
}

func (s *Service) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	// The session aborts a transaction in progress; what was committed
	// is in the changelog for the next owner.
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

// dropAll forgets every partition's state (after an aborted transaction).
func (s *Service) dropAll(why string) {
	s.mu.Lock()
	var ps []int32
	for p := range s.parts {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	s.drop(map[string][]int32{s.cfg.Kafka.Topics.Events: ps}, why)
}

// followAllowlist applies the allowlist topic to s.allow until ctx ends,
// closing ready once it has read everything that was there at start.
func (s *Service) followAllowlist(ctx context.Context, base []kgo.Opt, ready chan<- struct{}) error {
	topic := s.cfg.Kafka.Topics.Allowlist
	cl, err := kgo.NewClient(append(slices.Clip(base),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return fmt.Errorf("kafka allowlist client: %w", err)
	}
	defer cl.Close()
	if err := kafka.WaitReady(ctx, cl); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// What must be read before the first verdict: every partition up to
	// its last stable offset when we start (EnsureTopics may still be
	// creating the topic: wait for it).
	var pending map[int32]int64
	waited := 0
	adm := kadm.NewClient(cl)
	for pending == nil {
		ends, err := adm.ListCommittedOffsets(ctx, topic)
		if err == nil && ends.Error() == nil && len(ends[topic]) > 0 {
			pending = map[int32]int64{}
			ends.Each(func(o kadm.ListedOffset) {
				if o.Offset > 0 {
					pending[o.Partition] = o.Offset
				}
			})
			break
		}
		if waited++; waited%20 == 0 {
			s.logger.Warn("waiting for the allowlist topic to exist: no verdict before it is read", "topic", topic)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
	signal := func() {
		if len(pending) == 0 && ready != nil {
			s.logger.Info("allowlist read", "entries", s.allow.Len())
			close(ready)
			ready = nil
		}
	}
	signal()
	for {
		fs := cl.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := pending[r.Partition]; ok && r.Offset >= end-1 {
				delete(pending, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			if len(r.Value) == 0 {
				s.allow.Put(string(r.Key), nil)
				return
			}
			e, err := event.UnmarshalAllowEntry(r.Value)
			if err != nil {
				s.m.allowRejected.Inc()
				s.logger.Warn("allowlist record rejected", "partition", r.Partition, "offset", r.Offset, "err", err)
				return
			}
			s.allow.Put(string(r.Key), e)
		})
		s.m.allowEntries.Set(float64(s.allow.Len()))
		signal()
	}
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
