-- A/B treatments of every campaign that had more than one, with the p-values
-- of open rate and click-through rate against treatment '0'.
SELECT campaign_id, treatment_id, messages_delivered, email_open_rate, open_rate_p_value,
       click_through_rate, click_through_rate_p_value
FROM campaign_treatment_metrics
WHERE campaign_id IN (SELECT campaign_id FROM campaign_treatment_metrics
                      GROUP BY campaign_id HAVING count(*) > 1)
ORDER BY campaign_id, treatment_id;
