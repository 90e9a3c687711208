-- How many events of each type and channel, and over which days.
SELECT channel,
       event_type,
       COUNT(*)          AS events,
       MIN(event_date)   AS first_day,
       MAX(event_date)   AS last_day
FROM events
GROUP BY channel, event_type
ORDER BY channel, events DESC;
