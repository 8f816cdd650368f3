-- sender-timeline: everything about one envelope sender, oldest first: each delivery attempt,
-- each verdict and each ban change (at most 10000 rows).
-- param sender String: the envelope sender
-- param days UInt32 = 30: how many days back from now
SELECT * FROM (
  SELECT toString(ts) AS at, 'event' AS row, toString(status) AS what, recipient AS subject,
         toString(reason) AS reason, concat(toString(reply_code), ' ', reply_text) AS detail
  FROM events WHERE sender = {sender:String} AND ts >= now() - toIntervalDay({days:UInt32})
  UNION ALL
  SELECT toString(ts), 'verdict', toString(action), subject, toString(rule), evidence
  FROM verdicts WHERE subject_kind = 'sender' AND subject = {sender:String} AND ts >= now() - toIntervalDay({days:UInt32})
  UNION ALL
  SELECT toString(ts), 'ban', toString(op), subject, toString(rule), concat(toString(source), ' ', actor)
  FROM bans WHERE subject_kind = 'sender' AND subject = {sender:String} AND ts >= now() - toIntervalDay({days:UInt32})
)
ORDER BY at, row
LIMIT 10000
