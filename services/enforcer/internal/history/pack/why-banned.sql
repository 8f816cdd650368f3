-- why-banned: why was a subject banned? Its ban records (who or which rule, lifts), the
-- verdicts with their evidence, and the events of the subject inside the verdicts' windows.
-- One row per item, oldest first; "row" says which: ban, verdict or event.
-- param subject String: the banned address, account, IP or domain
-- param kind String = sender: its subject kind (sender, account, client_ip, sender_domain, recipient, recipient_domain)
SELECT * FROM (
  SELECT 'ban' AS row, toString(ts) AS at, toString(op) AS what, toString(rule) AS rule,
         concat(toString(source), if(actor = '', '', concat(' by ', actor))) AS who, message AS detail, evidence
  FROM bans WHERE subject_kind = {kind:String} AND subject = {subject:String}
  UNION ALL
  SELECT 'verdict', toString(ts), toString(action), toString(rule), '',
         concat('window ', toString(window_start), ' .. ', toString(window_end), ', events ', first_event_id, ' .. ', last_event_id), evidence
  FROM verdicts WHERE subject_kind = {kind:String} AND subject = {subject:String}
  UNION ALL
  SELECT 'event', toString(ts), toString(status), toString(reason), recipient,
         concat(toString(reply_code), ' ', dsn, ' ', reply_text), ''
  FROM events
  WHERE multiIf({kind:String} = 'sender', sender, {kind:String} = 'account', account,
                {kind:String} = 'client_ip', client_ip, {kind:String} = 'sender_domain', sender_domain,
                {kind:String} = 'recipient', recipient, {kind:String} = 'recipient_domain', recipient_domain, '') = {subject:String}
    AND ts >= (SELECT min(window_start) FROM verdicts WHERE subject_kind = {kind:String} AND subject = {subject:String})
    AND ts <= (SELECT max(window_end) FROM verdicts WHERE subject_kind = {kind:String} AND subject = {subject:String})
)
ORDER BY at, row
