//! `sendlens metrics CAMPAIGN_ID`: the campaign page of the Pinpoint console
//! in the terminal.

use std::io::Write;
use std::path::Path;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::json::ArrayWriter;
use datafusion::prelude::SessionContext;
use sendlens_metrics::sql::lit;
use sendlens_store::Workspace;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PageFormat {
    /// The page, for people.
    Table,
    /// One JSON object: dashboard, daily and runs.
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// Campaign id (see `sendlens campaigns`).
    pub campaign_id: String,
    /// First day (default: the day of the campaign's first send).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (default: the day of its last send).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<NaiveDate>,
    /// IANA time zone of the days (default: the workspace's).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PageFormat::Table)]
    pub format: PageFormat,
    /// Run the queries on a sendlens cluster: its scheduler's address,
    /// df://HOST:PORT (see `sendlens cluster`).
    #[arg(long, value_name = "URL", env = "SENDLENS_CLUSTER")]
    pub cluster: Option<String>,
}

async fn query(ctx: &SessionContext, sql: &str) -> anyhow::Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// A numeric cell by column name (first row of the first batch).
fn num(batches: &[RecordBatch], row: usize, column: &str) -> Option<f64> {
    let mut row = row;
    for b in batches {
        if row < b.num_rows() {
            let col = b.column_by_name(column)?;
            let col = cast(col, &DataType::Float64).ok()?;
            let col = col.as_primitive::<Float64Type>();
            return (!col.is_null(row)).then(|| col.value(row));
        }
        row -= b.num_rows();
    }
    None
}

