// Package ingest wires the ingest service: sources (a followed MTA log
// file with its rotated backfill, a syslog listener, stdin), the parser and
// joiner, the Kafka producer, the read-position checkpoint, and the queue
// sampler.
//
// Flow: every source sends batches of lines on one channel; a single
// pipeline goroutine owns the parser (which is not safe for concurrent
// use), so lines of one source are parsed in order.
//
// Delivery guarantee: the pipeline produces the events of the batches it
// took (idempotent producer, acks=all), flushes the client, and only then
// runs the batches' commit functions, which move the file checkpoint. A
// crash at any point therefore replays at most the unflushed lines, and
// their events carry the same ids (host, file identity, offset), so
// consumers recognise the repeats. Syslog and stdin have no position to
// save: what the kernel buffered at a crash is gone, as with any syslog.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/pkg/metrics"
	"github.com/mxwarden/mxwarden/services/ingest/internal/parse"
	"github.com/mxwarden/mxwarden/services/ingest/internal/queue"
	"github.com/mxwarden/mxwarden/services/ingest/internal/source"
)

// Service is a running ingest.
type Service struct {
	cfg    Config
	logger *slog.Logger
	reg    *prometheus.Registry
	http   *metrics.Server
	host   string
	stdin  io.Reader

	linesRead     *prometheus.CounterVec
	linesRejected *prometheus.CounterVec
	events        *prometheus.CounterVec
	pending       prometheus.Gauge
	expired       prometheus.Counter
	checkpointOff prometheus.Gauge
	queueSize     *prometheus.GaugeVec
	queueErrors   prometheus.Counter
}

// rawLine is one line owned by the pipeline (its bytes are a copy).
type rawLine struct {
	data      []byte
	id        string
	truncated bool
}

// batch is a group of lines from one source; pos (nil for sources without
// a position) is where the source resumes after them.
type batch struct {
	lines []rawLine
	pos   *source.Position
}

// checkpoint is what the checkpoint file holds: the read position of the
// followed file and the join state as of that position, so that a restart
// joins the delivery lines after the position with their message's earlier
// lines before it.
type checkpoint struct {
	Position *source.Position       `json:"position"`
	Pending  []parse.PendingMessage `json:"pending"`
	// Partial is the head of a container runtime's line split into
	// records, whose last record is after Position.
	Partial string `json:"partial,omitempty"`
}

// New builds the service.
func New(cfg Config, logger *slog.Logger, reg *prometheus.Registry) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host := cfg.Source.Host
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("source.host not set and no host name: %w", err)
		}
		host = h
	}
	f := promauto.With(reg)
	s := &Service{
		cfg: cfg, logger: logger, reg: reg, host: host, stdin: os.Stdin,
		http: metrics.NewServer(cfg.HTTP.Addr, reg, logger.With("component", "http")),
		linesRead: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_ingest_lines_read_total", Help: "Log lines read, by source (file, backfill, syslog, stdin).",
		}, []string{"source"}),
		linesRejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_ingest_lines_rejected_total", Help: "Log lines not turned into events, by kind (fixed set); each is sent to the dead-letter topic.",
		}, []string{"kind"}),
		events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_ingest_events_produced_total", Help: "Delivery events acknowledged by Kafka, by status.",
		}, []string{"status"}),
		pending: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_ingest_pending_messages", Help: "Messages whose lines are not all joined yet.",
		}),
		expired: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_ingest_pending_expired_total", Help: "Half-joined messages emitted with what was known after pending_ttl.",
		}),
		checkpointOff: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_ingest_checkpoint_offset_bytes", Help: "Byte offset of the saved read position in the followed file.",
		}),
		queueSize: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mxwarden_ingest_mta_queue_messages", Help: "Messages in the MTA's queue at the last sample, by queue name.",
		}, []string{"queue"}),
		queueErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_ingest_queue_sample_errors_total", Help: "Queue samples that failed (command error or unreadable output).",
		}),
	}
	return s, nil
}

