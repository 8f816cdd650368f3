-- verdicts: every rule judgement (pkg/event.Verdict), from mail.verdicts; evidence as a JSON object.
CREATE TABLE IF NOT EXISTS {{.DB}}.verdicts (
  ts {{ts}}{{codec "Delta, ZSTD(1)"}},
  id String{{codec "ZSTD(1)"}},
  rule {{lc "String"}},
  subject_kind {{lc "String"}},
  subject String{{codec "ZSTD(1)"}},
  action {{lc "String"}},
  message String{{codec "ZSTD(3)"}},
  evidence String{{codec "ZSTD(3)"}},
  expires {{ts}},
  window_start {{ts}},
  window_end {{ts}},
  first_event_id String{{codec "ZSTD(1)"}},
  last_event_id String{{codec "ZSTD(1)"}},
  shadow UInt8
  {{- index "idx_subject subject TYPE bloom_filter(0.01) GRANULARITY 4"}}
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (rule, subject_kind, subject, ts, id)
{{settings}};

-- bans: every change of the ban set as the compacted mail.bans topic carried it:
-- op "ban" (set or replaced: source rule or api, with the actor for api changes)
-- or "lift" (a tombstone: lifted by hand or expired and compacted away).
-- row_id is <partition>/<offset> of the Kafka record, the writer's dedup key.
CREATE TABLE IF NOT EXISTS {{.DB}}.bans (
  ts {{ts}}{{codec "Delta, ZSTD(1)"}},
  row_id String,
  op {{lc "String"}},
  source {{lc "String"}},
  actor String{{codec "ZSTD(1)"}},
  subject_kind {{lc "String"}},
  subject String{{codec "ZSTD(1)"}},
  rule {{lc "String"}},
  action {{lc "String"}},
  message String{{codec "ZSTD(3)"}},
  evidence String{{codec "ZSTD(3)"}},
  expires {{ts}},
  level UInt16,
  verdict_id String{{codec "ZSTD(1)"}},
  shadow UInt8
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (subject_kind, subject, ts, row_id)
{{settings}};
