-- Rollups, filled by materialized views as rows reach events. Read them with
-- sum(...) GROUP BY: SummingMergeTree adds rows up only when parts merge.
CREATE TABLE IF NOT EXISTS {{.DB}}.events_account_hour (
  hour DateTime('UTC'),
  account String,
  sender_domain String,
  status {{lc "String"}},
  reason {{lc "String"}},
  events UInt64,
  bytes UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (account, sender_domain, hour, status, reason)
{{settings}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.events_account_hour_mv TO {{.DB}}.events_account_hour AS
SELECT toStartOfHour(ts) AS hour, account, sender_domain, status, reason, count() AS events, sum(size) AS bytes
FROM {{.DB}}.events GROUP BY hour, account, sender_domain, status, reason;

CREATE TABLE IF NOT EXISTS {{.DB}}.events_rcpt_domain_day (
  day Date,
  recipient_domain String,
  status {{lc "String"}},
  reason {{lc "String"}},
  events UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (recipient_domain, day, status, reason)
{{settings}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.events_rcpt_domain_day_mv TO {{.DB}}.events_rcpt_domain_day AS
SELECT toDate(ts) AS day, recipient_domain, status, reason, count() AS events
FROM {{.DB}}.events GROUP BY day, recipient_domain, status, reason;

CREATE TABLE IF NOT EXISTS {{.DB}}.events_reason_hour (
  hour DateTime('UTC'),
  reason {{lc "String"}},
  status {{lc "String"}},
  events UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (reason, status, hour)
{{settings}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.events_reason_hour_mv TO {{.DB}}.events_reason_hour AS
SELECT toStartOfHour(ts) AS hour, reason, status, count() AS events
FROM {{.DB}}.events GROUP BY hour, reason, status;
