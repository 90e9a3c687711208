//! Ingest: input files → decoded, de-duplicated, PII-scrubbed events →
//! Parquet files → one Delta commit.
//!
//! Files are decoded in parallel, one file per worker at a time. Each worker
//! streams chunks of whole records (a few MiB), so memory does not grow with
//! the input. Every record ends in exactly one of three counts: stored,
//! duplicate, or rejected (written with its position and reason to the
//! rejected-records file). Nothing is visible to readers until the single
//! commit at the end: a killed ingest leaves the table at its last version,
//! and running it again stores what is missing.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, Date32Array, StringArray};
use delta_kernel::expressions::Scalar;
use delta_kernel::table_properties::DataSkippingNumIndexedCols;
use deltalake::kernel::transaction::{CommitBuilder, TransactionError};
use deltalake::kernel::{Action, Add};
use deltalake::operations::write::writer::{DeltaWriter, WriterConfig};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};
use indexmap::IndexMap;
use sendlens_events::batch::{ChunkText, Provenance, Raw};
use sendlens_events::guard::guarded;
use sendlens_events::hash::{IdentityKey, Scratch, record_identity};
use sendlens_events::scan::split_records;
use sendlens_events::schema::EVENT_DATE;
use sendlens_events::source::{Inputs, list_inputs};
use sendlens_events::split::{CHUNK_BYTES, Chunk};
use sendlens_events::{
    DecodeOptions, Event, EventBatchBuilder, PiiScrubber, RecordSource, Reject, SourceFormat,
    SourceItem, decode_record, open_object, open_source,
};
use serde_json::json;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::dedupe::{DedupeIndex, TableFiles};
use crate::error::{Error, Result};
use crate::objects;
use crate::rejects::RejectWriter;
use crate::sources::{self, Source};
use crate::table::{self, files_by_date};
use crate::workspace::Workspace;

/// Rows per batch handed to the Parquet writer. A batch, its sorted copy and
/// the input it points into are held at once, per worker: at 32 Ki rows the
/// 1 M-event benchmark peaked at 630 MB, at 16 Ki at 430 MB, and the smaller
/// working set is faster to sort and gather.
const BATCH_ROWS: usize = 16 * 1024;
/// Bytes a worker buffers before handing a batch to the writer.
const BATCH_BYTES: usize = 24 << 20;
/// Data files roll over at this size.
const TARGET_FILE_BYTES: u64 = 128 << 20;

/// How to run an ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Decoding threads; 0 means one per core.
    pub threads: usize,
    /// Leave the materialized facts as they are: queries compute what is
    /// missing from the events until a later refresh (bulk loads that
    /// ingest many times in a row).
    pub no_refresh: bool,
    /// Runs between the commit and the facts refresh (the binary hands
    /// back the memory ingest kept, see its `return_freed_memory`).
    pub before_refresh: Option<fn()>,
    /// Read every input, also those the sources ledger lists as read
    /// before (de-duplication keeps that safe).
    pub rescan: bool,
}

/// Live counters, for a progress display.
#[derive(Debug, Default)]
pub struct IngestProgress {
    pub files_total: AtomicU64,
    pub files_done: AtomicU64,
    pub records: AtomicU64,
    /// Decompressed bytes read.
    pub bytes: AtomicU64,
}

/// What an ingest did.
#[derive(Debug, Clone, Default)]
pub struct IngestSummary {
    pub files: u64,
    /// Inputs passed over because an earlier ingest read them as they are.
    pub skipped: u64,
    pub records: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub bytes: u64,
    pub rejected_file: Option<PathBuf>,
    /// Table version committed, if anything was stored.
    pub version: Option<i64>,
    /// Why the materialized facts could not be rebuilt after the commit
    /// (the events are committed; queries compute the facts from them).
    pub facts_error: Option<String>,
    /// Files that ended early (truncated gzip, read errors): what was read
    /// before the break is counted above; links under the input folders
    /// that were not followed (loops, links to nothing).
    pub warnings: Vec<String>,
    pub elapsed: Duration,
}

impl IngestSummary {
    /// Every record is accounted for exactly once.
    pub fn adds_up(&self) -> bool {
        self.records == self.stored + self.duplicates + self.rejected
    }
}

