-- domains-without-mx: recipient domains mail could not be routed to (no MX, null MX, NXDOMAIN:
-- reason host_not_found), with who sent to them.
-- param days UInt32 = 7: how many days back from now
SELECT recipient_domain, count() AS attempts, uniqExact(sender) AS senders, uniqExact(account) AS accounts,
       toString(min(ts)) AS first, toString(max(ts)) AS last
FROM events
WHERE reason = 'host_not_found' AND recipient_domain != '' AND ts >= now() - toIntervalDay({days:UInt32})
GROUP BY recipient_domain
ORDER BY attempts DESC, recipient_domain
