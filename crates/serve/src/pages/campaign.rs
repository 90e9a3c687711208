//! `/campaigns/{id}`: the Pinpoint campaign page for a date range and time
//! zone, then what Pinpoint never showed; each table downloads as CSV.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::ScalarValue;
use datafusion::common::runtime::SpawnedTask;
use sendlens_reports::definition::humanize;
use sendlens_reports::html::{column_labels, column_numbers};
use sendlens_reports::svg::{self, Kind, Series};

use super::layout::{self, esc};
use super::tables::{self, Marks, Tile};
use crate::Shared;
use crate::error::PageError;
use crate::params::{self, DayRange, PRESETS};
use crate::queries::{self, Table};
use crate::sessions::Current;

/// The downloadable tables: file stem and the table function behind it.
const SECTIONS: &[(&str, &str)] = &[
    ("dashboard", "campaign_dashboard"),
    ("daily", "campaign_daily"),
    ("hourly", "campaign_hourly"),
    ("runs", "campaign_runs"),
    ("treatments", "campaign_treatments"),
    ("links", "campaign_links"),
];

/// The hourly view covers at most this many days (the function allows
/// 93; a page of 2,000 hours is not read).
const HOURLY_DAYS: i64 = 31;

/// The campaign's first and last send, or a 404 when it has none.
async fn span(current: &Current, id: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), PageError> {
    let spans = || current.spans.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(span) = spans().get(id) {
        return Ok(*span);
    }
    let frame = current
        .ctx
        .sql("SELECT first_sent_at, last_sent_at FROM campaign_metrics WHERE campaign_id = $1")
        .await?
        .with_param_values(vec![ScalarValue::Utf8(Some(id.to_string()))])?;
    let batches = frame.collect().await?;
    let micros = |column: usize| -> Option<DateTime<Utc>> {
        let batch = batches.iter().find(|b| b.num_rows() > 0)?;
        let values = cast(
            batch.column(column),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )
        .ok()?;
        let values = values.as_primitive::<TimestampMicrosecondType>();
        (!values.is_null(0)).then(|| DateTime::from_timestamp_micros(values.value(0)))?
    };
    match (micros(0), micros(1)) {
        (Some(first), Some(last)) => {
            spans().insert(id.to_string(), (first, last));
            Ok((first, last))
        }
        _ => Err(PageError::NotFound(format!(
            "no campaign '{id}' with sent messages in this workspace: the list at / has every campaign"
        ))),
    }
}

/// Without dates: the 30 days up to the campaign's last send (from its
/// first, when that is later), in the page's zone.
fn default_range(span: (DateTime<Utc>, DateTime<Utc>), tz: &Tz) -> (NaiveDate, NaiveDate) {
    let first = span.0.with_timezone(tz).date_naive();
    let last = span.1.with_timezone(tz).date_naive();
    ((last - Duration::days(29)).max(first), last)
}

async fn range_of(
    state: &Shared,
    current: &Current,
    id: &str,
    query: &HashMap<String, String>,
) -> Result<(DayRange, (DateTime<Utc>, DateTime<Utc>)), PageError> {
    let span = span(current, id).await?;
    let range = params::day_range(query, &state.ws.config().time.zone, |tz| {
        default_range(span, tz)
    })
    .map_err(PageError::BadRequest)?;
    Ok((range, span))
}

