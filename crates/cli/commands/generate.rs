use std::path::PathBuf;

use sendlens_generate::{GenerateOptions, generate};

#[derive(clap::Args)]
pub struct Args {
    /// Output folder (Firehose layout: YYYY/MM/DD/HH/*.gz).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Approximate number of records.
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Random seed: the same seed writes the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Days over which campaign runs start.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// First day (UTC).
    #[arg(long, default_value = "2026-09-01", value_name = "YYYY-MM-DD")]
    pub start: chrono::NaiveDate,
    /// Records per file.
    #[arg(long, default_value_t = 5_000)]
    pub records_per_file: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let opts = GenerateOptions {
        events: args.events,
        seed: args.seed,
        start_ms: args
            .start
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis(),
        days: args.days,
        records_per_file: args.records_per_file,
    };
    let s = generate(&args.out, &opts)?;
    println!(
        "Wrote {} records ({} duplicates, {} malformed) in {} files to {}: {} messages, {} campaigns, {} runs.",
        s.records,
        s.duplicates,
        s.malformed,
        s.files,
        args.out.display(),
        s.messages,
        s.campaigns,
        s.runs
    );
    Ok(())
}