#[derive(Default)]
struct WorkerTotals {
    records: u64,
    stored: u64,
    duplicates: u64,
    bytes: u64,
    adds: Vec<Add>,
    warnings: Vec<String>,
    /// Objects read, as they were read (for the sources ledger).
    sources: Vec<Source>,
}

struct Shared<'a> {
    files: &'a [PathBuf],
    next: AtomicUsize,
    /// Objects, read ahead, after the files.
    objects: Mutex<Option<mpsc::Receiver<objects::Read>>>,
    dedupe: DedupeIndex,
    rejects: Mutex<RejectWriter>,
    decode: DecodeOptions,
    scrubber: PiiScrubber,
    identity: IdentityKey,
    progress: &'a IngestProgress,
    table: &'a DeltaTable,
    rt: &'a Handle,
}

/// Ingest `paths` (files and folders) into the workspace, then bring the
/// materialized facts to the new version (unless `opts.no_refresh`).
///
/// Must be called outside of an async context; `rt` runs the table I/O.
pub fn ingest(
    ws: &Workspace,
    paths: &[PathBuf],
    opts: &IngestOptions,
    progress: &IngestProgress,
    rt: &Handle,
) -> Result<IngestSummary> {
    let mut summary = ingest_and_commit(ws, paths, opts, progress, rt)?;
    if !opts.no_refresh {
        if let Some(hook) = opts.before_refresh {
            hook();
        }
        summary.facts_error = rt.block_on(crate::facts::refresh_after_commit(ws));
    }
    Ok(summary)
}

