//! Table maintenance: compaction with clustering, and removal of files the
//! table no longer references.

use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;

use crate::error::Result;
use crate::table;
use crate::workspace::Workspace;

/// What `optimize` did.
#[derive(Debug, Clone)]
pub struct OptimizeReport {
    pub files_removed: u64,
    pub files_added: u64,
    pub partitions: u64,
    pub version: Option<i64>,
}

/// Compact small files and cluster each partition by campaign and send
/// time (Z-order), so that a campaign's rows sit together.
pub async fn optimize(ws: &Workspace) -> Result<OptimizeReport> {
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
    })
}

/// What `vacuum` removed.
#[derive(Debug, Clone)]
pub struct VacuumReport {
    pub files_deleted: Vec<String>,
    pub dry_run: bool,
}

/// Delete data files that the table stopped referencing more than
/// `retain_days` ago, and files that no commit ever referenced (left by an
/// interrupted ingest).
pub async fn vacuum(ws: &Workspace, retain_days: u32, dry_run: bool) -> Result<VacuumReport> {
    let _lock = ws.lock()?;
    let table = ws.open_table().await?;
    let (_table, metrics) = table
        .vacuum()
        .with_retention_period(chrono::Duration::days(retain_days.into()))
        .with_enforce_retention_duration(false)
        .with_mode(VacuumMode::Full)
        .with_dry_run(dry_run)
        .await?;
    Ok(VacuumReport {
        files_deleted: metrics.files_deleted,
        dry_run: metrics.dry_run,
    })
}
