//! `sendlens campaigns`: every campaign with its headline numbers.

use std::path::Path;

use sendlens_store::Workspace;

use crate::output::{Format, write_batches};

#[derive(clap::Args)]
pub struct Args {
    /// Output format (table shows rates as percentages; machine formats as fractions).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

const TABLE_SQL: &str = "\
SELECT m.campaign_id, r.runs, CAST(m.first_sent_at AS VARCHAR) AS first_sent, m.endpoints_targeted,
       m.messages_sent, m.messages_delivered, m.links_clicked,
       {delivery_rate} AS delivery_rate, {email_open_rate} AS email_open_rate, {bounce_rate} AS bounce_rate
FROM campaign_metrics m
LEFT JOIN (SELECT campaign_id AS r_campaign, count(*) AS runs FROM campaign_run_metrics GROUP BY 1) r
  ON m.campaign_id = r.r_campaign
ORDER BY m.first_sent_at DESC NULLS LAST, m.campaign_id";

fn as_percent(column: &str) -> String {
    format!(
        "CASE WHEN m.{column} IS NULL THEN '-' ELSE CAST(round(m.{column} * 100, 1) AS VARCHAR) || '%' END"
    )
}

pub fn run(workspace: &Path, args: Args) -> anyhow::Result<()> {
    let ws = Workspace::open(workspace)?;
    let rt = super::runtime()?;
    rt.block_on(async {
        let ctx = sendlens_metrics::open_session(&ws).await?;
        let rate = |c: &str| {
            if args.format == Format::Table {
                as_percent(c)
            } else {
                format!("m.{c}")
            }
        };
        let sql = TABLE_SQL
            .replace("{delivery_rate}", &rate("delivery_rate"))
            .replace("{email_open_rate}", &rate("email_open_rate"))
            .replace("{bounce_rate}", &rate("bounce_rate"));
        let batches = ctx.sql(&sql).await?.collect().await?;
        write_batches(&mut std::io::stdout().lock(), &batches, args.format)?;
        Ok(())
    })
}
