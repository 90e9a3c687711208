use std::path::PathBuf;

use sendlens_store::{Config, IngestOptions, IngestProgress, Workspace, ingest};

use crate::output::{Format, write_batches};

#[derive(clap::Args)]
pub struct Args {
    /// Sample event exports to ingest.
    #[arg(long, default_value = "data/sample", value_name = "DIR")]
    pub sample: PathBuf,
    /// Workspace to create (or reuse).
    #[arg(long = "into", default_value = "data/workspace", value_name = "DIR")]
    pub into: PathBuf,
}

/// Campaigns of the sample with their headline counts.
const OVERVIEW: &str = "\
SELECT campaign_id,
       channel,
       COUNT(DISTINCT run_id) AS runs,
       COUNT(DISTINCT CASE WHEN event_type = '_campaign.send' THEN endpoint_id || run_id END) AS endpoints_targeted,
       COUNT(*) FILTER (WHERE event_type IN ('_email.send', '_SMS.BUFFERED')
                           OR (event_type = '_campaign.send' AND send_status = 'SUCCESS' AND channel = 'push')) AS sends,
       COUNT(*) FILTER (WHERE event_type = '_email.click') AS links_clicked
FROM events
WHERE campaign_id IS NOT NULL
GROUP BY campaign_id, channel
ORDER BY endpoints_targeted DESC
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
    println!();
    println!("Campaigns in the sample (top 10 by endpoints targeted):");
    rt.block_on(async {
        let ctx = sendlens_metrics::open_session(&ws).await?;
        let batches = ctx.sql(OVERVIEW).await?.collect().await?;
        write_batches(&mut std::io::stdout().lock(), &batches, Format::Table)?;
        anyhow::Ok(())
    })?;
    println!();
    println!(
        "Ask your own questions: sendlens --workspace {} sql -c \"SELECT event_type, COUNT(*) FROM events GROUP BY 1\"",
        args.into.display()
    );
    Ok(())
}
