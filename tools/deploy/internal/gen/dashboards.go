package gen

// The Grafana dashboards, as data. Prometheus panels use the ${prometheus}
// data source variable; the ClickHouse panels use ${clickhouse}, a
// grafana-clickhouse-datasource (the official plugin) pointed at the
// history tables events, verdicts and bans.

type obj = map[string]any

const (
	promDS = "${prometheus}"
	chDS   = "${clickhouse}"
	// ChPlugin is the official ClickHouse data source's plugin id.
	ChPlugin = "grafana-clickhouse-datasource"
)

type panelBuilder struct {
	panels []obj
	id     int
	x, y   int
}

// add places a panel of width w (of 24) and height h, flowing left to right.
func (b *panelBuilder) add(p obj, w, h int) {
	if b.x+w > 24 {
		b.x, b.y = 0, b.y+h
	}
	b.id++
	p["id"] = b.id
	p["gridPos"] = obj{"x": b.x, "y": b.y, "w": w, "h": h}
	b.x += w
	b.panels = append(b.panels, p)
}

func (b *panelBuilder) row(title string) {
	if b.x != 0 {
		b.x, b.y = 0, b.y+8
	}
	b.id++
	b.panels = append(b.panels, obj{"id": b.id, "type": "row", "title": title, "collapsed": false,
		"gridPos": obj{"x": 0, "y": b.y, "w": 24, "h": 1}, "panels": []any{}})
	b.y++
}

type q struct{ expr, legend string }

func promTargets(qs []q) []any {
	out := make([]any, 0, len(qs))
	for i, t := range qs {
		out = append(out, obj{
			"datasource":   obj{"type": "prometheus", "uid": promDS},
			"expr":         t.expr,
			"legendFormat": t.legend,
			"refId":        string(rune('A' + i)),
		})
	}
	return out
}

func timeseries(title, desc, unit string, qs ...q) obj {
	return obj{
		"type": "timeseries", "title": title, "description": desc,
		"datasource":  obj{"type": "prometheus", "uid": promDS},
		"fieldConfig": obj{"defaults": obj{"unit": unit}, "overrides": []any{}},
		"options":     obj{"legend": obj{"displayMode": "table", "placement": "bottom", "calcs": []any{"lastNotNull", "max"}}},
		"targets":     promTargets(qs),
	}
}

func stat(title, desc, unit string, qs ...q) obj {
	return obj{
		"type": "stat", "title": title, "description": desc,
		"datasource":  obj{"type": "prometheus", "uid": promDS},
		"fieldConfig": obj{"defaults": obj{"unit": unit}, "overrides": []any{}},
		"options":     obj{"reduceOptions": obj{"calcs": []any{"lastNotNull"}}},
		"targets":     promTargets(qs),
	}
}

func bargauge(title, desc string, qs ...q) obj {
	p := obj{
		"type": "bargauge", "title": title, "description": desc,
		"datasource":  obj{"type": "prometheus", "uid": promDS},
		"fieldConfig": obj{"defaults": obj{"unit": "short"}, "overrides": []any{}},
		"options":     obj{"orientation": "horizontal", "displayMode": "gradient", "reduceOptions": obj{"calcs": []any{"lastNotNull"}}},
		"targets":     promTargets(qs),
	}
	for _, t := range p["targets"].([]any) {
		t.(obj)["instant"] = true
	}
	return p
}

// ChQuery is one ClickHouse panel's query and the history table and
// columns it reads (tools/deploy checks them against the migrations).
type ChQuery struct {
	Title, Table string
	Columns      []string
	SQL          string
}

var chQueries []ChQuery

// ClickHouseQueries returns the ClickHouse queries of every dashboard.
func ClickHouseQueries() []ChQuery {
	chQueries = nil
	Dashboards()
	return chQueries
}

// clickhouse is a panel of the official ClickHouse data source: format 0
// is a time series, 1 a table.
func clickhouse(kind, title, desc string, q ChQuery) obj {
	q.Title = title
	chQueries = append(chQueries, q)
	format, queryType := 1, "table"
	if kind == "timeseries" {
		format, queryType = 0, "timeseries"
	}
	return obj{
		"type": kind, "title": title, "description": desc,
		"datasource":  obj{"type": ChPlugin, "uid": chDS},
		"fieldConfig": obj{"defaults": obj{}, "overrides": []any{}},
		"options":     obj{},
		"targets": []any{obj{
			"datasource": obj{"type": ChPlugin, "uid": chDS},
			"editorType": "sql", "format": format, "queryType": queryType,
			"rawSql": q.SQL, "refId": "A",
		}},
	}
}

