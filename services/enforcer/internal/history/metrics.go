package history

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reasons a record is refused (the reason label).
const (
	reasonDecode  = "decode"
	reasonInvalid = "invalid"
	reasonVersion = "version"
)

type writerMetrics struct {
	rows      *prometheus.CounterVec
	errors    prometheus.Counter
	retries   prometheus.Counter
	lag       prometheus.Gauge
	duration  prometheus.Histogram
	rejected  *prometheus.CounterVec
	commitErr prometheus.Counter
}

func newWriterMetrics(reg prometheus.Registerer) *writerMetrics {
	f := promauto.With(reg)
	m := &writerMetrics{
		rows: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_history_rows_written_total",
			Help: "Rows ClickHouse accepted, by table.",
		}, []string{"table"}),
		errors: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_history_write_errors_total",
			Help: "Failed attempts to write a batch (ClickHouse down, refused, timed out).",
		}),
		retries: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_history_retries_total",
			Help: "Batches sent again after a failed attempt (the rows wait in Kafka meanwhile).",
		}),
		lag: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_enforcer_history_lag_records",
			Help: "Records of the history consumer group behind the high watermark, over its topics.",
		}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:                        "mxwarden_enforcer_history_batch_duration_seconds",
			Help:                        "Time to write one batch (all its tables, retries included) and commit its offsets.",
			Buckets:                     prometheus.ExponentialBuckets(0.005, 2, 14),
			NativeHistogramBucketFactor: 1.1,
		}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_history_records_rejected_total",
			Help: "Records the history writer could not store, by table and reason (decode, invalid, version); skipped and committed.",
		}, []string{"table", "reason"}),
		commitErr: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_history_commit_errors_total",
			Help: "Offset commits that failed after ClickHouse accepted the rows (the next start checks those rows instead of doubling them).",
		}),
	}
	for _, t := range Tables {
		m.rows.WithLabelValues(t.Name)
		for _, r := range []string{reasonDecode, reasonInvalid, reasonVersion} {
			m.rejected.WithLabelValues(t.Name, r)
		}
	}
	return m
}
