-- One campaign over three days: the shape of query the table layout serves.
-- Run with EXPLAIN ANALYZE to see how few files and row groups it reads.
SELECT event_type, COUNT(*) AS events, COUNT(DISTINCT endpoint_id) AS endpoints
FROM events
WHERE campaign_id = '<campaign id>'
  AND event_date BETWEEN DATE '2026-09-03' AND DATE '2026-09-05'
GROUP BY event_type
ORDER BY events DESC;
