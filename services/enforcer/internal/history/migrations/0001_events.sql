-- events: one row per recipient attempt (pkg/event.DeliveryEvent), from mail.events.
-- ReplacingMergeTree: the sorting key ends in the event id, so a row stored twice
-- (an ingest replay after a crash re-sends the same id) collapses at the next merge;
-- the writer itself never inserts an id twice (see writer.go).
CREATE TABLE IF NOT EXISTS {{.DB}}.events (
  ts {{ts}}{{codec "Delta, ZSTD(1)"}},
  id String{{codec "ZSTD(1)"}},
  mta {{lc "String"}},
  host {{lc "String"}},
  queue_id String{{codec "ZSTD(1)"}},
  account String{{codec "ZSTD(1)"}},
  sender String{{codec "ZSTD(1)"}},
  sender_domain String{{codec "ZSTD(1)"}},
  recipient String{{codec "ZSTD(1)"}},
  recipient_domain String{{codec "ZSTD(1)"}},
  status {{lc "String"}},
  dsn {{lc "String"}},
  reply_code UInt16,
  reply_text String{{codec "ZSTD(3)"}},
  reason {{lc "String"}},
  relay String{{codec "ZSTD(1)"}},
  client_ip String{{codec "ZSTD(1)"}},
  sasl_user String{{codec "ZSTD(1)"}},
  message_id String{{codec "ZSTD(1)"}},
  size UInt64{{codec "T64, ZSTD(1)"}},
  subject String{{codec "ZSTD(3)"}}
  {{- index "idx_sender sender TYPE bloom_filter(0.01) GRANULARITY 4"}}
  {{- index "idx_recipient recipient TYPE bloom_filter(0.01) GRANULARITY 4"}}
  {{- index "idx_rcpt_domain recipient_domain TYPE bloom_filter(0.01) GRANULARITY 4"}}
  {{- index "idx_client_ip client_ip TYPE bloom_filter(0.01) GRANULARITY 4"}}
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(ts)
ORDER BY (account, sender, ts, id)
{{settings}};
