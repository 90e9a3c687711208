//! Table functions: the campaign page for a date range, its day series, the
//! runs table and the KPIs by name.
//!
//! A call checks and binds its arguments (ids become quoted literals, dates
//! and time zones are validated) and returns a [`SqlTable`], which plans the
//! generated SQL when it is scanned.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use crate::sealed::SealedExec;
use crate::sql::{self, Dim, Range, lit};
use crate::udf::local_time::parse_tz;
use crate::{kpi, views};

/// Longest range a day series accepts (ten years), so that a typo in a year
/// does not build a million-row table.
const MAX_DAYS: i64 = 3_660;
/// Longest range an hourly series accepts.
const MAX_HOURLY_DAYS: i64 = 93;

/// A table whose rows are a SQL query, planned when scanned.
#[derive(Debug)]
pub struct SqlTable {
    sql: String,
    schema: SchemaRef,
}

impl SqlTable {
    /// A table of `sql`, whose result has `schema`.
    pub fn new(sql: String, schema: SchemaRef) -> Self {
        Self { sql, schema }
    }
}

#[async_trait]
impl TableProvider for SqlTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
    fn table_type(&self) -> TableType {
        TableType::View
    }
    fn get_table_definition(&self) -> Option<&str> {
        Some(&self.sql)
    }
    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        None
    }
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Exact; filters.len()])
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let state = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| {
                DataFusionError::Internal("sendlens table functions need a SessionState".into())
            })?;
        let plan = state.create_logical_plan(&self.sql).await?;
        let plan = ViewTable::new(plan, Some(self.sql.clone()))
            .scan(state, projection, filters, limit)
            .await?;
        // Optimized already: sealed, so the enclosing query does not
        // optimize it again (see `sealed`).
        Ok(Arc::new(SealedExec::new(plan)))
    }
}

/// Arguments of a call, checked one by one with errors that name the function.
struct Args<'a> {
    function: &'static str,
    usage: &'static str,
    exprs: &'a [Expr],
}

impl Args<'_> {
    fn err(&self, msg: impl std::fmt::Display) -> DataFusionError {
        DataFusionError::Plan(format!("{}: {msg}. Usage: {}", self.function, self.usage))
    }

    fn scalar(&self, i: usize) -> Result<Option<ScalarValue>> {
        let Some(expr) = self.exprs.get(i) else {
            return Ok(None);
        };
        let mut e = expr;
        loop {
            match e {
                Expr::Literal(v, _) => return Ok(Some(v.clone())),
                Expr::Cast(c) => e = &c.expr,
                Expr::TryCast(c) => e = &c.expr,
                Expr::Alias(a) => e = &a.expr,
                _ => {
                    return Err(self.err(format!("argument {} must be a literal, got {e}", i + 1)));
                }
            }
        }
    }

    fn text(&self, i: usize, what: &str) -> Result<Option<String>> {
        match self.scalar(i)? {
            None | Some(ScalarValue::Null) => Ok(None),
            Some(ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v)) => {
                Ok(v)
            }
            Some(other) => Err(self.err(format!("{what} must be a string, got {other}"))),
        }
    }

    fn required_text(&self, i: usize, what: &str) -> Result<String> {
        self.text(i, what)?
            .ok_or_else(|| self.err(format!("{what} (argument {}) is missing", i + 1)))
    }

    fn date(&self, i: usize, what: &str) -> Result<Option<NaiveDate>> {
        let value = match self.scalar(i)? {
            None | Some(ScalarValue::Null) => return Ok(None),
            Some(v) => v,
        };
        match &value {
            ScalarValue::Date32(Some(days)) => NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                .map(Some)
                .ok_or_else(|| self.err(format!("{what} is out of range"))),
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map(Some)
                .map_err(|_| self.err(format!("{what} '{s}' is not a date like '2026-03-31'"))),
            other => Err(self.err(format!(
                "{what} must be a date like '2026-03-31', got {other}"
            ))),
        }
    }

    fn range(&self, start: usize, default_tz: &str, max_days: i64) -> Result<Option<Range>> {
        let s = self.date(start, "start date")?;
        let e = self.date(start + 1, "end date")?;
        let tz = self
            .text(start + 2, "time zone")?
            .unwrap_or_else(|| default_tz.to_string());
        parse_tz(&tz).map_err(|e| self.err(e))?;
        match (s, e) {
            (None, None) => Ok(None),
            (Some(start), Some(end)) => {
                if end < start {
                    return Err(self.err(format!(
                        "the end date {end} is before the start date {start}"
                    )));
                }
                let r = Range { start, end, tz };
                if r.days() > max_days {
                    return Err(self.err(format!(
                        "the range has {} days; at most {max_days} are allowed",
                        r.days()
                    )));
                }
                Ok(Some(r))
            }
            _ => Err(self.err("give both a start and an end date")),
        }
    }

    fn at_most(&self, n: usize) -> Result<()> {
        if self.exprs.len() > n {
            return Err(self.err(format!(
                "takes at most {n} arguments, got {}",
                self.exprs.len()
            )));
        }
        Ok(())
    }
}

