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

pub fn run(workspace: &Path, args: Args) -> anyhow::Result<()> {
    let ws = Workspace::open(workspace)?;
    let rt = super::runtime()?;
    rt.block_on(async {
        let ctx = sendlens_store::open_session(&ws).await?;
        let df = ctx.sql(sendlens_metrics::sql::CAMPAIGN_LIST).await?;
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        write_batches(&mut std::io::stdout().lock(), schema, &batches, args.format)?;
        Ok(())
    })
}
