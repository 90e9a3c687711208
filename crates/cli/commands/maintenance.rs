use std::path::Path;

use sendlens_store::Workspace;
use sendlens_store::maintenance;

#[derive(clap::Args)]
pub struct OptimizeArgs {}

#[derive(clap::Args)]
pub struct VacuumArgs {
    /// Keep files removed from the table less than this many days ago
    /// (time travel and running readers may still need them).
    #[arg(long, default_value_t = 7, value_name = "N")]
    pub retain_days: u32,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn optimize(workspace: &Path, _args: OptimizeArgs) -> anyhow::Result<()> {
    let ws = Workspace::open(workspace)?;
    let rt = super::runtime()?;
    let r = rt.block_on(maintenance::optimize(&ws))?;
    super::warn_facts(&r.facts_error);
    println!(
        "Rewrote {} files into {} in {} partitions{}.",
        r.files_removed,
        r.files_added,
        r.partitions,
        r.version
            .map(|v| format!("; table version {v}"))
            .unwrap_or_default()
    );
    if r.files_removed > 0 {
        println!("The old files stay until `sendlens vacuum` removes them.");
    }
    Ok(())
}

pub fn vacuum(workspace: &Path, args: VacuumArgs) -> anyhow::Result<()> {
    let ws = Workspace::open(workspace)?;
    let rt = super::runtime()?;
    let r = rt.block_on(maintenance::vacuum(&ws, args.retain_days, args.dry_run))?;
    super::warn_facts(&r.facts_error);
    let verb = if r.dry_run { "Would delete" } else { "Deleted" };
    println!("{verb} {} files.", r.files_deleted.len());
    if !r.kept_for_readers.is_empty() {
        let versions: Vec<String> = r.kept_for_readers.iter().map(u64::to_string).collect();
        println!(
            "Kept the files of table version {} for the sessions still reading {}.",
            versions.join(", "),
            if versions.len() == 1 { "it" } else { "them" }
        );
    }
    if r.dry_run {
        for f in &r.files_deleted {
            println!("  {f}");
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct RefreshArgs {}

/// Rebuild the materialized message facts for the table's current version.
pub fn refresh(workspace: &Path, _args: RefreshArgs) -> anyhow::Result<()> {
    let ws = Workspace::open(workspace)?;
    let rt = super::runtime()?;
    let started = std::time::Instant::now();
    rt.block_on(sendlens_store::facts::refresh(&ws))?;
    println!(
        "Message facts are current ({:.1} s).",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
