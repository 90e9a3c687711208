//! Inputs in object storage: `s3://bucket/prefix/` listed, then each object
//! read whole into memory, several GETs in flight, and decoded like a file.
//! Nothing of the prefix is copied to disk.
//!
//! Stores are made by delta-rs's factories (`deltalake::aws`), so inputs
//! and a workspace in S3 take the same settings: the standard AWS chain
//! and variables (`AWS_ACCESS_KEY_ID`, `AWS_PROFILE`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...), overridden by the
//! `[storage]` section of `sendlens.toml`.

use std::collections::BTreeMap;
use std::sync::{Arc, Once};

use bytes::Bytes;
use deltalake::logstore::object_store::path::Path as ObjectPath;
use deltalake::logstore::object_store::{self, GetOptions, ObjectStoreExt};
use deltalake::{ObjectMeta, ObjectStore};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use url::Url;

use crate::error::{Error, Result};

/// URL schemes read as object storage.
const SCHEMES: [&str; 2] = ["s3://", "s3a://"];

/// Whether an ingest argument names objects rather than a local path.
pub fn is_object_url(arg: &str) -> bool {
    SCHEMES.iter().any(|s| arg.starts_with(s))
}

/// Register the S3 store and log store with delta-rs, once per process.
pub fn register_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

/// What to check when object storage cannot be reached: the end of every
/// such error.
pub const STORE_HINT: &str = "Check the bucket, the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, \
     ...) and, for an S3-compatible server, AWS_ENDPOINT_URL and AWS_ALLOW_HTTP";

/// An object to read: where it is and what the listing said of it.
#[derive(Debug, Clone)]
pub struct Object {
    /// `s3://bucket/key`, as rejections and the sources ledger name it.
    pub url: String,
    location: ObjectPath,
    pub etag: Option<String>,
    pub size: u64,
}

/// A bucket's store.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket`, without a slash at the end.
    root: String,
}

impl Bucket {
    /// The store of the bucket `url` names.
    pub fn open(url: &Url, options: &BTreeMap<String, String>) -> Result<Bucket> {
        register_handlers();
        let host = url.host_str().ok_or_else(|| {
            Error::Other(format!("{url}: no bucket name after {}//", url.scheme()))
        })?;
        let root = format!("{}://{host}", url.scheme());
        let root_url = Url::parse(&root).map_err(|e| Error::Other(format!("{url}: {e}")))?;
        let store = deltalake::logstore::store_for(&root_url, options.clone())
            .map_err(|e| Error::Other(format!("cannot reach {root}: {e}")))?;
        Ok(Bucket { store, root })
    }

    /// The bucket's store.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// Every object under `url`'s key prefix, by key; keys with a part that
    /// begins with a dot are passed over, as hidden files in folders are.
    pub async fn list(&self, url: &Url) -> Result<Vec<Object>> {
        let prefix = url.path().trim_start_matches('/');
        let listed: Vec<_> = self
            .store
            .list(Some(&ObjectPath::from(prefix)))
            .try_collect()
            .await
            .map_err(|e| self.unreachable(url.as_str(), &e))?;
        let mut objects: Vec<Object> = listed
            .into_iter()
            .filter(|m| !m.location.parts().any(|p| p.as_ref().starts_with('.')))
            .map(|m| self.object(m))
            .collect();
        // A prefix that is one object's whole key names that object (a
        // listing takes a prefix as a folder).
        if objects.is_empty() && !prefix.is_empty() && !prefix.ends_with('/') {
            let location = ObjectPath::from(prefix);
            if let Ok(m) = self.store.head(&location).await {
                objects.push(self.object(m));
            }
        }
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(objects)
    }

    /// The whole object, as it is when read: if it changed since it was
    /// listed (its ETag moved), its new version is read, and `object`
    /// updated to the ETag and size that were read.
    pub async fn read(&self, object: &mut Object) -> Result<Bytes> {
        for _ in 0..3 {
            let options = GetOptions {
                if_match: object.etag.clone(),
                ..GetOptions::default()
            };
            match self.store.get_opts(&object.location, options).await {
                Ok(got) => {
                    object.etag = got.meta.e_tag.clone();
                    let data = got
                        .bytes()
                        .await
                        .map_err(|e| self.unreachable(&object.url, &e))?;
                    object.size = data.len() as u64;
                    return Ok(data);
                }
                Err(object_store::Error::Precondition { .. }) => {
                    // Replaced since the listing: read what is there now.
                    let head = self
                        .store
                        .head(&object.location)
                        .await
                        .map_err(|e| self.unreachable(&object.url, &e))?;
                    object.etag = head.e_tag;
                    object.size = head.size;
                }
                Err(e) => return Err(self.unreachable(&object.url, &e)),
            }
        }
        Err(Error::Other(format!(
            "{} changed every time it was read; run the ingest again when its writer is done",
            object.url
        )))
    }

    fn object(&self, meta: ObjectMeta) -> Object {
        Object {
            url: format!("{}/{}", self.root, meta.location),
            location: meta.location,
            etag: meta.e_tag,
            size: meta.size,
        }
    }

    fn unreachable(&self, what: &str, e: &object_store::Error) -> Error {
        Error::Other(format!("cannot read {what}: {e}. {STORE_HINT}"))
    }
}

/// Objects read ahead of the decoders: how many GETs are in flight.
pub const IN_FLIGHT: usize = 4;

/// An object as read: its listing updated to what was read, and its
/// bytes or why they could not be read.
pub type Read = (Object, Result<Bytes>);

/// Read `objects` in order, [`IN_FLIGHT`] at a time, sending each to `to`
/// as it arrives; stops after the first that fails, or when no one
/// receives any more.
pub async fn read_ahead(bucket: Bucket, objects: Vec<Object>, to: mpsc::Sender<Read>) {
    let mut reads = futures::stream::iter(objects)
        .map(|mut object| {
            let bucket = bucket.clone();
            async move {
                let data = bucket.read(&mut object).await;
                (object, data)
            }
        })
        .buffered(IN_FLIGHT);
    while let Some((object, data)) = reads.next().await {
        let failed = data.is_err();
        if to.send((object, data)).await.is_err() || failed {
            return;
        }
    }
}