/// The kinds of table function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `campaign_dashboard(campaign_id, start, end [, tz])`
    Dashboard,
    /// `campaign_daily(campaign_id, start, end [, tz])`
    Daily,
    /// `campaign_hourly(campaign_id, start, end [, tz])`
    Hourly,
    /// `campaign_runs(campaign_id [, start, end [, tz]])`
    Runs,
    /// `campaign_treatments(campaign_id, start, end [, tz])`
    Treatments,
    /// `campaign_links(campaign_id, start, end [, tz])`
    Links,
    /// `campaign_comparison(start, end [, tz])`
    Comparison,
    /// `transactional_metrics(start, end [, tz])`
    Transactional,
    /// `campaign_kpi(kpi_name, campaign_id, start, end [, tz])` and friends.
    Kpi(kpi::Scope),
}

/// A table function of the extension with its documentation.
#[derive(Debug)]
pub struct SendlensTableFunction {
    /// SQL name.
    pub name: &'static str,
    /// Call syntax.
    pub usage: &'static str,
    kind: Kind,
    default_tz: String,
    schema: Option<SchemaRef>,
}

/// Every table function: (name, usage, doc, kind).
pub const TABLE_FUNCTIONS: &[(&str, &str, &str, Kind)] = &[
    (
        "campaign_dashboard",
        "campaign_dashboard(campaign_id, start_date, end_date [, time_zone])",
        "One row: the campaign page for a date range: messages_sent, messages_delivered, links_clicked, endpoint_deliveries (daily average), delivery_rate, email_open_rate, bounce_rate, and every other measure and rate of the catalog.",
        Kind::Dashboard,
    ),
    (
        "campaign_daily",
        "campaign_daily(campaign_id, start_date, end_date [, time_zone])",
        "One row per day of the range, zeros included: endpoint_deliveries (the chart of the campaign page) and the day's sends, deliveries, opens, clicks, bounces, complaints and unsubscribes (events of sent messages, by the day they happened).",
        Kind::Daily,
    ),
    (
        "campaign_hourly",
        "campaign_hourly(campaign_id, start_date, end_date [, time_zone])",
        "The daily series at hour grain (local wall-clock hours), zeros included; at most 93 days.",
        Kind::Hourly,
    ),
    (
        "campaign_runs",
        "campaign_runs(campaign_id [, start_date, end_date [, time_zone]])",
        "The campaign-runs table: one row per run with run_started_at, endpoints_targeted, messages_sent, messages_delivered, delivery_rate, email_open_rate, bounce_rate, total_email_opened and every other metric.",
        Kind::Runs,
    ),
    (
        "campaign_treatments",
        "campaign_treatments(campaign_id, start_date, end_date [, time_zone])",
        "The A/B treatments of a campaign over the messages sent in a date range: every metric per treatment, with two-proportion z-test p-values of open rate and click-through rate against treatment '0' (the view campaign_treatment_metrics, for a range).",
        Kind::Treatments,
    ),
    (
        "campaign_links",
        "campaign_links(campaign_id, start_date, end_date [, time_zone])",
        "Clicks per link of a campaign over the messages sent in a date range: clicks (every click), unique_clicks (clicking messages), unique_endpoints.",
        Kind::Links,
    ),
    (
        "campaign_comparison",
        "campaign_comparison(start_date, end_date [, time_zone])",
        "Every campaign with messages sent in a date range, one row each with every measure and rate of the catalog (the view campaign_metrics, for a range).",
        Kind::Comparison,
    ),
    (
        "transactional_metrics",
        "transactional_metrics(start_date, end_date [, time_zone])",
        "Transactional email and SMS (no campaign, no journey) per application and channel over the messages sent in a date range: every measure and rate of the catalog.",
        Kind::Transactional,
    ),
    (
        "campaign_kpi",
        "campaign_kpi(kpi_name, campaign_id, start_date, end_date [, time_zone])",
        "A Pinpoint campaign KPI by its API name (e.g. 'successful-delivery-rate-grouped-by-date'), shaped like GetCampaignDateRangeKpi: the group columns the name asks for and Value.",
        Kind::Kpi(kpi::Scope::Campaign),
    ),
    (
        "application_kpi",
        "application_kpi(kpi_name, app_id, start_date, end_date [, time_zone])",
        "A Pinpoint application KPI by its API name, including the transactional email and SMS KPIs (txn-emails-*, txn-sms-*).",
        Kind::Kpi(kpi::Scope::Application),
    ),
    (
        "journey_kpi",
        "journey_kpi(kpi_name, journey_id, start_date, end_date [, time_zone])",
        "A Pinpoint journey email KPI by its API name (journey-emails-*, emails-*-grouped-by-journey-activity).",
        Kind::Kpi(kpi::Scope::Journey),
    ),
];

