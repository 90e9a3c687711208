-- name: rates
SELECT treatment_id, email_open_rate, click_through_rate
FROM campaign_treatments($campaign_id, $start, $end, $time_zone)
ORDER BY treatment_id;

-- name: treatments
SELECT treatment_id, messages_sent, messages_delivered, unique_opens, email_open_rate,
       open_rate_p_value, unique_clicks, click_through_rate, click_through_rate_p_value,
       CASE
         WHEN treatment_id = '0' THEN 'control'
         WHEN least(open_rate_p_value, click_through_rate_p_value) < 0.05 THEN 'significant'
         ELSE 'not significant'
       END AS verdict
FROM campaign_treatments($campaign_id, $start, $end, $time_zone)
ORDER BY treatment_id;
