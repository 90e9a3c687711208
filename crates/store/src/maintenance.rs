//! Table maintenance: compaction with clustering, and removal of files the
//! table no longer references.

use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;

use crate::error::Result;
use crate::readers;
use crate::table;
use crate::workspace::Workspace;

/// What `optimize` did.
#[derive(Debug, Clone)]
pub struct OptimizeReport {
    pub files_removed: u64,
    pub files_added: u64,
    pub partitions: u64,
    pub version: Option<i64>,
    /// Why the facts could not be rebuilt after the commit, if they could not.
    pub facts_error: Option<String>,
}

/// Compact small files and cluster each partition by campaign and send
/// time (Z-order), so that a campaign's rows sit together.
pub async fn optimize(ws: &Workspace) -> Result<OptimizeReport> {
    let mut report = optimize_and_commit(ws).await?;
    report.facts_error = crate::facts::refresh_after_commit(ws).await;
    Ok(report)
}

async fn optimize_and_commit(ws: &Workspace) -> Result<OptimizeReport> {
    let _lock = ws.lock()?;
    let table = ws.open_table().await?;
    let (table, metrics) = table
        .optimize()
        .with_type(OptimizeType::ZOrder(vec![
            "campaign_id".to_string(),
            "sent_at".to_string(),
        ]))
        .with_writer_properties(table::writer_properties())
        .await?;
    Ok(OptimizeReport {
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
        partitions: metrics.partitions_optimized,
        version: table.version().map(|v| v as i64),
        facts_error: None,
    })
}

/// What `vacuum` removed.
#[derive(Debug, Clone)]
pub struct VacuumReport {
    pub files_deleted: Vec<String>,
    pub dry_run: bool,
    /// Older table versions whose files were kept because open sessions
    /// read them (see [`readers`]).
    pub kept_for_readers: Vec<u64>,
    /// Why the facts could not be rebuilt after the commit, if they could not.
    pub facts_error: Option<String>,
}

/// Delete data files that the table stopped referencing more than
/// `retain_days` ago, and files that no commit ever referenced (left by an
/// interrupted ingest), but never a file of a version an open session
/// reads.
pub async fn vacuum(ws: &Workspace, retain_days: u32, dry_run: bool) -> Result<VacuumReport> {
    let mut report = vacuum_and_commit(ws, retain_days, dry_run).await?;
    if !dry_run {
        report.facts_error = crate::facts::refresh_after_commit(ws).await;
    }
    Ok(report)
}

async fn vacuum_and_commit(
    ws: &Workspace,
    retain_days: u32,
    dry_run: bool,
) -> Result<VacuumReport> {
    let _lock = ws.lock()?;
    let table = ws.open_table().await?;
    let current = table.version().unwrap_or(0);
    // No session takes a lease while the files are chosen and deleted.
    let (_gate, leases) = readers::removal(ws)?;
    let mut kept: Vec<u64> = leases
        .iter()
        .map(|l| l.version)
        .filter(|&v| v < current)
        .collect();
    kept.sort_unstable();
    kept.dedup();
    let mut vacuum = table
        .vacuum()
        .with_retention_period(chrono::Duration::days(retain_days.into()))
        .with_enforce_retention_duration(false)
        .with_mode(VacuumMode::Full)
        .with_dry_run(dry_run);
    if !kept.is_empty() {
        vacuum = vacuum.with_keep_versions(&kept);
    }
    let (_table, metrics) = vacuum.await?;
    readers::clean(ws);
    Ok(VacuumReport {
        files_deleted: metrics.files_deleted,
        dry_run: metrics.dry_run,
        kept_for_readers: kept,
        facts_error: None,
    })
}
