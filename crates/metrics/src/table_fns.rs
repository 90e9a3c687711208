//! Table functions: the campaign page for a date range, its day series, the
//! runs table and the KPIs by name.
//!
//! A call checks and binds its arguments (ids become quoted literals, dates
//! and time zones are validated) and returns a [`SqlTable`], which plans the
//! generated SQL when it is scanned.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::optimizer::simplify_expressions::SimplifyExpressions;
use datafusion::optimizer::{OptimizerContext, OptimizerRule};
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use datafusion::prelude::SessionContext;

use crate::sealed::SealedExec;
use crate::sql::{self, Dim, Range, lit};
use crate::templates::{self, Rebinding, Template};
use crate::udf::local_time::parse_tz;
use crate::{kpi, views};

/// Longest range a day series accepts (ten years), so that a typo in a year
/// does not build a million-row table.
const MAX_DAYS: i64 = 3_660;
/// Longest range an hourly series accepts.
const MAX_HOURLY_DAYS: i64 = 93;

/// Optimized plans of the SQL texts of one table function, with their
/// placeholders unbound, for the tables they were planned over: a call of a
/// shape seen before binds its values and skips SQL planning and
/// optimization, most of the time a small dashboard takes. In a session
/// that opts in ([`Rebinding`]), physical plans too (see [`templates`]).
#[derive(Debug, Default)]
pub struct PlanCache {
    plans: Kept<LogicalPlan>,
    /// Per SQL text and parameter types; `None`: the shape has no usable
    /// template, plan it each time.
    templates: Kept<Option<Arc<Template>>>,
}

/// What is kept per shape, with the identities of the tables it was
/// planned over.
type Kept<T> = Mutex<HashMap<String, (Vec<usize>, T)>>;

/// Plans kept per function at most; past it the oldest shapes are dropped.
const CACHED_PLANS: usize = 64;

/// The entry of `key` if it was made for `tables`.
fn lookup<T: Clone>(map: &Kept<T>, key: &str, tables: &[usize]) -> Option<T> {
    let map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.get(key)
        .filter(|(t, _)| t.as_slice() == tables)
        .map(|(_, v)| v.clone())
}

fn keep<T>(map: &Kept<T>, key: &str, tables: Vec<usize>, v: T) {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= CACHED_PLANS {
        map.clear();
    }
    map.insert(key.to_string(), (tables, v));
}

/// The tables every plan of a table function reads, directly or through
/// the views.
const READ_TABLES: [&str; 5] = [
    crate::EVENTS_TABLE,
    "message_facts",
    "campaign_targets",
    "message_events",
    "campaign_metrics",
];

/// The identity of the tables a plan reads: a session that registers a
/// table again (a new version, fresh facts) plans again.
async fn table_identities(state: &SessionState) -> Result<Vec<usize>> {
    let options = state.config_options();
    let catalog = state
        .catalog_list()
        .catalog(&options.catalog.default_catalog);
    let schema = catalog.and_then(|c| c.schema(&options.catalog.default_schema));
    let mut ids = Vec::new();
    if let Some(schema) = schema {
        for name in READ_TABLES {
            ids.push(match schema.table(name).await? {
                Some(table) => Arc::as_ptr(&table) as *const () as usize,
                None => 0,
            });
        }
    }
    Ok(ids)
}

/// The session a table function plans in (and a planner that inlines
/// table functions plans them in).
pub fn session_state(session: &dyn Session) -> Result<&SessionState> {
    session
        .as_any()
        .downcast_ref::<SessionState>()
        .ok_or_else(|| {
            DataFusionError::Internal("sendlens table functions need a SessionState".into())
        })
}

/// A table whose rows are a SQL query, planned when scanned.
#[derive(Debug)]
pub struct SqlTable {
    sql: String,
    schema: SchemaRef,
    /// Values of the SQL's placeholders, and where its plans are kept.
    bound: Option<(Vec<ScalarValue>, Arc<PlanCache>)>,
}

