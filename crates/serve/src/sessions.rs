//! One session per table version, shared by the requests that read it.
//!
//! Opening a session reads the Delta log and registers every view and
//! function: tens of milliseconds, too much for each page. The key is the
//! newest committed version (read off the log's file names) and whether
//! its materialized facts are there yet, so that a new ingest, and the
//! refresh after it, show on the next request.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use datafusion::prelude::SessionContext;
use sendlens_store::Workspace;
use tokio::sync::Mutex;

use crate::Shared;
use crate::error::{ApiError, page_error};

/// What a session (and a kept answer) was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub version: Option<u64>,
    pub facts: bool,
}

#[derive(Default)]
pub(crate) struct Sessions {
    current: Mutex<Option<Current>>,
}

/// Each campaign's first and last send, found once per session (they
/// change only with the table version).
pub(crate) type Spans = std::sync::Mutex<HashMap<String, (DateTime<Utc>, DateTime<Utc>)>>;

impl Sessions {
    /// The table's current version, and whether its facts are there.
    pub async fn key(&self, ws: &Workspace) -> anyhow::Result<Key> {
        let ws = ws.clone();
        Ok(tokio::task::spawn_blocking(move || {
            let version = ws.latest_version();
            let facts = version.is_some_and(|v| {
                ws.remote().is_some() || sendlens_store::facts::current_at(&ws, v).is_some()
            });
            Key { version, facts }
        })
        .await?)
    }

    /// A session over the table's current version, and the key it is for.
    pub async fn current(&self, ws: &Workspace) -> anyhow::Result<Current> {
        let key = self.key(ws).await?;
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref()
            && c.key == key
        {
            return Ok(c.clone());
        }
        let ctx = sendlens_store::open_session(ws).await?;
        // A page is several small queries of one campaign, and a server
        // answers many pages at once: each query on one partition spends
        // less on repartitioning and merging than it gains from two. Ten
        // 3-day pages of the biggest campaign at 1 M events took 1.20 CPU-s
        // with one partition a query and 1.56 CPU-s with two.
        ctx.sql("SET datafusion.execution.target_partitions = 1")
            .await?
            .collect()
            .await?;
        // Each table function's physical plan is planned once per shape and
        // copied for each call (see `sendlens_metrics::templates`). Dynamic
        // filters are off: one run of a plan updates them for the next, so
        // a plan that has them is never copied, and over a campaign's rows
        // in memory they have nothing to prune.
        ctx.sql("SET datafusion.optimizer.enable_dynamic_filter_pushdown = false")
            .await?
            .collect()
            .await?;
        ctx.state_ref()
            .write()
            .config_mut()
            .set_extension(Arc::new(sendlens_metrics::templates::Rebinding));
        crate::slices::keep_campaign_rows(&ctx).await?;
        let session = Current {
            ctx: Arc::new(ctx),
            key,
            spans: Arc::default(),
        };
        *current = Some(session.clone());
        Ok(session)
    }
}

/// The session a request reads, found once per request (one look at the
/// Delta log) by [`attach`], and what the cache keeps answers under.
#[derive(Clone)]
pub(crate) struct Current {
    pub ctx: Arc<SessionContext>,
    pub key: Key,
    pub spans: Arc<Spans>,
}

/// The middleware that gives each request its [`Current`] session.
pub(crate) async fn attach(
    State(state): State<Shared>,
    mut request: Request,
    next: Next,
) -> Response {
    match state.sessions.current(&state.ws).await {
        Ok(current) => {
            request.extensions_mut().insert(current);
            next.run(request).await
        }
        Err(e) => {
            let message = format!("cannot open the workspace: {e:#}");
            if request.uri().path().starts_with("/v1/") {
                ApiError::internal(message).into_response()
            } else {
                page_error(StatusCode::INTERNAL_SERVER_ERROR, &message)
            }
        }
    }
}
