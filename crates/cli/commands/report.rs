//! `sendlens report`: list, run, backfill, retry and the run history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use chrono::{NaiveDate, Utc};
use sendlens_reports::definition::Report;
use sendlens_reports::ledger::{Entry, Ledger, State, Trigger};
use sendlens_reports::output::OutputFormat;
use sendlens_reports::period::Period;
use sendlens_reports::run::{Job, Outcome, Runner, relative};
use sendlens_store::Workspace;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// List the workspace's reports: schedule, period, formats, last run.
    List,
    /// Run a report for one period (default: the period its next scheduled run would cover, i.e. the latest complete one).
    Run(RunArgs),
    /// Run a report for every period between two days (each period its own run and outputs).
    Backfill(BackfillArgs),
    /// Run again every run whose latest state is failed, cancelled or interrupted.
    Retry(RetryArgs),
    /// The run ledger: when each run was scheduled for, ran, how it ended, rows, outputs.
    History(HistoryArgs),
    /// Copy the reports that ship with sendlens into the workspace (files already there are kept).
    Install,
}

#[derive(clap::Args)]
struct Common {
    /// Output formats (default: the report's own), comma-separated.
    #[arg(long, value_delimiter = ',', value_enum)]
    format: Vec<OutputFormat>,
    /// Root folder of the outputs, or s3://bucket/prefix/ (default: out/ in the workspace).
    #[arg(long, value_name = "DIR|URL")]
    out: Option<PathBuf>,
    /// A parameter value, e.g. --param campaign_id=C1 (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Plan every statement and show what would be written, without running anything.
    #[arg(long)]
    dry_run: bool,
    /// Run the queries on a sendlens cluster: its scheduler's address,
    /// df://HOST:PORT (see `sendlens cluster`).
    #[arg(long, value_name = "URL", env = "SENDLENS_CLUSTER")]
    cluster: Option<String>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Report name (see `sendlens report list`).
    name: String,
    /// The period: a day (2026-11-26), ISO week (2026-W47), month (2026-11), yesterday, last-week, last-month.
    #[arg(long = "for", value_name = "PERIOD", conflicts_with_all = ["from", "to"])]
    period: Option<String>,
    /// First day of a custom range (with --to).
    #[arg(long, value_name = "DAY", requires = "to", value_parser = parse_day)]
    from: Option<NaiveDate>,
    /// Last day of a custom range, inclusive (with --from).
    #[arg(long, value_name = "DAY", requires = "from", value_parser = parse_day)]
    to: Option<NaiveDate>,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct BackfillArgs {
    /// Report name.
    name: String,
    /// First day.
    #[arg(long, value_name = "DAY", value_parser = parse_day)]
    from: NaiveDate,
    /// Last day, inclusive.
    #[arg(long, value_name = "DAY", value_parser = parse_day)]
    to: NaiveDate,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct RetryArgs {
    /// Only this report.
    name: Option<String>,
    /// Show what would run.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
struct HistoryArgs {
    /// Only this report.
    name: Option<String>,
    /// Most recent runs shown.
    #[arg(long, default_value_t = 30)]
    limit: usize,
    /// Print the ledger entries as JSON lines.
    #[arg(long)]
    json: bool,
}

/// A day from the command line, within the years sendlens accepts.
fn parse_day(s: &str) -> Result<NaiveDate, String> {
    let d: NaiveDate = s
        .parse()
        .map_err(|_| format!("'{s}' is not a day like 2026-11-26"))?;
    sendlens_reports::period::check_day(d)
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("'{s}' is not NAME=VALUE"))
}

pub fn run(workspace: &Path, args: Args) -> anyhow::Result<()> {
    let ws = Workspace::open(workspace)?;
    match args.command {
        Command::List => list(&ws),
        Command::Install => {
            let written = sendlens_reports::shipped::install(ws.root())?;
            ws.publish_shared()?;
            for p in &written {
                println!("wrote {}", relative(p, ws.root()));
            }
            if written.is_empty() {
                println!("every shipped report is already in the workspace");
            }
            Ok(())
        }
        Command::Run(a) => {
            let report = find(&ws, &a.name)?;
            let today = Utc::now().with_timezone(&report.tz()).date_naive();
            let period = match (&a.period, a.from, a.to) {
                (Some(p), _, _) => report.every.parse_for(p, today).map_err(|e| anyhow!(e))?,
                (None, Some(from), Some(to)) => {
                    if to < from {
                        bail!("--to {to} is before --from {from}");
                    }
                    Period {
                        start: from,
                        end: to,
                    }
                }
                _ => report.every.covered_by_run_on(today),
            };
            run_periods(&ws, &report, &[period], &a.common, Trigger::Manual)
        }
        Command::Backfill(a) => {
            if a.to < a.from {
                bail!("--to {} is before --from {}", a.to, a.from);
            }
            let report = find(&ws, &a.name)?;
            let periods = report.every.between(a.from, a.to);
            println!(
                "{}: {} {} from {} to {}",
                report.name,
                periods.len(),
                if periods.len() == 1 {
                    "period"
                } else {
                    "periods"
                },
                a.from,
                a.to
            );
            run_periods(&ws, &report, &periods, &a.common, Trigger::Backfill)
        }
        Command::Retry(a) => retry(&ws, a),
        Command::History(a) => history(&ws, a),
    }
}

fn find(ws: &Workspace, name: &str) -> anyhow::Result<Report> {
    let (reports, invalid) = sendlens_reports::reports(ws);
    if let Some(bad) = invalid.iter().find(|i| i.name == name) {
        bail!("report {name} cannot be read: {}", bad.error);
    }
    let names: Vec<String> = reports.iter().map(|r| r.name.clone()).collect();
    reports.into_iter().find(|r| r.name == name).ok_or_else(|| {
        if names.is_empty() {
            anyhow!(
                "no report {name}: the workspace has no reports; `sendlens report install` copies the shipped ones"
            )
        } else {
            anyhow!("no report {name}; the workspace has: {}", names.join(", "))
        }
    })
}

fn run_periods(
    ws: &Workspace,
    report: &Report,
    periods: &[Period],
    common: &Common,
    trigger: Trigger,
) -> anyhow::Result<()> {
    let rt = super::runtime()?;
    rt.block_on(async {
        let runner = Runner::open_on(ws, common.cluster.as_deref()).await?;
        let mut failed = 0;
        for period in periods {
            let job = Job {
                report,
                period: *period,
                params: common.params.iter().cloned().collect::<BTreeMap<_, _>>(),
                formats: common.format.clone(),
                out: common.out.clone(),
                trigger,
                scheduled_for: None,
                wait_if_busy: false,
            };
            runner.check(&job)?;
            if common.dry_run {
                println!(
                    "{} {} ({} to {}):",
                    report.name,
                    period.key(),
                    period.start,
                    period.end
                );
                for line in runner.dry_run(&job).await? {
                    println!("  {line}");
                }
                continue;
            }
            match runner.run(&job).await? {
                Outcome::Ran(e) => {
                    print_run(&e, ws.root());
                    failed += usize::from(e.state == State::Failed);
                }
                Outcome::Busy { holder } => {
                    println!(
                        "{} {}: already running (process {holder}); left to it",
                        report.name,
                        period.key()
                    );
                }
            }
        }
        if failed > 0 {
            bail!(
                "{failed} of {} runs failed (see `sendlens report history`)",
                periods.len()
            );
        }
        Ok(())
    })
}

/// One line per finished run, then its files.
pub fn print_run(e: &Entry, root: &Path) {
    let rows = e.rows.map_or(String::new(), |r| {
        format!(", {} rows", sendlens_render::group_digits(&r.to_string()))
    });
    let took = e
        .finished
        .map(|f| {
            format!(
                " in {:.1} s",
                (f - e.started).num_milliseconds() as f64 / 1000.0
            )
        })
        .unwrap_or_default();
    println!(
        "{} {} ({} to {}): {}{rows}{took}",
        e.report,
        e.period,
        e.start,
        e.end,
        e.state.name()
    );
    if let Some(err) = &e.error {
        println!("  error: {err}");
    }
    for p in &e.outputs {
        println!("  {}", relative(p, root));
    }
}

fn list(ws: &Workspace) -> anyhow::Result<()> {
    let (reports, invalid) = sendlens_reports::reports(ws);
    if reports.is_empty() && invalid.is_empty() {
        println!(
            "No reports in {}. `sendlens report install` copies the shipped ones.",
            ws.root().join("reports").display()
        );
        return Ok(());
    }
    let runs = Ledger::new(&ws.state_dir()).runs()?;
    let mut rows = vec![vec![
        "report".to_string(),
        "schedule".into(),
        "covers".into(),
        "formats".into(),
        "next run".into(),
        "last run".into(),
    ]];
    let now = Utc::now();
    for r in &reports {
        let last =
            runs.iter()
                .rev()
                .find(|e| e.report == r.name)
                .map_or("never".to_string(), |e| {
                    format!(
                        "{} {} ({})",
                        e.period,
                        e.state.name(),
                        e.started.format("%Y-%m-%d %H:%M")
                    )
                });
        let schedule = r
            .schedule
            .as_ref()
            .map_or("not scheduled".to_string(), |c| {
                format!("{} {}", c.text(), r.time_zone)
            });
        let mut covers = r.every.describe();
        if r.lookback > 0 {
            covers.push_str(&format!(", lookback {}", r.lookback));
        }
        if let Some(each) = r.each() {
            covers.push_str(&format!(", per {}", each.name));
        }
        let formats: Vec<&str> = r.formats.iter().map(|f| f.name()).collect();
        let next = r
            .schedule
            .as_ref()
            .and_then(|c| c.next_after(now, r.tz()))
            .map_or("-".to_string(), |t| {
                t.with_timezone(&r.tz())
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            });
        rows.push(vec![
            r.name.clone(),
            schedule,
            covers,
            formats.join(","),
            next,
            last,
        ]);
    }
    print_columns(&rows);
    for r in &reports {
        if !r.description.is_empty() {
            println!("\n{}: {}", r.name, r.description);
        }
    }
    for bad in &invalid {
        println!("\n{} (invalid, not scheduled): {}", bad.name, bad.error);
    }
    Ok(())
}

/// The first row names the columns; printed as the shell prints results.
fn print_columns(rows: &[Vec<String>]) {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let schema = Schema::new(
        rows[0]
            .iter()
            .map(|h| Field::new(h, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    print!(
        "{}",
        sendlens_render::table(&schema, &rows[1..], usize::MAX)
    );
}

fn retry(ws: &Workspace, a: RetryArgs) -> anyhow::Result<()> {
    let (reports, _) = sendlens_reports::reports(ws);
    let runs = Ledger::new(&ws.state_dir()).runs()?;
    // The latest run of each (report, period) decides; a later success
    // means there is nothing to retry.
    let mut latest: BTreeMap<(String, String), &Entry> = BTreeMap::new();
    for e in &runs {
        latest.insert((e.report.clone(), e.period.clone()), e);
    }
    let todo: Vec<&Entry> = latest
        .values()
        .copied()
        .filter(|e| e.state.retryable() && a.name.as_ref().is_none_or(|n| *n == e.report))
        .collect();
    if todo.is_empty() {
        println!("nothing to retry: no run's latest state is failed, cancelled or interrupted");
        return Ok(());
    }
    let rt = super::runtime()?;
    rt.block_on(async {
        let runner = Runner::open(ws).await?;
        let mut failed = 0;
        for e in todo {
            let Some(report) = reports.iter().find(|r| r.name == e.report) else {
                println!(
                    "{} {}: the report is gone or invalid; not retried",
                    e.report, e.period
                );
                continue;
            };
            let formats = e
                .formats
                .iter()
                .map(|f| OutputFormat::parse(f))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| anyhow!(m))?;
            let job = Job {
                report,
                period: Period {
                    start: e.start,
                    end: e.end,
                },
                params: e.params.clone(),
                formats,
                out: e.out.clone(),
                trigger: Trigger::Retry,
                scheduled_for: e.scheduled_for,
                wait_if_busy: false,
            };
            if a.dry_run {
                println!(
                    "would retry {} {} (was {})",
                    e.report,
                    e.period,
                    e.state.name()
                );
                continue;
            }
            match runner.run(&job).await? {
                Outcome::Ran(done) => {
                    print_run(&done, ws.root());
                    failed += usize::from(done.state == State::Failed);
                }
                Outcome::Busy { holder } => println!(
                    "{} {}: already running (process {holder})",
                    e.report, e.period
                ),
            }
        }
        if failed > 0 {
            bail!("{failed} runs failed again");
        }
        Ok(())
    })
}

fn history(ws: &Workspace, a: HistoryArgs) -> anyhow::Result<()> {
    let runs = Ledger::new(&ws.state_dir()).runs()?;
    let picked: Vec<&Entry> = runs
        .iter()
        .filter(|e| a.name.as_ref().is_none_or(|n| *n == e.report))
        .collect();
    let shown = &picked[picked.len().saturating_sub(a.limit)..];
    if a.json {
        for e in shown {
            println!("{}", serde_json::to_string(e)?);
        }
        return Ok(());
    }
    if shown.is_empty() {
        println!("no runs yet");
        return Ok(());
    }
    let mut rows = vec![vec![
        "started".to_string(),
        "report".into(),
        "period".into(),
        "trigger".into(),
        "scheduled for".into(),
        "state".into(),
        "took".into(),
        "rows".into(),
        "outputs".into(),
        "content hash".into(),
    ]];
    for e in shown {
        rows.push(vec![
            e.started.format("%Y-%m-%d %H:%M:%S").to_string(),
            e.report.clone(),
            e.period.clone(),
            e.trigger.name().to_string(),
            e.scheduled_for
                .map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string()),
            e.state.name().to_string(),
            e.finished.map_or("-".into(), |f| {
                format!(
                    "{:.1} s",
                    (f - e.started).num_milliseconds() as f64 / 1000.0
                )
            }),
            e.rows.map_or("-".into(), |r| r.to_string()),
            e.outputs.len().to_string(),
            e.content_hash
                .as_deref()
                .map_or("-".into(), |h| h[..12.min(h.len())].to_string()),
        ]);
    }
    print_columns(&rows);
    for e in shown.iter().filter(|e| e.error.is_some()) {
        println!(
            "\n{} {} {}: {}",
            e.report,
            e.period,
            e.state.name(),
            e.error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
