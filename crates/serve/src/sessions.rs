//! One session per table version, shared by the requests that read it.
//!
//! Opening a session reads the Delta log and registers every view and
//! function: tens of milliseconds, too much for each page. The key is the
//! newest committed version (read off the log's file names) and whether
//! its materialized facts are there yet, so that a new ingest, and the
//! refresh after it, show on the next request.

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use sendlens_store::Workspace;
use tokio::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    version: Option<u64>,
    facts: bool,
}

#[derive(Default)]
pub(crate) struct Sessions {
    current: Mutex<Option<(Key, Arc<SessionContext>)>>,
}

impl Sessions {
    /// A session over the table's current version.
    pub async fn current(&self, ws: &Workspace) -> anyhow::Result<Arc<SessionContext>> {
        let key = {
            let ws = ws.clone();
            tokio::task::spawn_blocking(move || {
                let version = ws.latest_version();
                let facts = version.is_some_and(|v| {
                    ws.remote().is_some() || sendlens_store::facts::current_at(&ws, v).is_some()
                });
                Key { version, facts }
            })
            .await?
        };
        let mut current = self.current.lock().await;
        if let Some((k, ctx)) = current.as_ref()
            && *k == key
        {
            return Ok(ctx.clone());
        }
        let ctx = Arc::new(sendlens_store::open_session(ws).await?);
        *current = Some((key, ctx.clone()));
        Ok(ctx)
    }
}
