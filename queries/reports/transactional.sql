-- name: email
SELECT app_id, email_messages_sent, txn_emails_delivered, txn_emails_delivery_rate,
       unique_opens, email_open_rate, unique_clicks, click_through_rate, hard_bounces,
       bounce_rate, complaints, txn_emails_complaint_rate
FROM transactional_metrics($start, $end, $time_zone)
WHERE channel = 'email' AND ($app_id = '' OR app_id = $app_id)
ORDER BY app_id;

-- name: sms
SELECT app_id, sms_messages_sent, sms_messages_delivered, sms_delivery_rate, sms_failures,
       opt_outs, sms_message_parts, sms_spend_usd
FROM transactional_metrics($start, $end, $time_zone)
WHERE channel = 'sms' AND ($app_id = '' OR app_id = $app_id)
ORDER BY app_id;
