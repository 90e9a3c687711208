-- The campaign page for $campaign_id over the days $start to $end.

-- name: headline
SELECT messages_sent, messages_delivered, links_clicked, endpoint_deliveries,
       delivery_rate, email_open_rate, bounce_rate
FROM campaign_dashboard($campaign_id, $start, $end, $time_zone);

-- name: endpoint_deliveries
SELECT day, endpoint_deliveries, unique_opens, total_email_opened, links_clicked, unique_clicks
FROM campaign_daily($campaign_id, $start, $end, $time_zone)
ORDER BY day;

-- name: runs
SELECT run_id, run_started_at, endpoints_targeted, messages_sent, messages_delivered,
       delivery_rate, email_open_rate, click_through_rate, bounce_rate, total_email_opened,
       links_clicked
FROM campaign_runs($campaign_id, $start, $end, $time_zone)
ORDER BY run_started_at, run_id;