// Run reads the sources until ctx ends (or stdin ends, when it is the only source).
func (s *Service) Run(ctx context.Context) error {
	opts, err := kafka.BuildOpts(s.cfg.Kafka, s.logger)
	if err != nil {
		return err
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(s.cfg.Kafka.Topics.Events),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kafka.Metrics(s.reg, "mxwarden_ingest"),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("build kafka client: %w", err)
	}
	defer cl.Close()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.http.Run(gctx) })
	g.Go(func() error {
		if err := kafka.WaitReady(gctx, cl); err != nil {
			return err
		}
		if err := kafka.EnsureTopics(gctx, cl, s.cfg.Kafka); err != nil {
			return err
		}
		return s.pipeline(gctx, cl)
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	if errors.Is(err, errInputEnded) {
		return nil
	}
	return err
}

// errInputEnded stops the service when its only source (stdin) ended.
var errInputEnded = errors.New("input ended")

func (s *Service) pipeline(ctx context.Context, cl *kgo.Client) error {
	format, err := parseFormat(s.cfg.Source.Format)
	if err != nil {
		return err
	}
	p, err := parse.New(parse.Options{
		Format: format, Host: s.host, Now: time.Now,
		PendingTTL: s.cfg.Source.PendingTTL, MaxLineLen: s.cfg.Source.MaxLine,
		ReuseEvents: true, // emit encodes each event at once
	})
	if err != nil {
		return fmt.Errorf("build parser: %w", err)
	}
	var resume *source.Position
	cp := source.NewCheckpoint(s.cfg.Source.CheckpointFile)
	if s.cfg.Source.File != "" {
		var saved checkpoint
		ok, err := cp.Load(&saved)
		if err != nil {
			return err
		}
		switch {
		case !ok:
		case saved.Position == nil || saved.Position.Path != s.cfg.Source.File:
			s.logger.Warn("checkpoint names another file, starting at the beginning", "file", s.cfg.Source.File)
		default:
			if err := p.Restore(saved.Pending); err != nil {
				return fmt.Errorf("restore join state from %s: %w", s.cfg.Source.CheckpointFile, err)
			}
			p.SetPartialLine(saved.Partial)
			resume = saved.Position
		}
	}
	ch := make(chan batch, 64)
	g, gctx := errgroup.WithContext(ctx)
	sources := 0
	if s.cfg.Source.File != "" {
		sources++
		g.Go(func() error { return s.readFile(gctx, ch, resume) })
	}
	if s.cfg.Syslog.UDP != "" || s.cfg.Syslog.TCP != "" {
		sources++
		g.Go(func() error { return s.readSyslog(gctx, ch) })
	}
	stdinDone := make(chan struct{})
	if s.cfg.Source.Stdin {
		g.Go(func() error {
			defer close(stdinDone)
			return s.readStdin(gctx, ch)
		})
	}
	if s.cfg.Queue.Command != "" {
		g.Go(func() error { return s.sampleQueue(gctx, cl) })
	}
	g.Go(func() error {
		return s.consume(gctx, cl, p, cp, ch, stdinDone, sources == 0)
	})
	s.http.SetReady(true)
	return g.Wait()
}

// consume is the pipeline goroutine: parse, produce, flush, commit.
func (s *Service) consume(ctx context.Context, cl *kgo.Client, p *parse.Parser, cp *source.Checkpoint, ch <-chan batch, stdinDone <-chan struct{}, stopWithStdin bool) error {
	log := s.logger.With("component", "pipeline")
	var (
		mu         sync.Mutex
		firstErr   error
		inputEnded bool // stdin, the only source, has ended: stop once its lines are through
		lastSave   time.Time
		unsaved    *source.Position // position of flushed lines not yet in the checkpoint
	)
	save := func() error {
		if err := cp.Save(checkpoint{Position: unsaved, Pending: p.Snapshot(), Partial: p.PartialLine()}); err != nil {
			return err
		}
		s.checkpointOff.Set(float64(unsaved.Offset))
		unsaved, lastSave = nil, time.Now()
		return nil
	}
	// Between batches everything processed is flushed, so the position
	// and the join state saved on a tick agree.
	tick := time.NewTicker(max(s.cfg.Source.CheckpointInterval, 10*time.Millisecond))
	defer tick.Stop()
	promise := func(status string) func(*kgo.Record, error) {
		return func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			if status != "" {
				s.events.WithLabelValues(status).Inc()
			}
		}
	}
	emit := func(e *event.DeliveryEvent) {
		b, err := event.MarshalEvent(e)
		if err != nil { // cannot happen for a struct of strings and numbers
			log.Error("encode event", "err", err)
			return
		}
		cl.Produce(ctx, &kgo.Record{Key: []byte(e.Account()), Value: b}, promise(string(e.Status)))
	}
	deadLetter := func(l rawLine, kind string) {
		s.linesRejected.WithLabelValues(kind).Inc()
		if kind == parse.KindUnknownProgram {
			return // amavis, dovecot... in a shared syslog: counted, not an error
		}
		cl.Produce(ctx, &kgo.Record{
			Topic: s.cfg.Kafka.Topics.DeadLetter,
			Key:   []byte(l.id),
			Value: l.data,
			Headers: []kgo.RecordHeader{
				{Key: "mxwarden-error", Value: []byte(kind)},
				{Key: "mxwarden-source", Value: []byte(l.id)},
			},
		}, promise(""))
	}
	for {
		var b batch
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if unsaved != nil {
				if err := save(); err != nil {
					return err
				}
			}
			continue
		case <-stdinDone:
			stdinDone = nil
			if !stopWithStdin {
				continue
			}
			inputEnded = true
			if len(ch) == 0 {
				// Messages still half-joined stay so: they are in flight.
				if err := cl.Flush(ctx); err != nil {
					return fmt.Errorf("flush events: %w", err)
				}
				return errInputEnded
			}
			continue
		case b = <-ch:
		}
		n := 0
		var pos *source.Position
		for {
			for _, l := range b.lines {
				if l.truncated {
					deadLetter(l, "truncated")
				}
				if err := p.Feed(l.data, l.id, emit); err != nil {
					var le *parse.LineError
					kind := "unparseable"
					if errors.As(err, &le) {
						kind = le.Kind
					}
					deadLetter(l, kind)
				}
			}
			n += len(b.lines)
			if b.pos != nil {
				pos = b.pos
			}
			if n >= s.cfg.Source.Batch {
				break
			}
			select {
			case b = <-ch:
				continue
			default:
			}
			break
		}
		if w := p.Watermark(); !w.IsZero() {
			s.expired.Add(float64(p.Expire(w, emit)))
		}
		s.pending.Set(float64(p.Pending()))
		if err := cl.Flush(ctx); err != nil {
			return fmt.Errorf("flush events: %w", err)
		}
		mu.Lock()
		perr := firstErr
		mu.Unlock()
		if perr != nil {
			// No checkpoint: the lines are read again after a restart.
			return fmt.Errorf("produce events: %w", perr)
		}
		if pos != nil {
			unsaved = pos
			if time.Since(lastSave) >= s.cfg.Source.CheckpointInterval {
				if err := save(); err != nil {
					return err
				}
			}
		}
		if inputEnded && len(ch) == 0 {
			return errInputEnded
		}
	}
}