/// [`ingest`] up to its commit, under the workspace lock.
fn ingest_and_commit(
    ws: &Workspace,
    paths: &[PathBuf],
    opts: &IngestOptions,
    progress: &IngestProgress,
    rt: &Handle,
) -> Result<IngestSummary> {
    let started = Instant::now();
    let _lock = ws.lock()?;
    let scrubber = ws.pii_scrubber()?;
    let (urls, local): (Vec<&PathBuf>, Vec<&PathBuf>) = paths
        .iter()
        .partition(|p| p.to_str().is_some_and(objects::is_object_url));
    let local: Vec<PathBuf> = local.into_iter().cloned().collect();
    let inputs = if local.is_empty() {
        Inputs::default()
    } else {
        list_inputs(&local).map_err(|e| Error::Other(format!("cannot list inputs: {e}")))?
    };
    let skipped: Vec<String> = inputs
        .skipped
        .iter()
        .map(|s| scrubber.scrub_text(s).into_owned())
        .collect();
    let listed = rt.block_on(list_objects(ws, &urls))?;
    if inputs.files.is_empty() && listed.iter().all(|(_, o)| o.is_empty()) {
        return Err(Error::Other(format!(
            "no input files found in {}{}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" (passed over: {})", skipped.join("; "))
            }
        )));
    }
    let found = inputs.files.len() + listed.iter().map(|(_, o)| o.len()).sum::<usize>();
    let (files, file_ledger, listed) = unseen(ws, opts, inputs.files, listed)?;
    let object_count: usize = listed.iter().map(|(_, o)| o.len()).sum();
    let passed_over = (found - files.len() - object_count) as u64;
    if files.is_empty() && object_count == 0 {
        return Ok(IngestSummary {
            skipped: passed_over,
            warnings: skipped,
            elapsed: started.elapsed(),
            ..IngestSummary::default()
        });
    }
    progress
        .files_total
        .store((files.len() + object_count) as u64, Ordering::Relaxed);

    let mut table = rt.block_on(ws.open_table())?;
    table::check_identity_scheme(&table)?;
    let by_date = rt.block_on(files_by_date(&table))?;
    let ingest_id = ingest_id();
    let tmp_rejects = ws.tmp_dir()?.join(format!("rejected-{ingest_id}.ndjson"));
    // Objects are read ahead, bucket after bucket, while workers decode.
    let (to_workers, from_reads) = mpsc::channel(1);
    if object_count > 0 {
        rt.spawn(async move {
            for (bucket, objects) in listed {
                objects::read_ahead(bucket, objects, to_workers.clone()).await;
            }
        });
    }
    let shared = Shared {
        files: &files,
        next: AtomicUsize::new(0),
        objects: Mutex::new((object_count > 0).then_some(from_reads)),
        dedupe: DedupeIndex::new(table_files(ws, &table, rt), by_date),
        rejects: Mutex::new(RejectWriter::new(tmp_rejects, scrubber.clone())),
        decode: ws.config().decode_options(),
        scrubber,
        identity: ws.identity_key()?,
        progress,
        table: &table,
        rt,
    };
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    }
    .min(files.len() + object_count)
    .max(1);

    let results: Vec<Result<WorkerTotals>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| guarded_worker(&shared)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Other("an ingest worker panicked".into())))
            })
            .collect()
    });
    let Shared { rejects, .. } = shared;
    let rejects = rejects
        .into_inner()
        .map_err(|_| Error::Other("reject writer poisoned".into()))?;

    let mut summary = IngestSummary {
        files: (files.len() + object_count) as u64,
        skipped: passed_over,
        warnings: skipped,
        ..IngestSummary::default()
    };
    let mut ledger = file_ledger;
    let mut adds = Vec::new();
    let mut first_error = None;
    for r in results {
        match r {
            Ok(t) => {
                summary.records += t.records;
                summary.stored += t.stored;
                summary.duplicates += t.duplicates;
                summary.bytes += t.bytes;
                summary.warnings.extend(t.warnings);
                adds.extend(t.adds);
                ledger.extend(t.sources);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        rejects.abandon();
        return Err(unreachable_table(ws, e));
    }
    summary.rejected = rejects.count();

    if !adds.is_empty() {
        let metadata = HashMap::from([(
            "sendlens.ingest".to_string(),
            json!({
                "id": ingest_id,
                "files": summary.files,
                "records": summary.records,
                "stored": summary.stored,
                "duplicates": summary.duplicates,
                "rejected": summary.rejected,
            }),
        )]);
        let version = rt
            .block_on(commit(&mut table, adds, metadata))
            .map_err(|e| unreachable_table(ws, e))?;
        summary.version = Some(version as i64);
    }
    // Every record read is stored, a duplicate or rejected: its source is
    // listed as read.
    sources::record(ws, &ingest_id, &ledger)?;
    let final_path = ws.rejected_dir().join(format!("{ingest_id}.ndjson"));
    summary.rejected_file = rejects.finish(&final_path)?;
    if let Some(file) = &summary.rejected_file {
        // In object storage, beside the table; the local copy stays in
        // the cache.
        let relative = file.strip_prefix(ws.root()).unwrap_or(file);
        if let Some(url) = ws.publish(relative)?.pop() {
            summary.rejected_file = Some(PathBuf::from(url));
        }
    }
    summary.warnings.sort();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// A table error of a workspace in object storage, said as what it most
/// likely is (the store could not be reached) and what to do.
fn unreachable_table(ws: &Workspace, e: Error) -> Error {
    match (ws.remote(), e) {
        (Some(remote), Error::Delta(e)) => Error::Other(format!(
            "cannot write the events table in {}: {e}. Nothing was committed; run the same \
             ingest again once the store answers. {}",
            remote.url(),
            objects::STORE_HINT
        )),
        (_, e) => e,
    }
}

/// Where de-duplication reads the stored identities from.
fn table_files(ws: &Workspace, table: &DeltaTable, rt: &Handle) -> TableFiles {
    match ws.remote() {
        Some(_) => TableFiles::Store {
            store: table.object_store(),
            rt: rt.clone(),
        },
        None => TableFiles::Folder(ws.table_path()),
    }
}

async fn commit(
    table: &mut DeltaTable,
    adds: Vec<Add>,
    app_metadata: HashMap<String, serde_json::Value>,
) -> Result<u64> {
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(vec![sendlens_events::schema::EVENT_DATE.to_string()]),
        predicate: None,
    };
    let actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
    let snapshot = table.snapshot()?;
    // Only onto the version the identities were read from: a commit of
    // another writer since may hold the same records.
    let base = snapshot.version();
    let committed = CommitBuilder::default()
        .with_actions(actions)
        .with_app_metadata(app_metadata)
        .with_max_retries(0)
        .build(Some(snapshot), table.log_store(), operation)
        .await;
    match committed {
        Ok(finalized) => Ok(finalized.version()),
        Err(DeltaTableError::Transaction {
            source:
                TransactionError::MaxCommitAttempts(_) | TransactionError::VersionAlreadyExists(_),
        })
        | Err(DeltaTableError::VersionAlreadyExists(_)) => Err(Error::Other(format!(
            "another writer committed to the table after version {base}, which this ingest \
             de-duplicated against, so nothing of it was committed; run the same command again \
             (what the other writer stored is then recognized as duplicates)"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Sortable, unique enough for one workspace: UTC time and process id.
fn ingest_id() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    )
}

/// The objects under each URL, with their bucket's store.
async fn list_objects(ws: &Workspace, urls: &[&PathBuf]) -> Result<Listed> {
    let mut listed = Vec::new();
    for url in urls {
        let text = url.display().to_string();
        let url = url::Url::parse(&text)
            .map_err(|e| Error::Other(format!("{text} is not a valid URL: {e}")))?;
        let bucket = objects::Bucket::open(&url, &ws.config().storage)?;
        let objects = bucket.list(&url).await?;
        listed.push((bucket, objects));
    }
    Ok(listed)
}

/// Objects to read, with the store of their bucket.
type Listed = Vec<(objects::Bucket, Vec<objects::Object>)>;

/// The files and objects no earlier ingest read as they are now (all of
/// them with `rescan`), and the ledger entries of those files.
fn unseen(
    ws: &Workspace,
    opts: &IngestOptions,
    files: Vec<PathBuf>,
    listed: Listed,
) -> Result<(Vec<PathBuf>, Vec<Source>, Listed)> {
    let seen = if opts.rescan {
        HashSet::new()
    } else {
        sources::seen(ws)?
    };
    let (mut unread, mut ledger) = (Vec::new(), Vec::new());
    for file in files {
        let source = Source::of_file(&file);
        if source.as_ref().is_some_and(|s| seen.contains(s)) {
            continue;
        }
        unread.push(file);
        ledger.extend(source);
    }
    let listed = listed
        .into_iter()
        .map(|(bucket, objects)| {
            let unread = objects
                .into_iter()
                .filter(|o| Source::of_object(o).is_none_or(|s| !seen.contains(&s)))
                .collect();
            (bucket, unread)
        })
        .collect();
    Ok((unread, ledger, listed))
}

/// The next object read ahead, if any is left; its read's error, if it
/// failed.
fn next_object(shared: &Shared<'_>) -> Result<Option<(objects::Object, Result<bytes::Bytes>)>> {
    let mut objects = shared
        .objects
        .lock()
        .map_err(|_| Error::Other("object reader poisoned".into()))?;
    Ok(objects.as_mut().and_then(|rx| rx.blocking_recv()))
}

/// Where a worker is: the file and the record it works on, so that an
/// internal failure can say where it happened.
#[derive(Default)]
struct Position {
    file: String,
    offset: u64,
}

/// [`worker`], turning a panic (a bug of sendlens's own: records are
/// decoded under their own guard, see [`prepare`]) into an error that names
/// the file and record it happened at. Nothing is committed then.
fn guarded_worker(shared: &Shared<'_>) -> Result<WorkerTotals> {
    let mut at = Position::default();
    match guarded(|| worker(shared, &mut at)) {
        Ok(r) => r,
        Err(panic) => Err(Error::Other(format!(
            "ingest stopped by an internal error ({panic}) at {}, record at offset {}; nothing \
             was committed. Please report it with that record",
            at.file, at.offset
        ))),
    }
}

fn worker(shared: &Shared<'_>, at: &mut Position) -> Result<WorkerTotals> {
    let mut totals = WorkerTotals::default();
    let mut sink = Sink {
        writer: new_writer(shared.table)?,
        builder: EventBatchBuilder::new(),
        identities: Vec::new(),
        open_dates: BTreeSet::new(),
        adds: Vec::new(),
        retained: Vec::new(),
        spare: Vec::new(),
    };
    let mut chunk = Chunk::default();
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(path) = shared.files.get(i) else {
            break;
        };
        let name = path.display().to_string();
        let source = open_source(path);
        ingest_source(
            shared,
            source,
            &name,
            &mut chunk,
            &mut sink,
            &mut totals,
            at,
        )?;
        shared.progress.files_done.fetch_add(1, Ordering::Relaxed);
    }
    while let Some((object, data)) = next_object(shared)? {
        let source = open_object(&object.url, data?);
        ingest_source(
            shared,
            source,
            &object.url,
            &mut chunk,
            &mut sink,
            &mut totals,
            at,
        )?;
        totals.sources.extend(Source::of_object(&object));
        shared.progress.files_done.fetch_add(1, Ordering::Relaxed);
    }
    sink.write_batch(shared, &[], &mut totals)?;
    sink.finish_files(shared)?;
    totals.adds = sink.adds;
    Ok(totals)
}

/// A writer that streams Parquet files into the table's partitions, rolling
/// over at [`TARGET_FILE_BYTES`]. Files are uploaded as they are written (in
/// parts), so memory holds a row group per open partition, not whole files.
fn new_writer(table: &DeltaTable) -> Result<DeltaWriter> {
    let config = WriterConfig::new(
        sendlens_events::schema::event_schema(),
        vec![EVENT_DATE.to_string()],
        Some(table::writer_properties()),
        std::num::NonZeroU64::new(TARGET_FILE_BYTES),
        Some(BATCH_ROWS),
        DataSkippingNumIndexedCols::NumColumns(table::INDEXED_COLUMNS as u64),
        None,
    );
    Ok(DeltaWriter::new(table.object_store(), config))
}

/// A worker's way to the table: buffered rows, the Parquet writer, and the
/// files it has finished (committed by the caller, all at once).
struct Sink {
    writer: DeltaWriter,
    builder: EventBatchBuilder,
    /// (event date, record identity) of each buffered row, in append order.
    identities: Vec<(i32, u128)>,
    /// Partitions with a file open in the writer.
    open_dates: BTreeSet<i32>,
    adds: Vec<Add>,
    /// Input chunks that buffered rows' raw text points into ([`Raw::InChunk`]).
    retained: Vec<Vec<u8>>,
    /// Chunk buffers to reuse once their rows are written.
    spare: Vec<Vec<u8>>,
}

/// Each open partition file holds a row group in memory; finishing the files
/// once more than this many are open keeps memory flat however many days
/// the input spans. Exports arrive in time order, so this rarely splits a day.
const MAX_OPEN_PARTITIONS: usize = 3;

impl Sink {
    /// Keep the current chunk's bytes while buffered rows point into them.
    /// A full chunk's buffer is kept as it is, and the reader gets a spare
    /// one; a small chunk (a small file) is copied, so that what is kept
    /// stays in proportion to the rows buffered.
    fn retain_chunk(&mut self, chunk: &mut Chunk) {
        if self.builder.is_empty() {
            return;
        }
        if chunk.data.len() < chunk.data.capacity() / 2 {
            self.retained.push(chunk.data.clone());
        } else {
            let spare = self.spare.pop().unwrap_or_default();
            self.retained
                .push(std::mem::replace(&mut chunk.data, spare));
        }
    }

    /// Index that rows from the chunk being read get in [`Raw::InChunk`].
    fn current_chunk(&self) -> u32 {
        self.retained.len() as u32
    }

    /// Leave out the buffered rows seen before (asking the shared index for
    /// the whole batch at once), sort the others (event_date, campaign_id,
    /// sent_at) and hand each date's rows to the writer as a zero-copy
    /// slice. `current` is the chunk being read, if rows point into it.
    fn write_batch(
        &mut self,
        shared: &Shared<'_>,
        current: &[u8],
        totals: &mut WorkerTotals,
    ) -> Result<()> {
        if self.builder.is_empty() {
            return Ok(());
        }
        let seen = shared.dedupe.insert_all(&self.identities)?;
        totals.duplicates += seen.len() as u64;
        totals.stored += (self.identities.len() - seen.len()) as u64;
        self.identities.clear();
        for row in seen {
            self.builder.drop_row(row);
        }
        let chunks: Vec<&[u8]> = self
            .retained
            .iter()
            .map(Vec::as_slice)
            .chain(std::iter::once(current))
            .collect();
        let batch = self.builder.finish_sorted(&chunks)?;
        drop(chunks);
        for mut data in self.retained.drain(..) {
            // Copies of small chunks are not worth keeping.
            if data.capacity() >= CHUNK_BYTES {
                data.clear();
                self.spare.push(data);
            }
        }
        let dates = batch
            .column(0)
            .as_any()
            .downcast_ref::<Date32Array>()
            .ok_or_else(|| Error::Other("event_date is not a date column".into()))?
            .clone();
        let mut start = 0;
        while start < batch.num_rows() {
            let date = dates.value(start);
            let mut end = start + 1;
            while end < batch.num_rows() && dates.value(end) == date {
                end += 1;
            }
            if !self.open_dates.contains(&date) && self.open_dates.len() >= MAX_OPEN_PARTITIONS {
                self.finish_files(shared)?;
            }
            self.open_dates.insert(date);
            let partition = IndexMap::from([(EVENT_DATE.to_string(), Scalar::Date(date))]);
            shared.rt.block_on(
                self.writer
                    .write_partition(batch.slice(start, end - start), &partition),
            )?;
            start = end;
        }
        // The rows are encoded; their raw text buffer serves the next batch.
        let raw = batch
            .column_by_name("raw")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .map(|a| a.values().clone());
        drop(batch);
        if let Some(raw) = raw {
            self.builder.recycle_raw(raw);
        }
        Ok(())
    }

    /// Close every open file; their Add actions wait for the commit.
    fn finish_files(&mut self, shared: &Shared<'_>) -> Result<()> {
        let writer = std::mem::replace(&mut self.writer, new_writer(shared.table)?);
        self.adds.extend(shared.rt.block_on(writer.close())?);
        self.open_dates.clear();
        Ok(())
    }
}

/// A record decoded, identified and scrubbed, ready to be stored (its
/// event is in the slot [`prepare`] filled: an event is a large value, and
/// moving it through results costs a copy each time).
struct Prepared<'a> {
    /// The record's text, as read.
    text: &'a str,
    identity: u128,
    /// The record text as stored (scrubbed when the policy says so).
    raw: Cow<'a, str>,
}

/// Decode one record into `slot`, compute its identity and apply the PII
/// policy; the reason it cannot be stored otherwise. Decoding meets every
/// byte of user input, so it runs under a guard: should it panic (a bug),
/// the record is rejected with the panic's message and the ingest goes on.
fn prepare<'a>(
    shared: &Shared<'_>,
    bytes: &'a [u8],
    hint: Option<SourceFormat>,
    scratch: &mut Scratch,
    slot: &mut Option<Event<'a>>,
) -> std::result::Result<Prepared<'a>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text: invalid byte at position {}",
            e.valid_up_to()
        )
    })?;
    let guarded = guarded(|| {
        let event = slot.insert(decode_record(text, hint, &shared.decode).map_err(|e| e.0)?);
        // The identity is of what the record says, before any scrubbing.
        let identity = record_identity(event, &shared.identity, scratch);
        let mut raw = Cow::Borrowed(text);
        shared.scrubber.scrub(event, &mut raw);
        Ok(Prepared {
            text,
            identity,
            raw,
        })
    });
    guarded.unwrap_or_else(|panic| {
        Err(format!(
            "sendlens failed on this record ({panic}); it is kept here, the ingest went on. \
             Please report it"
        ))
    })
}