func dashboard(uid, title, desc string, panels []obj, withClickHouse bool) obj {
	vars := []any{obj{
		"name": "prometheus", "label": "Prometheus", "type": "datasource", "query": "prometheus",
		"current": obj{}, "hide": 0, "refresh": 1, "regex": "", "options": []any{},
	}}
	if withClickHouse {
		vars = append(vars, obj{
			"name": "clickhouse", "label": "ClickHouse", "type": "datasource", "query": ChPlugin,
			"current": obj{}, "hide": 0, "refresh": 1, "regex": "", "options": []any{},
		})
	}
	ps := make([]any, len(panels))
	for i, p := range panels {
		ps[i] = p
	}
	return obj{
		"uid": uid, "title": title, "description": desc,
		"tags":          []any{"mxwarden"},
		"schemaVersion": 39, "version": 1, "editable": true,
		"time":         obj{"from": "now-6h", "to": "now"},
		"refresh":      "30s",
		"timezone":     "utc",
		"graphTooltip": 1,
		"templating":   obj{"list": vars},
		"annotations":  obj{"list": []any{}},
		"panels":       ps,
	}
}

// Dashboards returns the dashboards by file name (without .json).
func Dashboards() map[string]obj {
	return map[string]obj{
		"mxwarden-pipeline": pipeline(),
		"mxwarden-abuse":    abuse(),
	}
}

