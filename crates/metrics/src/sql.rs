//! SQL generated from the catalog: `message_facts`, metrics over any scope,
//! grouping and date range, and event series. The views, table functions and
//! KPIs are all instances of these few shapes.

use std::fmt::Write;

use chrono::NaiveDate;

use crate::catalog::{self, MEASURES, RATES};
use crate::sets;

/// A string as a SQL literal.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A date as a SQL literal.
pub fn date_lit(d: NaiveDate) -> String {
    format!("DATE '{}'", d.format("%Y-%m-%d"))
}

/// Placeholder of a table function's subject (campaign id) in SQL whose
/// plan is kept per shape (see [`Range::bound`]).
pub const SUBJECT_PARAM: &str = "CAST($1 AS VARCHAR)";

/// A date range `[start, end]`, both days inclusive, read in a time zone.
#[derive(Debug, Clone)]
pub struct Range {
    /// First day.
    pub start: NaiveDate,
    /// Last day (inclusive).
    pub end: NaiveDate,
    /// IANA time zone the days are read in.
    pub tz: String,
    /// Whether the SQL names the days as the placeholders `$2` and `$3`
    /// instead of as literals: ranges of one length then share one SQL text
    /// and one plan, bound to their days when run.
    pub bound: bool,
}

impl Range {
    /// A range whose days are literals in its SQL.
    pub fn new(start: NaiveDate, end: NaiveDate, tz: impl Into<String>) -> Self {
        Self {
            start,
            end,
            tz: tz.into(),
            bound: false,
        }
    }

    /// The first day as SQL.
    pub fn start_sql(&self) -> String {
        if self.bound {
            "CAST($2 AS DATE)".into()
        } else {
            date_lit(self.start)
        }
    }

    /// The last day as SQL.
    pub fn end_sql(&self) -> String {
        if self.bound {
            "CAST($3 AS DATE)".into()
        } else {
            date_lit(self.end)
        }
    }

    /// Predicate: the timestamp falls on a day of the range.
    pub fn contains(&self, ts: &str) -> String {
        format!(
            "local_date({ts}, {}) BETWEEN {} AND {}",
            lit(&self.tz),
            self.start_sql(),
            self.end_sql()
        )
    }

    /// Number of days in the range.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    /// Every day of the range as a one-column table named `day`.
    pub fn days_table(&self) -> String {
        if self.bound {
            return format!(
                "SELECT CAST(day AS DATE) AS day FROM \
                 unnest(generate_series({}, {}, INTERVAL '1 day')) AS t(day)",
                self.start_sql(),
                self.end_sql()
            );
        }
        let days: Vec<String> = self
            .start
            .iter_days()
            .take_while(|d| *d <= self.end)
            .map(|d| format!("({})", date_lit(d)))
            .collect();
        format!("SELECT column1 AS day FROM (VALUES {})", days.join(", "))
    }

    /// Every hour of the range's days (local wall-clock hours, 24 a day) as
    /// a one-column table named `hour`.
    pub fn hours_table(&self) -> String {
        format!(
            "SELECT CAST(hour AS TIMESTAMP) AS hour FROM \
             unnest(generate_series(CAST({} AS TIMESTAMP), \
               CAST({} AS TIMESTAMP) + INTERVAL '23 hours', INTERVAL '1 hour')) AS t(hour)",
            self.start_sql(),
            self.end_sql()
        )
    }
}

/// The campaign list: every campaign with its runs and headline numbers,
/// newest first (`sendlens campaigns`, and the first page of `sendlens
/// serve`).
pub const CAMPAIGN_LIST: &str = "\
SELECT m.campaign_id, r.runs, CAST(m.first_sent_at AS VARCHAR) AS first_sent, \
       CAST(m.last_sent_at AS VARCHAR) AS last_sent, m.endpoints_targeted, \
       m.messages_sent, m.messages_delivered, m.links_clicked, \
       m.delivery_rate, m.email_open_rate, m.bounce_rate \
FROM campaign_metrics m \
LEFT JOIN (SELECT campaign_id AS r_campaign, count(*) AS runs FROM campaign_run_metrics GROUP BY 1) r \
  ON m.campaign_id = r.r_campaign \
ORDER BY m.first_sent_at DESC NULLS LAST, m.campaign_id";

