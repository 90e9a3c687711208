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

/// Ledger files past which an ingest merges them into one: every ingest
/// reads the whole ledger, and an hourly job would otherwise read (in S3,
/// GET) one more file each hour, 8,760 a year.
const MERGE_AFTER: usize = 32;

/// The ledger's files, by name (in ingest order: names begin with the
/// ingest id, a UTC time).
fn files(ws: &Workspace) -> Result<Vec<String>> {
    let mut names: Vec<String> = match ws.remote() {
        Some(remote) => block_on(remote.list(KEYS))?
            .into_iter()
            .filter_map(|key| key.strip_prefix(KEYS).map(str::to_string))
            .collect(),
        None => match std::fs::read_dir(dir(ws)) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        },
    };
    names.retain(|n| n.ends_with(".ndjson") && !n.starts_with('.') && !n.contains('/'));
    names.sort();
    Ok(names)
}

fn read(ws: &Workspace, name: &str) -> Result<String> {
    match ws.remote() {
        Some(remote) => Ok(block_on(remote.get(&format!("{KEYS}{name}")))?
            .map(|data| String::from_utf8_lossy(&data).into_owned())
            .unwrap_or_default()),
        None => {
            let path = dir(ws).join(name);
            std::fs::read_to_string(&path).at(&path)
        }
    }
}

/// Write a ledger file whole: a reader sees all of it or none.
fn write(ws: &Workspace, name: &str, text: Vec<u8>) -> Result<()> {
    if let Some(remote) = ws.remote() {
        // One PUT.
        return block_on(remote.put(&format!("{KEYS}{name}"), text));
    }
    let dir = dir(ws);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&tmp).at(&tmp)?;
    file.write_all(&text).at(&tmp)?;
    file.sync_all().at(&tmp)?;
    let path = dir.join(name);
    std::fs::rename(&tmp, &path).at(&path)
}

fn remove(ws: &Workspace, name: &str) -> Result<()> {
    match ws.remote() {
        Some(remote) => block_on(remote.delete(&format!("{KEYS}{name}"))),
        None => {
            let path = dir(ws).join(name);
            std::fs::remove_file(&path).at(&path)
        }
    }
}

/// The sources a ledger file lists. A line that does not parse (a file
/// cut short) lists nothing: its source is read again.
fn parse(text: &str) -> impl Iterator<Item = Source> + '_ {
    text.lines()
        .filter_map(|line| serde_json::from_str::<Source>(line).ok())
}

fn lines<'a>(sources: impl Iterator<Item = &'a Source>) -> Result<Vec<u8>> {
    let mut text = Vec::new();
    for source in sources {
        serde_json::to_writer(&mut text, source).map_err(|e| crate::Error::Other(e.to_string()))?;
        text.push(b'\n');
    }
    Ok(text)
}

/// Every source the ledger lists.
pub fn seen(ws: &Workspace) -> Result<HashSet<Source>> {
    let mut seen = HashSet::new();
    for name in files(ws)? {
        seen.extend(parse(&read(ws, &name)?));
    }
    Ok(seen)
}

/// List the sources an ingest read (after its commit, under the workspace
/// lock); past [`MERGE_AFTER`] files, the ledger becomes one file.
pub fn record(ws: &Workspace, ingest_id: &str, sources: &[Source]) -> Result<()> {
    if sources.is_empty() {
        return Ok(());
    }
    write(ws, &format!("{ingest_id}.ndjson"), lines(sources.iter())?)?;
    let names = files(ws)?;
    if names.len() > MERGE_AFTER {
        // The merged file is written before the others go: a process that
        // stops in between leaves sources listed twice, never missing.
        let mut all = Vec::new();
        let mut listed = HashSet::new();
        for name in &names {
            for source in parse(&read(ws, name)?) {
                if listed.insert(source.clone()) {
                    all.push(source);
                }
            }
        }
        let merged = format!("{ingest_id}-merged.ndjson");
        write(ws, &merged, lines(all.iter())?)?;
        for name in names.iter().filter(|n| **n != merged) {
            remove(ws, name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_merges_its_files_and_forgets_no_source() {
        let dir = tempfile::tempdir().unwrap();
        let ws = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(Workspace::init(&dir.path().join("ws"), Default::default()))
            .unwrap();
        let source = |n: usize| Source {
            source: format!("s3://exports/p/{n}.json"),
            size: n as u64,
            tag: format!("\"etag-{n}\""),
        };
        let ingests = 3 * MERGE_AFTER;
        for i in 0..ingests {
            // Each ingest reads a new input, and one read before again.
            record(&ws, &format!("2026120{i:04}"), &[source(i), source(0)]).unwrap();
            let count = files(&ws).unwrap().len();
            assert!(count <= MERGE_AFTER + 1, "{count} files after {i} ingests");
            assert!(count >= 1);
        }
        let seen = seen(&ws).unwrap();
        assert_eq!(seen.len(), ingests);
        assert!((0..ingests).all(|n| seen.contains(&source(n))));
        // Each source is listed once in the merged file.
        let text: String = files(&ws)
            .unwrap()
            .iter()
            .map(|n| read(&ws, n).unwrap())
            .collect();
        assert!(
            text.lines().count() < 2 * ingests,
            "{}",
            text.lines().count()
        );
    }
}