/// `/campaigns/{id}/{section}.csv`: one table of the page, every column.
pub(crate) async fn csv(
    State(state): State<Shared>,
    Extension(current): Extension<Current>,
    Path((id, file)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let Some((stem, function)) = file
        .strip_suffix(".csv")
        .and_then(|stem| SECTIONS.iter().find(|(s, _)| *s == stem))
    else {
        let names: Vec<String> = SECTIONS.iter().map(|(s, _)| format!("{s}.csv")).collect();
        return Err(PageError::NotFound(format!(
            "no table '{file}': a campaign's tables are {}",
            names.join(", ")
        )));
    };
    let (range, _) = range_of(&state, &current, &id, &query).await?;
    if *stem == "hourly" && range.days() > 93 {
        return Err(PageError::BadRequest(
            "the hourly table covers at most 93 days: pick a shorter range".into(),
        ));
    }
    let table = queries::call(&current.ctx, function, queries::campaign_args(&id, &range)).await?;
    Ok(layout::csv(
        tables::csv(&table)?,
        &format!("{id}-{stem}-{}_{}.csv", range.start, range.end),
    ))
}

/// The page's results.
struct Results {
    dashboard: Table,
    daily: Table,
    hourly: Option<Table>,
    runs: Table,
    treatments: Table,
    links: Table,
}

/// `/campaigns/{id}?from=YYYY-MM-DD&to=YYYY-MM-DD&tz=ZONE` (or `preset`).
pub(crate) async fn page(
    State(state): State<Shared>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let (range, span) = range_of(&state, &current, &id, &query).await?;
    let (ctx, version) = (current.ctx, current.key.version);
    // Each query a task of its own, so that a page's queries run on every
    // core (each is planned on one partition: see `sessions`).
    let call = |function: &'static str| {
        let ctx = ctx.clone();
        let args = queries::campaign_args(&id, &range);
        // Stopped when dropped: a page dropped (its client gone, or another
        // query failed) gives back its turn (see `admission`), and its
        // queries must not go on using the cores.
        let task = SpawnedTask::spawn(async move { queries::call(&ctx, function, args).await });
        async move {
            task.join()
                .await
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?
        }
    };
    let hourly = async {
        if range.days() <= HOURLY_DAYS {
            call("campaign_hourly").await.map(Some)
        } else {
            Ok(None)
        }
    };
    let (dashboard, daily, hourly, runs, treatments, links) = tokio::try_join!(
        call("campaign_dashboard"),
        call("campaign_daily"),
        hourly,
        call("campaign_runs"),
        call("campaign_treatments"),
        call("campaign_links"),
    )?;
    let results = Results {
        dashboard,
        daily,
        hourly,
        runs,
        treatments,
        links,
    };
    let body = render(&id, &range, span, &results, version)?;
    Ok(layout::html(layout::page(
        &format!("Campaign {id}"),
        &[(
            &format!("Campaign {id}"),
            &format!("/campaigns/{}", params::encode_component(&id)),
        )],
        &body,
    )))
}

