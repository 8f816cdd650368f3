-- queue_samples: MTA queue readings (pkg/event.QueueSample), from mail.queue.
CREATE TABLE IF NOT EXISTS {{.DB}}.queue_samples (
  ts {{ts}}{{codec "Delta, ZSTD(1)"}},
  row_id String,
  mta {{lc "String"}},
  host {{lc "String"}},
  total UInt32,
  queues String,
  top_senders Array(String),
  top_sender_counts Array(UInt32),
  top_reasons Array(String),
  top_reason_counts Array(UInt32)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (host, ts, row_id)
{{settings}};

-- allowlist_changes: every add ("add") and removal ("remove", a tombstone) of
-- the compacted mail.allowlist topic (pkg/event.AllowEntry).
CREATE TABLE IF NOT EXISTS {{.DB}}.allowlist_changes (
  ts {{ts}},
  row_id String,
  op {{lc "String"}},
  subject_kind {{lc "String"}},
  subject String,
  reason String,
  actor String,
  expires {{ts}}
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (subject_kind, subject, ts, row_id)
{{settings}};
