//! Materialized message facts: `message_facts`, `campaign_targets`,
//! `message_events` and `campaign_metrics` kept as Parquet next to the event
//! table, brought to each version a commit makes. After appends only the
//! rows of the campaigns and messages the new events belong to are built
//! again (see `keys`), or failing that the slices of campaigns they fall in;
//! the other files are the previous version's, linked.
//!
//! Every metric reads the message fact table, and building it is one grouped
//! pass over all events with a dozen aggregates, the most expensive step of
//! any metric query. The store therefore keeps it, written by the commands
//! that change the table (ingest, optimize, vacuum) under the table version it
//! was built from. A session uses it only when that version is the table's
//! current one; otherwise `message_facts` stays the view it is defined as, so
//! answers never depend on whether the copy is there.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, UInt64Type};
use datafusion::catalog::TableProvider;
use datafusion::common::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use deltalake::DeltaTable;
use sendlens_metrics::{EVENTS_TABLE, sql};

use crate::Workspace;
use crate::readers::{self, ReadLease};
use crate::session::{leased, register_table};

mod key_set;
mod keys;

/// The materialized tables: name, defining query, sort order. Each reads
/// only the ones before it. `campaign_metrics` is one row per campaign: a
/// scheduled job that asks for every campaign reads those rows, not every
/// message.
fn tables() -> [(&'static str, String, &'static str); 4] {
    [
        (
            "message_facts",
            sql::message_facts(),
            "campaign_id, sent_at",
        ),
        (
            "campaign_targets",
            sql::campaign_targets(),
            "campaign_id, run_id",
        ),
        (
            "message_events",
            sql::message_events(),
            "campaign_id, occurred_at",
        ),
        (
            "campaign_metrics",
            sendlens_metrics::views::campaign_metrics(),
            "campaign_id",
        ),
    ]
}

/// Names of the materialized tables, in the order they are built.
pub fn names() -> impl Iterator<Item = &'static str> {
    tables().into_iter().map(|(name, _, _)| name)
}

/// Rows per row group: small enough that one campaign's rows are a few row
/// groups of the file, which is sorted by campaign.
const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Rows per page: the page index then picks one campaign's few days out of
/// a row group, a few thousand rows, not the tens of thousands that pages
/// of the default size hold.
const PAGE_ROWS: usize = 4 * 1024;

fn facts_dir(ws: &Workspace) -> PathBuf {
    ws.state_dir().join("facts")
}

/// A copy is valid for one table version and one definition of the tables:
/// a sendlens that defines them differently (another release) rebuilds.
fn version_dir(ws: &Workspace, version: u64) -> PathBuf {
    facts_dir(ws).join(format!("v{version}-{}", definition()))
}

