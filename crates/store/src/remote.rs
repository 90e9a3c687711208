//! A workspace in object storage (`s3://bucket/prefix/`).
//!
//! The bucket holds everything hosts share, laid out as a local workspace
//! is: `sendlens.toml`, the `events/` Delta table, `rejected/`, `reports/`,
//! and in `.sendlens/` the salt, the sources ledger and the write lock.
//! What only one host uses (the materialized facts, read leases, scratch
//! files, the report ledger, shell history) lives in a local cache folder
//! per workspace URL: see [`cache_dir`].
//!
//! Object storage has no `flock`. The write lock is an object,
//! `.sendlens/lock`, created only if absent (a conditional PUT,
//! `If-None-Match: *`), renewed every [`RENEW_EVERY`] while held and
//! deleted when released; a lock not renewed for [`STALE_AFTER`], or held
//! by a process of the same host that no longer runs, was left by a process
//! that died and is taken over. Behind the lock stands the
//! commit itself: delta-rs writes each version with a conditional PUT, so
//! two writers of one version cannot both succeed, and an ingest commits
//! only onto the version it de-duplicated against.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use deltalake::ObjectStore;
use deltalake::logstore::object_store::path::Path as ObjectPath;
use deltalake::logstore::object_store::{self, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::objects::{self, Bucket};

/// A folder in a bucket: a workspace's, or one that report outputs go to.
#[derive(Clone)]
pub struct Remote {
    /// `s3://bucket/prefix/`, ending in a slash.
    url: Url,
    store: Arc<dyn ObjectStore>,
    /// The key prefix, without slashes at either end.
    prefix: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl Remote {
    /// The folder at `url`, reached with `options` (delta-rs storage
    /// option names) over the AWS environment.
    pub fn open(url: &str, options: &std::collections::BTreeMap<String, String>) -> Result<Remote> {
        let mut url =
            Url::parse(url).map_err(|e| Error::Other(format!("{url} is not a valid URL: {e}")))?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let bucket = Bucket::open(&url, options)?;
        let prefix = url.path().trim_matches('/').to_string();
        Ok(Remote {
            url,
            store: bucket.store(),
            prefix,
        })
    }

    /// `s3://bucket/prefix/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL of `relative` inside the workspace.
    pub fn url_of(&self, relative: &str) -> String {
        format!("{}{relative}", self.url)
    }

    fn key(&self, relative: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(relative)
        } else {
            ObjectPath::from(format!("{}/{relative}", self.prefix))
        }
    }

    fn failed(&self, what: &str, relative: &str, e: object_store::Error) -> Error {
        Error::Other(format!(
            "cannot {what} {}: {e}. {}",
            self.url_of(relative),
            objects::STORE_HINT
        ))
    }

    /// The object `relative`, or `None` when there is none.
    pub async fn get(&self, relative: &str) -> Result<Option<Bytes>> {
        match self.store.get(&self.key(relative)).await {
            Ok(got) => Ok(Some(
                got.bytes()
                    .await
                    .map_err(|e| self.failed("read", relative, e))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed("read", relative, e)),
        }
    }

    /// Write `relative` whole, in one PUT: readers see the old object or
    /// the new one, never part of it.
    pub async fn put(&self, relative: &str, data: impl Into<Bytes>) -> Result<()> {
        self.store
            .put(&self.key(relative), PutPayload::from(data.into()))
            .await
            .map_err(|e| self.failed("write", relative, e))?;
        Ok(())
    }

    /// Create `relative` only if no object has that key; false when one had.
    pub async fn create(&self, relative: &str, data: impl Into<Bytes>) -> Result<bool> {
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.key(relative), PutPayload::from(data.into()), options)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.failed("create", relative, e)),
        }
    }

    pub async fn delete(&self, relative: &str) -> Result<()> {
        match self.store.delete(&self.key(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("delete", relative, e)),
        }
    }

    /// The keys under the folder `relative`, relative to the workspace.
    pub async fn list(&self, relative: &str) -> Result<Vec<String>> {
        let listed: Vec<_> = self
            .store
            .list(Some(&self.key(relative)))
            .try_collect()
            .await
            .map_err(|e| self.failed("list", relative, e))?;
        let skip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut keys: Vec<String> = listed
            .into_iter()
            .map(|m| {
                m.location
                    .as_ref()
                    .get(skip..)
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        keys.sort();
        Ok(keys)
    }
}

/// Where the local folders of a workspace in object storage go: its facts,
/// read leases, scratch files and report ledger, and copies of its
/// configuration and report definitions. `SENDLENS_CACHE_DIR`, or
/// `$XDG_CACHE_HOME/sendlens`, or `~/.cache/sendlens`, then the bucket and
/// prefix; the workspace's folder is in it, named by its salt.
pub fn cache_dir(url: &Url) -> PathBuf {
    let base = std::env::var_os("SENDLENS_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("sendlens")))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/sendlens")))
        .unwrap_or_else(|| std::env::temp_dir().join("sendlens-cache"));
    let mut dir = base.join(url.scheme()).join(url.host_str().unwrap_or("_"));
    for part in url
        .path()
        .split('/')
        .filter(|p| !p.is_empty() && *p != "..")
    {
        dir.push(part);
    }
    dir
}

