-- top-offenders: the subjects with the most verdicts per rule over the last days (default: this week),
-- ten per rule, with how many of those verdicts banned.
-- param days UInt32 = 7: how many days back from now
SELECT rule, subject_kind, subject, count() AS verdicts, countIf(action = 'ban') AS bans,
       toString(min(ts)) AS first, toString(max(ts)) AS last
FROM verdicts
WHERE ts >= now() - toIntervalDay({days:UInt32})
GROUP BY rule, subject_kind, subject
ORDER BY rule, verdicts DESC, subject
LIMIT 10 BY rule