// send hands a batch to the pipeline.
func send(ctx context.Context, ch chan<- batch, b batch) error {
	select {
	case ch <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readFile backfills rotated files on the first start (no resume
// position), then follows the live file, sending batches that carry the
// position after them.
func (s *Service) readFile(ctx context.Context, ch chan<- batch, resume *source.Position) error {
	log := s.logger.With("component", "file", "file", s.cfg.Source.File)
	if resume == nil {
		for _, path := range s.cfg.Source.Backfill {
			if err := s.backfill(ctx, ch, path); err != nil {
				return err
			}
		}
	}
	fl := source.NewFollower(s.cfg.Source.File, source.FollowerOptions{
		MaxLine: s.cfg.Source.MaxLine, Poll: s.cfg.Source.Poll, Resume: resume,
	})
	defer fl.Close()
	log.Info("following", "resume_offset", resumeOffset(resume))
	read := s.linesRead.WithLabelValues("file")
	for {
		l, err := fl.Next(ctx)
		if err != nil {
			return err
		}
		lines := make([]rawLine, 0, 64)
		for {
			read.Inc()
			lines = append(lines, rawLine{
				data: append([]byte(nil), l.Data...), truncated: l.Truncated,
				id: fmt.Sprintf("%s:%s:%d", s.host, l.File, l.Offset),
			})
			if len(lines) >= s.cfg.Source.Batch {
				break
			}
			l, err = fl.TryNext()
			if errors.Is(err, source.ErrNoData) {
				break
			}
			if err != nil {
				return err
			}
		}
		pos := fl.Position()
		if err := send(ctx, ch, batch{lines: lines, pos: &pos}); err != nil {
			return err
		}
	}
}

func resumeOffset(p *source.Position) int64 {
	if p == nil {
		return 0
	}
	return p.Offset
}

func (s *Service) backfill(ctx context.Context, ch chan<- batch, path string) error {
	r, err := source.Open(path)
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	defer r.Close()
	fileID := "backfill-" + path
	if st, err := os.Stat(path); err == nil {
		fileID = source.FileID(st)
	}
	read := s.linesRead.WithLabelValues("backfill")
	var lines []rawLine
	err = source.Lines(r, s.cfg.Source.MaxLine, func(data []byte, off int64, trunc bool) error {
		read.Inc()
		lines = append(lines, rawLine{data: append([]byte(nil), data...), truncated: trunc, id: fmt.Sprintf("%s:%s:%d", s.host, fileID, off)})
		if len(lines) >= s.cfg.Source.Batch {
			b := batch{lines: lines}
			lines = nil
			return send(ctx, ch, b)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("backfill %s: %w", path, err)
	}
	if len(lines) > 0 {
		return send(ctx, ch, batch{lines: lines})
	}
	s.logger.Info("backfilled", "file", path)
	return nil
}

func (s *Service) readStdin(ctx context.Context, ch chan<- batch) error {
	read := s.linesRead.WithLabelValues("stdin")
	var lines []rawLine
	start := time.Now().UnixNano()
	err := source.Lines(s.stdin, s.cfg.Source.MaxLine, func(data []byte, off int64, trunc bool) error {
		read.Inc()
		lines = append(lines, rawLine{data: append([]byte(nil), data...), truncated: trunc, id: fmt.Sprintf("%s:stdin-%d:%d", s.host, start, off)})
		if len(lines) >= 1000 {
			b := batch{lines: lines}
			lines = nil
			return send(ctx, ch, b)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	if len(lines) > 0 {
		return send(ctx, ch, batch{lines: lines})
	}
	return nil
}

func (s *Service) readSyslog(ctx context.Context, ch chan<- batch) error {
	sl := &source.Syslog{
		UDP: s.cfg.Syslog.UDP, TCP: s.cfg.Syslog.TCP, MaxMessage: s.cfg.Source.MaxLine,
		MaxConns: s.cfg.Syslog.MaxConns, Logger: s.logger.With("component", "syslog"),
	}
	if err := sl.Listen(); err != nil {
		return err
	}
	udp, tcp := sl.Addrs()
	s.logger.Info("syslog listening", "udp", udp, "tcp", tcp)
	start := time.Now().UnixNano()
	var seq uint64
	var mu sync.Mutex
	read := s.linesRead.WithLabelValues("syslog")
	return sl.Run(ctx, func(m source.Message) {
		mu.Lock()
		seq++
		id := fmt.Sprintf("%s:syslog-%d:%d", s.host, start, seq)
		mu.Unlock()
		read.Inc()
		l := rawLine{data: append([]byte(nil), m.Data...), truncated: m.Truncated, id: id}
		if m.Framing {
			s.linesRejected.WithLabelValues("syslog_framing").Inc()
			return
		}
		_ = send(ctx, ch, batch{lines: []rawLine{l}})
	})
}

func (s *Service) sampleQueue(ctx context.Context, cl *kgo.Client) error {
	fields := strings.Fields(s.cfg.Queue.Command)
	mta := s.cfg.Source.Format
	if mta == "auto" { // the queue command says which MTA it is
		mta = "postfix"
		if s.cfg.Queue.Format == "count" {
			mta = "exim"
		}
	}
	smp := &queue.Sampler{Command: fields[0], Args: fields[1:], Format: s.cfg.Queue.Format, MTA: mta, Host: s.host}
	log := s.logger.With("component", "queue")
	t := time.NewTicker(s.cfg.Queue.Interval)
	defer t.Stop()
	for {
		q, err := smp.Sample(ctx)
		if err != nil {
			s.queueErrors.Inc()
			log.Warn("sample queue", "err", err)
		} else {
			for name, n := range q.Queues {
				s.queueSize.WithLabelValues(name).Set(float64(n))
			}
			b, _ := event.MarshalQueueSample(q)
			cl.Produce(ctx, &kgo.Record{Topic: s.cfg.Kafka.Topics.Queue, Key: []byte(s.host), Value: b}, func(_ *kgo.Record, err error) {
				if err != nil {
					log.Warn("produce queue sample", "err", err)
				}
			})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
