//! Sessions over a workspace: its `events` table at one version, the
//! materialized facts of that version when they exist, and the sendlens
//! extension (`sendlens-metrics`) over them.
//!
//! ```no_run
//! # async fn demo() -> datafusion::error::Result<()> {
//! use datafusion::prelude::SessionContext;
//! let ws = sendlens_store::Workspace::open(std::path::Path::new("data/workspace"))
//!     .expect("a workspace");
//! let ctx = SessionContext::new();
//! sendlens_store::register(&ctx, &ws).await?;
//! ctx.sql("SELECT * FROM campaign_metrics").await?.show().await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use sendlens_metrics::{EVENTS_TABLE, register_with_events_table, session_context, udf};

use crate::{Workspace, facts, readers};

/// A session configured for sendlens (information_schema on, so that
/// `SHOW FUNCTIONS` and `SHOW TABLES` work) with everything registered.
pub async fn open_session(ws: &Workspace) -> Result<SessionContext> {
    let table = ws
        .open_table()
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    open_session_on(ws, &table).await
}

/// [`open_session`] over a table the caller has opened (and may read the
/// version of: the session sees exactly that version).
pub async fn open_session_on(
    ws: &Workspace,
    table: &deltalake::DeltaTable,
) -> Result<SessionContext> {
    let ctx = session_context();
    register_on(&ctx, ws, table).await?;
    Ok(ctx)
}

/// Register everything in `ctx` for the workspace: the `events` table (its
/// latest committed version), the materialized message facts when they are
/// current, the functions, the views and the table functions, with the
/// workspace's time zone as the default.
pub async fn register(ctx: &SessionContext, ws: &Workspace) -> Result<()> {
    let table = ws
        .open_table()
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    register_on(ctx, ws, &table).await
}

/// [`register`] over an opened table of the workspace.
pub async fn register_on(
    ctx: &SessionContext,
    ws: &Workspace,
    table: &deltalake::DeltaTable,
) -> Result<()> {
    let tz = ws.config().time.zone.clone();
    register_on_in_zone(ctx, ws, table, &tz).await
}

/// [`register_on`] with days in `time_zone` instead of the workspace's (the
/// views' day boundaries and the table functions' default zone).
pub async fn register_on_in_zone(
    ctx: &SessionContext,
    ws: &Workspace,
    table: &deltalake::DeltaTable,
    time_zone: &str,
) -> Result<()> {
    udf::local_time::parse_tz(time_zone)?;
    // A read lease on this version and its facts, held by the tables for
    // as long as the session has them: other processes' vacuum and refresh
    // leave what they read in place (see `sendlens_store::readers`). A
    // workspace the session cannot write to gets no lease.
    let lease = lease_version(ws, table);
    register_table_leased(ctx, table, lease.clone()).await?;
    facts::register_current(ctx, ws, table, lease).await?;
    register_with_events_table(ctx, time_zone).await
}

/// A read lease on the table's version and on its current facts, if the
/// workspace can be written to; `None` otherwise.
pub fn lease_version(
    ws: &Workspace,
    table: &deltalake::DeltaTable,
) -> Option<Arc<readers::ReadLease>> {
    let facts_dir = facts::current(ws, table);
    let version = table.version()?;
    let facts = facts_dir
        .as_ref()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    readers::lease(ws, version, facts.as_deref())
        .ok()
        .map(Arc::new)
}

/// Register the workspace's `events` table only.
pub async fn register_events(ctx: &SessionContext, ws: &Workspace) -> Result<()> {
    let table = ws
        .open_table()
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    register_table(ctx, &table).await
}

/// Register an opened Delta table of events as `events`.
pub async fn register_table(ctx: &SessionContext, table: &deltalake::DeltaTable) -> Result<()> {
    register_table_leased(ctx, table, None).await
}

/// [`register_table`], the table holding `lease` while it is registered.
pub async fn register_table_leased(
    ctx: &SessionContext,
    table: &deltalake::DeltaTable,
    lease: Option<Arc<readers::ReadLease>>,
) -> Result<()> {
    table
        .update_datafusion_session(&ctx.state())
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let provider = table
        .table_provider()
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    ctx.register_table(EVENTS_TABLE, leased(provider, lease))?;
    Ok(())
}

/// `provider`, holding `lease` when there is one.
pub(crate) fn leased(
    provider: Arc<dyn datafusion::catalog::TableProvider>,
    lease: Option<Arc<readers::ReadLease>>,
) -> Arc<dyn datafusion::catalog::TableProvider> {
    match lease {
        Some(lease) => Arc::new(readers::Leased::new(provider, lease)),
        None => provider,
    }
}