/// Store one prepared record unless it is a duplicate.
fn accept<'a>(
    shared: &Shared<'_>,
    sink: &mut Sink,
    totals: &mut WorkerTotals,
    source_name: &str,
    event: &Event<'a>,
    prepared: Prepared<'a>,
    record: Record<'a>,
) -> Result<()> {
    let Record {
        chunk,
        start,
        offset,
    } = record;
    let Prepared {
        text,
        identity,
        raw,
    } = prepared;
    // Whether it was seen before is asked for the whole batch at once, when
    // it is written; a duplicate's row is dropped then.
    sink.identities.push((event.event_date(), identity));
    let raw = match &raw {
        // SAFETY: `text` is a `&str` at `start` of the current chunk, whose
        // bytes stay as they are until its rows are written: the chunk is
        // either passed to `write_batch` as the current one or moved,
        // untouched, into `retained`.
        Cow::Borrowed(_) => {
            Raw::InChunk(unsafe { ChunkText::new(text, sink.current_chunk(), start) })
        }
        Cow::Owned(rewritten) => Raw::Text(rewritten),
    };
    sink.builder.append(
        event,
        &Provenance {
            source_file: source_name,
            source_offset: offset,
            record_hash: identity,
            raw,
        },
    );
    if sink.builder.len() >= BATCH_ROWS || sink.builder.approx_bytes() >= BATCH_BYTES {
        sink.write_batch(shared, chunk, totals)?;
    }
    Ok(())
}

