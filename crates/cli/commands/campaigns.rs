//! `sendlens campaigns`: every campaign with its headline numbers.

use std::path::Path;

use sendlens_store::Workspace;

use sendlens_render::{Format, write_batches};

#[derive(clap::Args)]
pub struct Args {
    /// Output format (tables show rates as percentages; machine formats as fractions).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

const TABLE_SQL: &str = "\
SELECT m.campaign_id, r.runs, CAST(m.first_sent_at AS VARCHAR) AS first_sent, m.endpoints_targeted,
       m.messages_sent, m.messages_delivered, m.links_clicked,
       m.delivery_rate, m.email_open_rate, m.bounce_rate
FROM campaign_metrics m
LEFT JOIN (SELECT campaign_id AS r_campaign, count(*) AS runs FROM campaign_run_metrics GROUP BY 1) r
  ON m.campaign_id = r.r_campaign
ORDER BY m.first_sent_at DESC NULLS LAST, m.campaign_id";

pub fn run(workspace: &Path, args: Args) -> anyhow::Result<()> {
    let ws = Workspace::open(workspace)?;
    let rt = super::runtime()?;
    rt.block_on(async {
        let ctx = sendlens_store::open_session(&ws).await?;
        let df = ctx.sql(TABLE_SQL).await?;
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        write_batches(&mut std::io::stdout().lock(), schema, &batches, args.format)?;
        Ok(())
    })
}
