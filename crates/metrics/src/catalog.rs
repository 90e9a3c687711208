//! The metric catalog (`spec/metrics.md`) as data: every measure and rate is
//! written here once, and the views, table functions, KPIs, aggregate
//! functions and the CLI's help are generated from these lists.
//!
//! A *measure* is an aggregate over the rows of `message_facts` that belong
//! to sent messages (a message counts only when its send is in the data); a
//! *rate* is one measure divided by another through `safe_rate`.

use crate::sets;

/// What the aggregate functions know of one sent message.
#[derive(Debug, Clone, Copy)]
pub struct MessageSets<'a> {
    /// Channel of the message.
    pub channel: &'a str,
    /// Bitwise OR of [`sets::event_sets`] over the message's events.
    pub sets: i64,
    /// Number of open events.
    pub opens: i64,
    /// Number of click events.
    pub clicks: i64,
}

impl MessageSets<'_> {
    fn has(&self, bit: i64) -> bool {
        self.sets & bit != 0
    }
    fn email(&self) -> bool {
        self.channel == "email"
    }
    fn push(&self) -> bool {
        sets::is_push_like(self.channel)
    }
    fn delivered(&self) -> bool {
        sets::is_delivered(self.channel, self.sets)
    }
}

/// An aggregate over the sent messages of a scope.
#[derive(Debug)]
pub struct Measure {
    /// Column name.
    pub name: &'static str,
    /// What it means, in the words of the catalog.
    pub doc: &'static str,
    /// The aggregate over `message_facts` rows `m` of sent messages.
    pub sql: &'static str,
    /// A count (0 when there is nothing) rather than a statistic (NULL).
    pub is_count: bool,
    /// The contribution of one sent message, where the aggregate functions
    /// can compute it from event types alone.
    pub of_message: Option<fn(&MessageSets) -> i64>,
}

macro_rules! count {
    ($name:literal, $doc:literal, $filter:literal, $rust:expr) => {
        Measure {
            name: $name,
            doc: $doc,
            sql: concat!("count(*) FILTER (WHERE ", $filter, ")"),
            is_count: true,
            of_message: Some($rust),
        }
    };
}

