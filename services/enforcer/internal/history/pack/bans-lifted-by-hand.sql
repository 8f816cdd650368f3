-- bans-lifted-by-hand: bans lifted by a person (a lift carrying an actor: the API's token name),
-- newest first, with the rule of the last ban of that subject.
-- param days UInt32 = 30: how many days back from now
SELECT lifted_at, actor, subject_kind, subject, banned_by_rule
FROM (
  SELECT toString(ts) AS lifted_at, actor, toString(subject_kind) AS subject_kind, subject
  FROM bans
  WHERE op = 'lift' AND actor != '' AND ts >= now() - toIntervalDay({days:UInt32})
) AS lifts
ANY LEFT JOIN (
  SELECT toString(subject_kind) AS subject_kind, subject, toString(argMax(rule, ts)) AS banned_by_rule
  FROM bans WHERE op = 'ban'
  GROUP BY subject_kind, subject
) AS last_ban USING (subject_kind, subject)
ORDER BY lifted_at DESC, subject