fn render(
    id: &str,
    range: &DayRange,
    span: (DateTime<Utc>, DateTime<Utc>),
    r: &Results,
    version: Option<u64>,
) -> anyhow::Result<String> {
    let base = format!("/campaigns/{}", params::encode_component(id));
    let download = |stem: &str| {
        format!(
            "<p class=\"download\"><a href=\"{base}/{stem}.csv?{}\" download>Download CSV</a></p>\n",
            esc(&range.query())
        )
    };
    let mut h = String::new();
    h.push_str(&format!(
        "<header><h1>Campaign {}</h1><p class=\"subtitle\">{} to {} ({}) · first send {} · last send {} \
         · events table version {}</p></header>\n",
        esc(id),
        range.start,
        range.end,
        esc(&range.tz),
        span.0.format("%Y-%m-%d %H:%M UTC"),
        span.1.format("%Y-%m-%d %H:%M UTC"),
        version.map_or("–".into(), |v| v.to_string()),
    ));
    range_picker(&mut h, &base, range, span);

    h.push_str("<section id=\"counts\"><h2>Messages</h2>\n");
    tables::tiles(
        &mut h,
        &r.dashboard,
        &[
            Tile {
                column: "messages_sent",
                label: None,
            },
            Tile {
                column: "messages_delivered",
                label: None,
            },
            Tile {
                column: "links_clicked",
                label: None,
            },
            Tile {
                column: "endpoint_deliveries",
                label: Some("Endpoint deliveries (average per day)"),
            },
        ],
    )?;
    h.push_str("</section>\n<section id=\"rates\"><h2>Rates</h2>\n");
    tables::tiles(
        &mut h,
        &r.dashboard,
        &[
            Tile {
                column: "delivery_rate",
                label: None,
            },
            Tile {
                column: "email_open_rate",
                label: None,
            },
            Tile {
                column: "bounce_rate",
                label: None,
            },
        ],
    )?;
    h.push_str(&download("dashboard"));
    h.push_str("</section>\n<section id=\"daily\"><h2>Endpoint deliveries per day</h2>\n");
    chart(
        &mut h,
        &r.daily,
        "day",
        &["endpoint_deliveries"],
        Kind::Bars,
        "Endpoint deliveries per day",
    )?;
    h.push_str("<details><summary>Data</summary>\n");
    tables::table(
        &mut h,
        &r.daily,
        "Per day, by the day events happened",
        Marks::Days("endpoint_deliveries"),
    )?;
    h.push_str("</details>\n");
    h.push_str(&download("daily"));
    h.push_str("</section>\n<section id=\"runs\"><h2>Campaign runs</h2>\n");
    let runs = r.runs.select(&[
        "run_id",
        "run_started_at",
        "endpoints_targeted",
        "messages_sent",
        "messages_delivered",
        "delivery_rate",
        "total_email_opened",
        "email_open_rate",
        "links_clicked",
        "bounce_rate",
    ])?;
    tables::table(
        &mut h,
        &runs,
        "One row per run of the campaign",
        Marks::None,
    )?;
    h.push_str(&download("runs"));

    h.push_str(
        "</section>\n<section id=\"engagement\"><h2>Engagement</h2>\n\
         <p class=\"note\">Numbers the Pinpoint page did not show. Machine opens (mail privacy \
         proxies, scanners) are told apart by their user agent: the open rate without them is an \
         estimate.</p>\n",
    );
    tables::tiles(
        &mut h,
        &r.dashboard,
        &[
            Tile {
                column: "unique_opens",
                label: None,
            },
            Tile {
                column: "unique_clicks",
                label: None,
            },
            Tile {
                column: "click_through_rate",
                label: None,
            },
            Tile {
                column: "click_to_open_rate",
                label: None,
            },
            Tile {
                column: "estimated_human_open_rate",
                label: Some("Open rate without machine opens (estimate)"),
            },
            Tile {
                column: "soft_bounces",
                label: None,
            },
            Tile {
                column: "hard_bounces",
                label: None,
            },
            Tile {
                column: "complaints",
                label: None,
            },
            Tile {
                column: "unsubscribes",
                label: None,
            },
        ],
    )?;
    chart(
        &mut h,
        &r.daily,
        "day",
        &["unique_opens", "unique_clicks"],
        Kind::Lines,
        "Opens and clicks per day",
    )?;
    h.push_str(
        "</section>\n<section id=\"treatments\"><h2>A/B treatments</h2>\n\
                <p class=\"note\">p-values: two-proportion z-tests against treatment 0.</p>\n",
    );
    let treatments = r.treatments.select(&[
        "treatment_id",
        "messages_sent",
        "messages_delivered",
        "unique_opens",
        "email_open_rate",
        "open_rate_p_value",
        "unique_clicks",
        "click_through_rate",
        "click_through_rate_p_value",
    ])?;
    tables::table(
        &mut h,
        &treatments,
        "Per treatment, over the messages sent in the range",
        Marks::None,
    )?;
    h.push_str(&download("treatments"));
    h.push_str("</section>\n<section id=\"links\"><h2>Clicks per link</h2>\n");
    let links = r
        .links
        .select(&["link", "clicks", "unique_clicks", "unique_endpoints"])?;
    tables::table(
        &mut h,
        &links,
        "Per link, over the messages sent in the range",
        Marks::None,
    )?;
    h.push_str(&download("links"));
    h.push_str("</section>\n<section id=\"hourly\"><h2>By hour</h2>\n");
    match &r.hourly {
        Some(hourly) => {
            chart(
                &mut h,
                hourly,
                "hour",
                &["endpoint_deliveries", "unique_opens", "unique_clicks"],
                Kind::Lines,
                "Per hour",
            )?;
            h.push_str(&download("hourly"));
        }
        None => h.push_str(&format!(
            "<p class=\"note\">Pick {HOURLY_DAYS} days or fewer for the hourly view.</p>\n"
        )),
    }
    h.push_str("</section>\n");
    Ok(h)
}