/// Every measure, in the order the views show them.
pub const MEASURES: &[Measure] = &[
    Measure {
        name: "messages_sent",
        doc: "Messages sent: |SENT|.",
        sql: "count(*)",
        is_count: true,
        of_message: Some(|_| 1),
    },
    count!(
        "messages_delivered",
        "Messages delivered: email |SENT| - |HARD_BOUNCED|; SMS |DELIVERED_EVENT|; push |SENT|.",
        "m.delivered",
        |m| m.delivered() as i64
    ),
    Measure {
        name: "links_clicked",
        doc: "Links clicked: every _email.click event of a sent message, repeats included.",
        sql: "coalesce(sum(m.click_count), 0)",
        is_count: true,
        of_message: Some(|m| m.clicks),
    },
    count!(
        "email_messages_sent",
        "Email messages sent.",
        "m.channel = 'email'",
        |m| m.email() as i64
    ),
    count!(
        "email_messages_delivered",
        "Email messages delivered: sent and not hard-bounced.",
        "m.delivered AND m.channel = 'email'",
        |m| (m.delivered() && m.email()) as i64
    ),
    count!(
        "sms_messages_sent",
        "SMS messages sent (_SMS.BUFFERED, _SMS.SUCCESS or _SMS.FAILURE).",
        "m.channel = 'sms'",
        |m| (m.channel == "sms") as i64
    ),
    count!(
        "sms_messages_delivered",
        "SMS messages with _SMS.SUCCESS.",
        "m.delivered AND m.channel = 'sms'",
        |m| (m.delivered() && m.channel == "sms") as i64
    ),
    count!(
        "push_messages_delivered",
        "Push and custom messages delivered (= sent).",
        "m.delivered AND m.channel NOT IN ('email', 'sms')",
        |m| (m.delivered() && m.push()) as i64
    ),
    count!(
        "messages_with_delivery_event",
        "Sent messages with a delivery event (_email.delivered, _SMS.SUCCESS, or the push send).",
        "m.delivered_event",
        |m| m.has(sets::DELIVERED_EVENT) as i64
    ),
    count!(
        "hard_bounces",
        "Sent email messages with _email.hardbounce.",
        "m.hard_bounced",
        |m| m.has(sets::HARD_BOUNCE) as i64
    ),
    count!(
        "soft_bounces",
        "Sent messages with _email.softbounce and no hard bounce.",
        "m.soft_bounced",
        |m| (m.has(sets::SOFT_BOUNCE) && !m.has(sets::HARD_BOUNCE)) as i64
    ),
    count!(
        "unique_opens",
        "|OPENED ∩ SENT| for email: messages opened at least once.",
        "m.opened AND m.channel = 'email'",
        |m| (m.has(sets::OPEN) && m.email()) as i64
    ),
    Measure {
        name: "unique_open_endpoints",
        doc: "Distinct endpoints with an opened email message.",
        sql: "count(DISTINCT m.endpoint_id) FILTER (WHERE m.opened AND m.channel = 'email')",
        is_count: true,
        of_message: None,
    },
    Measure {
        name: "total_email_opened",
        doc: "Total email opened: every _email.open event of a sent message; a message opened twice counts twice.",
        sql: "coalesce(sum(m.open_count) FILTER (WHERE m.channel = 'email'), 0)",
        is_count: true,
        of_message: Some(|m| if m.email() { m.opens } else { 0 }),
    },
    Measure {
        name: "estimated_human_opens",
        doc: "Email messages with an open that does not look automatic (see likely_machine_open): an estimate.",
        sql: "count(*) FILTER (WHERE m.human_opened AND m.channel = 'email')",
        is_count: true,
        of_message: None,
    },
    count!(
        "push_opens",
        "|OPENED ∩ SENT| for push: messages with _campaign.opened_notification.",
        "m.opened AND m.channel NOT IN ('email', 'sms')",
        |m| (m.has(sets::OPEN) && m.push()) as i64
    ),
    count!(
        "unique_clicks",
        "|CLICKED ∩ SENT|: messages clicked at least once.",
        "m.clicked",
        |m| m.has(sets::CLICK) as i64
    ),
    Measure {
        name: "unique_click_endpoints",
        doc: "Distinct endpoints with a clicked message.",
        sql: "count(DISTINCT m.endpoint_id) FILTER (WHERE m.clicked)",
        is_count: true,
        of_message: None,
    },
    count!(
        "complaints",
        "Sent messages with _email.complaint.",
        "m.complained",
        |m| m.has(sets::COMPLAINT) as i64
    ),
    count!(
        "unsubscribes",
        "Sent messages with _email.unsubscribe.",
        "m.unsubscribed",
        |m| m.has(sets::UNSUBSCRIBE) as i64
    ),
    count!(
        "rejected",
        "Sent messages with _email.rejected.",
        "m.rejected",
        |m| m.has(sets::REJECT) as i64
    ),
    count!(
        "rendering_failures",
        "Sent messages with _email.rendering_failure.",
        "m.rendering_failed",
        |m| m.has(sets::RENDERING_FAILURE) as i64
    ),
    count!(
        "txn_emails_delivered",
        "Email messages sent and neither soft-bounced, hard-bounced nor rejected (the transactional delivered count).",
        "m.channel = 'email' AND NOT m.hard_bounced AND NOT m.soft_bounced AND NOT m.rejected",
        |m| (m.email()
            && !m.has(sets::HARD_BOUNCE)
            && !m.has(sets::SOFT_BOUNCE)
            && !m.has(sets::REJECT)) as i64
    ),
    count!(
        "sms_failures",
        "SMS messages with _SMS.FAILURE.",
        "m.sms_failed",
        |m| m.has(sets::SMS_FAILURE) as i64
    ),
    count!(
        "opt_outs",
        "SMS messages followed by _SMS.OPTOUT.",
        "m.opted_out",
        |m| m.has(sets::OPT_OUT) as i64
    ),
    Measure {
        name: "sms_message_parts",
        doc: "SMS message parts sent.",
        sql: "coalesce(sum(m.message_parts) FILTER (WHERE m.channel = 'sms'), 0)",
        is_count: true,
        of_message: None,
    },
    Measure {
        name: "sms_spend_millicents",
        doc: "Sum of metrics.price_in_millicents_usd over the SMS events (millicents of USD).",
        sql: "coalesce(sum(m.price_millicents) FILTER (WHERE m.channel = 'sms'), 0)",
        is_count: true,
        of_message: None,
    },
    Measure {
        name: "sms_spend_usd",
        doc: "SMS spend in USD (millicents / 100000).",
        sql: "coalesce(sum(m.price_millicents) FILTER (WHERE m.channel = 'sms'), 0) / 100000.0",
        is_count: true,
        of_message: None,
    },
    Measure {
        name: "time_to_open_median_seconds",
        doc: "Median over opened email messages of (first open - sent_at), in seconds.",
        sql: "median(m.time_to_open_seconds)",
        is_count: false,
        of_message: None,
    },
    Measure {
        name: "time_to_open_p90_seconds",
        doc: "90th percentile over opened email messages of (first open - sent_at), in seconds.",
        sql: "percentile_cont(0.9) WITHIN GROUP (ORDER BY m.time_to_open_seconds)",
        is_count: false,
        of_message: None,
    },
    Measure {
        name: "first_sent_at",
        doc: "Earliest sent_at of the messages.",
        sql: "min(m.sent_at)",
        is_count: false,
        of_message: None,
    },
    Measure {
        name: "last_sent_at",
        doc: "Latest sent_at of the messages.",
        sql: "max(m.sent_at)",
        is_count: false,
        of_message: None,
    },
];

