use std::path::{Path, PathBuf};

use sendlens_store::{Config, Workspace};

#[derive(clap::Args)]
pub struct Args {
    /// Folder to create the workspace in (default: --workspace, else the current directory).
    pub dir: Option<PathBuf>,
    /// IANA time zone in which days begin and end.
    #[arg(long, default_value = "UTC", value_name = "ZONE")]
    pub time_zone: String,
    /// What to do with email addresses, phone numbers and IP addresses.
    #[arg(long, default_value = "keep", value_parser = ["keep", "hash", "drop"])]
    pub pii: String,
    /// SES message tag that carries the campaign id.
    #[arg(long, default_value = "campaign_id", value_name = "TAG")]
    pub campaign_tag: String,
    /// SES message tag that carries the campaign run id.
    #[arg(long, default_value = "campaign_activity_id", value_name = "TAG")]
    pub run_tag: String,
    /// SES message tag that carries the treatment id.
    #[arg(long, default_value = "treatment_id", value_name = "TAG")]
    pub treatment_tag: String,
}

pub fn run(workspace: &Path, args: Args) -> anyhow::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(|| workspace.to_path_buf());
    let mut config = Config::default();
    config.time.zone = args.time_zone;
    config.pii.policy = args.pii;
    config.ses.campaign_tag = args.campaign_tag;
    config.ses.run_tag = args.run_tag;
    config.ses.treatment_tag = args.treatment_tag;
    let rt = super::runtime()?;
    let ws = rt.block_on(Workspace::init(&dir, config))?;
    println!("Created workspace {}", ws.location());
    sendlens_reports::shipped::install(ws.root())?;
    ws.publish_shared()?;
    let (reports, _) = sendlens_reports::reports(&ws);
    let names: Vec<String> = reports.into_iter().map(|r| r.name).collect();
    println!(
        "Reports (reports/, `sendlens report list`): {}",
        names.join(", ")
    );
    println!(
        "Next: sendlens --workspace {} ingest PATH...",
        dir.display()
    );
    Ok(())
}
