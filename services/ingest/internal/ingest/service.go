// Package ingest wires the ingest service: a followed MTA log file, the
// parser and joiner, the Kafka producer, and the read-position checkpoint.
//
// Delivery guarantee: lines are read in batches; the events of a batch are
// produced (idempotent producer, acks=all), the client is flushed, and only
// then is the checkpoint moved past the batch. A crash at any point
// therefore replays at most the last batch; its events carry the same ids
// (host, file identity, offset), so consumers recognise the repeats.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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
	"github.com/mxwarden/mxwarden/services/ingest/internal/source"
)

// Service is a running ingest.
type Service struct {
	cfg    Config
	logger *slog.Logger
	reg    *prometheus.Registry
	http   *metrics.Server

	linesRead     prometheus.Counter
	linesRejected *prometheus.CounterVec
	events        *prometheus.CounterVec
	pending       prometheus.Gauge
	expired       prometheus.Counter
	checkpointOff prometheus.Gauge
}

// New builds the service.
func New(cfg Config, logger *slog.Logger, reg *prometheus.Registry) (*Service, error) {
	if cfg.Source.File == "" {
		return nil, errors.New("source.file: set the MTA log file to follow")
	}
	f := promauto.With(reg)
	s := &Service{
		cfg: cfg, logger: logger, reg: reg,
		http: metrics.NewServer(cfg.HTTP.Addr, reg, logger.With("component", "http")),
		linesRead: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_ingest_lines_read_total", Help: "Log lines read.",
		}),
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
	}
	return s, nil
}

// Run follows the log until ctx ends.
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
		return s.follow(gctx, cl)
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Service) follow(ctx context.Context, cl *kgo.Client) error {
	log := s.logger.With("component", "follow", "file", s.cfg.Source.File)
	cp := source.NewCheckpoint(s.cfg.Source.CheckpointFile)
	resume, err := cp.Load()
	if err != nil {
		return err
	}
	if resume != nil && resume.Path != s.cfg.Source.File {
		log.Warn("checkpoint names another file, starting at the beginning", "checkpoint_path", resume.Path)
		resume = nil
	}
	fl := source.NewFollower(s.cfg.Source.File, source.FollowerOptions{
		MaxLine: s.cfg.Source.MaxLine, Poll: s.cfg.Source.Poll, Resume: resume,
	})
	defer fl.Close()
	host := s.cfg.Source.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	p, err := parse.New(parse.Options{
		Format: s.cfg.Source.Format, Host: host, Now: time.Now,
		PendingTTL: s.cfg.Source.PendingTTL, MaxLineLen: s.cfg.Source.MaxLine,
	})
	if err != nil {
		return fmt.Errorf("build parser: %w", err)
	}
	s.http.SetReady(true)
	log.Info("following", "resume", resume)

	var (
		mu       sync.Mutex
		firstErr error
		lastTS   time.Time
	)
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
		if e.TS.After(lastTS) {
			lastTS = e.TS
		}
		cl.Produce(ctx, &kgo.Record{Key: []byte(e.Account()), Value: b}, promise(string(e.Status)))
	}
	deadLetter := func(l source.Line, id, kind string) {
		s.linesRejected.WithLabelValues(kind).Inc()
		cl.Produce(ctx, &kgo.Record{
			Topic: s.cfg.Kafka.Topics.DeadLetter,
			Key:   []byte(id),
			Value: append([]byte(nil), l.Data...),
			Headers: []kgo.RecordHeader{
				{Key: "mxwarden-error", Value: []byte(kind)},
				{Key: "mxwarden-source", Value: []byte(id)},
			},
		}, promise(""))
	}

	for {
		l, err := fl.Next(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		n := 0
		for {
			n++
			s.linesRead.Inc()
			id := fmt.Sprintf("%s:%s:%d", host, l.File, l.Offset)
			if l.Truncated {
				deadLetter(l, id, "truncated")
			}
			if err := p.Feed(l.Data, id, emit); err != nil {
				var le *parse.LineError
				kind := "unparseable"
				if errors.As(err, &le) {
					kind = le.Kind
				}
				deadLetter(l, id, kind)
			}
			if n >= s.cfg.Source.Batch {
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
		if !lastTS.IsZero() {
			s.expired.Add(float64(p.Expire(lastTS, emit)))
		}
		s.pending.Set(float64(p.Pending()))
		if err := cl.Flush(ctx); err != nil {
			return fmt.Errorf("flush events: %w", err)
		}
		mu.Lock()
		perr := firstErr
		mu.Unlock()
		if perr != nil {
			// Do not checkpoint: the batch is read again after a restart.
			return fmt.Errorf("produce events: %w", perr)
		}
		pos := fl.Position()
		if err := cp.Save(pos); err != nil {
			return err
		}
		s.checkpointOff.Set(float64(pos.Offset))
	}
}