impl SendlensTableFunction {
    /// The SQL of a call.
    fn plan_sql(&self, exprs: &[Expr]) -> Result<(String, Option<SchemaRef>)> {
        let args = Args {
            function: self.name,
            usage: self.usage,
            exprs,
        };
        let tz = &self.default_tz;
        match self.kind {
            Kind::Dashboard | Kind::Daily | Kind::Hourly => {
                args.at_most(4)?;
                let campaign = args.required_text(0, "campaign_id")?;
                let max = if self.kind == Kind::Hourly {
                    MAX_HOURLY_DAYS
                } else {
                    MAX_DAYS
                };
                let range = args
                    .range(1, tz, max)?
                    .ok_or_else(|| args.err("start and end dates are required"))?;
                Ok((campaign_sql(self.kind, &campaign, &range), None))
            }
            Kind::Runs => {
                args.at_most(4)?;
                let campaign = args.required_text(0, "campaign_id")?;
                let range = args.range(1, tz, MAX_DAYS)?;
                Ok((runs_sql(&campaign, range.as_ref()), None))
            }
            Kind::Treatments | Kind::Links => {
                args.at_most(4)?;
                let campaign = args.required_text(0, "campaign_id")?;
                let range = args
                    .range(1, tz, MAX_DAYS)?
                    .ok_or_else(|| args.err("start and end dates are required"))?;
                Ok((campaign_sql(self.kind, &campaign, &range), None))
            }
            Kind::Comparison | Kind::Transactional => {
                args.at_most(3)?;
                let range = args
                    .range(0, tz, MAX_DAYS)?
                    .ok_or_else(|| args.err("start and end dates are required"))?;
                Ok((all_sql(self.kind, &range), None))
            }
            Kind::Kpi(scope) => {
                args.at_most(5)?;
                let name = args.required_text(0, "kpi_name")?;
                let id = args.required_text(1, scope.id_name())?;
                let range = args
                    .range(2, tz, MAX_DAYS)?
                    .ok_or_else(|| args.err("start and end dates are required"))?;
                let kpi = kpi::find(scope, &name).map_err(|e| args.err(e))?;
                Ok((kpi.sql(&id, &range), Some(kpi.schema())))
            }
        }
    }
}

