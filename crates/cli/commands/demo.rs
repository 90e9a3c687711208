use std::path::PathBuf;

use sendlens_store::{Config, IngestOptions, IngestProgress, Workspace, ingest};

use sendlens_render::{Format, write_batches};

#[derive(clap::Args)]
pub struct Args {
    /// Sample event exports to ingest.
    #[arg(long, default_value = "data/sample", value_name = "DIR")]
    pub sample: PathBuf,
    /// Workspace to create (or reuse).
    #[arg(long = "into", default_value = "data/workspace", value_name = "DIR")]
    pub into: PathBuf,
}

/// The sample's campaigns from the `campaign_metrics` view, rates as percentages.
const OVERVIEW: &str = "\
SELECT campaign_id, endpoints_targeted, messages_sent, messages_delivered, links_clicked,
       delivery_rate, email_open_rate, bounce_rate
FROM campaign_metrics
ORDER BY messages_sent DESC, campaign_id
LIMIT 10";

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = super::runtime()?;
    let ws = match Workspace::open(&args.into) {
        Ok(ws) => ws,
        Err(_) => {
            let ws = rt.block_on(Workspace::init(&args.into, Config::default()))?;
            println!("Created workspace {}", ws.root().display());
            ws
        }
    };
    println!("Ingesting {} ...", args.sample.display());
    let summary = ingest(
        &ws,
        std::slice::from_ref(&args.sample),
        &IngestOptions::default(),
        &IngestProgress::default(),
        rt.handle(),
    )?;
    super::ingest::print_summary(&summary);
    super::warn_facts(&summary.facts_error);
    sendlens_reports::shipped::install(ws.root())?;
    println!();
    println!("Campaigns in the sample (top 10 by messages sent, from the campaign_metrics view):");
    let (top, days) = rt.block_on(async {
        let ctx = sendlens_store::open_session(&ws).await?;
        let df = ctx.sql(OVERVIEW).await?;
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        write_batches(
            &mut std::io::stdout().lock(),
            schema,
            &batches,
            Format::Table,
        )?;
        println!();
        let top = first_text(&batches, "campaign_id");
        let days = sample_report(&ws, &ctx).await?;
        anyhow::Ok((top, days))
    })?;
    println!();
    let ws_arg = shell_word(&args.into.display().to_string());
    let me = shell_word(&program());
    if me != "sendlens" {
        println!(
            "sendlens is not on your PATH yet: `cargo install --path . --locked` puts it in ~/.cargo/bin."
        );
    }
    let campaign = top.unwrap_or_else(|| "<campaign_id>".into());
    let (from, to) = days.map_or(("2026-09-01".into(), "2026-09-07".into()), |(a, b)| {
        (a.to_string(), b.to_string())
    });
    println!("Next:");
    println!("  {me} --workspace {ws_arg} report list     # scheduled reports (HTML, CSV, ...)");
    println!("  {me} --workspace {ws_arg} campaigns       # every campaign");
    let sql = format!(
        "SELECT * FROM campaign_dashboard({}, '{from}', '{to}')",
        sendlens_metrics::sql::lit(&campaign)
    );
    let (campaign, sql) = (shell_word(&campaign), shell_word(&sql));
    println!("  {me} --workspace {ws_arg} metrics {campaign} --from {from} --to {to}");
    println!("  {me} --workspace {ws_arg} functions       # views, functions, metrics");
    println!("  {me} --workspace {ws_arg} shell           # the SQL shell");
    println!("  {me} --workspace {ws_arg} sql -c {sql}");
    Ok(())
}

/// How the user's shell reaches this binary: `sendlens` when it is on the
/// PATH, else its path (relative to the current folder when inside it).
fn program() -> String {
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| dir.join("sendlens").is_file())
    });
    if on_path {
        return "sendlens".into();
    }
    let Ok(exe) = std::env::current_exe() else {
        return "sendlens".into();
    };
    let here = std::env::current_dir().unwrap_or_default();
    match exe.strip_prefix(&here) {
        Ok(relative) => format!("./{}", relative.display()),
        Err(_) => exe.display().to_string(),
    }
}

/// A word as a POSIX shell reads it back: as it is when it holds only
/// letters, digits and `-_./:@%+=,`, else in double quotes, or single ones
/// when double quotes would expand something.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain {
        word.to_string()
    } else if !word.contains(['"', '$', '`', '\\', '!']) {
        format!("\"{word}\"")
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The first row's value of a text column.
fn first_text(
    batches: &[datafusion::arrow::record_batch::RecordBatch],
    column: &str,
) -> Option<String> {
    use datafusion::arrow::array::{Array, AsArray};
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let col = datafusion::arrow::compute::cast(
        b.column_by_name(column)?,
        &datafusion::arrow::datatypes::DataType::Utf8,
    )
    .ok()?;
    let col = col.as_string::<i32>();
    (!col.is_null(0)).then(|| col.value(0).to_string())
}

/// The campaign comparison report over every day of the sample, as a
/// scheduled run would write it; the sample's first and last day.
async fn sample_report(
    ws: &Workspace,
    ctx: &datafusion::prelude::SessionContext,
) -> anyhow::Result<Option<(chrono::NaiveDate, chrono::NaiveDate)>> {
    let tz = sendlens_metrics::sql::lit(&ws.config().time.zone);
    let days = ctx
        .sql(&format!(
            "SELECT min(local_date(sent_at, {tz})) AS first, max(local_date(sent_at, {tz})) AS last \
             FROM message_facts WHERE sent"
        ))
        .await?
        .collect()
        .await?;
    let day = |column| first_text(&days, column).and_then(|d| d.parse().ok());
    let (Some(start), Some(end)) = (day("first"), day("last")) else {
        return Ok(None);
    };
    let (reports, _) = sendlens_reports::reports(ws);
    let Some(report) = reports.iter().find(|r| r.name == "campaign_comparison") else {
        return Ok(Some((start, end)));
    };
    let runner = sendlens_reports::run::Runner::open(ws).await?;
    let job = sendlens_reports::run::Job {
        report,
        period: sendlens_reports::period::Period { start, end },
        params: Default::default(),
        formats: Vec::new(),
        out: None,
        trigger: sendlens_reports::ledger::Trigger::Manual,
        scheduled_for: None,
        wait_if_busy: false,
    };
    if let sendlens_reports::run::Outcome::Ran(e) = runner.run(&job).await? {
        println!("The campaign comparison report for {start} to {end}:");
        super::report::print_run(&e, ws.root());
    }
    Ok(Some((start, end)))
}
