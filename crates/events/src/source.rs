//! Input files: format detection (plain, gzip, Parquet) and chunked reading.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::errors::{ParquetError, Result as ParquetResult};
use datafusion::parquet::file::reader::{ChunkReader, Length};

use crate::guard::guarded;
use crate::gzip::Gzip;
use crate::split::{Broken, Chunk, Fill, Plain, RecordSplitter, Span};

/// A record that could not be stored, with where it was and why.
#[derive(Debug, Clone)]
pub struct Reject {
    pub source: String,
    pub line: Option<u64>,
    pub offset: u64,
    pub reason: String,
    pub bytes: Vec<u8>,
    /// `offset` is a row number (Parquet), not a byte offset.
    pub is_row: bool,
    /// Records it stands for: 1, or a run of Parquet rows (see
    /// [`Broken::count`]).
    pub count: u64,
}

impl Reject {
    /// A rejected record at `offset` (a row number for Parquet, where lines
    /// mean nothing) on `line`.
    pub fn at(
        source: &str,
        is_parquet: bool,
        line: u64,
        offset: u64,
        reason: String,
        bytes: Vec<u8>,
    ) -> Self {
        Reject {
            source: source.to_string(),
            line: (!is_parquet && line > 0).then_some(line),
            offset,
            reason,
            bytes,
            is_row: is_parquet,
            count: 1,
        }
    }

    pub fn from_broken(source: &str, b: Broken, is_parquet: bool) -> Self {
        let count = b.count;
        Reject {
            count,
            ..Reject::at(source, is_parquet, b.line, b.offset, b.reason, b.bytes)
        }
    }
}

/// What a source yields: a chunk of records, or nothing more.
pub enum SourceItem {
    Chunk,
    End,
}

/// The records of one input file.
pub struct RecordSource {
    path: String,
    kind: Kind,
    /// Whether positions are line numbers (JSON) or row numbers (Parquet).
    pub is_parquet: bool,
}

enum Kind {
    Json(RecordSplitter<Box<dyn Fill + Send>>),
    Parquet(ParquetRows),
    /// A file that cannot be read at all.
    Unreadable(Option<String>),
}

/// Open `path`, detecting gzip and Parquet by their magic bytes.
pub fn open_source(path: &Path) -> RecordSource {
    let display = path.display().to_string();
    match File::open(path) {
        Ok(file) => {
            let size = file.metadata().ok().map(|m| m.len());
            open_body(display, Body::File(file), size)
        }
        Err(e) => RecordSource::unreadable(display, format!("cannot open file: {e}")),
    }
}

/// The records of an object read whole into memory (an object store's
/// object), named `name` in rejections; formats are detected as for files.
pub fn open_object(name: &str, data: Bytes) -> RecordSource {
    let size = Some(data.len() as u64);
    open_body(name.to_string(), Body::Memory(Cursor::new(data)), size)
}

fn open_body(display: String, mut body: Body, size: Option<u64>) -> RecordSource {
    let mut magic = [0u8; 4];
    let n = read_prefix(&mut body, &mut magic);
    if let Err(e) = body.seek(SeekFrom::Start(0)) {
        return RecordSource::unreadable(display, format!("cannot read file: {e}"));
    }
    if n == 4 && &magic == b"PAR1" {
        return match ParquetRows::open(body) {
            Ok(rows) => RecordSource {
                path: display,
                kind: Kind::Parquet(rows),
                is_parquet: true,
            },
            Err(e) => RecordSource::unreadable(
                display,
                format!("unreadable Parquet file: {e} (its footer says nothing of its rows)"),
            ),
        };
    }
    let reader: Box<dyn Fill + Send> = if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(Gzip::new(body, size))
    } else {
        Box::new(Plain(body))
    };
    RecordSource {
        path: display,
        kind: Kind::Json(RecordSplitter::from_fill(reader)),
        is_parquet: false,
    }
}

fn read_prefix(f: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// An input's bytes: a file, or an object already in memory.
enum Body {
    File(File),
    Memory(Cursor<Bytes>),
}

impl Body {
    fn try_clone(&self) -> std::io::Result<Body> {
        Ok(match self {
            Body::File(f) => Body::File(f.try_clone()?),
            Body::Memory(c) => Body::Memory(Cursor::new(c.get_ref().clone())),
        })
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Body::File(f) => f.read(buf),
            Body::Memory(c) => c.read(buf),
        }
    }
}

impl Seek for Body {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match self {
            Body::File(f) => f.seek(pos),
            Body::Memory(c) => c.seek(pos),
        }
    }
}

