package detector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Rejection reasons: the only values of records_rejected_total's label.
const (
	ReasonDecode  = "decode"  // not JSON, or JSON of the wrong shape
	ReasonInvalid = "invalid" // decoded but failed event validation
	ReasonVersion = "version" // schema version newer than this build
	ReasonFuture  = "future"  // event time beyond max_future_skew
	ReasonLate    = "late"    // event time older than every window (plus DedupSlack) behind the partition's newest
)

type serviceMetrics struct {
	events        prometheus.Counter
	duplicates    prometheus.Counter
	dedupIDs      prometheus.Gauge
	dedupDropped  prometheus.Counter
	verdicts      *prometheus.CounterVec
	suppressed    *prometheus.CounterVec
	bans          *prometheus.CounterVec
	allowlisted   *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	late          *prometheus.CounterVec
	stateKeys     *prometheus.GaugeVec
	partitions    prometheus.Gauge
	commitErrors  prometheus.Counter
	eventTimeLag  prometheus.GaugeFunc
	batchDuration prometheus.Histogram

	lag              *prometheus.GaugeVec
	restoreDuration  prometheus.Histogram
	restoreDiscarded prometheus.Counter
	changelog        prometheus.Counter
	aborted          prometheus.Counter
	allowEntries     prometheus.Gauge
	allowRejected    prometheus.Counter
}

func newServiceMetrics(reg prometheus.Registerer, lag func() float64) *serviceMetrics {
	f := promauto.With(reg)
	m := &serviceMetrics{
		events: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_detector_events_processed_total",
			Help: "Delivery events run through the rules.",
		}),
		duplicates: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_detector_events_duplicate_total",
			Help: "Delivery events skipped because their partition already processed an event with the same id (at-least-once redelivery).",
		}),
		dedupIDs: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_detector_dedup_ids",
			Help: "Event ids remembered for deduplication, over the partitions this instance owns.",
		}),
		dedupDropped: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_detector_dedup_ids_dropped_total",
			Help: "Event ids forgotten because dedup.max_ids was reached before the rules' window passed them; a repeat of one would be counted again.",
		}),
		verdicts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_detector_verdicts_total",
			Help: "Verdicts produced, by rule and action.",
		}, []string{"rule", "action"}),
		suppressed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_detector_verdicts_suppressed_total",
			Help: "Threshold crossings not reported because the rule's previous verdict on the subject was still in force.",
		}, []string{"rule"}),
		bans: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_detector_bans_produced_total",
			Help: "Ban records produced to the bans topic, by rule.",
		}, []string{"rule"}),
		allowlisted: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_detector_verdicts_allowlisted_total",
			Help: "Threshold crossings not reported because an allowlist entry covers the subject.",
		}, []string{"rule"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_detector_records_rejected_total",
			Help: "Event records dead-lettered, by reason (decode, invalid, version, future, late).",
		}, []string{"reason"}),
		late: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_detector_events_late_total",
			Help: "Events a rule ignored because they were older than every window of its key kind's state.",
		}, []string{"rule"}),
		stateKeys: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mxwarden_detector_state_keys",
			Help: "Tracked keys per key kind (sender, account, ...), over the partitions this instance owns.",
		}, []string{"kind"}),
		partitions: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_detector_partitions",
			Help: "Events partitions with state in this instance.",
		}),
		commitErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_detector_commit_errors_total",
			Help: "Transactions (outputs, changelog and offsets of one poll) that failed to commit; their records are processed again.",
		}),
		eventTimeLag: f.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mxwarden_detector_event_time_lag_seconds",
			Help: "Wall clock minus the newest event time processed (0 before the first event).",
		}, lag),
		batchDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "mxwarden_detector_batch_duration_seconds",
			Help:    "Time to process one poll, produce its records and commit its transaction.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
	}
	m.lag = f.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mxwarden_detector_consumer_lag_records",
		Help: "Records between the processed offset and the high watermark, summed over this member's partitions, by stage.",
	}, []string{"stage"})
	m.restoreDuration = f.NewHistogram(prometheus.HistogramOpts{
		Name:    "mxwarden_detector_state_restore_duration_seconds",
		Help:    "Time to restore one partition's state from its changelog.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
	m.restoreDiscarded = f.NewCounter(prometheus.CounterOpts{
		Name: "mxwarden_detector_state_restore_discarded_total",
		Help: "Changelog records not restored: written under another rule layout, or corrupt.",
	})
	m.changelog = f.NewCounter(prometheus.CounterOpts{
		Name: "mxwarden_detector_changelog_records_total",
		Help: "State changelog records produced (changed keys, ledger entries, dedup blocks, tombstones).",
	})
	m.aborted = f.NewCounter(prometheus.CounterOpts{
		Name: "mxwarden_detector_transactions_aborted_total",
		Help: "Poll transactions aborted (rebalance, produce failure); their records are processed again.",
	})
	m.allowEntries = f.NewGauge(prometheus.GaugeOpts{
		Name: "mxwarden_detector_allowlist_entries",
		Help: "Allowlist entries in force (configuration and topic).",
	})
	m.allowRejected = f.NewCounter(prometheus.CounterOpts{
		Name: "mxwarden_detector_allowlist_rejected_total",
		Help: "Allowlist topic records that did not decode or validate, skipped.",
	})
	for _, r := range []string{ReasonDecode, ReasonInvalid, ReasonVersion, ReasonFuture, ReasonLate} {
		m.rejected.WithLabelValues(r)
	}
	return m
}
