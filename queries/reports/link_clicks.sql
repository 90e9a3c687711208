-- name: top_links
SELECT link, clicks, unique_clicks
FROM campaign_links($campaign_id, $start, $end, $time_zone)
ORDER BY clicks DESC, link
LIMIT 10;

-- name: links
SELECT link, clicks, unique_clicks, unique_endpoints
FROM campaign_links($campaign_id, $start, $end, $time_zone)
ORDER BY clicks DESC, link;
