package mta

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Write results: the values of the result label.
const (
	ResultWritten   = "written"   // the file (and postmap output) was replaced
	ResultUnchanged = "unchanged" // the content was already on disk
	ResultError     = "error"
)

// Metrics are the writers' metrics. One value serves every writer.
type Metrics struct {
	writes  *prometheus.CounterVec
	skipped *prometheus.CounterVec
}

// NewMetrics registers the writers' metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		writes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_map_writes_total",
			Help: "Map file writes, by format and result (written, unchanged, error).",
		}, []string{"format", "result"}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_map_entries_skipped_total",
			Help: "Bans left out of a map file because their subject cannot be written safely, counted once per writer when they first appear, by format and reason.",
		}, []string{"format", "reason"}),
	}
	for _, f := range FormatNames {
		for _, r := range []string{ResultWritten, ResultUnchanged, ResultError} {
			m.writes.WithLabelValues(f, r)
		}
		for _, r := range []string{SkipToken, SkipShape, SkipSyntax, SkipDuplicate, SkipAllowlisted} {
			m.skipped.WithLabelValues(f, r)
		}
	}
	return m
}