func pipeline() obj {
	b := &panelBuilder{}
	b.row("Health")
	b.add(stat("Targets up", "Scraped mxwarden processes that answer, by job.", "short",
		q{`sum by (job) (up{job=~"mxwarden-.+"})`, "{{job}}"}), 8, 4)
	b.add(stat("Enforcers caught up", "Enforcers whose ban set caught up with mail.bans.", "short",
		q{`sum(mxwarden_enforcer_caught_up)`, "caught up"}), 8, 4)
	b.add(stat("Enforcer: since last Kafka fetch", "Seconds since each enforcer last fetched from Kafka.", "s",
		q{`max(time() - mxwarden_enforcer_kafka_last_success_timestamp_seconds)`, "worst"}), 8, 4)

	b.row("Rates")
	b.add(timeseries("Log lines read", "ingest: lines read per second, by source.", "ops",
		q{`sum by (source) (rate(mxwarden_ingest_lines_read_total[$__rate_interval]))`, "{{source}}"}), 8, 8)
	b.add(timeseries("Events produced", "ingest: delivery events acknowledged by Kafka per second, by status.", "ops",
		q{`sum by (status) (rate(mxwarden_ingest_events_produced_total[$__rate_interval]))`, "{{status}}"}), 8, 8)
	b.add(timeseries("Events processed", "detector: events through the rules per second; duplicates skipped.", "ops",
		q{`sum(rate(mxwarden_detector_events_processed_total[$__rate_interval]))`, "processed"},
		q{`sum(rate(mxwarden_detector_events_duplicate_total[$__rate_interval]))`, "duplicate"}), 8, 8)

	b.row("Lag")
	b.add(timeseries("Detector consumer lag", "Records behind the high watermark, by stage.", "short",
		q{`sum by (stage) (mxwarden_detector_consumer_lag_records)`, "{{stage}}"}), 8, 8)
	b.add(timeseries("Detector event-time lag", "Wall clock minus the newest event time processed.", "s",
		q{`max by (instance) (mxwarden_detector_event_time_lag_seconds)`, "{{instance}}"}), 8, 8)
	b.add(timeseries("History writer lag", "Records the ClickHouse writer is behind.", "short",
		q{`sum by (instance) (mxwarden_enforcer_history_lag_records)`, "{{instance}}"}), 8, 8)

	b.row("Latency")
	b.add(timeseries("Policy request latency", "Postfix policy requests: p50 and p99.", "s",
		q{`histogram_quantile(0.5, sum by (le) (rate(mxwarden_enforcer_policy_request_duration_seconds_bucket[$__rate_interval])))`, "p50"},
		q{`histogram_quantile(0.99, sum by (le) (rate(mxwarden_enforcer_policy_request_duration_seconds_bucket[$__rate_interval])))`, "p99"}), 8, 8)
	b.add(timeseries("Detector batch duration", "Time to process, produce and commit one polled batch: p99.", "s",
		q{`histogram_quantile(0.99, sum by (le) (rate(mxwarden_detector_batch_duration_seconds_bucket[$__rate_interval])))`, "p99"}), 8, 8)
	b.add(timeseries("History batch duration", "ClickHouse batch insert duration: p99.", "s",
		q{`histogram_quantile(0.99, sum by (le) (rate(mxwarden_enforcer_history_batch_duration_seconds_bucket[$__rate_interval])))`, "p99"}), 8, 8)
	b.add(timeseries("DNS lookup latency", "detector DNS lookups: p99.", "s",
		q{`histogram_quantile(0.99, sum by (le) (rate(mxwarden_detector_dns_lookup_duration_seconds_bucket[$__rate_interval])))`, "p99"}), 8, 8)
	b.add(timeseries("Policy requests", "Policy answers per second, by decision.", "ops",
		q{`sum by (decision) (rate(mxwarden_enforcer_policy_requests_total[$__rate_interval]))`, "{{decision}}"}), 8, 8)

	b.row("Errors")
	b.add(timeseries("Lines rejected", "ingest: lines not turned into events, by kind (dead-lettered).", "ops",
		q{`sum by (kind) (rate(mxwarden_ingest_lines_rejected_total[$__rate_interval]))`, "{{kind}}"}), 8, 8)
	b.add(timeseries("Records rejected", "detector and enforcer: records refused, by reason.", "ops",
		q{`sum by (reason) (rate(mxwarden_detector_records_rejected_total[$__rate_interval]))`, "detector {{reason}}"},
		q{`sum by (reason) (rate(mxwarden_enforcer_records_rejected_total[$__rate_interval]))`, "enforcer {{reason}}"}), 8, 8)
	b.add(timeseries("Kafka and ClickHouse errors", "Fetch, commit and history write errors per second.", "ops",
		q{`sum(rate(mxwarden_enforcer_fetch_errors_total[$__rate_interval]))`, "enforcer fetch"},
		q{`sum(rate(mxwarden_detector_commit_errors_total[$__rate_interval]))`, "detector commit"},
		q{`sum(rate(mxwarden_enforcer_history_write_errors_total[$__rate_interval]))`, "history write"}), 8, 8)
	b.add(timeseries("DNS lookups", "detector DNS lookups per second, by result.", "ops",
		q{`sum by (result) (rate(mxwarden_detector_dns_lookups_total[$__rate_interval]))`, "{{result}}"}), 8, 8)
	b.add(timeseries("Map writes", "enforcer map file writes per second, by result.", "ops",
		q{`sum by (result) (rate(mxwarden_enforcer_map_writes_total[$__rate_interval]))`, "{{result}}"}), 8, 8)
	b.add(timeseries("Detector state", "Tracked keys by kind.", "short",
		q{`sum by (kind) (mxwarden_detector_state_keys)`, "{{kind}}"}), 8, 8)
	return dashboard("mxwarden-pipeline", "mxwarden: pipeline",
		"ingest -> Kafka -> detector -> enforcer: rates, lag, latency and errors.", b.panels, false)
}

