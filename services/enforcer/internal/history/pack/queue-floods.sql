-- queue-floods: queue samples at or above a size, per host, with the senders that filled them
-- (the sample's top senders: where the MTA tells senders).
-- param min_total UInt32 = 300: a flood is a sample with at least this many queued messages
--   (Claranet's Postfix detector alerts at 300 deferred messages, research/store-observe-deploy.md §3)
-- param days UInt32 = 7: how many days back from now
SELECT host, sender, count() AS samples, max(total) AS peak_total, max(queued) AS peak_queued,
       toString(min(ts)) AS first, toString(max(ts)) AS last
FROM queue_samples
ARRAY JOIN top_senders AS sender, top_sender_counts AS queued
WHERE total >= {min_total:UInt32} AND ts >= now() - toIntervalDay({days:UInt32})
GROUP BY host, sender
ORDER BY host, peak_queued DESC, sender
