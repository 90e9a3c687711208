//! Materialized message facts: `message_facts` kept as Parquet next to the
//! event table, rebuilt after each commit that changes the table.
//!
//! Every metric reads the message fact table, and building it is one grouped
//! pass over all events with a dozen aggregates, the most expensive step of
//! any metric query. The store therefore keeps it, written by the commands
//! that change the table (ingest, optimize, vacuum) under the table version it
//! was built from. A session uses it only when that version is the table's
//! current one; otherwise `message_facts` stays the view it is defined as, so
//! answers never depend on whether the copy is there.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use datafusion::common::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use deltalake::DeltaTable;
use sendlens_store::Workspace;

use crate::sql;

/// The materialized tables: name, defining query, sort order. Each reads
/// only the ones before it.
fn tables() -> [(&'static str, String, &'static str); 3] {
    [
        (
            "message_facts",
            sql::message_facts(),
            "campaign_id, sent_at",
        ),
        (
            "campaign_targets",
            sql::campaign_targets(),
            "campaign_id, run_id",
        ),
        (
            "message_events",
            sql::message_events(),
            "campaign_id, occurred_at",
        ),
    ]
}

/// Names of the materialized tables, in the order they are built.
pub fn names() -> impl Iterator<Item = &'static str> {
    tables().into_iter().map(|(name, _, _)| name)
}

/// Rows per row group: small enough that one campaign's rows are a few row
/// groups of the file, which is sorted by campaign.
const ROW_GROUP_ROWS: usize = 64 * 1024;

fn facts_dir(ws: &Workspace) -> PathBuf {
    ws.state_dir().join("facts")
}

/// A copy is valid for one table version and one definition of the tables:
/// a sendlens that defines them differently (another release) rebuilds.
fn version_dir(ws: &Workspace, version: u64) -> PathBuf {
    let mut h = DefaultHasher::new();
    for (name, query, order) in tables() {
        (name, query, order).hash(&mut h);
    }
    facts_dir(ws).join(format!("v{version}-{:016x}", h.finish()))
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The materialized facts of the table's current version, if they exist.
pub fn current(ws: &Workspace, table: &DeltaTable) -> Option<PathBuf> {
    let dir = version_dir(ws, table.version()?);
    dir.join("_complete").exists().then_some(dir)
}

/// Register the materialized tables (`message_facts`, `campaign_targets`,
/// `message_events`) when they match the table; returns whether they did.
pub async fn register_current(
    ctx: &SessionContext,
    ws: &Workspace,
    table: &DeltaTable,
) -> Result<bool> {
    let Some(dir) = current(ws, table) else {
        return Ok(false);
    };
    for (name, _, _) in tables() {
        let path = format!("{}/", dir.join(name).display());
        if ctx
            .register_parquet(name, &path, ParquetReadOptions::default())
            .await
            .is_err()
        {
            // A damaged copy must not break queries: answer from the views.
            for (name, _, _) in tables() {
                ctx.deregister_table(name)?;
            }
            return Ok(false);
        }
    }
    Ok(true)
}

/// Rebuild the facts for the table's current version (nothing to do when they
/// are current). Older versions are removed.
pub async fn refresh(ws: &Workspace) -> Result<Option<PathBuf>> {
    let table = ws.open_table().await.map_err(external)?;
    let Some(version) = table.version() else {
        return Ok(None);
    };
    if let Some(dir) = current(ws, &table) {
        return Ok(Some(dir));
    }
    let ctx = SessionContext::new_with_config(SessionConfig::new());
    crate::register_table(&ctx, &table).await?;
    crate::register_functions(&ctx);
    let root = facts_dir(ws);
    std::fs::create_dir_all(&root)?;
    let tmp = root.join(format!(".v{version}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for (name, query, order) in tables() {
        let out = tmp.join(name);
        std::fs::create_dir_all(&out)?;
        let mut options = TableParquetOptions::default();
        options.global.max_row_group_size = ROW_GROUP_ROWS;
        options.global.compression = Some("zstd(1)".into());
        let df = ctx
            .sql(&format!("SELECT * FROM ({query}) ORDER BY {order}"))
            .await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        df.write_parquet(
            &format!("{}/", out.display()),
            DataFrameWriteOptions::new().with_single_file_output(false),
            Some(options),
        )
        .await?;
        if !has_parquet(&out) {
            // An empty result writes no file; keep the schema in an empty one.
            let file = std::fs::File::create(out.join("empty.parquet"))?;
            ArrowWriter::try_new(file, schema, None)?.close()?;
        }
        // The next table reads this one from its files, not by recomputing it.
        ctx.register_parquet(
            name,
            &format!("{}/", out.display()),
            ParquetReadOptions::default(),
        )
        .await?;
    }
    std::fs::write(tmp.join("_complete"), version.to_string())?;
    let dir = version_dir(ws, version);
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another process built the same version first.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    remove_others(&root, &dir);
    Ok(Some(dir))
}

fn has_parquet(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "parquet"))
    })
}

fn remove_others(root: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p != keep && name.starts_with('v') {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}