/// The definition of the materialized tables, as a folder name's suffix.
fn definition() -> String {
    let mut h = DefaultHasher::new();
    for (name, query, order) in tables() {
        (name, query, order).hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The materialized facts of the table's current version, if they exist.
pub fn current(ws: &Workspace, table: &DeltaTable) -> Option<PathBuf> {
    current_at(ws, table.version()?)
}

/// The materialized facts of table version `version`, if they exist.
pub fn current_at(ws: &Workspace, version: u64) -> Option<PathBuf> {
    let dir = version_dir(ws, version);
    dir.join("_complete").exists().then_some(dir)
}

/// The folder of the table's current facts, if `lease` holds it. Without a
/// lease on the folder it may go at any time: the views answer instead.
pub fn current_leased(
    ws: &Workspace,
    table: &DeltaTable,
    lease: Option<&ReadLease>,
) -> Option<PathBuf> {
    let dir = current(ws, table)?;
    let covered = lease
        .is_some_and(|l| l.info().facts.as_deref() == dir.file_name().and_then(|n| n.to_str()));
    covered.then_some(dir)
}

/// Register the materialized tables (`message_facts`, `campaign_targets`,
/// `message_events`, `campaign_metrics`) when they match the table; returns whether they did.
/// The tables hold `lease` (which names their folder), so that no refresh
/// removes the folder while the session may read it.
pub async fn register_current(
    ctx: &SessionContext,
    ws: &Workspace,
    table: &DeltaTable,
    lease: Option<Arc<ReadLease>>,
) -> Result<bool> {
    let Some(dir) = current_leased(ws, table, lease.as_deref()) else {
        return Ok(false);
    };
    for (name, _, _) in tables() {
        let path = format!("{}/", dir.join(name).display());
        let registered = async {
            ctx.register_parquet(name, &path, ParquetReadOptions::default())
                .await?;
            let provider = ctx.table_provider(name).await?;
            ctx.deregister_table(name)?;
            ctx.register_table(name, leased(provider, lease.clone()))
        };
        if registered.await.is_err() {
            // A damaged copy must not break queries: answer from the views.
            for (name, _, _) in tables() {
                ctx.deregister_table(name)?;
            }
            return Ok(false);
        }
    }
    Ok(true)
}

/// Events per slice of campaigns the facts are built in (a refresh holds one
/// slice's messages, joins and sorts in memory at a time); the environment
/// variable `SENDLENS_FACTS_SLICE_EVENTS` overrides it.
const SLICE_EVENTS: u64 = 1 << 19;

/// Past this many events, slices are half as big: each slice's scan of the
/// whole table holds more the bigger the table is. A full build at 10 M
/// events peaked at 1,053 MB with slices of 512 Ki events and at 792 MB
/// with 256 Ki (and took 74 s instead of 55 s).
const LARGE_TABLE_EVENTS: u64 = 4 << 20;

/// The events per slice of a whole build of a table of `total` events.
fn slice_events_for(total: u64) -> u64 {
    match positive_from_env("SENDLENS_FACTS_SLICE_EVENTS") {
        Some(events) => events,
        None if total > LARGE_TABLE_EVENTS => SLICE_EVENTS / 2,
        None => SLICE_EVENTS,
    }
}

/// A positive number from the environment variable `name`, if it holds one.
fn positive_from_env<T: std::str::FromStr + Default + PartialOrd>(name: &str) -> Option<T> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > T::default())
}

/// Rebuild the facts for the table's current version (nothing to do when they
/// are current). Older versions no session reads are removed, and folders
/// that a refresh which ended early left behind; a newer version never is.
///
/// Every materialized row belongs to one campaign (or none), and every row
/// it is computed from has that campaign: the facts are built slice by slice
/// of campaign ids, in id order, each from the events of its campaigns only,
/// so that memory follows a slice, not the table. Events without a
/// campaign go with the first slice, or into slices by message key.
pub async fn refresh(ws: &Workspace) -> Result<Option<PathBuf>> {
    refresh_table(ws).await
}

/// [`refresh`] after a command committed a new version: a failure is said,
/// not raised, because the commit stands and queries stay correct without
/// the copy (they compute the facts from the events).
pub async fn refresh_after_commit(ws: &Workspace) -> Option<String> {
    refresh(ws).await.err().map(|e| {
        format!(
            "the table is committed, but the materialized message facts could not be rebuilt ({e}); \
             queries stay correct and compute them from the events; run `sendlens refresh` to retry"
        )
    })
}