/// Endpoints targeted: computed from `_campaign.send` events, not messages.
pub const ENDPOINTS_TARGETED_DOC: &str = "Endpoints targeted: per run, distinct endpoints with a _campaign.send event (any status), or, for a run with no _campaign.send at all, distinct endpoints of its sent messages; above the run, the sum over runs. In a date range, the _campaign.send events whose occurred_at falls in the range.";

/// Endpoint deliveries (the dashboard tile): the daily average.
pub const ENDPOINT_DELIVERIES_DOC: &str = "Endpoint deliveries: the average over every day of the range (days with none count as 0) of that day's distinct endpoints with a delivery event, over the events of sent messages whose occurred_at falls on that day.";

/// A rate: one measure divided by another, NULL on a zero denominator.
#[derive(Debug)]
pub struct Rate {
    /// Column name.
    pub name: &'static str,
    /// What it means.
    pub doc: &'static str,
    /// Numerator measure.
    pub numerator: &'static str,
    /// Denominator measure (or `endpoints_targeted`).
    pub denominator: &'static str,
}

/// Every rate, in the order the views show them.
pub const RATES: &[Rate] = &[
    Rate {
        name: "delivery_rate",
        doc: "Delivery rate (the seed page): messages_delivered / endpoints_targeted.",
        numerator: "messages_delivered",
        denominator: "endpoints_targeted",
    },
    Rate {
        name: "successful_delivery_rate",
        doc: "Pinpoint API's successful-delivery-rate: messages_delivered / messages_sent.",
        numerator: "messages_delivered",
        denominator: "messages_sent",
    },
    Rate {
        name: "email_open_rate",
        doc: "Email open rate: unique_opens / email_messages_delivered.",
        numerator: "unique_opens",
        denominator: "email_messages_delivered",
    },
    Rate {
        name: "estimated_human_open_rate",
        doc: "Open rate without opens that look automatic (an estimate): estimated_human_opens / email_messages_delivered.",
        numerator: "estimated_human_opens",
        denominator: "email_messages_delivered",
    },
    Rate {
        name: "bounce_rate",
        doc: "Bounce rate (hard bounces only): hard_bounces / email_messages_sent.",
        numerator: "hard_bounces",
        denominator: "email_messages_sent",
    },
    Rate {
        name: "soft_bounce_rate",
        doc: "soft_bounces / messages_sent.",
        numerator: "soft_bounces",
        denominator: "messages_sent",
    },
    Rate {
        name: "click_through_rate",
        doc: "unique_clicks / messages_delivered.",
        numerator: "unique_clicks",
        denominator: "messages_delivered",
    },
    Rate {
        name: "click_to_open_rate",
        doc: "unique_clicks / unique_opens.",
        numerator: "unique_clicks",
        denominator: "unique_opens",
    },
    Rate {
        name: "complaint_rate",
        doc: "complaints / messages_delivered.",
        numerator: "complaints",
        denominator: "messages_delivered",
    },
    Rate {
        name: "unsubscribe_rate",
        doc: "unsubscribes / messages_delivered.",
        numerator: "unsubscribes",
        denominator: "messages_delivered",
    },
    Rate {
        name: "push_open_rate",
        doc: "push_opens / push_messages_delivered.",
        numerator: "push_opens",
        denominator: "push_messages_delivered",
    },
    Rate {
        name: "txn_emails_delivery_rate",
        doc: "txn_emails_delivered / email_messages_sent (transactional).",
        numerator: "txn_emails_delivered",
        denominator: "email_messages_sent",
    },
    Rate {
        name: "txn_emails_complaint_rate",
        doc: "complaints / email_messages_sent (transactional).",
        numerator: "complaints",
        denominator: "email_messages_sent",
    },
    Rate {
        name: "sms_delivery_rate",
        doc: "sms_messages_delivered / sms_messages_sent.",
        numerator: "sms_messages_delivered",
        denominator: "sms_messages_sent",
    },
    Rate {
        name: "opt_out_rate",
        doc: "opt_outs / sms_messages_delivered.",
        numerator: "opt_outs",
        denominator: "sms_messages_delivered",
    },
];

