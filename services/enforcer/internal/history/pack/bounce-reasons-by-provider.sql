-- bounce-reasons-by-provider: failed and deferred deliveries by receiving provider and reason.
-- The provider is the registrable domain of the relay that answered (gmail-smtp-in.l.google.com
-- -> google.com), or the recipient domain when no relay answered.
-- param days UInt32 = 7: how many days back from now
SELECT provider, reason, count() AS events, uniqExact(recipient_domain) AS recipient_domains,
       uniqExact(sender) AS senders
FROM (
  SELECT if(relay_host = '' OR relay_host = 'none', recipient_domain, cutToFirstSignificantSubdomain(relay_host)) AS provider,
         toString(reason) AS reason, recipient_domain, sender
  FROM (
    SELECT lower(splitByChar('[', relay)[1]) AS relay_host, reason, recipient_domain, sender
    FROM events
    WHERE status IN ('bounced', 'deferred', 'expired') AND ts >= now() - toIntervalDay({days:UInt32})
  )
)
GROUP BY provider, reason
ORDER BY events DESC, provider, reason