impl SqlTable {
    /// A table of `sql`, whose result has `schema`.
    pub fn new(sql: String, schema: SchemaRef) -> Self {
        Self {
            sql,
            schema,
            bound: None,
        }
    }

    /// A table of `sql` with `params` for its placeholders; its plans are
    /// kept in `plans`.
    pub fn bound(
        sql: String,
        schema: SchemaRef,
        params: Vec<ScalarValue>,
        plans: Arc<PlanCache>,
    ) -> Self {
        Self {
            sql,
            schema,
            bound: Some((params, plans)),
        }
    }

    /// The optimized logical plan of the SQL, its parameters bound: what a
    /// scan executes. A planner that ships plans elsewhere (a Ballista
    /// client) puts it in the place of the table's scan.
    pub async fn logical_plan(&self, state: &SessionState) -> Result<LogicalPlan> {
        let Some((params, plans)) = &self.bound else {
            return state.optimize(&state.create_logical_plan(&self.sql).await?);
        };
        let tables = table_identities(state).await?;
        let plan = self
            .unbound_plan(state, plans, &tables)
            .await?
            .with_param_values(ParamValues::List(
                params.iter().cloned().map(Into::into).collect(),
            ))?;
        // The values are in: casts of literals fold, and the scans' filters
        // prune with them.
        Ok(SimplifyExpressions::new()
            .rewrite(plan, &OptimizerContext::new())?
            .data)
    }

    /// The optimized plan of the SQL with its placeholders, kept per shape.
    async fn unbound_plan(
        &self,
        state: &SessionState,
        plans: &PlanCache,
        tables: &[usize],
    ) -> Result<LogicalPlan> {
        if let Some(plan) = lookup(&plans.plans, &self.sql, tables) {
            return Ok(plan);
        }
        let plan = state.optimize(&state.create_logical_plan(&self.sql).await?)?;
        keep(&plans.plans, &self.sql, tables.to_vec(), plan.clone());
        Ok(plan)
    }

    /// The physical plan of this call copied from its shape's template, in
    /// a session that keeps them; none when it must be planned.
    async fn copied_plan(&self, state: &SessionState) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some((params, plans)) = &self.bound else {
            return Ok(None);
        };
        if state.config().get_extension::<Rebinding>().is_none() {
            return Ok(None);
        }
        let Some(stand_ins) = params
            .iter()
            .enumerate()
            .map(|(i, v)| templates::stand_in(i, v))
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(None);
        };
        let tables = table_identities(state).await?;
        let types: Vec<String> = params.iter().map(|p| p.data_type().to_string()).collect();
        let key = format!("{}\n-- {}", self.sql, types.join(", "));
        let template = match lookup(&plans.templates, &key, &tables) {
            Some(template) => template,
            None => {
                let plan = self
                    .unbound_plan(state, plans, &tables)
                    .await?
                    .with_param_values(ParamValues::List(
                        stand_ins.iter().cloned().map(Into::into).collect(),
                    ))?;
                // A shape the stand-ins cannot be planned for is planned
                // with each call's values, as without templates.
                let template = match state
                    .query_planner()
                    .create_physical_plan(&plan, state)
                    .await
                {
                    Ok(plan) => Template::prepare(plan, stand_ins)?.map(Arc::new),
                    Err(_) => None,
                };
                keep(&plans.templates, &key, tables, template.clone());
                template
            }
        };
        match template {
            Some(template) => template.bind(params),
            None => Ok(None),
        }
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
        // A few rows at most: the query filters them above the scan, and
        // the plans kept per shape stay the same whatever it filters.
        Ok(vec![
            TableProviderFilterPushDown::Unsupported;
            filters.len()
        ])
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let state = session_state(state)?;
        let plan = match self.copied_plan(state).await? {
            Some(plan) => plan,
            None => {
                let plan = self.logical_plan(state).await?;
                state
                    .query_planner()
                    .create_physical_plan(&plan, state)
                    .await?
            }
        };
        let plan = match projection {
            Some(columns) => {
                let schema = plan.schema();
                let exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = columns
                    .iter()
                    .map(|&i| {
                        let name = schema.field(i).name().clone();
                        (
                            Arc::new(Column::new(&name, i)) as Arc<dyn PhysicalExpr>,
                            name,
                        )
                    })
                    .collect();
                Arc::new(ProjectionExec::try_new(exprs, plan)?) as Arc<dyn ExecutionPlan>
            }
            None => plan,
        };
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
                let r = Range::new(start, end, tz);
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
    /// The result schema of a fixed-shape function, found by planning
    /// `sample` on its first call (a session that never calls it never
    /// plans it).
    schema: OnceLock<SchemaRef>,
    sample: Option<String>,
    plans: Arc<PlanCache>,
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