/// The message-level fact table: one row per message key (and campaign),
/// with every [`sets::FLAGS`] flag as a column.
pub fn message_facts() -> String {
    let s = |bit: i64| format!("(s & {bit}) <> 0");
    let flags: String = sets::FLAGS
        .iter()
        .map(|f| format!("{} AS {}, ", f.sql("sets", "channel"), f.column))
        .collect();
    format!(
        "SELECT message_key, campaign_id, channel, app_id, run_id, treatment_id, journey_id, \
           journey_activity_id, endpoint_id, \
           campaign_id IS NULL AND journey_id IS NULL AS transactional, \
           sent_at, send_event_at, sets, {flags}\
           first_delivered_at, open_count, first_open_at, click_count, \
           record_status, iso_country_code, message_parts, price_millicents, \
           CASE WHEN channel = 'email' THEN (CAST(first_open_at AS BIGINT) - CAST(sent_at AS BIGINT)) / 1000000.0 END \
             AS time_to_open_seconds \
         FROM ( \
           SELECT message_key, campaign_id, max(channel) AS channel, max(app_id) AS app_id, \
             max(run_id) AS run_id, max(treatment_id) AS treatment_id, max(journey_id) AS journey_id, \
             max(journey_activity_id) AS journey_activity_id, max(endpoint_id) AS endpoint_id, \
             min(sent_at) AS sent_at, \
             min(occurred_at) FILTER (WHERE {e_sent}) AS send_event_at, \
             bit_or(s) AS sets, \
             min(occurred_at) FILTER (WHERE {e_delivered}) AS first_delivered_at, \
             count(*) FILTER (WHERE {e_open}) AS open_count, \
             min(occurred_at) FILTER (WHERE {e_open}) AS first_open_at, \
             max(occurred_at) FILTER (WHERE {e_open} AND NOT likely_machine_open(user_agent, CAST(NULL AS DOUBLE))) \
               AS last_agent_open_at, \
             count(*) FILTER (WHERE {e_click}) AS click_count, \
             coalesce(max(record_status) FILTER (WHERE event_type IN ('_SMS.SUCCESS', '_SMS.FAILURE')), \
                      max(record_status) FILTER (WHERE event_type = '_SMS.BUFFERED')) AS record_status, \
             max(iso_country_code) AS iso_country_code, max(message_parts) AS message_parts, \
             sum(price_millicents) AS price_millicents \
           FROM (SELECT *, message_event_sets(event_type, channel, send_status) AS s \
                 FROM events WHERE message_key IS NOT NULL) \
           GROUP BY message_key, campaign_id \
         )",
        e_sent = s(sets::SENT),
        e_delivered = s(sets::DELIVERED_EVENT),
        e_open = s(sets::OPEN),
        e_click = s(sets::CLICK),
    )
}

/// Events of sent messages, each with the message sets it puts its message
/// in and the sets of its message: the rows every day series counts.
pub fn message_events() -> String {
    "SELECT e.campaign_id, e.run_id, e.treatment_id, e.app_id, e.journey_id, e.journey_activity_id, \
       e.channel, e.event_type, e.message_key, e.endpoint_id, e.iso_country_code, e.record_status, \
       e.message_parts, e.link, e.address, e.user_agent, e.occurred_at, message_event_sets(e.event_type, e.channel, e.send_status) AS sets, \
       sm.k_sets AS message_sets \
     FROM events e JOIN (SELECT campaign_id AS k_campaign, message_key AS k_key, sets AS k_sets FROM message_facts WHERE sent) sm \
       ON e.message_key = sm.k_key AND (e.campaign_id IS NOT DISTINCT FROM sm.k_campaign)"
        .to_string()
}