fn text(batches: &[RecordBatch], row: usize, column: &str) -> String {
    let mut row = row;
    for b in batches {
        if row < b.num_rows() {
            let Some(col) = b.column_by_name(column) else {
                return String::new();
            };
            return datafusion::arrow::util::display::array_value_to_string(col, row)
                .unwrap_or_default();
        }
        row -= b.num_rows();
    }
    String::new()
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// A count with thousands separators.
pub fn count(v: Option<f64>) -> String {
    let Some(v) = v else {
        return "-".into();
    };
    let s = format!("{}", v.round() as i64);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// A rate as a percentage; `-` when undefined (zero denominator).
pub fn percent(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
}

fn to_json(batches: &[RecordBatch]) -> anyhow::Result<serde_json::Value> {
    let mut w = ArrayWriter::new(Vec::new());
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    let bytes = w.into_inner();
    Ok(if bytes.is_empty() {
        serde_json::Value::Array(vec![])
    } else {
        serde_json::from_slice(&bytes)?
    })
}

pub fn run(workspace: &Path, args: Args) -> anyhow::Result<()> {
    let ws = Workspace::open(workspace)?;
    let tz = args
        .tz
        .clone()
        .unwrap_or_else(|| ws.config().time.zone.clone());
    let rt = super::runtime()?;
    rt.block_on(async {
        let ctx = match &args.cluster {
            Some(url) => sendlens_cluster::connect(url, &ws).await?,
            None => sendlens_store::open_session(&ws).await?,
        };
        let id = lit(&args.campaign_id);
        let (from, to) = match (args.from, args.to) {
            (Some(f), Some(t)) => (f, t),
            (f, t) => {
                let span = query(
                    &ctx,
                    &format!(
                        "SELECT CAST(min(local_date(sent_at, {z})) AS VARCHAR) AS f, CAST(max(local_date(sent_at, {z})) AS VARCHAR) AS t \
                         FROM message_facts WHERE sent AND campaign_id = {id}",
                        z = lit(&tz)
                    ),
                )
                .await?;
                let parse = |c: &str| NaiveDate::parse_from_str(&text(&span, 0, c), "%Y-%m-%d").ok();
                match (f.or(parse("f")), t.or(parse("t"))) {
                    (Some(f), Some(t)) => (f, t),
                    _ => anyhow::bail!(
                        "campaign '{}' has no sent messages in this workspace; `sendlens campaigns` lists the campaigns",
                        args.campaign_id
                    ),
                }
            }
        };
        let range = format!("{id}, DATE '{from}', DATE '{to}', {}", lit(&tz));
        let dashboard = query(&ctx, &format!("SELECT * FROM campaign_dashboard({range})")).await?;
        let daily = query(&ctx, &format!("SELECT * FROM campaign_daily({range})")).await?;
        let runs = query(
            &ctx,
            &format!("SELECT * FROM campaign_runs({range})"),
        )
        .await?;
        let mut out = std::io::stdout().lock();
        match args.format {
            PageFormat::Json => {
                let page = serde_json::json!({
                    "dashboard": to_json(&dashboard)?.get(0).cloned().unwrap_or_default(),
                    "daily": to_json(&daily)?,
                    "runs": to_json(&runs)?,
                });
                writeln!(out, "{}", serde_json::to_string_pretty(&page)?)?;
            }
            PageFormat::Table => {
                print_page(&mut out, &args.campaign_id, from, to, &tz, &dashboard, &daily, &runs)?
            }
        }
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)]
fn print_page(
    out: &mut dyn Write,
    campaign: &str,
    from: NaiveDate,
    to: NaiveDate,
    tz: &str,
    d: &[RecordBatch],
    daily: &[RecordBatch],
    runs: &[RecordBatch],
) -> anyhow::Result<()> {
    let n = |c: &str| num(d, 0, c);
    writeln!(out, "Campaign {campaign}")?;
    writeln!(out, "{from} to {to} ({tz})")?;
    writeln!(out)?;
    writeln!(out, "Delivery count metrics")?;
    writeln!(
        out,
        "  Messages sent          {:>12}",
        count(n("messages_sent"))
    )?;
    writeln!(
        out,
        "  Messages delivered     {:>12}",
        count(n("messages_delivered"))
    )?;
    writeln!(
        out,
        "  Links clicked          {:>12}",
        count(n("links_clicked"))
    )?;
    writeln!(
        out,
        "  Endpoint deliveries    {:>12}  (average per day)",
        n("endpoint_deliveries").map_or("-".into(), sendlens_render::average)
    )?;
    writeln!(out)?;
    writeln!(out, "Delivery rate metrics")?;
    writeln!(
        out,
        "  Delivery rate          {:>12}",
        percent(n("delivery_rate"))
    )?;
    writeln!(
        out,
        "  Email open rate        {:>12}",
        percent(n("email_open_rate"))
    )?;
    writeln!(
        out,
        "  Bounce rate            {:>12}  (hard bounces)",
        percent(n("bounce_rate"))
    )?;
    writeln!(out)?;
    writeln!(out, "Endpoint deliveries per day")?;
    let max = (0..rows(daily))
        .filter_map(|i| num(daily, i, "endpoint_deliveries"))
        .fold(0.0_f64, f64::max);
    for i in 0..rows(daily) {
        let v = num(daily, i, "endpoint_deliveries").unwrap_or(0.0);
        let width = if max > 0.0 {
            (v / max * 40.0).round() as usize
        } else {
            0
        };
        writeln!(
            out,
            "  {}  {:<40} {}",
            text(daily, i, "day"),
            "█".repeat(width),
            count(Some(v))
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Campaign runs")?;
    writeln!(
        out,
        "  {:<32} {:<20} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>9}",
        "Run", "Run date", "Targeted", "Sent", "Delivered", "Deliv.", "Opened", "Bounced", "Opens"
    )?;
    for i in 0..rows(runs) {
        let r = |c: &str| num(runs, i, c);
        let started = text(runs, i, "run_started_at");
        writeln!(
            out,
            "  {:<32} {:<20} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>9}",
            text(runs, i, "run_id"),
            started.get(..19).unwrap_or(&started).replace('T', " "),
            count(r("endpoints_targeted")),
            count(r("messages_sent")),
            count(r("messages_delivered")),
            percent(r("delivery_rate")),
            percent(r("email_open_rate")),
            percent(r("bounce_rate")),
            count(r("total_email_opened")),
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Beyond the Pinpoint page")?;
    writeln!(
        out,
        "  Unique opens / clicks  {:>12} / {}",
        count(n("unique_opens")),
        count(n("unique_clicks"))
    )?;
    writeln!(
        out,
        "  Click-through rate     {:>12}",
        percent(n("click_through_rate"))
    )?;
    writeln!(
        out,
        "  Click-to-open rate     {:>12}",
        percent(n("click_to_open_rate"))
    )?;
    writeln!(
        out,
        "  Open rate w/o machine  {:>12}  (estimate: opens by image proxies and scanners left out)",
        percent(n("estimated_human_open_rate"))
    )?;
    writeln!(
        out,
        "  Soft bounces           {:>12}  ({})",
        count(n("soft_bounces")),
        percent(n("soft_bounce_rate"))
    )?;
    writeln!(
        out,
        "  Complaints             {:>12}  ({})",
        count(n("complaints")),
        percent(n("complaint_rate"))
    )?;
    writeln!(
        out,
        "  Unsubscribes           {:>12}  ({})",
        count(n("unsubscribes")),
        percent(n("unsubscribe_rate"))
    )?;
    writeln!(
        out,
        "  Median time to open    {:>12}",
        n("time_to_open_median_seconds").map_or("-".into(), |s| format!("{:.1} h", s / 3600.0))
    )?;
    Ok(())
}
