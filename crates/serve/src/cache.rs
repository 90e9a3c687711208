//! Answers kept for the table version they were computed from.
//!
//! A page's numbers change only with a new table version (or the facts of
//! one), so an answer is kept under that version and its URI until either
//! moves on. Concurrent requests for the same answer wait for the one that
//! computes it, instead of each computing it: fifty clients on one page
//! cost one page. Answers that depend on the clock (a preset such as "last
//! 7 days", an API call without both times) are never kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::OnceCell;

use crate::Shared;
use crate::sessions::{Current, Key};

/// Answers kept at most; past it, the older half is dropped. A campaign
/// page of 30 days is about 100 KB: a few tens of MB in all.
const ENTRIES: usize = 256;

/// Largest answer kept.
const BODY_BYTES: usize = 8 << 20;

#[derive(Clone)]
struct Kept {
    headers: HeaderMap,
    body: Bytes,
}

type Cell = Arc<OnceCell<Kept>>;

#[derive(Default)]
pub(crate) struct Cache {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    key: Option<Key>,
    cells: HashMap<String, (u64, Cell)>,
    next: u64,
}

impl Cache {
    /// The cell of `uri` under `key`; a new version empties the cache.
    fn cell(&self, key: Key, uri: &str) -> Cell {
        let mut e = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if e.key != Some(key) {
            e.key = Some(key);
            e.cells.clear();
        }
        if e.cells.len() >= ENTRIES && !e.cells.contains_key(uri) {
            let mut ages: Vec<u64> = e.cells.values().map(|(n, _)| *n).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            e.cells.retain(|_, (n, _)| *n > cut);
        }
        e.next += 1;
        let n = e.next;
        let entry = e
            .cells
            .entry(uri.to_string())
            .or_insert_with(|| (n, Arc::new(OnceCell::new())));
        entry.0 = n;
        entry.1.clone()
    }
}

/// Whether the answer to `request` depends on nothing but the table version
/// and its URI.
fn keepable(request: &Request) -> bool {
    if request.method() != Method::GET {
        return false;
    }
    let query = request.uri().query().unwrap_or("");
    let has = |name: &str| query.split('&').any(|p| p.split('=').next() == Some(name));
    if request.uri().path().starts_with("/v1/") {
        has("start-time") && has("end-time")
    } else {
        !has("preset")
    }
}

/// The middleware: answer from the cache, or compute, keep and answer.
pub(crate) async fn answer(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if !keepable(&request) {
        return next.run(request).await;
    }
    let Some(key) = request.extensions().get::<Current>().map(|c| c.key) else {
        return next.run(request).await;
    };
    let uri = request.uri().to_string();
    let cell = state.cache.cell(key, &uri);
    let mut fresh = None;
    let failed = &mut fresh;
    let kept = cell
        .get_or_try_init(|| async move {
            let response = next.run(request).await;
            if response.status() != StatusCode::OK {
                *failed = Some(response);
                return Err(());
            }
            let (parts, body) = response.into_parts();
            match axum::body::to_bytes(body, BODY_BYTES).await {
                Ok(body) => Ok(Kept {
                    headers: parts.headers,
                    body,
                }),
                Err(_) => {
                    *failed = Some(
                        (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "the answer was too large to send",
                        )
                            .into_response(),
                    );
                    Err(())
                }
            }
        })
        .await;
    match (kept, fresh) {
        (Ok(kept), _) => {
            let mut response = Response::new(Body::from(kept.body.clone()));
            *response.headers_mut() = kept.headers.clone();
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response
        }
        (Err(()), Some(response)) => response,
        (Err(()), None) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(uri: &str) -> Request {
        Request::builder().uri(uri).body(Body::empty()).unwrap()
    }

    #[test]
    fn answers_that_depend_on_the_clock_are_not_kept() {
        assert!(keepable(&get(
            "/campaigns/C1?from=2026-03-01&to=2026-03-03"
        )));
        assert!(keepable(&get("/")));
        assert!(!keepable(&get("/campaigns/C1?preset=7d")));
        let kpi = "/v1/apps/A/campaigns/C1/kpis/daterange/email-open-rate";
        assert!(keepable(&get(&format!(
            "{kpi}?start-time=2026-03-01T00:00:00Z&end-time=2026-03-03T00:00:00Z"
        ))));
        assert!(!keepable(&get(&format!(
            "{kpi}?start-time=2026-03-01T00:00:00Z"
        ))));
        let post = Request::builder()
            .method("POST")
            .uri("/")
            .body(Body::empty())
            .unwrap();
        assert!(!keepable(&post));
    }

    #[test]
    fn a_new_version_empties_the_cache() {
        let cache = Cache::default();
        let v1 = Key {
            version: Some(1),
            facts: true,
        };
        let a = cache.cell(v1, "/");
        assert!(Arc::ptr_eq(&a, &cache.cell(v1, "/")));
        let v2 = Key {
            version: Some(2),
            facts: false,
        };
        assert!(!Arc::ptr_eq(&a, &cache.cell(v2, "/")));
    }
}
