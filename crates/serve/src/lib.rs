#![warn(missing_docs)]
//! `sendlens serve`: the campaign pages in a browser, and Pinpoint's
//! analytics API (the date-range KPIs and campaign activities) answered
//! from a workspace.
//!
//! Pages are rendered on the server with the numbers in the HTML, each
//! marked with the catalog column it comes from (`data-metric`,
//! `data-value`). Every number comes from the extension's table functions,
//! called with typed arguments: no SQL comes from a request. The server is
//! read-only, reads the table's current version on each request (a new
//! ingest shows on the next page load), and listens on loopback unless it
//! is given a token to ask for.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use std::collections::HashMap;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use sendlens_store::Workspace;

mod access;
mod admission;
mod api;
mod cache;
mod error;
mod pages;
mod params;
mod queries;
mod sessions;
mod sigv4;
mod slices;

pub use access::Credentials;

/// How the server listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Token a browser or script must present (`Authorization: Bearer`, or
    /// a password in HTTP Basic authentication). Required off loopback.
    pub auth_token: Option<String>,
    /// The key pair API requests must be signed with (AWS Signature
    /// Version 4) off loopback.
    pub api_key: Option<Credentials>,
}

/// What every handler shares.
pub(crate) struct State {
    pub ws: Workspace,
    pub sessions: sessions::Sessions,
    pub cache: cache::Cache,
    pub admission: admission::Admission,
    pub access: access::Access,
}

pub(crate) type Shared = Arc<State>;

/// The routes, over a workspace.
pub fn router(ws: Workspace, options: &Options) -> anyhow::Result<Router> {
    let access = access::Access::new(options)?;
    let admission = admission::Admission::for_this_machine(ws.remote().is_some());
    let state = Arc::new(State {
        ws,
        sessions: sessions::Sessions::default(),
        cache: cache::Cache::default(),
        admission,
        access,
    });
    let mut router = Router::new().route("/", get(pages::list::campaigns));
    for listing in pages::list::LISTINGS {
        router = router.route(
            listing.path,
            get(
                move |axum::Extension(current): axum::Extension<sessions::Current>,
                      Query(query): Query<HashMap<String, String>>| {
                    pages::list::listing(current, query, listing)
                },
            ),
        );
    }
    Ok(router
        .route("/campaigns/{id}", get(pages::campaign::page))
        .route("/campaigns/{id}/{file}", get(pages::campaign::csv))
        .route(
            "/v1/apps/{app}/campaigns/{campaign}/kpis/daterange/{kpi}",
            get(api::campaign_kpi),
        )
        .route(
            "/v1/apps/{app}/kpis/daterange/{kpi}",
            get(api::application_kpi),
        )
        .route(
            "/v1/apps/{app}/journeys/{journey}/kpis/daterange/{kpi}",
            get(api::journey_kpi),
        )
        .route(
            "/v1/apps/{app}/campaigns/{campaign}/activities",
            get(api::campaign_activities),
        )
        .fallback(pages::not_found)
        // Inside the cache: a kept answer does not wait for a turn.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admission::admit,
        ))
        // Inside the access check: a kept answer is given only to those who
        // may read it.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cache::answer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            sessions::attach,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::check,
        ))
        .layer(axum::middleware::from_fn(timed))
        .with_state(state))
}

/// Say how long the server worked on each answer (`Server-Timing`, which
/// browsers' developer tools show and the load benchmark reads).
async fn timed(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = axum::http::HeaderValue::from_str(&format!("app;dur={ms:.1}")) {
        response.headers_mut().insert("server-timing", value);
    }
    response
}

/// Serve the workspace until the process is interrupted (Ctrl-C or
/// SIGTERM). Refuses a non-loopback address without a token.
pub async fn serve(ws: Workspace, options: Options) -> anyhow::Result<()> {
    let app = router(ws, &options)?;
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .with_context(|| format!("cannot listen on {}", options.bind))?;
    let addr = listener.local_addr()?;
    // The first line says where to go; scripts (and the tests) read it.
    println!("sendlens serve: listening on http://{addr}/");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminated => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
