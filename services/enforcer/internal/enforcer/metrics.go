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
}

func newServiceMetrics(reg prometheus.Registerer, set *banset.Set) *serviceMetrics {
	f := promauto.With(reg)
	m := &serviceMetrics{
		applied: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_records_applied_total",
			Help: "Records of the bans topic applied to the ban set, by op (ban, tombstone).",
		}, []string{"op"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_records_rejected_total",
			Help: "Records of the bans topic refused, by reason (decode, invalid, version).",
		}, []string{"reason"}),
		fetchErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_fetch_errors_total",
			Help: "Errors returned by fetches of the bans topic (the client retries them).",
		}),
		caughtUp: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_enforcer_caught_up",
			Help: "1 once the ban set caught up with the bans topic's end offsets seen at start.",
		}),
	}
	for _, op := range []string{"ban", "tombstone"} {
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
