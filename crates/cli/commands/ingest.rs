use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sendlens_store::{IngestOptions, IngestProgress, IngestSummary, Workspace, ingest};

#[derive(clap::Args)]
pub struct Args {
    /// Files, folders (read recursively) or `s3://bucket/prefix/` URLs;
    /// gzip and Parquet are detected. Inputs an earlier ingest read, as
    /// they are now, are passed over.
    #[arg(required = true, value_name = "PATH|URL")]
    pub paths: Vec<PathBuf>,
    /// Read every input again, also those read before (de-duplication
    /// stores nothing twice).
    #[arg(long)]
    pub rescan: bool,
    /// Decoding threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// No progress bar, even on a terminal.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the summary as one JSON object (for scripts).
    #[arg(long)]
    pub json: bool,
    /// Do not rebuild the materialized message facts after the commit (for a
    /// series of bulk loads; `sendlens refresh` or the next ingest builds them,
    /// and queries stay correct meanwhile, only slower).
    #[arg(long)]
    pub no_refresh: bool,
}

/// `before_refresh` runs between the commit and the facts refresh.
pub fn run(workspace: &Path, args: Args, before_refresh: fn()) -> anyhow::Result<()> {
    let ws = Workspace::open(workspace)?;
    let rt = super::runtime()?;
    let progress = Arc::new(IngestProgress::default());
    let bar = (!args.quiet && !args.json && std::io::stderr().is_terminal())
        .then(|| spawn_bar(progress.clone()));
    let opts = IngestOptions {
        threads: args.threads,
        no_refresh: args.no_refresh,
        before_refresh: Some(before_refresh),
        rescan: args.rescan,
    };
    let result = ingest(&ws, &args.paths, &opts, &progress, rt.handle());
    if let Some((bar, stop)) = bar {
        stop.store(true, Ordering::Relaxed);
        bar.finish_and_clear();
    }
    let summary = result?;
    super::warn_facts(&summary.facts_error);
    if args.json {
        println!("{}", summary_json(&summary));
    } else {
        print_summary(&summary);
    }
    Ok(())
}

pub fn summary_json(s: &IngestSummary) -> serde_json::Value {
    serde_json::json!({
        "files": s.files,
        "skipped": s.skipped,
        "records": s.records,
        "stored": s.stored,
        "duplicates": s.duplicates,
        "rejected": s.rejected,
        "bytes": s.bytes,
        "seconds": s.elapsed.as_secs_f64(),
        "version": s.version,
        "rejected_file": s.rejected_file.as_ref().map(|p| p.display().to_string()),
        "warnings": s.warnings,
    })
}

pub fn print_summary(s: &IngestSummary) {
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    println!(
        "Read {} records from {} files ({:.1} MB) in {:.2} s ({:.0} records/s)",
        s.records,
        s.files,
        s.bytes as f64 / 1e6,
        secs,
        s.records as f64 / secs
    );
    if s.skipped > 0 {
        println!(
            "Passed over {} {} read before, unchanged (--rescan reads them again)",
            s.skipped,
            if s.skipped == 1 { "input" } else { "inputs" }
        );
    }
    println!("  stored     {:>12}", s.stored);
    println!("  duplicate  {:>12}", s.duplicates);
    println!("  rejected   {:>12}", s.rejected);
    match s.version {
        Some(v) => println!("Committed table version {v}."),
        None => println!("Nothing new to store; the table is unchanged."),
    }
    if let Some(path) = &s.rejected_file {
        println!(
            "Rejected records, with file, position and reason: {}",
            path.display()
        );
    }
    for w in &s.warnings {
        println!("warning: {w}");
    }
}

fn spawn_bar(progress: Arc<IngestProgress>) -> (ProgressBar, Arc<std::sync::atomic::AtomicBool>) {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {msg}",
        )
        .expect("valid template"),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (b, s) = (bar.clone(), stop.clone());
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        while !s.load(Ordering::Relaxed) {
            b.set_length(progress.files_total.load(Ordering::Relaxed));
            b.set_position(progress.files_done.load(Ordering::Relaxed));
            let mb = progress.bytes.load(Ordering::Relaxed) as f64 / 1e6;
            b.set_message(format!(
                "{} records, {:.0} MB/s",
                progress.records.load(Ordering::Relaxed),
                mb / started.elapsed().as_secs_f64().max(1e-3)
            ));
            b.tick();
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    (bar, stop)
}
