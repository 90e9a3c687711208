-- The campaign page for one campaign and a week (replace the id and dates):
-- headline numbers, the endpoint-deliveries chart, and the runs table.
SELECT messages_sent, messages_delivered, links_clicked, endpoint_deliveries,
       delivery_rate, email_open_rate, bounce_rate
FROM campaign_dashboard('baf417f31f7f9fe7f77a33e30170e6e4', '2026-09-01', '2026-09-07');

SELECT day, endpoint_deliveries
FROM campaign_daily('baf417f31f7f9fe7f77a33e30170e6e4', '2026-09-01', '2026-09-07');

SELECT run_id, run_started_at, endpoints_targeted, messages_sent, messages_delivered,
       delivery_rate, email_open_rate, bounce_rate, total_email_opened
FROM campaign_runs('baf417f31f7f9fe7f77a33e30170e6e4', '2026-09-01', '2026-09-07');