func abuse() obj {
	b := &panelBuilder{}
	b.row("Bans (Prometheus)")
	b.add(timeseries("Bans by rule", "Ban verdicts per rule over time.", "short",
		q{`sum by (rule) (increase(mxwarden_detector_verdicts_total{action="ban"}[$__rate_interval]))`, "{{rule}}"}), 12, 8)
	b.add(bargauge("Top rules (verdicts in range)", "Verdicts by rule and action over the selected range.",
		q{`topk(10, sum by (rule, action) (increase(mxwarden_detector_verdicts_total[$__range])))`, "{{rule}} {{action}}"}), 6, 8)
	b.add(stat("Active bans", "Bans the enforcers enforce now.", "short",
		q{`max by (instance) (sum by (instance) (mxwarden_enforcer_bans_active{job="mxwarden-enforcer"}))`, "{{instance}}"}), 6, 8)
	b.add(timeseries("MTA queue size", "Messages in each MTA's queue at the last sample, by queue.", "short",
		q{`sum by (instance, queue) (mxwarden_ingest_mta_queue_messages)`, "{{instance}} {{queue}}"}), 12, 8)
	b.add(timeseries("Deferred share", "Share of delivery attempts deferred (the deferral-surge alert fires above 30%).", "percentunit",
		q{`sum(rate(mxwarden_ingest_events_produced_total{status="deferred"}[$__rate_interval])) / sum(rate(mxwarden_ingest_events_produced_total[$__rate_interval]))`, "deferred"}), 12, 8)

	b.row("History (ClickHouse)")
	b.add(clickhouse("timeseries", "Bans by rule (history)", "Bans set, by rule, from the bans table (op = 'ban'; lifts are op = 'lift').", ChQuery{
		Table: "bans", Columns: []string{"ts", "rule", "op"},
		SQL: "SELECT $__timeInterval(ts) AS time, rule, count() AS bans\nFROM bans\nWHERE $__timeFilter(ts) AND op = 'ban'\nGROUP BY time, rule\nORDER BY time",
	}), 12, 8)
	b.add(clickhouse("table", "Top banned subjects", "Most banned subjects in the range, with their rule.", ChQuery{
		Table: "bans", Columns: []string{"ts", "rule", "subject_kind", "subject", "op", "source"},
		SQL: "SELECT rule, subject_kind, subject, count() AS bans, max(ts) AS last_ban, any(source) AS source\nFROM bans\nWHERE $__timeFilter(ts) AND op = 'ban'\nGROUP BY rule, subject_kind, subject\nORDER BY bans DESC\nLIMIT 20",
	}), 12, 8)
	b.add(clickhouse("table", "Top verdicts by rule", "Verdicts per rule and action in the range.", ChQuery{
		Table: "verdicts", Columns: []string{"ts", "rule", "action", "subject"},
		SQL: "SELECT rule, action, count() AS verdicts, uniq(subject) AS subjects\nFROM verdicts\nWHERE $__timeFilter(ts)\nGROUP BY rule, action\nORDER BY verdicts DESC\nLIMIT 20",
	}), 12, 8)
	b.add(clickhouse("table", "Deferrals by reason and destination", "Deferred delivery attempts by classified reason and recipient domain: who is throttling us, and why.", ChQuery{
		Table: "events", Columns: []string{"ts", "status", "reason", "recipient_domain", "sender"},
		SQL: "SELECT reason, recipient_domain, count() AS deferred, uniq(sender) AS senders\nFROM events\nWHERE $__timeFilter(ts) AND status = 'deferred'\nGROUP BY reason, recipient_domain\nORDER BY deferred DESC\nLIMIT 20",
	}), 12, 8)
	b.add(clickhouse("timeseries", "MTA queue size (history)", "Largest queue sample per host, from queue_samples.", ChQuery{
		Table: "queue_samples", Columns: []string{"ts", "host", "total"},
		SQL: "SELECT $__timeInterval(ts) AS time, host, max(total) AS queued\nFROM queue_samples\nWHERE $__timeFilter(ts)\nGROUP BY time, host\nORDER BY time",
	}), 12, 8)
	b.add(clickhouse("table", "Queue top senders (history)", "The senders that filled the queues: the samples' top senders, by host.", ChQuery{
		Table: "queue_samples", Columns: []string{"ts", "host", "total", "top_senders", "top_sender_counts"},
		SQL: "SELECT host, sender, max(queued) AS peak_queued, max(total) AS peak_total, max(ts) AS last\nFROM queue_samples\nARRAY JOIN top_senders AS sender, top_sender_counts AS queued\nWHERE $__timeFilter(ts)\nGROUP BY host, sender\nORDER BY peak_queued DESC\nLIMIT 20",
	}), 12, 8)
	return dashboard("mxwarden-abuse", "mxwarden: abuse",
		"Bans by rule, top rules and subjects, MTA queues; history from ClickHouse.", b.panels, true)
}
