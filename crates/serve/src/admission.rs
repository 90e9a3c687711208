//! How many answers are computed at once, and in what order.
//!
//! A computed page is CPU work: six small queries. Started all at once,
//! fifty pages share the cores and each takes fifty times its own time, so
//! the long ranges finish last and set the tail. Admitted a few at a time,
//! in the order they came (a fair semaphore), a page waits for the pages
//! ahead of it and then runs alone on the cores: the mean is the same, the
//! tail is close to it, and a burst costs memory for a few pages, not all.
//!
//! Only computed answers wait here: the cache answers kept ones before
//! this layer, and requests for an answer being computed wait for it there.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

use crate::Shared;

/// Answers computed at once, per core. A page's six queries run as tasks of
/// their own, so one page a core still keeps the cores busy, and fewer
/// pages at once share the caches better: at 1 M events, 50 clients asking
/// only for new pages got 177–181 pages/s (p95 324–338 ms) with one a core
/// and 150–170 pages/s (p95 356–408 ms) with two.
const PER_CORE: usize = 1;

/// Per core for a workspace in object storage, whose answers spend most of
/// their time waiting on the network rather than on the cores.
const PER_CORE_REMOTE: usize = 4;

/// The gate every computed answer passes.
pub(crate) struct Admission {
    permits: Semaphore,
}

impl Admission {
    /// At most `at_once` answers computed at the same time (at least one).
    pub fn new(at_once: usize) -> Self {
        Self {
            permits: Semaphore::new(at_once.max(1)),
        }
    }

    /// As many as the machine's cores allow, for a workspace on this
    /// machine or (`remote`) in object storage.
    pub fn for_this_machine(remote: bool) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores * if remote { PER_CORE_REMOTE } else { PER_CORE })
    }
}

/// The middleware: wait for a turn, then compute.
pub(crate) async fn admit(State(state): State<Shared>, request: Request, next: Next) -> Response {
    // The semaphore is never closed, so acquiring fails only if it were;
    // computing without a turn is then better than failing the request.
    let _turn = state.admission.permits.acquire().await.ok();
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The gate lets `at_once` in, and the others in the order they came.
    #[tokio::test]
    async fn turns_are_given_in_the_order_asked() {
        let gate = Arc::new(Admission::new(2));
        let (inside, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (gate, inside, most, order) =
                (gate.clone(), inside.clone(), most.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _turn = gate.permits.acquire().await.unwrap();
                order.lock().unwrap().push(i);
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
            // Each task asks before the next is spawned.
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
    }
}
