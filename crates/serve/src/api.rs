//! Pinpoint's analytics API, answered from the workspace: the three
//! date-range KPI operations and `GetCampaignActivities`, in the JSON the
//! AWS SDKs parse, from the KPI and runs table functions.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::lit;
use datafusion::prelude::SessionContext;
use sendlens_metrics::kpi::{self, Scope};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::params;
use crate::queries::{self, Table};
use crate::sessions::Current;

impl From<datafusion::error::DataFusionError> for ApiError {
    fn from(e: datafusion::error::DataFusionError) -> ApiError {
        ApiError::internal(e)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::internal(format!("{e:#}"))
    }
}

/// Whether any message matches `predicate` (SQL over `message_facts`, with
/// `$1`, `$2` bound to `values`).
async fn exists(ctx: &SessionContext, predicate: &str, values: &[&str]) -> Result<bool, ApiError> {
    let frame = ctx
        .sql(&format!(
            "SELECT 1 FROM message_facts WHERE {predicate} LIMIT 1"
        ))
        .await?
        .with_param_values(
            values
                .iter()
                .map(|v| ScalarValue::Utf8(Some(v.to_string())))
                .collect::<Vec<_>>(),
        )?;
    Ok(frame.collect().await?.iter().any(|b| b.num_rows() > 0))
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The page of `table`'s rows a call asks for, as Pinpoint's `Rows`, and
/// the token of the next page.
fn kpi_rows(
    table: &Table,
    value_key: &str,
    size: usize,
    offset: usize,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let value = table.schema.fields().len() - 1;
    // A rate over nothing (no delivered email, say) has no value: as
    // Pinpoint does for a range without data, no row says it.
    let exact: Vec<_> = table
        .exact()?
        .into_iter()
        .filter(|row| row[value].is_some())
        .collect();
    let rows = exact
        .iter()
        .skip(offset)
        .take(size)
        .map(|row| {
            let grouped: Vec<Value> = table
                .schema
                .fields()
                .iter()
                .take(value)
                .zip(row)
                .map(|(f, v)| json!({"Key": f.name(), "Type": "String", "Value": v.clone().unwrap_or_default()}))
                .collect();
            json!({
                "GroupedBys": grouped,
                "Values": [{"Key": value_key, "Type": "Double", "Value": row[value].clone().unwrap_or_default()}],
            })
        })
        .collect();
    let next = (offset + size < exact.len()).then(|| (offset + size).to_string());
    Ok((rows, next))
}

/// Whose KPIs a call asks for: the scope, the application, and the
/// campaign or journey (its body field and id).
struct Subject {
    scope: Scope,
    app: String,
    id: Option<(&'static str, String)>,
}

impl Subject {
    /// The 404 unless the workspace holds a message of it.
    async fn check(&self, ctx: &SessionContext) -> Result<(), ApiError> {
        let (predicate, what) = match self.scope {
            Scope::Application => ("app_id = $1", "Application"),
            Scope::Campaign => ("app_id = $1 AND campaign_id = $2", "Campaign"),
            Scope::Journey => ("app_id = $1 AND journey_id = $2", "Journey"),
        };
        let mut values = vec![self.app.as_str()];
        values.extend(self.id.as_ref().map(|(_, id)| id.as_str()));
        if exists(ctx, predicate, &values).await? {
            return Ok(());
        }
        let named = match &self.id {
            Some((_, id)) => format!("{what} {id} of application {}", self.app),
            None => format!("{what} {}", self.app),
        };
        Err(ApiError::not_found(format!(
            "{named} not found: no message of it is in the workspace"
        )))
    }
}

/// A date-range KPI call (`Get…DateRangeKpi`): the KPI table function of
/// the subject's scope, shaped as Pinpoint's answer.
async fn date_range_kpi(
    current: Current,
    subject: Subject,
    name: String,
    query: HashMap<String, String>,
) -> Result<Response, ApiError> {
    let found = kpi::find(subject.scope, &name).map_err(ApiError::bad_request)?;
    let (range, start, end) = params::api_range(&query).map_err(ApiError::bad_request)?;
    let (size, offset) = params::paging(&query, "next-token").map_err(ApiError::bad_request)?;
    let ctx = current.ctx;
    subject.check(&ctx).await?;
    let (function, id) = match (&subject.scope, &subject.id) {
        (Scope::Campaign, Some((_, id))) => ("campaign_kpi", id),
        (Scope::Journey, Some((_, id))) => ("journey_kpi", id),
        _ => ("application_kpi", &subject.app),
    };
    let table = queries::call(
        &ctx,
        function,
        vec![
            lit(name.as_str()),
            lit(id.as_str()),
            queries::date(range.start),
            queries::date(range.end),
            lit("UTC"),
        ],
    )
    .await?;
    let (rows, next) = kpi_rows(&table, &found.value_key(), size, offset)?;
    let mut body = json!({
        "ApplicationId": subject.app, "KpiName": name, "KpiResult": { "Rows": rows },
        "StartTime": iso(start), "EndTime": iso(end),
    });
    if let Some((field, id)) = &subject.id {
        body[*field] = json!(id);
    }
    if let Some(next) = next {
        body["NextToken"] = json!(next);
    }
    Ok(Json(body).into_response())
}

/// `GetCampaignDateRangeKpi`.
pub(crate) async fn campaign_kpi(
    Extension(current): Extension<Current>,
    Path((app, campaign, name)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let subject = Subject {
        scope: Scope::Campaign,
        app,
        id: Some(("CampaignId", campaign)),
    };
    date_range_kpi(current, subject, name, query).await
}

/// `GetApplicationDateRangeKpi`.
pub(crate) async fn application_kpi(
    Extension(current): Extension<Current>,
    Path((app, name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let subject = Subject {
        scope: Scope::Application,
        app,
        id: None,
    };
    date_range_kpi(current, subject, name, query).await
}

/// `GetJourneyDateRangeKpi`.
pub(crate) async fn journey_kpi(
    Extension(current): Extension<Current>,
    Path((app, journey, name)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let subject = Subject {
        scope: Scope::Journey,
        app,
        id: Some(("JourneyId", journey)),
    };
    date_range_kpi(current, subject, name, query).await
}

/// `GetCampaignActivities`: one item per run of the campaign.
pub(crate) async fn campaign_activities(
    Extension(current): Extension<Current>,
    Path((app, campaign)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (size, offset) = params::paging(&query, "token").map_err(ApiError::bad_request)?;
    let ctx = current.ctx;
    let subject = Subject {
        scope: Scope::Campaign,
        app: app.clone(),
        id: Some(("CampaignId", campaign.clone())),
    };
    subject.check(&ctx).await?;
    let runs = queries::call(&ctx, "campaign_runs", vec![lit(campaign.as_str())])
        .await?
        .select(&[
            "run_id",
            "run_started_at",
            "last_sent_at",
            "endpoints_targeted",
            "messages_sent",
        ])?;
    let exact = runs.exact()?;
    let count = |v: &Option<String>| -> Value {
        v.as_deref()
            .and_then(|s| s.parse::<i64>().ok())
            .map_or(json!(0), |n| json!(n))
    };
    let items: Vec<Value> = exact
        .iter()
        .skip(offset)
        .take(size)
        .map(|r| {
            json!({
                "ApplicationId": app,
                "CampaignId": campaign,
                "Id": r[0].clone().unwrap_or_default(),
                "ScheduledStart": r[1].clone().unwrap_or_default(),
                "Start": r[1].clone().unwrap_or_default(),
                "End": r[2].clone().unwrap_or_default(),
                "State": "COMPLETED",
                "Result": "SUCCESS",
                "TotalEndpointCount": count(&r[3]),
                "SuccessfulEndpointCount": count(&r[4]),
            })
        })
        .collect();
    let mut body = json!({ "Item": items });
    if offset + size < exact.len() {
        body["NextToken"] = json!((offset + size).to_string());
    }
    Ok(Json(body).into_response())
}