/// SQL of the campaign page and its series.
pub fn campaign_sql(kind: Kind, campaign: &str, range: &Range) -> String {
    let scope = format!("campaign_id = {}", lit(campaign));
    let tzl = lit(&range.tz);
    match kind {
        Kind::Treatments => format!(
            "SELECT * FROM ({}) ORDER BY treatment_id",
            sql::treatments(&scope, Some(range))
        ),
        Kind::Links => format!(
            "SELECT * FROM ({}) ORDER BY clicks DESC, link",
            sql::links(&scope, Some(range))
        ),
        Kind::Daily => {
            let series = sql::series(
                &scope,
                Some(range),
                &[("day", format!("local_date(e.occurred_at, {tzl})"))],
            );
            sql::zero_filled(&range.days_table(), &series, "day")
        }
        Kind::Hourly => {
            let hours: Vec<String> = range
                .start
                .iter_days()
                .take_while(|d| *d <= range.end)
                .flat_map(|d| {
                    (0..24).map(move |h| {
                        format!(
                            "(CAST('{} {h:02}:00:00' AS TIMESTAMP))",
                            d.format("%Y-%m-%d")
                        )
                    })
                })
                .collect();
            let buckets = format!("SELECT column1 AS hour FROM (VALUES {})", hours.join(", "));
            let series = sql::series(
                &scope,
                Some(range),
                &[("hour", format!("local_hour(e.occurred_at, {tzl})"))],
            );
            sql::zero_filled(&buckets, &series, "hour")
        }
        _ => {
            let metrics = sql::metrics(&scope, Some(range), &[], true);
            let series = sql::series(
                &scope,
                Some(range),
                &[("day", format!("local_date(e.occurred_at, {tzl})"))],
            );
            format!(
                "SELECT {c} AS campaign_id, {s} AS start_date, {e} AS end_date, {tzl} AS time_zone, \
                   d.endpoint_deliveries, m.* \
                 FROM ({metrics}) m CROSS JOIN \
                   (SELECT CAST(coalesce(sum(endpoint_deliveries), 0) AS DOUBLE) / {days} AS endpoint_deliveries FROM ({series})) d",
                c = lit(campaign),
                s = sql::date_lit(range.start),
                e = sql::date_lit(range.end),
                days = range.days(),
            )
        }
    }
}

/// SQL of the functions over every campaign (or every application's
/// transactional messages) in a range.
pub fn all_sql(kind: Kind, range: &Range) -> String {
    if kind == Kind::Transactional {
        format!(
            "SELECT * FROM ({}) ORDER BY app_id, channel",
            sql::metrics(
                views::TRANSACTIONAL,
                Some(range),
                &[
                    Dim::message_only("app_id", "m.app_id"),
                    Dim::message_only("channel", "m.channel"),
                ],
                false,
            )
        )
    } else {
        format!(
            "SELECT * FROM ({}) ORDER BY messages_sent DESC, campaign_id",
            sql::metrics(
                views::campaign_scope(),
                Some(range),
                &[Dim::shared("campaign_id")],
                true,
            )
        )
    }
}

/// SQL of the runs table.
pub fn runs_sql(campaign: &str, range: Option<&Range>) -> String {
    let scope = format!("campaign_id = {}", lit(campaign));
    format!(
        "SELECT * FROM ({}) ORDER BY run_started_at, run_id",
        sql::metrics(&scope, range, &[Dim::shared("run_id")], true)
    )
}

impl TableFunctionImpl for SendlensTableFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let (sql, schema) = self.plan_sql(args.exprs())?;
        let schema = schema
            .or_else(|| self.schema.clone())
            .ok_or_else(|| DataFusionError::Internal(format!("{} has no schema", self.name)))?;
        Ok(Arc::new(SqlTable::new(sql, schema)))
    }
}

/// Register every table function in `ctx`. The result schema of the fixed-shape
/// functions is found by planning them once.
pub async fn register(ctx: &SessionContext, default_tz: &str) -> Result<()> {
    let sample = Range {
        start: NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid"),
        end: NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid"),
        tz: default_tz.to_string(),
    };
    for (name, usage, _, kind) in TABLE_FUNCTIONS {
        let schema = match kind {
            Kind::Kpi(_) => None,
            Kind::Runs => Some(runs_sql("", None)),
            Kind::Comparison | Kind::Transactional => Some(all_sql(*kind, &sample)),
            k => Some(campaign_sql(*k, "", &sample)),
        };
        let schema = match schema {
            Some(sql) => Some(Arc::new(
                ctx.state()
                    .create_logical_plan(&sql)
                    .await?
                    .schema()
                    .as_arrow()
                    .clone(),
            )),
            None => None,
        };
        ctx.register_udtf(
            name,
            Arc::new(SendlensTableFunction {
                name,
                usage,
                kind: *kind,
                default_tz: default_tz.to_string(),
                schema,
            }),
        );
    }
    Ok(())
}
