-- name: rates
SELECT campaign_id, delivery_rate, email_open_rate, click_through_rate
FROM campaign_comparison($start, $end, $time_zone)
ORDER BY messages_sent DESC, campaign_id
LIMIT 12;

-- name: campaigns
SELECT campaign_id, endpoints_targeted, messages_sent, messages_delivered, delivery_rate,
       email_open_rate, click_through_rate, bounce_rate, complaint_rate, unsubscribe_rate,
       links_clicked
FROM campaign_comparison($start, $end, $time_zone)
ORDER BY messages_sent DESC, campaign_id;
