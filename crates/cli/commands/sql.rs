use std::path::Path;

use sendlens_store::Workspace;

use crate::output::{Format, write_batches};

#[derive(clap::Args)]
pub struct Args {
    /// SQL to run (repeatable; run in order).
    #[arg(short = 'c', long = "command", required = true, value_name = "SQL")]
    pub commands: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print each statement's elapsed time (planning and execution) to stderr.
    #[arg(long)]
    pub timing: bool,
}

pub fn run(workspace: &Path, args: Args) -> anyhow::Result<()> {
    let ws = Workspace::open(workspace)?;
    let rt = super::runtime()?;
    rt.block_on(async {
        let ctx = sendlens_metrics::open_session(&ws).await?;
        let mut out = std::io::stdout().lock();
        for sql in &args.commands {
            let started = std::time::Instant::now();
            let batches = ctx.sql(sql).await?.collect().await?;
            let elapsed = started.elapsed();
            write_batches(&mut out, &batches, args.format)?;
            if args.timing {
                eprintln!("Time: {:.3} ms", elapsed.as_secs_f64() * 1000.0);
            }
        }
        Ok(())
    })
}