async fn refresh_table(ws: &Workspace) -> Result<Option<PathBuf>> {
    let table = ws.open_table().await.map_err(external)?;
    let Some(version) = table.version() else {
        return Ok(None);
    };
    let root = facts_dir(ws);
    if let Some(dir) = current(ws, &table) {
        remove_stale(ws, &root, &dir, version);
        return Ok(Some(dir));
    }
    // The build reads this version: a vacuum elsewhere keeps its files.
    let _lease = readers::lease(ws, version, None).ok();
    std::fs::create_dir_all(&root)?;
    let tmp = root.join(format!(".v{version}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    // Held while building: a folder whose lock is free was left by a
    // refresh that ended early, and the next refresh removes it.
    let building = std::fs::File::create(tmp.join(BUILDING))?;
    building.lock()?;
    // After appends, only the rows of the campaigns and messages the new
    // events belong to are built, or failing that the slices they fall in;
    // the rest are the previous version's files, linked. Anything
    // unexpected about the previous folder means a whole build.
    let base = since_previous(ws, &table, version).await.ok().flatten();
    for name in names() {
        std::fs::create_dir_all(tmp.join(name))?;
    }
    let updated = match &base {
        Some(b) => match keys::update(&table, &b.dir, &b.slices, &b.added, version, &tmp).await {
            Ok(Some(())) => true,
            // Too much to rebuild by key, or a failure: start again by slice.
            Ok(None) | Err(_) => {
                for name in names() {
                    std::fs::remove_dir_all(tmp.join(name))?;
                    std::fs::create_dir_all(tmp.join(name))?;
                }
                false
            }
        },
        None => false,
    };
    let slices = if updated {
        let slices = base.as_ref().map(|b| b.slices.clone()).unwrap_or_default();
        compact(&table, &slices, &tmp).await?;
        slices
    } else {
        build_slices(&table, base.as_ref(), &tmp).await?
    };
    std::fs::write(
        tmp.join(SLICES),
        serde_json::to_vec(&slices).map_err(external)?,
    )?;
    drop(base);
    std::fs::write(tmp.join("_complete"), version.to_string())?;
    std::fs::remove_file(tmp.join(BUILDING))?;
    drop(building);
    let dir = version_dir(ws, version);
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another process built the same version first.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    remove_stale(ws, &root, &dir, version);
    Ok(Some(dir))
}

/// Build the facts into `tmp` slice by slice: all of them, or after
/// appends to `base` those the added events fall in (the others linked).
/// Returns the slices.
async fn build_slices(
    table: &DeltaTable,
    base: Option<&Base>,
    tmp: &Path,
) -> Result<Vec<Option<String>>> {
    let (slices, touched) = match base {
        Some(base) => (
            base.slices.clone(),
            Some(touched_slices(table, &base.added, &base.slices).await?),
        ),
        None => (campaign_slices(table).await?, None),
    };
    // A few slices to build again are read from the table once, into
    // memory, rather than once each.
    let cached = match &touched {
        Some(touched) => {
            let count = touched.iter().filter(|t| **t).count() as u64;
            if count > 0 && count * slice_events_for(0) <= CACHED_EVENTS {
                Some(touched_events(table, &slices, touched).await?)
            } else {
                None
            }
        }
        None => None,
    };
    for (number, slice) in slices.iter().enumerate() {
        if let (Some(base), Some(touched)) = (base, &touched)
            && !touched[number]
        {
            link_slice(&base.dir, tmp, number)?;
            continue;
        }
        build_slice_into(table, cached.clone(), slice.as_deref(), number, tmp).await?;
    }
    Ok(slices)
}

/// Build one slice into `tmp`'s table folders, its files named by its
/// number.
async fn build_slice_into(
    table: &DeltaTable,
    cached: Option<Arc<dyn TableProvider>>,
    slice: Option<&str>,
    number: usize,
    tmp: &Path,
) -> Result<()> {
    let dir = tmp.join(format!("slice-{number}"));
    build_slice(table, cached, slice, &dir).await?;
    // Each table's files, in slice order (so in campaign order).
    for name in names() {
        for file in std::fs::read_dir(dir.join(name))?.flatten() {
            let to = tmp.join(name).join(format!(
                "{number:05}-{}",
                file.file_name().to_string_lossy()
            ));
            std::fs::rename(file.path(), to)?;
        }
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Files a slice of one table may have before a refresh builds it again
/// as one: every update by key adds one or two.
const SLICE_FILES: usize = 16;

fn slice_files() -> usize {
    positive_from_env("SENDLENS_FACTS_SLICE_FILES").unwrap_or(SLICE_FILES)
}

/// Build again, whole, the slices whose files updates by key have made
/// many, so that a slice stays a few sorted files however many refreshes
/// it has seen.
async fn compact(table: &DeltaTable, slices: &[Option<String>], tmp: &Path) -> Result<()> {
    let mut counts = vec![0usize; slices.len()];
    for name in names() {
        let mut per_table = vec![0usize; slices.len()];
        for file in std::fs::read_dir(tmp.join(name))?.flatten() {
            if let Some(n) = keys::slice_of(&file.path()).filter(|&n| n < slices.len()) {
                per_table[n] += 1;
            }
        }
        for (count, n) in counts.iter_mut().zip(per_table) {
            *count = (*count).max(n);
        }
    }
    for (number, slice) in slices.iter().enumerate() {
        if counts[number] <= slice_files() {
            continue;
        }
        let prefix = format!("{number:05}-");
        for name in names() {
            for file in std::fs::read_dir(tmp.join(name))?.flatten() {
                if file.file_name().to_string_lossy().starts_with(&prefix) {
                    std::fs::remove_file(file.path())?;
                }
            }
        }
        build_slice_into(table, None, slice.as_deref(), number, tmp).await?;
    }
    Ok(())
}

/// The slice predicates a facts folder's files are numbered by (JSON).
const SLICES: &str = "_slices.json";

/// A previous version's facts to build on.
struct Base {
    /// Its folder.
    dir: PathBuf,
    /// Its slices, which the new folder keeps.
    slices: Vec<Option<String>>,
    /// The data files the commits since added.
    added: Vec<String>,
    /// Keeps the folder from removal while its files are linked.
    _lease: Option<ReadLease>,
}

/// The newest complete facts of this definition before `version`, when the
/// commits since only appended events: which of its slices they touch.
async fn since_previous(ws: &Workspace, table: &DeltaTable, version: u64) -> Result<Option<Base>> {
    let suffix = format!("-{}", definition());
    let newest = std::fs::read_dir(facts_dir(ws))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let v = folder_version(&name).filter(|&v| v < version)?;
            (name.ends_with(&suffix) && e.path().join(SLICES).exists()).then_some((v, name))
        })
        .max();
    let Some((previous, name)) = newest else {
        return Ok(None);
    };
    let lease = readers::lease(ws, previous, Some(&name)).ok();
    let dir = facts_dir(ws).join(&name);
    if !dir.join("_complete").exists() {
        return Ok(None);
    }
    let slices: Vec<Option<String>> =
        serde_json::from_slice(&std::fs::read(dir.join(SLICES))?).map_err(external)?;
    let crate::changes::Changes::Added(files) =
        crate::changes::between(table, previous, version).await?
    else {
        return Ok(None);
    };
    Ok(Some(Base {
        dir,
        slices,
        added: files,
        _lease: lease,
    }))
}

/// Per slice, whether any row of the added files falls in it.
async fn touched_slices(
    table: &DeltaTable,
    files: &[String],
    slices: &[Option<String>],
) -> Result<Vec<bool>> {
    if files.is_empty() {
        return Ok(vec![false; slices.len()]);
    }
    let ctx = SessionContext::new();
    crate::changes::register_files(&ctx, table, files, "added").await?;
    // The keys the slices are cut by, once: a few rows per new campaign.
    let keys = ctx
        .sql(
            "SELECT DISTINCT campaign_id, \
               CASE WHEN campaign_id IS NULL THEN message_key END AS message_key \
             FROM added",
        )
        .await?
        .cache()
        .await?;
    let mut touched = Vec::with_capacity(slices.len());
    for slice in slices {
        let picked = match slice {
            Some(predicate) => keys
                .clone()
                .filter(ctx.parse_sql_expr(predicate, keys.schema())?)?,
            None => keys.clone(),
        };
        touched.push(picked.count().await? > 0);
    }
    Ok(touched)
}

/// Events the slices built again from memory may hold at most: a 1 M-event
/// cache peaked at 1.4 GB, 320 k at 0.7 GB (whole ingest process).
const CACHED_EVENTS: u64 = 3 << 17;

/// The events of the touched slices, without the columns no materialized
/// table reads, in memory.
async fn touched_events(
    table: &DeltaTable,
    slices: &[Option<String>],
    touched: &[bool],
) -> Result<Arc<dyn TableProvider>> {
    let ctx = SessionContext::new();
    register_table(&ctx, table).await?;
    sendlens_metrics::register_functions(&ctx);
    let picked = slices
        .iter()
        .zip(touched)
        .filter(|(_, t)| **t)
        .map(|(s, _)| {
            s.as_deref()
                .map_or("true".to_string(), |p| format!("({p})"))
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    let frame = ctx
        .sql(&format!(
            "SELECT * EXCLUDE (raw, attributes, metrics) FROM {EVENTS_TABLE} WHERE {picked}"
        ))
        .await?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await?;
    Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
}

/// Link a slice's files of every table from a previous folder into `to`.
fn link_slice(from: &Path, to: &Path, number: usize) -> std::io::Result<()> {
    let prefix = format!("{number:05}-");
    for name in names() {
        for file in std::fs::read_dir(from.join(name))?.flatten() {
            let file_name = file.file_name();
            if file_name.to_string_lossy().starts_with(&prefix) {
                std::fs::hard_link(file.path(), to.join(name).join(&file_name))?;
            }
        }
    }
    Ok(())
}

/// The lock file of a facts folder being built.
const BUILDING: &str = ".building";

/// The table version of a facts folder's name (`v{version}-{definition}`).
fn folder_version(name: &str) -> Option<u64> {
    name.strip_prefix('v')?.split('-').next()?.parse().ok()
}

/// Remove the facts folders of versions before `version` (and of another
/// definition of `version`) that no session reads, and the folders of
/// refreshes that ended early. Folders of newer versions stay: a refresh
/// that finishes after a newer one must not remove its work.
fn remove_stale(ws: &Workspace, root: &Path, keep: &Path, version: u64) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    // No session takes a lease until the folders are gone.
    let Ok((_gate, leases)) = readers::removal(ws) else {
        return;
    };
    let read: std::collections::HashSet<String> =
        leases.into_iter().filter_map(|l| l.facts).collect();
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let stale = if name.starts_with(".v") && name.ends_with(".tmp") {
            readers::is_unlocked(&path.join(BUILDING))
                || (!path.join(BUILDING).exists()
                    && !path.join("_complete").exists()
                    && older_than_an_hour(&path))
        } else {
            folder_version(&name).is_some_and(|v| v <= version)
                && path != keep
                && !read.contains(&name)
        };
        if stale {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn older_than_an_hour(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() > 3600)
}

/// Predicates on `campaign_id` that split the table into slices of about
/// [`slice_events_for`] its size, in id order; one `None` (everything) for a
/// small table.
async fn campaign_slices(table: &DeltaTable) -> Result<Vec<Option<String>>> {
    let ctx = SessionContext::new();
    register_table(&ctx, table).await?;
    let counts = ctx
        .sql(
            "SELECT campaign_id, count(*) AS n FROM events \
             GROUP BY campaign_id ORDER BY campaign_id NULLS FIRST",
        )
        .await?
        .collect()
        .await?;
    let total: u64 = counts
        .iter()
        .map(|b| -> Result<u64> {
            let n = cast(b.column(1), &DataType::UInt64)?;
            Ok(n.as_primitive::<UInt64Type>().iter().flatten().sum())
        })
        .sum::<Result<u64>>()?;
    let events = slice_events_for(total);
    // Where each slice after the first begins.
    let mut starts: Vec<String> = Vec::new();
    let mut filled = 0u64;
    let mut without_campaign = 0u64;
    for batch in &counts {
        let ids = cast(batch.column(0), &DataType::Utf8)?;
        let ids = ids.as_string::<i32>();
        let n = cast(batch.column(1), &DataType::UInt64)?;
        let n = n.as_primitive::<UInt64Type>();
        for (id, n) in ids.iter().zip(n.iter()) {
            let n = n.unwrap_or(0);
            let Some(id) = id else {
                // First (nulls first); when they share the first slice, they
                // fill it too.
                without_campaign = n;
                if n <= events {
                    filled = n;
                }
                continue;
            };
            if filled >= events {
                starts.push(id.to_string());
                filled = 0;
            }
            filled += n;
        }
    }
    // Events without a campaign go with the first slice of campaigns, or,
    // when they are many, into slices of their own by message key (rows
    // without one make no materialized row): a power of two of them, at
    // most 16, by the first hex digit of the key's md5.
    let message_slices = without_campaign.div_ceil(events).next_power_of_two();
    let mut slices: Vec<Option<String>> = Vec::new();
    if message_slices > 1 {
        let message_slices = message_slices.min(16);
        for i in 0..message_slices {
            slices.push(Some(format!(
                "campaign_id IS NULL AND \
                 (strpos('0123456789abcdef', substr(md5(message_key), 1, 1)) - 1) % {message_slices} = {i}"
            )));
        }
    }
    let literal = |id: &str| format!("'{}'", id.replace('\'', "''"));
    for (i, start) in std::iter::once(None)
        .chain(starts.iter().map(Some))
        .enumerate()
    {
        let below = starts
            .get(i)
            .map(|next| format!("campaign_id < {}", literal(next)));
        let own = message_slices > 1;
        slices.push(match (start, below) {
            (None, None) if own => Some("campaign_id IS NOT NULL".to_string()),
            (None, None) => None,
            // `campaign_id < x` is not true for a missing id.
            (None, Some(below)) if own => Some(below),
            (None, Some(below)) => Some(format!("campaign_id IS NULL OR {below}")),
            (Some(start), None) => Some(format!("campaign_id >= {}", literal(start))),
            (Some(start), Some(below)) => {
                Some(format!("campaign_id >= {} AND {below}", literal(start)))
            }
        });
    }
    Ok(slices)
}

/// Build every materialized table, in order, from the events that `slice`
/// picks (all of them for `None`), into `dir/<table>/`.
async fn build_slice(
    table: &DeltaTable,
    cached: Option<Arc<dyn TableProvider>>,
    slice: Option<&str>,
    dir: &Path,
) -> Result<()> {
    let mut config = SessionConfig::new();
    // One file per table: sorted output dealt round-robin into several
    // files would give each file every campaign's range, and a query of one
    // campaign could prune none of them.
    config.options_mut().execution.minimum_parallel_output_files =
        datafusion::common::config::ConfigNonZeroUsize::try_new(1)?;
    let ctx = SessionContext::new_with_config(config);
    match cached {
        Some(events) => {
            ctx.register_table(EVENTS_TABLE, events)?;
        }
        None => register_table(&ctx, table).await?,
    }
    sendlens_metrics::register_functions(&ctx);
    if let Some(slice) = slice {
        let events = ctx
            .sql(&format!("SELECT * FROM {EVENTS_TABLE} WHERE {slice}"))
            .await?
            .into_view();
        ctx.deregister_table(EVENTS_TABLE)?;
        ctx.register_table(EVENTS_TABLE, events)?;
    }
    for (name, query, order) in tables() {
        let out = dir.join(name);
        std::fs::create_dir_all(&out)?;
        let mut options = TableParquetOptions::default();
        options.global.max_row_group_size = ROW_GROUP_ROWS;
        options.global.compression = Some("zstd(1)".into());
        options.global.data_page_row_count_limit = PAGE_ROWS;
        let df = ctx
            .sql(&format!("SELECT * FROM ({query}) ORDER BY {order}"))
            .await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        df.write_parquet(
            &format!("{}/", out.display()),
            DataFrameWriteOptions::new().with_single_file_output(false),
            Some(options),
        )
        .await?;
        if !has_parquet(&out) {
            // An empty result writes no file; keep the schema in an empty one.
            let file = std::fs::File::create(out.join("empty.parquet"))?;
            ArrowWriter::try_new(file, schema, None)?.close()?;
        }
        // The next table reads this one from its files, not by recomputing it.
        ctx.register_parquet(
            name,
            &format!("{}/", out.display()),
            ParquetReadOptions::default(),
        )
        .await?;
    }
    Ok(())
}

fn has_parquet(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "parquet"))
    })
}
