//! The sources ledger: which inputs earlier ingests read, so that an ingest
//! of a growing folder or bucket prefix reads only what is new.
//!
//! A source is known by its name and what says it has not changed: for an
//! object its ETag and size, for a local file its size and modification
//! time. Each ingest that commits (or finds nothing new to store) writes one
//! file, `.sendlens/sources/<ingest id>.ndjson` (in the bucket, for a
//! workspace in object storage), after its commit. A
//! crash between the two leaves the sources unlisted: the next ingest reads
//! them again, and de-duplication stores nothing twice.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result};
use crate::objects::Object;
use crate::remote::block_on;
use crate::workspace::Workspace;

/// One source as an ingest read it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Source {
    /// `s3://bucket/key`, or a local file's absolute path.
    pub source: String,
    pub size: u64,
    /// The object's ETag, or the file's modification time (`mtime:<ns>`).
    pub tag: String,
}

impl Source {
    /// A local file as it is now; `None` when its metadata cannot be read
    /// (it is read, and never listed).
    pub fn of_file(path: &Path) -> Option<Source> {
        let meta = std::fs::metadata(path).ok()?;
        let modified = meta.modified().ok()?;
        let nanos = modified
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        let absolute = std::fs::canonicalize(path).ok()?;
        Some(Source {
            source: absolute.display().to_string(),
            size: meta.len(),
            tag: format!("mtime:{nanos}"),
        })
    }

    /// An object as listed or read; `None` without an ETag (it cannot be
    /// told apart from a new version of itself, so it is always read).
    pub fn of_object(object: &Object) -> Option<Source> {
        Some(Source {
            source: object.url.clone(),
            size: object.size,
            tag: object.etag.clone()?,
        })
    }
}

fn dir(ws: &Workspace) -> PathBuf {
    ws.state_dir().join("sources")
}

/// The ledger's folder inside a workspace in object storage.
const KEYS: &str = ".sendlens/sources/";

/// Every source the ledger lists.
pub fn seen(ws: &Workspace) -> Result<HashSet<Source>> {
    let mut texts = Vec::new();
    if let Some(remote) = ws.remote() {
        block_on(async {
            for key in remote.list(KEYS).await? {
                if key.ends_with(".ndjson")
                    && let Some(data) = remote.get(&key).await?
                {
                    texts.push(String::from_utf8_lossy(&data).into_owned());
                }
            }
            Ok::<_, crate::Error>(())
        })?;
    } else if let Ok(entries) = std::fs::read_dir(dir(ws)) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|x| x == "ndjson") {
                texts.push(std::fs::read_to_string(&path).at(&path)?);
            }
        }
    }
    // A line that does not parse (a file cut short) lists nothing: its
    // source is read again.
    Ok(texts
        .iter()
        .flat_map(|text| text.lines())
        .filter_map(|line| serde_json::from_str::<Source>(line).ok())
        .collect())
}

/// List the sources an ingest read (after its commit).
pub fn record(ws: &Workspace, ingest_id: &str, sources: &[Source]) -> Result<()> {
    if sources.is_empty() {
        return Ok(());
    }
    let mut text = Vec::new();
    for source in sources {
        serde_json::to_writer(&mut text, source).map_err(|e| crate::Error::Other(e.to_string()))?;
        text.push(b'\n');
    }
    if let Some(remote) = ws.remote() {
        // One PUT: whole or not at all.
        return block_on(remote.put(&format!("{KEYS}{ingest_id}.ndjson"), text));
    }
    let dir = dir(ws);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let tmp = dir.join(format!(".{ingest_id}.tmp"));
    let mut file = std::fs::File::create(&tmp).at(&tmp)?;
    file.write_all(&text).at(&tmp)?;
    file.sync_all().at(&tmp)?;
    let path = dir.join(format!("{ingest_id}.ndjson"));
    // Whole or not at all: a reader never sees half a file.
    std::fs::rename(&tmp, &path).at(&path)?;
    Ok(())
}
