//! The metric catalog (`docs/metrics.md`) as data: every measure and rate is
//! written here once, and the views, table functions, KPIs, aggregate
//! functions and the CLI's help are generated from these lists.
//!
//! A *measure* is an aggregate over the rows of `message_facts` that belong
//! to sent messages (a message counts only when its send is in the data); a
//! *rate* is one measure divided by another through `safe_rate`.

use crate::sets::{self, Channel, Flag};
use crate::sets::{
    CLICKED, COMPLAINED, HARD_BOUNCED, HAS_DELIVERY_EVENT, HUMAN_OPENED, IS_DELIVERED, IS_SENT,
    OPENED, OPTED_OUT, REJECTED, RENDERING_FAILED, SMS_FAILED, SOFT_BOUNCED, UNSUBSCRIBED,
};

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

/// Which sent messages a measure counts: written once, and read as SQL over
/// `message_facts`, as SQL over the events of the day series, and in Rust by
/// the aggregate functions.
#[derive(Debug, Clone, Copy)]
pub enum Cond {
    /// Every sent message.
    Any,
    /// A flag holds.
    Is(&'static Flag),
    /// A flag does not hold.
    Not(&'static Flag),
    /// The message's channel is of this class.
    On(Channel),
    /// Every one of these holds.
    All(&'static [Cond]),
}

impl Cond {
    /// SQL over a `message_facts` row `m`, or `None` for [`Cond::Any`].
    pub fn facts_sql(&self) -> Option<String> {
        match self {
            Cond::Any => None,
            Cond::Is(flag) => Some(format!("m.{}", flag.column)),
            Cond::Not(flag) => Some(format!("NOT m.{}", flag.column)),
            Cond::On(channel) => Some(channel.sql("m.channel")),
            Cond::All(parts) => all(parts.iter().filter_map(Cond::facts_sql)),
        }
    }

    /// SQL over a message's sets and channel (expressions), or `None` for
    /// [`Cond::Any`].
    pub fn sets_sql(&self, sets: &str, channel: &str) -> Option<String> {
        match self {
            Cond::Any => None,
            Cond::Is(flag) => Some(format!("({})", flag.sql(sets, channel))),
            Cond::Not(flag) => Some(format!("NOT ({})", flag.sql(sets, channel))),
            Cond::On(class) => Some(class.sql(channel)),
            Cond::All(parts) => all(parts.iter().filter_map(|c| c.sets_sql(sets, channel))),
        }
    }

    /// Whether the condition holds for a message, or `None` when its sets
    /// do not tell (a flag that is not a function of them).
    pub fn holds(&self, m: &MessageSets) -> Option<bool> {
        let channel = Channel::of(m.channel);
        match self {
            Cond::Any => Some(true),
            Cond::Is(flag) => flag.holds(channel, m.sets),
            Cond::Not(flag) => flag.holds(channel, m.sets).map(|h| !h),
            Cond::On(class) => Some(channel == *class),
            // Every part is asked: a part the sets cannot tell makes the
            // whole unknown, whatever the others say.
            Cond::All(parts) => parts.iter().try_fold(true, |all, c| {
                let holds = c.holds(m)?;
                Some(all && holds)
            }),
        }
    }

    /// The set whose events mark a message on the day they happen (see
    /// [`Flag::marking_set`]): the first flag of the condition that has one.
    pub fn marking_set(&self) -> Option<i64> {
        match self {
            Cond::Is(flag) => flag.marking_set(),
            Cond::All(parts) => parts.iter().find_map(Cond::marking_set),
            _ => None,
        }
    }
}

/// Predicates joined by AND; `None` (every message) when there are none.
fn all(parts: impl Iterator<Item = String>) -> Option<String> {
    let parts: Vec<String> = parts.collect();
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

/// Events of one kind that a message's row counts one by one.
#[derive(Debug, Clone, Copy)]
pub enum Counted {
    /// Open events (`open_count`).
    Opens,
    /// Click events (`click_count`).
    Clicks,
}

impl Counted {
    fn column(self) -> &'static str {
        match self {
            Counted::Opens => "open_count",
            Counted::Clicks => "click_count",
        }
    }
    fn set(self) -> i64 {
        match self {
            Counted::Opens => sets::OPEN,
            Counted::Clicks => sets::CLICK,
        }
    }
    fn of(self, m: &MessageSets) -> i64 {
        match self {
            Counted::Opens => m.opens,
            Counted::Clicks => m.clicks,
        }
    }
}

/// How a measure aggregates the sent messages its condition picks.
#[derive(Debug, Clone, Copy)]
pub enum Agg {
    /// The messages.
    Messages(Cond),
    /// Their events of one kind, every one (a message opened twice counts twice).
    Events(Counted, Cond),
    /// Their distinct endpoints.
    Endpoints(Cond),
    /// The sum of a `message_facts` column over them, divided by a constant.
    Sum(&'static str, Cond, Option<&'static str>),
    /// Any other aggregate over `message_facts` rows `m`: NULL over nothing.
    Statistic(&'static str),
}

/// An aggregate over the sent messages of a scope.
#[derive(Debug)]
pub struct Measure {
    /// Column name.
    pub name: &'static str,
    /// What it means, in the words of the catalog.
    pub doc: &'static str,
    /// How it is computed.
    pub agg: Agg,
    /// Whether the day and hour series show it, counted on the day its
    /// marking events happen.
    pub daily: bool,
}

const fn measure_of(name: &'static str, agg: Agg, doc: &'static str) -> Measure {
    Measure {
        name,
        doc,
        agg,
        daily: false,
    }
}
const fn messages(name: &'static str, when: Cond, doc: &'static str) -> Measure {
    measure_of(name, Agg::Messages(when), doc)
}

impl Measure {
    /// Also shown per day and hour.
    const fn daily(self) -> Measure {
        Measure {
            daily: true,
            ..self
        }
    }

    /// The aggregate over `message_facts` rows `m` of sent messages.
    pub fn sql(&self) -> String {
        let filter = |c: &Cond| {
            c.facts_sql()
                .map_or(String::new(), |w| format!(" FILTER (WHERE {w})"))
        };
        match &self.agg {
            Agg::Messages(c) => format!("count(*){}", filter(c)),
            Agg::Events(k, c) => format!("coalesce(sum(m.{}){}, 0)", k.column(), filter(c)),
            Agg::Endpoints(c) => format!("count(DISTINCT m.endpoint_id){}", filter(c)),
            Agg::Sum(column, c, divisor) => {
                let sum = format!("coalesce(sum(m.{column}){}, 0)", filter(c));
                divisor.map_or(sum.clone(), |d| format!("{sum} / {d}"))
            }
            Agg::Statistic(sql) => sql.to_string(),
        }
    }

    /// A count (0 when there is nothing) rather than a statistic (NULL).
    pub fn is_count(&self) -> bool {
        !matches!(self.agg, Agg::Statistic(_))
    }

    /// The contribution of one sent message, where its sets tell it (what
    /// the aggregate functions compute).
    pub fn of_message(&self, m: &MessageSets) -> Option<i64> {
        match &self.agg {
            Agg::Messages(c) => c.holds(m).map(i64::from),
            Agg::Events(k, c) => c.holds(m).map(|h| if h { k.of(m) } else { 0 }),
            _ => None,
        }
    }

    /// Whether [`Measure::of_message`] answers for every message.
    pub fn from_sets(&self) -> bool {
        let probe = MessageSets {
            channel: "email",
            sets: 0,
            opens: 0,
            clicks: 0,
        };
        self.of_message(&probe).is_some()
    }

    /// The column of the day series: over the events `e` of sent messages
    /// (`message_events`), those that mark the measure on their day.
    pub fn series_sql(&self) -> Option<String> {
        let marked = |c: &Cond, set: i64| {
            let own = c.sets_sql("message_sets", "channel");
            let own = own.map_or(String::new(), |w| format!(" AND {w}"));
            format!("(sets & {set}) <> 0{own}")
        };
        let sql = match &self.agg {
            Agg::Messages(c) => format!(
                "count(DISTINCT message_key) FILTER (WHERE {})",
                marked(c, c.marking_set()?)
            ),
            Agg::Endpoints(c) => format!(
                "count(DISTINCT endpoint_id) FILTER (WHERE {})",
                marked(c, c.marking_set()?)
            ),
            Agg::Events(k, c) => format!("count(*) FILTER (WHERE {})", marked(c, k.set())),
            _ => return None,
        };
        Some(sql)
    }
}

use Channel::{Email, Push, Sms};
use Cond::{All, Any, Is, Not, On};

/// Every measure, in the order the views show them.
#[rustfmt::skip]
pub const MEASURES: &[Measure] = &[
    messages("messages_sent", Is(&IS_SENT), "Messages sent: |SENT|.").daily(),
    messages("messages_delivered", Is(&IS_DELIVERED), "Messages delivered: email |SENT| - |HARD_BOUNCED|; SMS |DELIVERED_EVENT|; push |SENT|."),
    measure_of("links_clicked", Agg::Events(Counted::Clicks, Any), "Links clicked: every _email.click event of a sent message, repeats included.").daily(),
    messages("email_messages_sent", On(Email), "Email messages sent."),
    messages("email_messages_delivered", All(&[Is(&IS_DELIVERED), On(Email)]), "Email messages delivered: sent and not hard-bounced."),
    messages("sms_messages_sent", On(Sms), "SMS messages sent (_SMS.BUFFERED, _SMS.SUCCESS or _SMS.FAILURE)."),
    messages("sms_messages_delivered", All(&[Is(&IS_DELIVERED), On(Sms)]), "SMS messages with _SMS.SUCCESS."),
    messages("push_messages_delivered", All(&[Is(&IS_DELIVERED), On(Push)]), "Push and custom messages delivered (= sent)."),
    messages("messages_with_delivery_event", Is(&HAS_DELIVERY_EVENT), "Sent messages with a delivery event (_email.delivered, _SMS.SUCCESS, or the push send).").daily(),
    messages("hard_bounces", Is(&HARD_BOUNCED), "Sent email messages with _email.hardbounce.").daily(),
    messages("soft_bounces", Is(&SOFT_BOUNCED), "Sent messages with _email.softbounce and no hard bounce.").daily(),
    messages("unique_opens", All(&[Is(&OPENED), On(Email)]), "|OPENED ∩ SENT| for email: messages opened at least once.").daily(),
    measure_of("unique_open_endpoints", Agg::Endpoints(All(&[Is(&OPENED), On(Email)])), "Distinct endpoints with an opened email message."),
    measure_of("total_email_opened", Agg::Events(Counted::Opens, On(Email)), "Total email opened: every _email.open event of a sent message; a message opened twice counts twice.").daily(),
    messages("estimated_human_opens", All(&[Is(&HUMAN_OPENED), On(Email)]), "Email messages with an open that does not look automatic (see likely_machine_open): an estimate."),
    messages("push_opens", All(&[Is(&OPENED), On(Push)]), "|OPENED ∩ SENT| for push: messages with _campaign.opened_notification.").daily(),
    messages("unique_clicks", Is(&CLICKED), "|CLICKED ∩ SENT|: messages clicked at least once.").daily(),
    measure_of("unique_click_endpoints", Agg::Endpoints(Is(&CLICKED)), "Distinct endpoints with a clicked message."),
    messages("complaints", Is(&COMPLAINED), "Sent messages with _email.complaint.").daily(),
    messages("unsubscribes", Is(&UNSUBSCRIBED), "Sent messages with _email.unsubscribe.").daily(),
    messages("rejected", Is(&REJECTED), "Sent messages with _email.rejected."),
    messages("rendering_failures", Is(&RENDERING_FAILED), "Sent messages with _email.rendering_failure."),
    messages("txn_emails_delivered", All(&[On(Email), Not(&HARD_BOUNCED), Not(&SOFT_BOUNCED), Not(&REJECTED)]), "Email messages sent and neither soft-bounced, hard-bounced nor rejected (the transactional delivered count)."),
    messages("sms_failures", Is(&SMS_FAILED), "SMS messages with _SMS.FAILURE."),
    messages("opt_outs", Is(&OPTED_OUT), "SMS messages followed by _SMS.OPTOUT."),
    measure_of("sms_message_parts", Agg::Sum("message_parts", On(Sms), None), "SMS message parts sent."),
    measure_of("sms_spend_millicents", Agg::Sum("price_millicents", On(Sms), None), "Sum of metrics.price_in_millicents_usd over the SMS events (millicents of USD)."),
    measure_of("sms_spend_usd", Agg::Sum("price_millicents", On(Sms), Some("100000.0")), "SMS spend in USD (millicents / 100000)."),
    measure_of("time_to_open_median_seconds", Agg::Statistic("median(m.time_to_open_seconds)"), "Median over opened email messages of (first open - sent_at), in seconds."),
    measure_of("time_to_open_p90_seconds", Agg::Statistic("percentile_cont(0.9) WITHIN GROUP (ORDER BY m.time_to_open_seconds)"), "90th percentile over opened email messages of (first open - sent_at), in seconds."),
    measure_of("first_sent_at", Agg::Statistic("min(m.sent_at)"), "Earliest sent_at of the messages."),
    measure_of("last_sent_at", Agg::Statistic("max(m.sent_at)"), "Latest sent_at of the messages."),
];

/// Columns of the day series that are not measures of messages sent in the
/// range: endpoint deliveries per day (the dashboard's chart and tile).
pub const SERIES_ONLY: &[Measure] = &[measure_of(
    "endpoint_deliveries",
    Agg::Endpoints(Is(&HAS_DELIVERY_EVENT)),
    "Distinct endpoints with a delivery event on the day.",
)
.daily()];

/// The columns of the day and hour series, in order.
pub fn series() -> impl Iterator<Item = &'static Measure> {
    SERIES_ONLY
        .iter()
        .chain(MEASURES.iter().filter(|m| m.daily))
}

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

const fn ratio(
    name: &'static str,
    numerator: &'static str,
    denominator: &'static str,
    doc: &'static str,
) -> Rate {
    Rate {
        name,
        doc,
        numerator,
        denominator,
    }
}

/// Every rate, in the order the views show them.
#[rustfmt::skip]
pub const RATES: &[Rate] = &[
    ratio("delivery_rate", "messages_delivered", "endpoints_targeted", "Delivery rate (the seed page): messages_delivered / endpoints_targeted."),
    ratio("successful_delivery_rate", "messages_delivered", "messages_sent", "Pinpoint API's successful-delivery-rate: messages_delivered / messages_sent."),
    ratio("email_open_rate", "unique_opens", "email_messages_delivered", "Email open rate: unique_opens / email_messages_delivered."),
    ratio("estimated_human_open_rate", "estimated_human_opens", "email_messages_delivered", "Open rate without opens that look automatic (an estimate): estimated_human_opens / email_messages_delivered."),
    ratio("bounce_rate", "hard_bounces", "email_messages_sent", "Bounce rate (hard bounces only): hard_bounces / email_messages_sent."),
    ratio("soft_bounce_rate", "soft_bounces", "messages_sent", "soft_bounces / messages_sent."),
    ratio("click_through_rate", "unique_clicks", "messages_delivered", "unique_clicks / messages_delivered."),
    ratio("click_to_open_rate", "unique_clicks", "unique_opens", "unique_clicks / unique_opens."),
    ratio("complaint_rate", "complaints", "messages_delivered", "complaints / messages_delivered."),
    ratio("unsubscribe_rate", "unsubscribes", "messages_delivered", "unsubscribes / messages_delivered."),
    ratio("push_open_rate", "push_opens", "push_messages_delivered", "push_opens / push_messages_delivered."),
    ratio("txn_emails_delivery_rate", "txn_emails_delivered", "email_messages_sent", "txn_emails_delivered / email_messages_sent (transactional)."),
    ratio("txn_emails_complaint_rate", "complaints", "email_messages_sent", "complaints / email_messages_sent (transactional)."),
    ratio("sms_delivery_rate", "sms_messages_delivered", "sms_messages_sent", "sms_messages_delivered / sms_messages_sent."),
    ratio("opt_out_rate", "opt_outs", "sms_messages_delivered", "opt_outs / sms_messages_delivered."),
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
pub fn count_over<'a>(
    name: &str,
    mut messages: impl Iterator<Item = MessageSets<'a>>,
) -> Option<i64> {
    let measure = measure(name).filter(|m| m.from_sets())?;
    messages.try_fold(0, |sum, m| Some(sum + measure.of_message(&m)?))
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
    fn every_series_column_has_a_marking_set() {
        for m in series() {
            assert!(
                m.series_sql().is_some(),
                "{} is daily but has no marking set",
                m.name
            );
        }
    }

    #[test]
    fn a_condition_reads_the_same_in_sql_and_rust() {
        let soft = measure("soft_bounces").unwrap();
        assert_eq!(soft.sql(), "count(*) FILTER (WHERE m.soft_bounced)");
        let m = |sets| MessageSets {
            channel: "email",
            sets,
            opens: 0,
            clicks: 0,
        };
        assert_eq!(soft.of_message(&m(sets::SENT | sets::SOFT_BOUNCE)), Some(1));
        assert_eq!(
            soft.of_message(&m(sets::SENT | sets::SOFT_BOUNCE | sets::HARD_BOUNCE)),
            Some(0)
        );
        let daily = soft.series_sql().unwrap();
        assert!(
            daily.contains("(sets & 8) <> 0") && daily.contains("(message_sets & 4) = 0"),
            "{daily}"
        );
        assert!(
            measure("estimated_human_opens")
                .unwrap()
                .of_message(&m(sets::SENT))
                .is_none()
        );
    }

    #[test]
    fn a_condition_of_nothing_is_every_message() {
        assert_eq!(All(&[Any, All(&[])]).facts_sql(), None);
        assert_eq!(
            All(&[Any, On(Email)]).facts_sql().as_deref(),
            Some("m.channel = 'email'")
        );
        // A part the sets cannot tell makes the whole unknown, even after a
        // part that fails.
        let m = MessageSets {
            channel: "sms",
            sets: sets::SENT,
            opens: 0,
            clicks: 0,
        };
        assert_eq!(All(&[On(Email), Is(&HUMAN_OPENED)]).holds(&m), None);
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