/// A measure by name.
pub fn measure(name: &str) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| m.name == name)
}

/// A rate by name.
pub fn rate(name: &str) -> Option<&'static Rate> {
    RATES.iter().find(|r| r.name == name)
}

/// The value of a measure over sent messages, for the aggregate functions.
pub fn count_over<'a>(name: &str, messages: impl Iterator<Item = MessageSets<'a>>) -> Option<i64> {
    let f = measure(name)?.of_message?;
    Some(messages.map(|m| f(&m)).sum())
}

/// Where the metric catalog is silent, what sendlens does (printed in the
/// reference so that users can check it).
pub const CHOICES: &[&str] = &[
    "A message is identified by (message_key, campaign_id); its channel, run, treatment, application and endpoint are those of its events.",
    "rejected and rendering_failures count sent messages, like every other message metric.",
    "click_through_rate divides by messages_delivered of every channel (clicks exist only for email).",
    "An SMS message's record_status is that of its _SMS.SUCCESS or _SMS.FAILURE event, else of its _SMS.BUFFERED event.",
    "Endpoints targeted are counted per (campaign, run, treatment) and summed; an endpoint in two treatments of one run counts twice.",
    "KPIs grouped by date group messages by the day they were sent, so each day's value is the KPI of that one-day range; unique-deliveries groups delivery events by the day they happened.",
    "journey-emails-delivered counts sent messages with a delivery event; txn-emails-opened counts opened messages and txn-emails-unique-opens distinct endpoints.",
    "Application KPIs cover the application's campaigns; the txn-* KPIs its transactional email and SMS (no campaign, no journey).",
    "An open is taken as automatic (estimated_human_opens leaves it out) when its user agent is an image proxy or scanner, or when the message's last such open came less than 10 seconds after delivery.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_divide_known_measures() {
        for r in RATES {
            for part in [r.numerator, r.denominator] {
                assert!(
                    part == "endpoints_targeted" || measure(part).is_some(),
                    "{} uses unknown {part}",
                    r.name
                );
            }
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = MEASURES
            .iter()
            .map(|m| m.name)
            .chain(RATES.iter().map(|r| r.name))
            .collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }
}
