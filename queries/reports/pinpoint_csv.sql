-- One row per run of $campaign_id with messages sent in the period.
-- name: runs
SELECT $campaign_id AS "Campaign ID",
       run_id AS "Campaign run ID",
       run_started_at AS "Run start time",
       endpoints_targeted AS "Endpoints targeted",
       messages_sent AS "Messages sent",
       messages_delivered AS "Messages delivered",
       round(delivery_rate * 100, 2) AS "Delivery rate (%)",
       round(email_open_rate * 100, 2) AS "Email open rate (%)",
       round(bounce_rate * 100, 2) AS "Bounce rate (%)",
       total_email_opened AS "Total email opened",
       links_clicked AS "Links clicked"
FROM campaign_runs($campaign_id, $start, $end, $time_zone)
ORDER BY run_started_at, run_id;