/// Where a record lies.
struct Record<'a> {
    /// The chunk's bytes, and where the record starts in them.
    chunk: &'a [u8],
    start: usize,
    /// Position in the source file.
    offset: u64,
}

#[allow(clippy::too_many_arguments)]
fn ingest_source(
    shared: &Shared<'_>,
    mut source: RecordSource,
    name: &str,
    chunk: &mut Chunk,
    sink: &mut Sink,
    totals: &mut WorkerTotals,
    at: &mut Position,
) -> Result<()> {
    // A path may name a person too: it is stored (source_file) and shown.
    let source_name = shared.scrubber.scrub_text(name).into_owned();
    at.file.clone_from(&source_name);
    let hint = source.is_parquet.then_some(SourceFormat::FirehoseParquet);
    let mut local_rejects: Vec<Reject> = Vec::new();
    loop {
        if let SourceItem::End = source.next_chunk(chunk) {
            break;
        }
        let is_parquet = source.is_parquet;
        totals.bytes += chunk.data.len() as u64;
        shared
            .progress
            .bytes
            .fetch_add(chunk.data.len() as u64, Ordering::Relaxed);
        totals.records += chunk.broken.iter().map(|b| b.count).sum::<u64>();
        for b in chunk.broken.drain(..) {
            local_rejects.push(Reject::from_broken(&source_name, b, is_parquet));
        }

        // Decode every record of the chunk; events borrow from the chunk.
        let chunk_records = decode_chunk(
            shared,
            chunk,
            &source_name,
            hint,
            sink,
            totals,
            &mut local_rejects,
            at,
        )?;
        sink.retain_chunk(chunk);
        totals.records += chunk_records;
        shared
            .progress
            .records
            .fetch_add(chunk_records, Ordering::Relaxed);

        if !local_rejects.is_empty() {
            let mut w = shared
                .rejects
                .lock()
                .map_err(|_| Error::Other("reject writer poisoned".into()))?;
            for r in local_rejects.drain(..) {
                w.write(&r)?;
            }
        }
    }
    if let Some(failure) = source.failure() {
        totals.warnings.push(format!(
            "{source_name}: input ended early ({failure}); the records before the break were read"
        ));
    }
    Ok(())
}

