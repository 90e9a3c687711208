//! The sendlens DataFusion extension: registers the workspace's tables in a
//! [`SessionContext`].

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use sendlens_store::Workspace;

/// Name under which the canonical events table is registered.
pub const EVENTS_TABLE: &str = "events";

/// Register the workspace's `events` table (the latest committed version) in
/// `ctx`.
pub async fn register(ctx: &SessionContext, ws: &Workspace) -> Result<()> {
    let table = ws
        .open_table()
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    table
        .update_datafusion_session(&ctx.state())
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let provider = table
        .table_provider()
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    ctx.register_table(EVENTS_TABLE, Arc::clone(&provider))?;
    Ok(())
}
