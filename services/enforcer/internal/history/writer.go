package history

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/kafka"
)

// Writer copies the flow's topics into ClickHouse. It is its own consumer
// group (history.group): enforcement never waits for it, and while
// ClickHouse is down it stops fetching, retries with backoff, and Kafka
// holds the records (the group's lag grows).
//
// Delivery: a batch's offsets are committed only after ClickHouse accepted
// every row of it. Rows that may already be stored — a batch sent again
// after a failed or timed-out attempt, or the first batches of a partition
// this process was just assigned (a crash or a previous owner may have
// stored rows past the committed offset) — are checked by key first, and
// the stored ones dropped (see insert). So a row is written exactly once
// on ClickHouse 18.16 as on chDB, with queries free of FINAL; the tables'
// ReplacingMergeTree keys are the second line (they also fold an event
// ingest itself sent twice under one id).
type Writer struct {
	cfg    Config
	kcfg   kafka.Config
	store  Store
	logger *slog.Logger
	m      *writerMetrics
	kopts  []kgo.Opt

	mu        sync.Mutex
	uncertain map[srcKey]bool // partitions whose next rows may already be stored
}

type srcKey struct {
	topic     string
	partition int32
}

// NewWriter builds the writer; Run starts it.
func NewWriter(cfg Config, kcfg kafka.Config, store Store, logger *slog.Logger, reg prometheus.Registerer, kopts ...kgo.Opt) *Writer {
	return &Writer{cfg: cfg, kcfg: kcfg, store: store, logger: logger, m: newWriterMetrics(reg), kopts: kopts,
		uncertain: map[srcKey]bool{}}
}

// tableOf maps the topics to the tables.
func (w *Writer) tableOf() map[string]*Table {
	t := w.kcfg.Topics
	return map[string]*Table{t.Events: eventsTable, t.Verdicts: verdictsTable, t.Bans: bansTable,
		t.Queue: queueTable, t.Allowlist: allowTable}
}

// Run consumes until ctx ends; it flushes what it holds on the way out.
func (w *Writer) Run(ctx context.Context) error {
	tables := w.tableOf()
	topics := make([]string, 0, len(tables))
	for t := range tables {
		topics = append(topics, t)
	}
	opts, err := kafka.BuildOpts(w.kcfg, w.logger)
	if err != nil {
		return err
	}
	mark := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		w.mu.Lock()
		defer w.mu.Unlock()
		for t, ps := range m {
			for _, p := range ps {
				w.uncertain[srcKey{t, p}] = true
			}
		}
	}
	opts = append(opts,
		kgo.ConsumerGroup(w.cfg.Group),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		// Rebalances happen between batches only (AllowRebalance), so a
		// partition never changes hands with rows of it buffered here.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(mark),
		kgo.OnPartitionsRevoked(mark),
		kgo.OnPartitionsLost(mark),
		// A writer killed without leaving the group is replaced within
		// this time (franz-go's default is 45s).
		kgo.SessionTimeout(15*time.Second),
	)
	opts = append(opts, w.kopts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("history kafka client: %w", err)
	}
	defer cl.Close()
	// Before Close (defers run last-in first-out): leaving the group waits
	// for the rebalance this client may be blocking.
	defer cl.AllowRebalance()

	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go w.watchLag(lagCtx, kadm.NewClient(cl))

	w.logger.Info("history writer started", "group", w.cfg.Group, "dialect", w.store.Dialect().String(), "database", w.store.Database())
	b := newBatch()
	var srcs []srcKey
	srcIdx := map[srcKey]int{}
	var offsets []*kgo.Record // last record per source, for the commit
	var first time.Time
	reset := func() {
		b, srcs, srcIdx, offsets, first = newBatch(), nil, map[srcKey]int{}, nil, time.Time{}
	}
	for {
		wait := time.Hour
		if !first.IsZero() {
			wait = time.Until(first.Add(w.cfg.FlushInterval))
		}
		pctx, cancel := context.WithTimeout(ctx, max(wait, time.Millisecond))
		fs := cl.PollRecords(pctx, max(w.cfg.BatchRows-b.n, 1))
		cancel()
		if ctx.Err() != nil {
			if len(offsets) > 0 {
				fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.InsertTimeout)
				if err := w.flush(fctx, cl, b, srcs, offsets, 1); err != nil {
					w.logger.Warn("history: batch not written at shutdown; it is read again at the next start", "err", err)
				}
				fcancel()
			}
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				w.logger.Warn("history fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			t := tables[r.Topic]
			if t == nil {
				return
			}
			k := srcKey{r.Topic, r.Partition}
			i, ok := srcIdx[k]
			if !ok {
				i = len(srcs)
				srcIdx[k] = i
				srcs = append(srcs, k)
				offsets = append(offsets, r)
			}
			offsets[i] = r
			if first.IsZero() {
				first = time.Now()
			}
			row, err := decodeRecord(t, r.Value, string(r.Key), r.Timestamp, rowID(r.Partition, r.Offset), header(r, ActorHeader))
			if err != nil {
				w.m.rejected.WithLabelValues(t.Name, rejectReason(err)).Inc()
				w.logger.Warn("history: record refused", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
				return
			}
			b.add(t, i, row, len(r.Value))
		})
		due := !first.IsZero() && !time.Now().Before(first.Add(w.cfg.FlushInterval))
		if len(offsets) > 0 && (b.n >= w.cfg.BatchRows || b.bytes >= w.cfg.BatchBytes || due) {
			if err := w.flush(ctx, cl, b, srcs, offsets, 0); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			reset()
		}
		if len(offsets) == 0 {
			cl.AllowRebalance()
		}
	}
}

