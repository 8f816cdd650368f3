package enforcer

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

// Reject reasons: the values of the reason label.
const (
	reasonDecode  = "decode"
	reasonInvalid = "invalid"
	reasonVersion = "version"
)

type serviceMetrics struct {
	applied     *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	fetchErrors prometheus.Counter
	caughtUp    prometheus.Gauge

	kafkaLastSuccess prometheus.Gauge
	lag              prometheus.Gauge
	fromDisk         prometheus.Gauge
	snapshotWrites   *prometheus.CounterVec
	snapshotLoad     prometheus.Gauge
}

func newServiceMetrics(reg prometheus.Registerer, set *banset.Set, snapshotAge func() float64) *serviceMetrics {
	f := promauto.With(reg)
	m := &serviceMetrics{
		applied: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_records_applied_total",
			Help: "Records of the bans and allowlist topics applied to the ban set, by op (ban, tombstone, allow, disallow).",
		}, []string{"op"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_records_rejected_total",
			Help: "Records of the bans and allowlist topics refused, by reason (decode, invalid, version).",
		}, []string{"reason"}),
		fetchErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_fetch_errors_total",
			Help: "Errors returned by fetches of the bans topic (the client retries them).",
		}),
		caughtUp: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_enforcer_caught_up",
			Help: "1 once the ban set caught up with the bans and allowlist topics' end offsets seen at start.",
		}),
		kafkaLastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_enforcer_kafka_last_success_timestamp_seconds",
			Help: "Unix time of the last successful fetch or offset listing from Kafka.",
		}),
		lag: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_enforcer_banset_lag_records",
			Help: "Records of the bans and allowlist topics not yet applied (end offsets minus positions, every 5s).",
		}),
		fromDisk: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_enforcer_banset_from_disk",
			Help: "1 while the ban set served is the one loaded from the local snapshot (Kafka not caught up yet).",
		}),
		snapshotWrites: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_banset_snapshot_writes_total",
			Help: "Writes of the local ban set snapshot, by result (written, error).",
		}, []string{"result"}),
		snapshotLoad: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_enforcer_banset_snapshot_load_seconds",
			Help: "Time the last start took to load the local ban set snapshot.",
		}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mxwarden_enforcer_banset_snapshot_age_seconds",
		Help: "Seconds since the ban set in the local snapshot was last in sync with Kafka (-1: no snapshot).",
	}, snapshotAge)
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mxwarden_enforcer_bans_stored",
		Help: "Bans stored in the ban set (enforced or not).",
	}, func() float64 { return float64(set.Len()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mxwarden_enforcer_allowlist_entries",
		Help: "Allowlist entries stored.",
	}, func() float64 { return float64(set.AllowLen()) })
	for _, r := range []string{"written", "error"} {
		m.snapshotWrites.WithLabelValues(r)
	}
	for _, op := range []string{"ban", "tombstone", "allow", "disallow"} {
		m.applied.WithLabelValues(op)
	}
	for _, r := range []string{reasonDecode, reasonInvalid, reasonVersion} {
		m.rejected.WithLabelValues(r)
	}
	for _, k := range banset.Kinds {
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "mxwarden_enforcer_bans_active",
			Help:        "Bans stored and enforced (not shadow, not flag), by subject_kind; expired bans count until swept at their expiry.",
			ConstLabels: prometheus.Labels{"subject_kind": string(k)},
		}, func() float64 { return float64(set.EnforcedCounts()[k]) })
	}
	return m
}