/// Every metric per A/B treatment of the campaigns `scope` picks, with
/// two-proportion z-test p-values of open rate and click-through rate
/// against treatment '0' of the same campaign.
pub fn treatments(scope: &str, range: Option<&Range>) -> String {
    let tm = metrics(
        scope,
        range,
        &[Dim::shared("campaign_id"), Dim::shared("treatment_id")],
        true,
    );
    // Treatment '0''s figures reach the other rows of its campaign through a
    // window, not a join of the metrics with themselves: the metrics are
    // planned and computed once (`scope` keeps campaign ids non-null).
    let control = |column: &str| {
        format!(
            "max(CASE WHEN tm.treatment_id = '0' THEN tm.{column} END) OVER (PARTITION BY tm.campaign_id)"
        )
    };
    let p_value = |successes: &str, trials: &str| {
        format!(
            "CASE WHEN tm.treatment_id = '0' THEN NULL ELSE two_proportion_p_value(tm.{successes}, tm.{trials}, {}, {}) END",
            control(successes),
            control(trials)
        )
    };
    format!(
        "WITH tm AS ({tm}) \
         SELECT tm.*, {} AS open_rate_p_value, {} AS click_through_rate_p_value FROM tm",
        p_value("unique_opens", "email_messages_delivered"),
        p_value("unique_clicks", "messages_delivered"),
    )
}

/// Clicks per campaign and link over the sent messages `scope` and `range`
/// pick: every click, clicking messages, clicking endpoints. The clicks are
/// picked by `scope` too (the join implies it), so that a scan of the
/// events sees the campaign it is for.
pub fn links(scope: &str, range: Option<&Range>) -> String {
    let picked = range.map_or(String::new(), |r| format!(" AND {}", r.contains("sent_at")));
    format!(
        "SELECT e.campaign_id, e.link, count(*) AS clicks, count(DISTINCT e.message_key) AS unique_clicks, \
           count(DISTINCT e.endpoint_id) AS unique_endpoints \
         FROM message_events e \
           JOIN (SELECT campaign_id AS k_campaign, message_key AS k_key FROM message_facts WHERE sent AND ({scope}){picked}) k \
           ON e.message_key = k.k_key AND e.campaign_id = k.k_campaign \
         WHERE e.event_type = '_email.click' AND e.link IS NOT NULL AND ({scope}) \
         GROUP BY e.campaign_id, e.link"
    )
}

/// The targets of campaign runs: every `_campaign.send` (any status, at its
/// occurred_at) and, for runs with no `_campaign.send` at all, the endpoints
/// of their sent messages (at the message's sent_at).
pub fn campaign_targets() -> String {
    "SELECT campaign_id, run_id, treatment_id, app_id, endpoint_id, occurred_at AS target_at, true AS from_send \
     FROM events WHERE event_type = '_campaign.send' AND campaign_id IS NOT NULL \
     UNION ALL \
     SELECT m.campaign_id, m.run_id, m.treatment_id, m.app_id, m.endpoint_id, m.sent_at AS target_at, false AS from_send \
     FROM message_facts m LEFT JOIN (SELECT DISTINCT campaign_id AS s_campaign, coalesce(run_id, '') AS s_run FROM events \
                                     WHERE event_type = '_campaign.send' AND campaign_id IS NOT NULL) s \
       ON m.campaign_id = s.s_campaign AND coalesce(m.run_id, '') = s.s_run \
     WHERE s.s_campaign IS NULL AND m.sent AND m.campaign_id IS NOT NULL"
        .to_string()
}

/// A grouping column of a metrics query.
#[derive(Debug, Clone)]
pub struct Dim {
    /// Output column name.
    pub alias: String,
    /// Expression over `message_facts` rows `m`.
    pub message: String,
    /// Expression over the targets rows (`_campaign.send` events), when the
    /// dimension exists there.
    pub target: Option<String>,
}

impl Dim {
    /// A column that messages and `_campaign.send` events both have.
    pub fn shared(column: &str) -> Dim {
        Dim {
            alias: column.to_string(),
            message: format!("m.{column}"),
            target: Some(column.to_string()),
        }
    }

