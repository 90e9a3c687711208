//! sendlens on Apache DataFusion Ballista: the same functions, views and
//! table functions, run by a scheduler and executors instead of in-process.
//!
//! - [`nodes`]: `sendlens cluster scheduler` and `sendlens cluster executor`,
//!   Ballista's processes with every sendlens function registered;
//! - [`connect`]: a client session on a scheduler, over a workspace;
//! - [`register`]: the extension on any Ballista `SessionContext`, in one
//!   call (an application that builds its own);
//! - how plans travel: the events of a version as plain Parquet files
//!   ([`event_files`], with their wire form in [`codec`]), the facts as the
//!   Parquet listings they are, and table functions planned on the client
//!   ([`planner`]).
//!
//! No metric is defined here: every node runs the plans of the views and
//! functions of `sendlens-metrics`.
//!
//! ```no_run
//! # async fn demo() -> datafusion::error::Result<()> {
//! let ws = sendlens_store::Workspace::open(std::path::Path::new("data/workspace"))
//!     .expect("a workspace");
//! let ctx = sendlens_cluster::connect("df://127.0.0.1:50050", &ws).await?;
//! ctx.sql("SELECT * FROM campaign_metrics").await?.show().await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use deltalake::DeltaTable;
use sendlens_metrics::{EVENTS_TABLE, register_with_events_table};
use sendlens_store::{Workspace, facts, session};

pub mod codec;
pub mod event_files;
pub mod nodes;
pub mod planner;
pub mod stores;

use event_files::EventFiles;
use planner::TableFunctionsFirst;

/// The scheme of a scheduler's address: `df://HOST:PORT`.
pub const SCHEME: &str = "df://";

/// Ballista's default scheduler port.
pub const DEFAULT_PORT: u16 = 50050;

/// A session whose queries run on the scheduler at `url` (`df://HOST:PORT`),
/// over the workspace's current version, with the whole extension.
pub async fn connect(url: &str, ws: &Workspace) -> Result<SessionContext> {
    connect_on(url, ws, &open_table(ws).await?).await
}

/// [`connect`] over a version of the workspace's table the caller opened.
pub async fn connect_on(url: &str, ws: &Workspace, table: &DeltaTable) -> Result<SessionContext> {
    if !url.starts_with(SCHEME) {
        return Err(DataFusionError::Configuration(format!(
            "{url}: a cluster is addressed as {SCHEME}HOST:PORT (the scheduler's address, port \
             {DEFAULT_PORT} by default)"
        )));
    }
    let ctx = SessionContext::remote_with_state(url, client_state()?)
        .await
        .map_err(|e| {
            DataFusionError::Execution(format!(
                "cannot reach the sendlens scheduler at {url}: {e}. Start one with `sendlens \
                 cluster scheduler`, or check the host and port of --cluster"
            ))
        })?;
    register_on(ctx, ws, table).await
}

async fn open_table(ws: &Workspace) -> Result<DeltaTable> {
    ws.open_table()
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))
}

/// A session on a scheduler and one executor started in this process: the
/// whole cluster path (plans serialized, decoded, run by tasks) without
/// other processes.
pub async fn standalone(ws: &Workspace) -> Result<SessionContext> {
    let ctx = SessionContext::standalone_with_state(client_state()?).await?;
    register(ctx, ws).await
}

/// The state a client starts from: sendlens's session settings, the
/// functions (a standalone cluster copies them to its nodes), the codec.
fn client_state() -> Result<SessionState> {
    let config = sendlens_metrics::session_context()
        .copied_config()
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(codec::LogicalCodec::default()));
    // A standalone scheduler plans with this very configuration.
    let config = nodes::without_adaptive_planning(config);
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_runtime_env(stores::runtime(None)?)
        .build();
    nodes::register_functions(&mut state)?;
    Ok(state)
}

/// Register the extension over the workspace's current version on a
/// Ballista session (from `SessionContext::remote` or `standalone`, built
/// with [`codec::LogicalCodec`] as its logical codec): the events, the
/// facts when the executors can read them, the functions, views and table
/// functions. Returns the session to query.
pub async fn register(ctx: SessionContext, ws: &Workspace) -> Result<SessionContext> {
    register_on(ctx, ws, &open_table(ws).await?).await
}

/// [`register`] over a version of the workspace's table the caller opened.
pub async fn register_on(
    ctx: SessionContext,
    ws: &Workspace,
    table: &DeltaTable,
) -> Result<SessionContext> {
    register_tables(table_functions_first(ctx.state()), ws, table).await
}

/// `state`, planning table functions before its own planner (see
/// [`planner`]).
pub fn table_functions_first(state: SessionState) -> SessionState {
    let planner = Arc::clone(state.query_planner());
    SessionStateBuilder::new_from_existing(state)
        .with_query_planner(Arc::new(TableFunctionsFirst::new(planner)))
        .build()
}

/// A session of `state` with the workspace's tables and the extension.
async fn register_tables(
    state: SessionState,
    ws: &Workspace,
    table: &DeltaTable,
) -> Result<SessionContext> {
    // Held by the session's configuration for as long as the session lives:
    // no vacuum or refresh removes what it reads.
    let lease = session::lease_version(ws, table);
    let mut config = nodes::without_adaptive_planning(state.config().clone());
    if let Some(lease) = &lease {
        config = config.with_extension(Arc::clone(lease));
    }
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.register_table(EVENTS_TABLE, Arc::new(EventFiles::of(table).await?))?;
    // The facts of a workspace in object storage are in this host's cache,
    // which executors elsewhere cannot read: the views answer instead.
    if ws.remote().is_none()
        && let Some(dir) = facts::current_leased(ws, table, lease.as_deref())
    {
        for name in facts::names() {
            let path = format!("{}/", dir.join(name).display());
            ctx.register_parquet(name, &path, ParquetReadOptions::default())
                .await?;
        }
    }
    register_with_events_table(&ctx, &ws.config().time.zone).await?;
    Ok(ctx)
}

/// A scheduler's session over the workspace's current version: what Flight
/// SQL clients query. Its views are planned at once, because the session
/// lives on as a state copied out of the context built here.
pub(crate) async fn scheduler_session(state: SessionState, ws: &Workspace) -> Result<SessionState> {
    let table = open_table(ws).await?;
    let ctx = register_tables(state, ws, &table).await?;
    for view in sendlens_metrics::views::all(&ws.config().time.zone) {
        ctx.table_provider(view.name).await?;
    }
    Ok(ctx.state())
}