/// What a call runs: its SQL, the schema when it depends on the call, and
/// the values of the SQL's placeholders when it has them.
struct Call {
    sql: String,
    schema: Option<SchemaRef>,
    params: Option<Vec<ScalarValue>>,
}

impl Call {
    /// SQL with `$1` the subject (or NULL) and `$2`, `$3` the range's days.
    fn bound(sql: String, subject: Option<&str>, range: Option<&Range>) -> Self {
        let date = |d: NaiveDate| ScalarValue::Date32(Some(days_since_epoch(d)));
        let mut params = vec![ScalarValue::Utf8(subject.map(str::to_string))];
        if let Some(r) = range {
            params.extend([date(r.start), date(r.end)]);
        }
        Self {
            sql,
            schema: None,
            params: Some(params),
        }
    }
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    // Date32 counts days from 1970-01-01, which is day 719,163 of the era.
    d.num_days_from_ce() - 719_163
}

/// The range of a call, its days as placeholders.
fn bound(mut range: Range) -> Range {
    range.bound = true;
    range
}

impl SendlensTableFunction {
    /// What a call runs.
    fn plan_sql(&self, exprs: &[Expr]) -> Result<Call> {
        let args = Args {
            function: self.name,
            usage: self.usage,
            exprs,
        };
        let tz = &self.default_tz;
        let subject = sql::SUBJECT_PARAM;
        match self.kind {
            Kind::Hourly => {
                args.at_most(4)?;
                let campaign = args.required_text(0, "campaign_id")?;
                let range = bound(
                    args.range(1, tz, MAX_HOURLY_DAYS)?
                        .ok_or_else(|| args.err("start and end dates are required"))?,
                );
                let sql = campaign_sql(self.kind, subject, &range);
                Ok(Call::bound(sql, Some(&campaign), Some(&range)))
            }
            Kind::Dashboard | Kind::Daily | Kind::Treatments | Kind::Links => {
                args.at_most(4)?;
                let campaign = args.required_text(0, "campaign_id")?;
                let range = bound(
                    args.range(1, tz, MAX_DAYS)?
                        .ok_or_else(|| args.err("start and end dates are required"))?,
                );
                let sql = campaign_sql(self.kind, subject, &range);
                Ok(Call::bound(sql, Some(&campaign), Some(&range)))
            }
            Kind::Runs => {
                args.at_most(4)?;
                let campaign = args.required_text(0, "campaign_id")?;
                let range = args.range(1, tz, MAX_DAYS)?.map(bound);
                let sql = runs_sql(subject, range.as_ref());
                Ok(Call::bound(sql, Some(&campaign), range.as_ref()))
            }
            Kind::Comparison | Kind::Transactional => {
                args.at_most(3)?;
                let range = bound(
                    args.range(0, tz, MAX_DAYS)?
                        .ok_or_else(|| args.err("start and end dates are required"))?,
                );
                Ok(Call::bound(all_sql(self.kind, &range), None, Some(&range)))
            }
            Kind::Kpi(scope) => {
                args.at_most(5)?;
                let name = args.required_text(0, "kpi_name")?;
                let id = args.required_text(1, scope.id_name())?;
                let range = args
                    .range(2, tz, MAX_DAYS)?
                    .ok_or_else(|| args.err("start and end dates are required"))?;
                let kpi = kpi::find(scope, &name).map_err(|e| args.err(e))?;
                Ok(Call {
                    sql: kpi.sql(&id, &range),
                    schema: Some(kpi.schema()),
                    params: None,
                })
            }
        }
    }
}