    /// A column of messages only.
    pub fn message_only(alias: &str, expr: &str) -> Dim {
        Dim {
            alias: alias.to_string(),
            message: expr.to_string(),
            target: None,
        }
    }

    /// The local day: the send day of messages, the day of `_campaign.send`.
    pub fn day(alias: &str, tz: &str) -> Dim {
        Dim {
            alias: alias.to_string(),
            message: format!("local_date(m.sent_at, {})", lit(tz)),
            target: Some(format!("local_date(target_at, {})", lit(tz))),
        }
    }
}

fn join_exprs(exprs: impl Iterator<Item = String>) -> String {
    exprs.collect::<Vec<_>>().join(", ")
}

/// Items that each end in their own separator, one after the other.
fn concat(items: impl Iterator<Item = String>) -> String {
    items.collect()
}

/// Every measure and rate over the sent messages that `scope` (a predicate
/// over columns that `message_facts` and `events` share) and `range` pick,
/// one row per combination of `dims` (exactly one row when `dims` is empty).
/// With `targets`, endpoints targeted and the delivery rate come from the
/// `_campaign.send` events of the same scope.
pub fn metrics(scope: &str, range: Option<&Range>, dims: &[Dim], targets: bool) -> String {
    let targets = targets && dims.iter().all(|d| d.target.is_some());
    let picked = range.map_or(String::new(), |r| format!(" AND {}", r.contains("sent_at")));
    let mut sql =
        format!("WITH m AS (SELECT * FROM message_facts WHERE sent AND ({scope}){picked})");

    // Measures per group.
    let group_by = |exprs: Vec<String>| {
        if exprs.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", exprs.join(", "))
        }
    };
    let dim_select = concat(
        dims.iter()
            .map(|d| format!("{} AS {}, ", d.message, d.alias)),
    );
    let measures = join_exprs(
        MEASURES
            .iter()
            .map(|m| format!("{} AS {}", m.sql(), m.name)),
    );
    write!(
        sql,
        ", c AS (SELECT {dim_select}{measures}, min(m.send_event_at) AS first_send_at FROM m{})",
        group_by(dims.iter().map(|d| d.message.clone()).collect())
    )
    .unwrap();

    if targets {
        let in_range = range.map_or(String::new(), |r| {
            format!(" AND {}", r.contains("target_at"))
        });
        let dim_t = |d: &Dim| d.target.clone().expect("checked above");
        write!(
            sql,
            ", tb AS (SELECT * FROM campaign_targets WHERE ({scope}){in_range}), \
             tre AS (SELECT {tr_dims}campaign_id AS r_campaign, run_id AS r_run, treatment_id AS r_treatment, \
                       min(target_at) FILTER (WHERE from_send) AS first_at \
                     FROM tb GROUP BY {tr_group}campaign_id, run_id, treatment_id, endpoint_id), \
             tr AS (SELECT {t_dims}r_campaign, r_run, r_treatment, count(*) AS n, min(first_at) AS first_target_at \
                    FROM tre GROUP BY {t_dims}r_campaign, r_run, r_treatment), \
             t AS (SELECT {t_dims}sum(n) AS endpoints_targeted, min(first_target_at) AS first_target_at FROM tr{t_group})",
            tr_dims = concat(dims.iter().map(|d| format!("{} AS {}, ", dim_t(d), d.alias))),
            tr_group = concat(dims.iter().map(|d| format!("{}, ", dim_t(d)))),
            t_dims = concat(dims.iter().map(|d| format!("{}, ", d.alias))),
            t_group = group_by(dims.iter().map(|d| d.alias.clone()).collect()),
        )
        .unwrap();
    }

    // Join measures and targets, then derive the rates.
    let dim_out = concat(dims.iter().map(|d| {
        if targets {
            format!("coalesce(c.{a}, t.{a}) AS {a}, ", a = d.alias)
        } else {
            format!("c.{a} AS {a}, ", a = d.alias)
        }
    }));
    let measure_out = join_exprs(MEASURES.iter().map(|m| {
        if m.is_count() && targets {
            format!("coalesce(c.{n}, 0) AS {n}", n = m.name)
        } else {
            format!("c.{n} AS {n}", n = m.name)
        }
    }));
    let (targeted, started, from) = if targets {
        let on = dims
            .iter()
            .map(|d| format!("(c.{a} IS NOT DISTINCT FROM t.{a})", a = d.alias))
            .collect::<Vec<_>>()
            .join(" AND ");
        let from = if dims.is_empty() {
            "c CROSS JOIN t".to_string()
        } else {
            format!("c FULL JOIN t ON {on}")
        };
        (
            "coalesce(t.endpoints_targeted, 0)",
            "CASE WHEN c.first_send_at IS NULL THEN t.first_target_at \
                  WHEN t.first_target_at IS NULL OR c.first_send_at < t.first_target_at THEN c.first_send_at \
                  ELSE t.first_target_at END",
            from,
        )
    } else {
        ("CAST(NULL AS BIGINT)", "c.first_send_at", "c".to_string())
    };
    let rates = join_exprs(RATES.iter().map(|r| {
        format!(
            "safe_rate(x.{}, x.{}) AS {}",
            r.numerator, r.denominator, r.name
        )
    }));
    let dim_names = concat(dims.iter().map(|d| format!("x.{}, ", d.alias)));
    // The runs table calls it the run's start; above the run it is the first activity.
    let started_name = if dims.iter().any(|d| d.alias == "run_id") {
        "run_started_at"
    } else {
        "started_at"
    };
    let measure_names = join_exprs(MEASURES.iter().map(|m| format!("x.{}", m.name)));
    write!(
        sql,
        " SELECT {dim_names}{measure_names}, x.endpoints_targeted, {rates}, x.started_at AS {started_name} \
          FROM (SELECT {dim_out}{measure_out}, {targeted} AS endpoints_targeted, {started} AS started_at FROM {from}) x"
    )
    .unwrap();
    sql
}