impl Length for Body {
    fn len(&self) -> u64 {
        match self {
            Body::File(f) => f.len(),
            Body::Memory(c) => c.get_ref().len() as u64,
        }
    }
}

impl ChunkReader for Body {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> ParquetResult<Self::T> {
        Ok(match self {
            Body::File(f) => Box::new(f.get_read(start)?),
            Body::Memory(c) => Box::new(c.get_ref().get_read(start)?),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> ParquetResult<Bytes> {
        match self {
            Body::File(f) => f.get_bytes(start, length),
            Body::Memory(c) => c.get_ref().get_bytes(start, length),
        }
    }
}

impl RecordSource {
    fn unreadable(path: String, reason: String) -> RecordSource {
        RecordSource {
            path,
            kind: Kind::Unreadable(Some(reason)),
            is_parquet: false,
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Fill `chunk` with the next records; file-level problems become
    /// entries of `chunk.broken`.
    pub fn next_chunk(&mut self, chunk: &mut Chunk) -> SourceItem {
        match &mut self.kind {
            Kind::Json(splitter) => {
                if splitter.next_chunk(chunk) {
                    SourceItem::Chunk
                } else {
                    SourceItem::End
                }
            }
            Kind::Parquet(rows) => {
                chunk.clear();
                // Unreadable rows, each with its own position, then at most
                // one batch of rows, rendered as the JSON records they were
                // converted from (one decoder serves both, and the text is
                // kept).
                loop {
                    match rows.next() {
                        None if chunk.broken.is_empty() => return SourceItem::End,
                        None => return SourceItem::Chunk,
                        Some(Rows::Unreadable { row, count, reason }) => {
                            chunk.broken.push(Broken {
                                offset: row,
                                line: 0,
                                reason: format!(
                                    "unreadable Parquet row: {reason} (the row is in the source file)"
                                ),
                                bytes: Vec::new(),
                                count,
                            })
                        }
                        Some(Rows::Batch { first, batch }) => {
                            let (data, records) = (chunk.data.len(), chunk.records.len());
                            if let Err(panic) = guarded(|| render_rows(&batch, first, chunk)) {
                                chunk.data.truncate(data);
                                chunk.records.truncate(records);
                                for i in 0..batch.num_rows() as u64 {
                                    chunk.broken.push(Broken {
                                        offset: first + i,
                                        line: 0,
                                        reason: format!(
                                            "Parquet row cannot be read as an event ({panic})"
                                        ),
                                        bytes: Vec::new(),
                                        count: 1,
                                    });
                                }
                            }
                            return SourceItem::Chunk;
                        }
                    }
                }
            }
            Kind::Unreadable(msg) => match msg.take() {
                Some(reason) => {
                    chunk.clear();
                    chunk.broken.push(Broken {
                        offset: 0,
                        line: 0,
                        reason,
                        bytes: Vec::new(),
                        count: 1,
                    });
                    SourceItem::Chunk
                }
                None => SourceItem::End,
            },
        }
    }

    /// Why the input ended early, if it did (a truncated gzip stream, an I/O
    /// error): records read before that point are kept.
    pub fn failure(&self) -> Option<String> {
        match &self.kind {
            Kind::Json(s) => s.failure().map(str::to_string),
            Kind::Parquet(_) | Kind::Unreadable(_) => None,
        }
    }
}

/// Rows of a batch as JSON lines in `chunk`, one span each; a row that
/// cannot be rendered is rejected alone.
fn render_rows(batch: &RecordBatch, first: u64, chunk: &mut Chunk) {
    let mut whole = Vec::new();
    let rendered = {
        let mut w = LineDelimitedWriter::new(&mut whole);
        w.write(batch).and_then(|_| w.finish())
    };
    let lines = memchr::memchr_iter(b'\n', &whole).count();
    if rendered.is_ok() && lines == batch.num_rows() {
        let base = chunk.data.len();
        chunk.data.extend_from_slice(&whole);
        let mut start = base;
        for (i, end) in memchr::memchr_iter(b'\n', &whole).enumerate() {
            chunk.records.push(Span {
                start,
                end: base + end,
                offset: first + i as u64,
                line: 0,
            });
            start = base + end + 1;
        }
        return;
    }
    // Row by row, so that one value that cannot be rendered costs its row.
    for i in 0..batch.num_rows() {
        let start = chunk.data.len();
        let rendered = {
            let mut w = LineDelimitedWriter::new(&mut chunk.data);
            w.write(&batch.slice(i, 1)).and_then(|_| w.finish())
        };
        let row = first + i as u64;
        match rendered {
            Ok(()) if chunk.data.ends_with(b"\n") => chunk.records.push(Span {
                start,
                end: chunk.data.len() - 1,
                offset: row,
                line: 0,
            }),
            outcome => {
                chunk.data.truncate(start);
                chunk.broken.push(Broken {
                    offset: row,
                    line: 0,
                    reason: format!(
                        "Parquet row cannot be read as an event: {}",
                        outcome
                            .err()
                            .map_or("no JSON".to_string(), |e| e.to_string())
                    ),
                    bytes: Vec::new(),
                    count: 1,
                });
            }
        }
    }
}

/// What the rows of a Parquet file yield.
enum Rows {
    /// Rows from row `first` (of the file) on.
    Batch { first: u64, batch: RecordBatch },
    /// A row that cannot be decoded (or `count` of them, from `row` on,
    /// when they are too many to list).
    Unreadable {
        row: u64,
        count: u64,
        reason: String,
    },
}

/// The rows of a Parquet file, row group by row group. When a row group
/// fails to decode, it is read again from its start one row at a time, so
/// that every row before the one that fails is read, and the rows from it
/// on are rejected, each with its own row number. (Reading on past a broken
/// row would mean skipping over broken data, and the Parquet reader can
/// loop forever on that.)
struct ParquetRows {
    file: Body,
    meta: ArrowReaderMetadata,
    /// Row groups to read, by index.
    groups: VecDeque<usize>,
    /// The row group being read: its reader, index, first row, and the
    /// rows of it read so far.
    current: Option<(ParquetRecordBatchReader, usize, u64, usize)>,
    /// Results of re-reading a failed row group, in order.
    pending: VecDeque<Rows>,
    /// The number of the next row: rows are numbered as they are read, so
    /// that no number is given twice even when a broken footer miscounts
    /// a row group's rows.
    next_row: u64,
}

const PARQUET_BATCH_ROWS: usize = 4096;

/// Unreadable rows past this many in one row group are one rejection for
/// the rest of them (a broken footer can claim any number of rows).
const LISTED_UNREADABLE_ROWS: usize = 100_000;

/// A Parquet reader's result, its panics (it has some on corrupt files)
/// turned into errors.
fn reading<T>(f: impl FnOnce() -> ParquetResult<T>) -> ParquetResult<T> {
    guarded(f).unwrap_or_else(|panic| {
        Err(ParquetError::General(format!(
            "the Parquet reader failed on it ({panic})"
        )))
    })
}

impl ParquetRows {
    fn open(file: Body) -> Result<ParquetRows, String> {
        let meta = reading(|| ArrowReaderMetadata::load(&file, ArrowReaderOptions::default()))
            .map_err(|e| e.to_string())?;
        let groups = (0..meta.metadata().num_row_groups()).collect();
        Ok(ParquetRows {
            file,
            meta,
            groups,
            current: None,
            pending: VecDeque::new(),
            next_row: 0,
        })
    }

    /// A reader of row group `group`, `batch` rows at a time.
    fn reader(&self, group: usize, batch: usize) -> ParquetResult<ParquetRecordBatchReader> {
        let file = self.file.try_clone()?;
        reading(|| {
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
                .with_row_groups(vec![group])
                .with_batch_size(batch)
                .build()
        })
    }

    fn next(&mut self) -> Option<Rows> {
        loop {
            if let Some(p) = self.pending.pop_front() {
                return Some(p);
            }
            if let Some((reader, group, first, done)) = &mut self.current {
                let next =
                    reading(|| reader.next().transpose().map_err(ParquetError::from)).transpose();
                match next {
                    Some(Ok(batch)) => {
                        let row = *first + *done as u64;
                        *done += batch.num_rows();
                        self.next_row = *first + *done as u64;
                        return Some(Rows::Batch { first: row, batch });
                    }
                    None => self.current = None,
                    Some(Err(e)) => {
                        let (group, first, done) = (*group, *first, *done);
                        self.current = None;
                        self.salvage(group, first, done, e);
                    }
                }
                continue;
            }
            let group = self.groups.pop_front()?;
            let first = self.next_row;
            match self.reader(group, PARQUET_BATCH_ROWS) {
                Ok(reader) => self.current = Some((reader, group, first, 0)),
                Err(e) => self.salvage(group, first, 0, e),
            }
        }
    }

    /// Row group `group` failed after `done` rows: read it again one row
    /// at a time to take the rows before the broken one, and reject the
    /// rest, into `pending`.
    fn salvage(&mut self, group: usize, first: u64, done: usize, error: ParquetError) {
        let rows = usize::try_from(self.meta.metadata().row_group(group).num_rows()).unwrap_or(0);
        let mut at = 0usize;
        let mut error = error.to_string();
        if let Ok(mut reader) = self.reader(group, 1) {
            while at < rows {
                match reading(|| reader.next().transpose().map_err(ParquetError::from)) {
                    Ok(Some(batch)) if batch.num_rows() > 0 => {
                        if at >= done {
                            let row = first + at as u64;
                            self.pending.push_back(Rows::Batch { first: row, batch });
                        }
                        at += 1;
                    }
                    Ok(_) => break,
                    Err(e) => {
                        error = e.to_string();
                        break;
                    }
                }
            }
        }
        let from = at.max(done);
        let reason = format!("row group {group} cannot be decoded from its row {from} on: {error}");
        let unreadable = rows.saturating_sub(from);
        self.next_row = first + from.max(rows) as u64;
        if unreadable > LISTED_UNREADABLE_ROWS {
            self.pending.push_back(Rows::Unreadable {
                row: first + from as u64,
                count: unreadable as u64,
                reason: format!("{reason} ({unreadable} rows from here)"),
            });
            return;
        }
        for i in from..rows {
            self.pending.push_back(Rows::Unreadable {
                row: first + i as u64,
                count: 1,
                reason: reason.clone(),
            });
        }
    }
}

/// Input files found under the given paths, and what was passed over.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Every file, sorted.
    pub files: Vec<PathBuf>,
    /// Why something under the paths is not read (a broken link, a link
    /// that loops back to a folder above it).
    pub skipped: Vec<String>,
}

/// Every file under the given paths (folders recursively, symbolic links
/// followed), sorted; hidden files and folders skipped. A link that loops
/// back to a folder being walked, or points nowhere, is reported in
/// [`Inputs::skipped`], never followed and never silently dropped.
pub fn list_inputs(paths: &[PathBuf]) -> std::io::Result<Inputs> {
    let mut out = Inputs::default();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        if !meta.is_dir() {
            out.files.push(p.clone());
            continue;
        }
        let walk = walkdir::WalkDir::new(p)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walk {
            match entry {
                Ok(e) if e.file_type().is_file() => out.files.push(e.into_path()),
                Ok(_) => {}
                Err(e) => {
                    let at = e
                        .path()
                        .map_or(String::new(), |p| format!("{}: ", p.display()));
                    let why = if e.loop_ancestor().is_some() {
                        "a link back to a folder above it (a loop); not followed".to_string()
                    } else if e
                        .io_error()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
                    {
                        "a link to nothing; skipped".to_string()
                    } else {
                        format!("cannot be read ({e}); skipped")
                    };
                    out.skipped.push(format!("{at}{why}"));
                }
            }
        }
    }
    out.files.sort();
    out.files.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

    /// (position, text) of each record, (position, reason) of each broken one.
    type Positioned = Vec<(u64, String)>;

    /// Every record and broken entry of a whole source.
    fn read_all(path: &Path) -> (Positioned, Positioned) {
        let mut source = open_source(path);
        let mut chunk = Chunk::default();
        let (mut records, mut broken) = (Vec::new(), Vec::new());
        while let SourceItem::Chunk = source.next_chunk(&mut chunk) {
            for s in &chunk.records {
                let text = String::from_utf8_lossy(chunk.record(s)).into_owned();
                records.push((s.offset, text));
            }
            broken.extend(chunk.broken.drain(..).map(|b| (b.offset, b.reason)));
        }
        (records, broken)
    }

    #[test]
    fn an_unreadable_row_group_costs_its_rows_each_alone_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("three-groups.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("event_type", DataType::Utf8, true),
            Field::new("arrival_timestamp", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e", "f"])),
                Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6])),
            ],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .set_dictionary_enabled(false)
            .build();
        let mut w =
            ArrowWriter::try_new(File::create(&path).unwrap(), schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();

        // Break the page header of the middle row group's first column.
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let at = reader.metadata().row_group(1).column(0).data_page_offset() as usize;
        drop(reader);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at..at + 6].fill(0xff);
        std::fs::write(&path, &bytes).unwrap();

        let (records, broken) = read_all(&path);
        let rows: Vec<u64> = records.iter().map(|(row, _)| *row).collect();
        assert_eq!(rows, [0, 1, 4, 5]);
        assert!(records[2].1.contains("\"e\""), "{:?}", records[2]);
        let bad: Vec<u64> = broken.iter().map(|(row, _)| *row).collect();
        assert_eq!(bad, [2, 3], "{broken:?}");
        assert!(broken[0].1.contains("unreadable Parquet row"), "{broken:?}");
    }
}