/// Decode and store (or reject) every record of `chunk`; returns how many
/// records it held. A JSON record that fails is cut into records by its
/// structure ([`split_records`]): several records on one line, or a broken
/// one with whole ones behind it, each count and go their own way.
#[allow(clippy::too_many_arguments)]
fn decode_chunk(
    shared: &Shared<'_>,
    chunk: &Chunk,
    source_name: &str,
    hint: Option<SourceFormat>,
    sink: &mut Sink,
    totals: &mut WorkerTotals,
    local_rejects: &mut Vec<Reject>,
    at: &mut Position,
) -> Result<u64> {
    let is_parquet = hint == Some(SourceFormat::FirehoseParquet);
    let mut chunk_records = 0u64;
    let mut scratch = Scratch::default();
    for span in &chunk.records {
        at.offset = span.offset;
        let bytes = chunk.record(span);
        let reject = |reason: String, offset: u64, bytes: &[u8]| {
            Reject::at(
                source_name,
                is_parquet,
                span.line,
                offset,
                reason,
                bytes.to_vec(),
            )
        };
        let place = |start: usize| Record {
            chunk: &chunk.data,
            start: span.start + start,
            offset: span.offset + start as u64,
        };
        chunk_records += 1;
        let mut slot = None;
        let reason = match prepare(shared, bytes, hint, &mut scratch, &mut slot) {
            Ok(p) => {
                let event = slot.as_ref().expect("prepare fills the slot");
                accept(shared, sink, totals, source_name, event, p, place(0))?;
                continue;
            }
            Err(reason) => reason,
        };
        let pieces = if is_parquet {
            Vec::new()
        } else {
            split_records(bytes)
        };
        if pieces.len() <= 1 {
            local_rejects.push(reject(reason, span.offset, bytes));
            continue;
        }
        chunk_records += pieces.len() as u64 - 1;
        for (s, e) in pieces {
            let piece = &bytes[s..e];
            let mut slot = None;
            match prepare(shared, piece, hint, &mut scratch, &mut slot) {
                Ok(p) => {
                    let event = slot.as_ref().expect("prepare fills the slot");
                    accept(shared, sink, totals, source_name, event, p, place(s))?
                }
                Err(reason) => local_rejects.push(reject(reason, span.offset + s as u64, piece)),
            }
        }
    }
    Ok(chunk_records)
}
