//! Readers of a workspace, so that writers never pull data from under them.
//!
//! A session (the shell, Python, a scheduler pass, another DataFusion
//! application) reads one table version, and the materialized facts built
//! for it, for as long as it lives. Other processes meanwhile ingest,
//! refresh, optimize and vacuum. Each session therefore holds a *read
//! lease*: a small file in `.sendlens/readers/` that names the version and
//! the facts folder it reads, locked (`flock`) by its process for as long as
//! the session needs it. Vacuum keeps every file a leased version needs, and
//! a refresh never removes a leased facts folder. The kernel drops the lock
//! when the process ends, however it ends, so a lease whose lock can be
//! taken is stale and is removed by the next writer that looks.

use std::borrow::Cow;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Constraints, Statistics};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result};
use crate::workspace::Workspace;

/// The folder of the leases, in the state folder.
pub const READERS_DIR: &str = "readers";

/// What a lease says: who reads what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    pub pid: u32,
    /// The events table version read.
    pub version: u64,
    /// The facts folder read (its name in `.sendlens/facts/`), if any.
    pub facts: Option<String>,
}

/// A held lease; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct ReadLease {
    path: PathBuf,
    _file: File,
    info: LeaseInfo,
}

impl ReadLease {
    pub fn info(&self) -> &LeaseInfo {
        &self.info
    }
}

impl Drop for ReadLease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn dir(ws: &Workspace) -> PathBuf {
    ws.state_dir().join(READERS_DIR)
}

/// The gate between taking leases and removing what they protect: a lease
/// is taken under a shared lock of it, and what no lease names is removed
/// under an exclusive one ([`removal`]), so that no lease appears between
/// a writer's look at the leases and its removal.
fn gate(ws: &Workspace) -> Result<File> {
    let dir = dir(ws);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let path = dir.join(".gate");
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)
}

/// Held while removing what no lease names: no session takes a new lease
/// meanwhile.
#[derive(Debug)]
pub struct RemovalGate {
    _file: File,
}

/// Close the gate, and the leases of live sessions (stale ones are removed
/// on the way): remove only what none of them names, before dropping the
/// gate.
pub fn removal(ws: &Workspace) -> Result<(RemovalGate, Vec<LeaseInfo>)> {
    let file = gate(ws)?;
    file.lock().at(dir(ws).join(".gate"))?;
    Ok((RemovalGate { _file: file }, live(ws)))
}

/// Take a lease on `version` (and the facts folder `facts`) of the
/// workspace. Check that what it names is still there after taking it.
pub fn lease(ws: &Workspace, version: u64, facts: Option<&str>) -> Result<ReadLease> {
    let dir = dir(ws);
    let gate = gate(ws)?;
    gate.lock_shared().at(dir.join(".gate"))?;
    let info = LeaseInfo {
        pid: std::process::id(),
        version,
        facts: facts.map(str::to_string),
    };
    let name = format!(
        "{}-{}-{}",
        info.pid,
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    // Written and locked under a name writers pass over, then renamed: a
    // writer never sees a lease that is not yet locked.
    let tmp = dir.join(format!(".{name}"));
    let path = dir.join(format!("{name}.lease"));
    let file = File::create(&tmp).at(&tmp)?;
    file.lock().at(&tmp)?;
    std::fs::write(
        &tmp,
        serde_json::to_vec(&info)
            .map_err(std::io::Error::from)
            .at(&tmp)?,
    )
    .at(&tmp)?;
    std::fs::rename(&tmp, &path).at(&path)?;
    Ok(ReadLease {
        path,
        _file: file,
        info,
    })
}

/// The leases held by live sessions; stale ones (their process ended) are
/// removed on the way. To remove what they do not name, see [`removal`].
pub fn live(ws: &Workspace) -> Vec<LeaseInfo> {
    let dir = dir(ws);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "lease")
            || path.file_name().is_some_and(|n| n == ".gate")
        {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        match file.try_lock() {
            // Nobody holds it: its session ended without removing it.
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
            }
            Err(TryLockError::WouldBlock) => {
                if let Some(info) = std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<LeaseInfo>(&b).ok())
                {
                    out.push(info);
                }
            }
            Err(TryLockError::Error(_)) => {}
        }
    }
    out
}

/// Leftovers a killed lease taker may leave (a temporary name never
/// renamed) are removed after this long.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Remove temporary lease files older than an hour.
pub fn clean(ws: &Workspace) {
    let Ok(entries) = std::fs::read_dir(dir(ws)) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > ABANDONED_AFTER);
        if e.file_name().to_string_lossy().starts_with('.') && old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Whether `path` exists and nobody holds a lock on it: the marker of a
/// folder a process was building when it ended.
pub fn is_unlocked(path: &Path) -> bool {
    File::open(path).is_ok_and(|f| f.try_lock().is_ok())
}

/// A table provider that keeps a lease for as long as the session holds
/// the table (every call goes to `inner`).
#[derive(Debug)]
pub struct Leased {
    inner: Arc<dyn TableProvider>,
    _lease: Arc<ReadLease>,
}

impl Leased {
    pub fn new(inner: Arc<dyn TableProvider>, lease: Arc<ReadLease>) -> Leased {
        Leased {
            inner,
            _lease: lease,
        }
    }
}

#[async_trait]
impl TableProvider for Leased {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.inner.get_column_default(column)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let ws = rt
            .block_on(Workspace::init(&dir.path().join("ws"), Default::default()))
            .unwrap();
        (dir, ws)
    }

    #[test]
    fn a_lease_is_live_while_held_and_gone_when_dropped() {
        let (_dir, ws) = workspace();
        assert!(live(&ws).is_empty());
        let a = lease(&ws, 3, Some("v3-x")).unwrap();
        let b = lease(&ws, 4, None).unwrap();
        let mut seen = live(&ws);
        seen.sort_by_key(|l| l.version);
        assert_eq!(seen, [a.info().clone(), b.info().clone()]);
        drop(a);
        assert_eq!(live(&ws), [b.info().clone()]);
    }

    #[test]
    fn a_lease_whose_holder_is_gone_is_stale_and_removed() {
        let (_dir, ws) = workspace();
        let held = lease(&ws, 7, None).unwrap();
        // What a killed process leaves: the file, with no lock on it.
        let stale = dir(&ws).join("1-2-3.lease");
        std::fs::copy(&held.path, &stale).unwrap();
        assert_eq!(live(&ws).len(), 1);
        assert!(!stale.exists());
    }

    #[test]
    fn no_lease_is_taken_while_the_removal_gate_is_closed() {
        let (_dir, ws) = workspace();
        let (gate, leases) = removal(&ws).unwrap();
        assert!(leases.is_empty());
        let taken = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                let l = lease(&ws, 1, None).unwrap();
                taken.store(true, Ordering::SeqCst);
                l
            });
            std::thread::sleep(std::time::Duration::from_millis(200));
            assert!(
                !taken.load(Ordering::SeqCst),
                "a lease taken through a closed gate"
            );
            drop(gate);
            let l = t.join().unwrap();
            assert_eq!(live(&ws), [l.info().clone()]);
        });
    }
}
