//! The two kinds of cluster process: a scheduler, which plans the queries
//! clients send, and executors, which run their tasks. Both are Ballista's
//! own, with every sendlens function registered and the sendlens codec, so
//! that the plans of the views decode and run there.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista::prelude::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::default_session_builder;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{FunctionRegistry, SessionState, SessionStateBuilder};
use datafusion::prelude::SessionConfig;

use sendlens_store::Workspace;

use crate::codec::LogicalCodec;
use crate::stores;

/// A node's session: Ballista's, with the sendlens functions and stores,
/// planning table functions first.
pub fn node_state(config: SessionConfig) -> Result<SessionState> {
    let state = default_session_builder(config)?;
    let mut state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(stores::runtime(None)?)
        .build();
    register_functions(&mut state)?;
    Ok(crate::table_functions_first(state))
}

/// Every sendlens scalar and aggregate function, in `state`.
pub fn register_functions(state: &mut SessionState) -> Result<()> {
    for f in sendlens_metrics::udf::all() {
        state.register_udf(Arc::new(f))?;
    }
    for f in sendlens_metrics::udaf::all() {
        state.register_udaf(Arc::new(f))?;
    }
    Ok(())
}

/// The configuration every session of the cluster starts from.
pub fn node_config() -> SessionConfig {
    let config = SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()));
    without_adaptive_planning(config)
}

/// `config` with Ballista's adaptive planner off. Ballista 55's adaptive
/// planner never finishes a job with a join one side of which is empty (a
/// campaign page for days without events joins its day series with no
/// rows): the stages run, the job waits for ever. The static planner
/// answers those joins.
pub fn without_adaptive_planning(mut config: SessionConfig) -> SessionConfig {
    // The key exists once the configuration has Ballista's extension, which
    // every session of a cluster has; without it there is nothing to turn off.
    let _ = config.options_mut().set(
        ballista_core::config::BALLISTA_ADAPTIVE_PLANNER_ENABLED,
        "false",
    );
    config
}

fn ballista_error(e: ballista_core::error::BallistaError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// What a scheduler serves besides Ballista's own service.
#[derive(Debug, Clone, Default)]
pub struct SchedulerOptions {
    /// A workspace whose tables and views every session of the scheduler
    /// has: what Flight SQL clients query.
    pub workspace: Option<Workspace>,
    /// Serve Arrow Flight SQL on the scheduler's port.
    pub flight_sql: bool,
    /// Seconds an executor may go without a heartbeat before its tasks
    /// are run elsewhere (Ballista's default: 180).
    pub executor_timeout: Option<u64>,
}

/// Run a scheduler bound to `bind` until the process ends. Clients connect
/// to it, and executors register with it, at `df://HOST:PORT`.
pub async fn scheduler(bind: SocketAddr, options: SchedulerOptions) -> Result<()> {
    let mut config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: bind.ip().to_string(),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        flight_sql: options.flight_sql,
        ..Default::default()
    };
    if let Some(seconds) = options.executor_timeout {
        config.executor_timeout_seconds = seconds;
        config.expire_dead_executor_interval_seconds = seconds.clamp(1, 15);
    }
    config.override_config_producer = Some(Arc::new(node_config));
    let workspace = options.workspace;
    config.override_session_builder = Some(Arc::new(move |config: SessionConfig| {
        let state = node_state(config)?;
        match &workspace {
            Some(ws) => on_own_runtime(crate::scheduler_session(state, ws)),
            None => Ok(state),
        }
    }));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista_error)?;
    start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(ballista_error)
}

/// Run `future` to its end from synchronous code that may itself be on an
/// async runtime's thread (Ballista calls session builders there).
fn on_own_runtime<T: Send>(future: impl Future<Output = Result<T>> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| DataFusionError::External(Box::new(e)))?
                    .block_on(future)
            })
            .join()
            .map_err(|_| DataFusionError::Internal("a session builder panicked".into()))?
    })
}

/// Where an executor listens and whom it works for.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's `HOST:PORT`.
    pub scheduler: (String, u16),
    /// The host to bind to and to advertise.
    pub host: String,
    /// Arrow Flight port (results and shuffles); the next port serves the
    /// executor's gRPC.
    pub port: u16,
    /// Tasks run at once.
    pub concurrent_tasks: usize,
    /// Where shuffle files and spills go.
    pub work_dir: String,
    /// Seconds between heartbeats to the scheduler (Ballista's default: 60);
    /// keep it well under the scheduler's executor timeout.
    pub heartbeat_interval: Option<u64>,
}

/// Run an executor until the process ends (or Ctrl-C).
pub async fn executor(options: ExecutorOptions) -> Result<()> {
    let registry = BallistaFunctionRegistry::from(&node_state(node_config())?);
    let work_dir = options.work_dir.clone();
    let mut config = ExecutorProcessConfig {
        bind_host: options.host.clone(),
        external_host: Some(options.host.clone()),
        port: options.port,
        grpc_port: options.port.saturating_add(1),
        scheduler_host: options.scheduler.0.clone(),
        scheduler_port: options.scheduler.1,
        // The scheduler may still be starting: try for a while.
        scheduler_connect_timeout_seconds: 30,
        vcores: options.concurrent_tasks,
        work_dir: Some(options.work_dir.clone()),
        override_function_registry: Some(Arc::new(registry)),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_config_producer: Some(Arc::new(node_config)),
        override_runtime_producer: Some(Arc::new(move |_: &SessionConfig| {
            stores::runtime(Some(&work_dir))
        })),
        ..Default::default()
    };
    if let Some(seconds) = options.heartbeat_interval {
        config.executor_heartbeat_interval_seconds = seconds;
    }
    start_executor_process(Arc::new(config))
        .await
        .map_err(ballista_error)
}
