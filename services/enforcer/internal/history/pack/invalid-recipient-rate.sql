-- invalid-recipient-rate: per account, the share of recipient attempts with a final outcome
-- (sent, bounced, rejected) that failed as "user unknown" — what the invalid_recipients rule judges.
-- Read from the hourly rollup events_account_hour (so whole hours: the window starts at the hour).
-- param days UInt32 = 7: how many days back from now
-- param min_attempts UInt32 = 1: leave out accounts with fewer attempts
SELECT account, attempts, user_unknown, round(user_unknown / attempts, 4) AS ratio
FROM (
  SELECT account, sumIf(events, status IN ('sent', 'bounced', 'rejected')) AS attempts,
         sumIf(events, reason = 'user_unknown' AND status IN ('bounced', 'rejected')) AS user_unknown
  FROM events_account_hour
  WHERE hour >= toStartOfHour(now() - toIntervalDay({days:UInt32}))
  GROUP BY account
)
WHERE attempts >= {min_attempts:UInt32} AND attempts > 0
ORDER BY ratio DESC, attempts DESC, account