/// Run `future` to its end from code that is not async, whether or not a
/// runtime is running on this thread (on a thread of its own).
pub fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(future))
        })
        .join()
    })
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    .unwrap_or_else(|e| panic!("cannot start a tokio runtime: {e}"))
}

/// The lock object's key.
pub const LOCK: &str = ".sendlens/lock";

/// How often a held lock is renewed.
pub const RENEW_EVERY: Duration = Duration::from_secs(30);

/// A lock not renewed for this long is taken over (its holder is gone).
pub const STALE_AFTER: Duration = Duration::from_secs(180);

/// What the lock object says.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    host: String,
    pid: u32,
    /// When it was taken (RFC 3339).
    since: String,
    /// When it was last renewed (RFC 3339).
    renewed: String,
}

impl Holder {
    fn new() -> Holder {
        let now = chrono::Utc::now().to_rfc3339();
        Holder {
            host: hostname(),
            pid: std::process::id(),
            since: now.clone(),
            renewed: now,
        }
    }

    fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Left by a process that is gone: not renewed for [`STALE_AFTER`], or
    /// held by a process of this host that no longer runs (an ingest that
    /// lost the server could not delete its lock on the way out).
    fn is_stale(&self) -> bool {
        let expired = chrono::DateTime::parse_from_rfc3339(&self.renewed).is_ok_and(|renewed| {
            (chrono::Utc::now() - renewed.with_timezone(&chrono::Utc))
                .to_std()
                .is_ok_and(|age| age > STALE_AFTER)
        });
        let here = Path::new("/proc/self").exists() && self.host == hostname();
        expired || (here && !Path::new(&format!("/proc/{}", self.pid)).exists())
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown host".to_string())
}

/// The workspace's write lock in the bucket; released when dropped.
pub struct RemoteLock {
    remote: Remote,
    /// Stops the renewing thread (by being dropped).
    stop: Option<mpsc::Sender<()>>,
    renewing: Option<std::thread::JoinHandle<()>>,
}

impl RemoteLock {
    /// Take the lock, or say who holds it.
    pub fn take(remote: &Remote) -> Result<RemoteLock> {
        let holder = Holder::new();
        let taken = block_on(async {
            if remote.create(LOCK, holder.to_bytes()).await? {
                return Ok(true);
            }
            let held = remote
                .get(LOCK)
                .await?
                .and_then(|b| serde_json::from_slice::<Holder>(&b).ok());
            match held {
                // Released meanwhile, or left unreadable or stale: take it
                // over. Should two processes do so at once, the commit's
                // conditional PUT still lets only one of them commit.
                Some(h) if !h.is_stale() => Err(Error::Busy(format!(
                    "another sendlens ingest or maintenance command is running on {} \
                     (host {}, process {}, since {}). A lock its holder stopped renewing is \
                     taken over after {} s",
                    remote.url(),
                    h.host,
                    h.pid,
                    h.since,
                    STALE_AFTER.as_secs()
                ))),
                _ => {
                    remote.delete(LOCK).await?;
                    remote.create(LOCK, holder.to_bytes()).await
                }
            }
        })?;
        if !taken {
            return Err(Error::Busy(format!(
                "another sendlens command took the lock of {} at the same moment",
                remote.url()
            )));
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let renewer = remote.clone();
        let renewing = std::thread::spawn(move || {
            let mut holder = holder;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(RENEW_EVERY) {
                holder.renewed = chrono::Utc::now().to_rfc3339();
                let _ = block_on(renewer.put(LOCK, holder.to_bytes()));
            }
        });
        Ok(RemoteLock {
            remote: remote.clone(),
            stop: Some(stop),
            renewing: Some(renewing),
        })
    }
}

impl Drop for RemoteLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.renewing.take() {
            let _ = thread.join();
        }
        let _ = block_on(self.remote.delete(LOCK));
    }
}

/// Whether a workspace argument names a folder in object storage.
pub fn is_remote(location: &std::path::Path) -> bool {
    location.to_str().is_some_and(objects::is_object_url)
}

/// Keep the panic hook from printing the one panic delta-rs catches on
/// purpose: when a data file's upload fails at completion, it aborts the
/// multipart upload under `catch_unwind`, and object_store's `BufWriter`
/// panics ("Already shut down") by design in that state. The error itself
/// reaches the user; the caught panic's message and backtrace would only
/// look like a crash. Every other panic goes to the hook installed before.
pub fn quiet_caught_upload_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_buffered_writer = info.location().is_some_and(|l| {
                l.file().contains("object_store") && l.file().ends_with("buffered.rs")
            });
            let message = sendlens_events::guard::panic_message(info.payload());
            if !(in_buffered_writer && message == "Already shut down") {
                before(info);
            }
        }));
    });
}
