#![warn(missing_docs)]
//! The sendlens DataFusion extension: every campaign metric of the catalog as
//! views, scalar and aggregate functions and table functions, over any
//! `events` table provider. It knows nothing of storage: the workspace
//! (`sendlens-store`) registers it over its Delta table and materialized
//! facts, an application over its own table (see
//! [`register_with_events_table`]).

use datafusion::error::Result;
use datafusion::prelude::{SessionConfig, SessionContext};

pub mod catalog;
pub mod kpi;
pub mod lazy_views;
pub mod reference;
pub mod sealed;
pub mod sets;
pub mod sql;
pub mod table_fns;
pub mod templates;
pub mod udaf;
pub mod udf;
pub mod views;

/// Name under which the canonical events table is registered.
pub const EVENTS_TABLE: &str = "events";

/// An empty session configured as sendlens's (information_schema on), for
/// registering into.
pub fn session_context() -> SessionContext {
    let mut config = SessionConfig::new().with_information_schema(true);
    // A page of one campaign's few days decodes only the rows its filters
    // keep, not every column of every row of the pages they fall in.
    config.options_mut().execution.parquet.pushdown_filters = true;
    config.options_mut().execution.parquet.reorder_filters = true;
    SessionContext::new_with_config(config)
}

/// Register the functions, views and table functions over an `events` table
/// that is already registered (with the canonical schema), e.g. by an
/// application that brings its own.
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> datafusion::error::Result<()> {
/// use std::sync::Arc;
/// use datafusion::datasource::MemTable;
/// use datafusion::prelude::SessionContext;
///
/// // The application's own events, with the canonical schema (none yet).
/// let events = MemTable::try_new(sendlens_events::schema::event_schema(), vec![vec![]])?;
/// let ctx = SessionContext::new();
/// ctx.register_table("events", Arc::new(events))?;
/// sendlens_metrics::register_with_events_table(&ctx, "Europe/Berlin").await?;
///
/// let page = ctx
///     .sql("SELECT messages_sent, delivery_rate FROM campaign_dashboard('C1', '2026-11-01', '2026-11-30')")
///     .await?
///     .collect()
///     .await?;
/// assert_eq!(page[0].num_rows(), 1); // one row of zeros: no messages, no rate
/// # Ok(()) }
/// ```
pub async fn register_with_events_table(ctx: &SessionContext, time_zone: &str) -> Result<()> {
    udf::local_time::parse_tz(time_zone)?;
    register_functions(ctx);
    register_views(ctx, time_zone).await?;
    table_fns::register(ctx, time_zone).await
}

/// Register the scalar and aggregate functions only.
pub fn register_functions(ctx: &SessionContext) {
    for f in udf::all() {
        ctx.register_udf(f);
    }
    for f in udaf::all() {
        ctx.register_udaf(f);
    }
}

/// Create the views (metric views and compatibility views), each planned
/// when a query first reads it (see [`lazy_views`]). A name that is already
/// registered is left alone, so an application (or the materialized facts)
/// can provide its own `message_facts`.
pub async fn register_views(ctx: &SessionContext, time_zone: &str) -> Result<()> {
    lazy_views::register(ctx, views::all(time_zone))
}