/// Event series: the events of sent messages (of `scope`, with occurred_at in
/// `range`), counted per combination of `dims`, expressions over the
/// events `e` (e.g. the local day of occurred_at): every measure of
/// [`catalog::series`], each on the day its marking events happen.
pub fn series(scope: &str, range: Option<&Range>, dims: &[(&str, String)]) -> String {
    let in_range = range.map_or(String::new(), |r| {
        format!(" AND {}", r.contains("e.occurred_at"))
    });
    let dim_select = concat(dims.iter().map(|(a, e)| format!("{e} AS {a}, ")));
    let group = if dims.is_empty() {
        String::new()
    } else {
        format!(
            " GROUP BY {}",
            join_exprs(dims.iter().map(|(_, e)| e.clone()))
        )
    };
    let counts = join_exprs(catalog::series().map(|m| {
        let sql = m
            .series_sql()
            .expect("a daily measure has a marking set (catalog test)");
        format!("{sql} AS {}", m.name)
    }));
    format!(
        "WITH ev AS (SELECT * FROM message_events e WHERE ({scope}){in_range}) \
         SELECT {dim_select}{counts} FROM ev e{group}"
    )
}

/// A series over every bucket of `buckets` (a query with one column `day`),
/// zeros included.
pub fn zero_filled(buckets: &str, series_sql: &str, bucket: &str) -> String {
    let cols =
        join_exprs(catalog::series().map(|m| format!("coalesce(s.{n}, 0) AS {n}", n = m.name)));
    format!(
        "SELECT b.{bucket} AS {bucket}, {cols} FROM ({buckets}) b LEFT JOIN ({series_sql}) s ON b.{bucket} = s.{bucket} ORDER BY 1"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted() {
        assert_eq!(lit("it's"), "'it''s'");
    }

    #[test]
    fn range_days() {
        let r = Range::new(
            NaiveDate::from_ymd_opt(2026, 2, 27).unwrap(),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            "UTC",
        );
        assert_eq!(r.days(), 3);
        assert!(r.days_table().contains("DATE '2026-02-28'"));
    }
}