/// The date range form (dates, zone) and the preset links.
fn range_picker(
    h: &mut String,
    base: &str,
    range: &DayRange,
    span: (DateTime<Utc>, DateTime<Utc>),
) {
    h.push_str(&format!(
        "<form class=\"range\" method=\"get\" action=\"{base}\" aria-label=\"Date range\">\
         <label for=\"from\">From<input type=\"date\" id=\"from\" name=\"from\" value=\"{}\" required></label>\
         <label for=\"to\">To<input type=\"date\" id=\"to\" name=\"to\" value=\"{}\" required></label>\
         <label for=\"tz\">Time zone<input id=\"tz\" name=\"tz\" value=\"{}\" list=\"zones\" size=\"18\"></label>\
         <datalist id=\"zones\">",
        range.start,
        range.end,
        esc(&range.tz)
    ));
    for zone in [
        "UTC",
        "America/New_York",
        "America/Los_Angeles",
        "Europe/London",
        "Europe/Berlin",
        "Asia/Tokyo",
        "Australia/Sydney",
    ] {
        h.push_str(&format!("<option value=\"{zone}\">"));
    }
    h.push_str("</datalist><button type=\"submit\">Show</button></form>\n<div class=\"presets\" aria-label=\"Presets\">");
    let tz = params::encode_component(&range.tz);
    for (name, label, _) in PRESETS {
        h.push_str(&format!(
            "<a href=\"{base}?preset={name}&amp;tz={}\">{label}</a>",
            esc(&tz)
        ));
    }
    let all = DayRange {
        start: span.0.date_naive(),
        end: span.1.date_naive(),
        tz: range.tz.clone(),
    };
    if all.days() <= params::MAX_DAYS {
        h.push_str(&format!(
            "<a href=\"{base}?{}\">All sends</a>",
            esc(&all.query())
        ));
    }
    h.push_str("</div>\n");
}

/// A chart of `ys` over column `x`.
fn chart(
    h: &mut String,
    table: &Table,
    x: &str,
    ys: &[&str],
    kind: Kind,
    title: &str,
) -> anyhow::Result<()> {
    let Ok(xi) = table.schema.index_of(x) else {
        return Ok(());
    };
    // Days and hours read shorter without their zero times.
    let labels: Vec<String> = column_labels(&table.batches, xi)
        .into_iter()
        .map(|l| l.replace("T00:00:00", "").replace(":00:00", "h"))
        .collect();
    if labels.is_empty() {
        h.push_str("<p class=\"empty\">No data for this range.</p>\n");
        return Ok(());
    }
    let mut series = Vec::new();
    for y in ys {
        if let Ok(yi) = table.schema.index_of(y) {
            series.push(Series {
                name: humanize(y),
                values: column_numbers(&table.batches, yi)?,
            });
        }
    }
    h.push_str("<div class=\"chart-wrap\" role=\"img\" aria-label=\"");
    h.push_str(&esc(title));
    h.push_str("\">");
    h.push_str(&svg::chart(kind, title, &labels, &series, false));
    h.push_str("</div>\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Sets its flag when the task holding it is dropped (stopped).
    struct Stopped(Arc<AtomicBool>);

    impl Drop for Stopped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_dropped_page_stops_its_queries() {
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = Stopped(stopped.clone());
        // A page's query is spawned as `page` spawns it.
        let query = SpawnedTask::spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        assert!(!stopped.load(Ordering::SeqCst));
        drop(query);
        for _ in 0..100 {
            if stopped.load(Ordering::SeqCst) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the query kept running after its page was dropped");
    }
}