// flush writes b, retrying with backoff until it is accepted or ctx ends
// (maxAttempts 0: no limit), then commits the offsets.
func (w *Writer) flush(ctx context.Context, cl *kgo.Client, b *batch, srcs []srcKey, last []*kgo.Record, maxAttempts int) error {
	start := time.Now()
	retried := false
	isUncertain := func(i int) bool {
		if retried {
			return true
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.uncertain[srcs[i]]
	}
	backoff := w.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		still, written, err := insert(ctx, w.store, b, isUncertain, w.cfg.InsertTimeout)
		if err == nil {
			w.mu.Lock()
			for i, k := range srcs {
				if !still[i] {
					delete(w.uncertain, k)
				} else {
					w.uncertain[k] = true
				}
			}
			w.mu.Unlock()
			for t, n := range written {
				w.m.rows.WithLabelValues(t).Add(float64(n))
			}
			break
		}
		w.m.errors.Inc()
		if ctx.Err() != nil || maxAttempts > 0 && attempt >= maxAttempts {
			return err
		}
		w.logger.Warn("history: write failed; retrying (Kafka keeps the records)", "attempt", attempt, "backoff", backoff.String(), "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, w.cfg.RetryMax)
		retried = true
		w.m.retries.Inc()
	}
	if err := cl.CommitRecords(ctx, last...); err != nil {
		// The rows are stored; a restart re-reads them and the check after
		// assignment drops them.
		w.m.commitErr.Inc()
		w.mu.Lock()
		for _, k := range srcs {
			w.uncertain[k] = true
		}
		w.mu.Unlock()
		w.logger.Warn("history: offset commit failed after the write", "err", err)
	}
	w.m.duration.Observe(time.Since(start).Seconds())
	cl.AllowRebalance()
	return nil
}

// watchLag updates the lag gauge from the group's committed offsets.
func (w *Writer) watchLag(ctx context.Context, adm *kadm.Client) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		lags, err := adm.Lag(lctx, w.cfg.Group)
		cancel()
		if err == nil {
			if l, ok := lags[w.cfg.Group]; ok && l.Error() == nil {
				w.m.lag.Set(float64(l.Lag.Total()))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func header(r *kgo.Record, name string) string {
	for _, h := range r.Headers {
		if h.Key == name {
			return string(h.Value)
		}
	}
	return ""
}

func rejectReason(err error) string {
	switch {
	case errors.Is(err, event.ErrUnsupportedVersion):
		return reasonVersion
	case errors.Is(err, event.ErrDecode):
		return reasonDecode
	}
	return reasonInvalid
}

// decodeRecord turns one record of t's topic into a row. A nil value is a
// tombstone (bans: a lift; allowlist: a removal).
func decodeRecord(t *Table, value []byte, key string, ts time.Time, rowID, actor string) ([]any, error) {
	switch t {
	case eventsTable:
		e, err := event.UnmarshalEvent(value)
		if err != nil {
			return nil, err
		}
		return EventRow(e), nil
	case verdictsTable:
		v, err := event.UnmarshalVerdict(value)
		if err != nil {
			return nil, err
		}
		return VerdictRow(v), nil
	case bansTable:
		if value == nil {
			return BanRow(nil, key, ts, rowID, actor), nil
		}
		b, err := event.UnmarshalBan(value)
		if err != nil {
			return nil, err
		}
		return BanRow(b, key, ts, rowID, actor), nil
	case queueTable:
		q, err := event.UnmarshalQueueSample(value)
		if err != nil {
			return nil, err
		}
		return QueueRow(q, rowID), nil
	case allowTable:
		if value == nil {
			return AllowRow(nil, key, ts, rowID, actor), nil
		}
		a, err := event.UnmarshalAllowEntry(value)
		if err != nil {
			return nil, err
		}
		return AllowRow(a, key, ts, rowID, actor), nil
	}
	return nil, fmt.Errorf("no table for record")
}