/// The rows of one campaign. `IS NOT NULL` changes no answer: it lets the
/// scans skip the row groups of rows without a campaign, whose statistics
/// have no bounds, which the comparison alone does not rule out.
fn campaign_scope(campaign: &str) -> String {
    format!("campaign_id IS NOT NULL AND campaign_id = {campaign}")
}

/// SQL of the campaign page and its series; `campaign` is SQL: a quoted
/// literal or a placeholder.
pub fn campaign_sql(kind: Kind, campaign: &str, range: &Range) -> String {
    let scope = campaign_scope(campaign);
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
            let series = sql::series(
                &scope,
                Some(range),
                &[("hour", format!("local_hour(e.occurred_at, {tzl})"))],
            );
            sql::zero_filled(&range.hours_table(), &series, "hour")
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
                c = campaign,
                s = range.start_sql(),
                e = range.end_sql(),
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

/// SQL of the runs table; `campaign` is SQL, as in [`campaign_sql`].
pub fn runs_sql(campaign: &str, range: Option<&Range>) -> String {
    let scope = campaign_scope(campaign);
    format!(
        "SELECT * FROM ({}) ORDER BY run_started_at, run_id",
        sql::metrics(&scope, range, &[Dim::shared("run_id")], true)
    )
}

impl SendlensTableFunction {
    /// The result schema of a fixed-shape function.
    fn fixed_schema(&self, session: &dyn Session) -> Result<SchemaRef> {
        if let Some(schema) = self.schema.get() {
            return Ok(Arc::clone(schema));
        }
        let sample = self
            .sample
            .as_ref()
            .ok_or_else(|| DataFusionError::Internal(format!("{} has no schema", self.name)))?;
        let state = session_state(session)?;
        // The call is synchronous and the SQL planner is not. Planning looks
        // up tables in the session's catalog and does no I/O of its own, so
        // the future completes without waiting on the runtime.
        let plan = futures::executor::block_on(state.create_logical_plan(sample))?;
        let schema = Arc::new(plan.schema().as_arrow().clone());
        Ok(Arc::clone(self.schema.get_or_init(|| schema)))
    }
}

impl TableFunctionImpl for SendlensTableFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let call = self.plan_sql(args.exprs())?;
        let schema = match call.schema {
            Some(schema) => schema,
            None => self.fixed_schema(args.session())?,
        };
        Ok(Arc::new(match call.params {
            Some(params) => SqlTable::bound(call.sql, schema, params, Arc::clone(&self.plans)),
            None => SqlTable::new(call.sql, schema),
        }))
    }
}

/// Register every table function in `ctx`. The result schema of a
/// fixed-shape function is found by planning it on its first call.
pub async fn register(ctx: &SessionContext, default_tz: &str) -> Result<()> {
    // The SQL of a call of each shape: a day's range, days as placeholders
    // as calls have them (the hourly series' hours are literals).
    let day = NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid");
    let one_day = Range::new(day, day, default_tz);
    let subject = sql::SUBJECT_PARAM;
    for (name, usage, _, kind) in TABLE_FUNCTIONS {
        let sample = match kind {
            Kind::Kpi(_) => None,
            Kind::Runs => Some(runs_sql(subject, None)),
            Kind::Comparison | Kind::Transactional => Some(all_sql(*kind, &bound(one_day.clone()))),
            k => Some(campaign_sql(*k, subject, &bound(one_day.clone()))),
        };
        ctx.register_udtf(
            name,
            Arc::new(SendlensTableFunction {
                name,
                usage,
                kind: *kind,
                default_tz: default_tz.to_string(),
                schema: OnceLock::new(),
                sample,
                plans: Arc::default(),
            }),
        );
    }
    Ok(())
}
