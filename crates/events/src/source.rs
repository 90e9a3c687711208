//! Input files: format detection (plain, gzip, Parquet) and chunked reading.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};

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
        }
    }

    pub fn from_broken(source: &str, b: Broken, is_parquet: bool) -> Self {
        Reject::at(source, is_parquet, b.line, b.offset, b.reason, b.bytes)
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
    Parquet {
        reader: Option<ParquetRecordBatchReader>,
        row: u64,
        failure: Option<String>,
    },
    /// A file that cannot be read at all.
    Unreadable(Option<String>),
}

/// Open `path`, detecting gzip and Parquet by their magic bytes.
pub fn open_source(path: &Path) -> RecordSource {
    let display = path.display().to_string();
    let unreadable = |msg: String| RecordSource {
        path: display.clone(),
        kind: Kind::Unreadable(Some(msg)),
        is_parquet: false,
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return unreadable(format!("cannot open file: {e}")),
    };
    let mut magic = [0u8; 4];
    let n = read_prefix(&mut file, &mut magic);
    if let Err(e) = file.seek(SeekFrom::Start(0)) {
        return unreadable(format!("cannot read file: {e}"));
    }
    if n == 4 && &magic == b"PAR1" {
        return match ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(4096).build())
        {
            Ok(reader) => RecordSource {
                path: display,
                kind: Kind::Parquet {
                    reader: Some(reader),
                    row: 0,
                    failure: None,
                },
                is_parquet: true,
            },
            Err(e) => unreadable(format!("unreadable Parquet file: {e}")),
        };
    }
    let reader: Box<dyn Fill + Send> = if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        let size = file.metadata().ok().map(|m| m.len());
        Box::new(Gzip::new(file, size))
    } else {
        Box::new(Plain(file))
    };
    RecordSource {
        path: display,
        kind: Kind::Json(RecordSplitter::from_fill(reader)),
        is_parquet: false,
    }
}

fn read_prefix(f: &mut File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

impl RecordSource {
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
            Kind::Parquet {
                reader,
                row,
                failure,
            } => {
                chunk.clear();
                let Some(r) = reader.as_mut() else {
                    return SourceItem::End;
                };
                match r.next() {
                    None => {
                        *reader = None;
                        SourceItem::End
                    }
                    Some(Err(e)) => {
                        *reader = None;
                        *failure = Some(e.to_string());
                        chunk.broken.push(Broken {
                            offset: *row,
                            line: 0,
                            reason: format!(
                                "unreadable Parquet data from row {row} on: {e} (the rows are in the source file)"
                            ),
                            bytes: Vec::new(),
                        });
                        SourceItem::Chunk
                    }
                    Some(Ok(batch)) => {
                        // Render each row as the JSON record it was converted from, so
                        // one decoder serves both and the original text is kept.
                        let mut w = LineDelimitedWriter::new(&mut chunk.data);
                        if let Err(e) = w.write(&batch).and_then(|_| w.finish()) {
                            chunk.data.clear();
                            chunk.broken.push(Broken {
                                offset: *row,
                                line: 0,
                                reason: format!(
                                    "Parquet rows {row}.. cannot be read as events: {e}"
                                ),
                                bytes: Vec::new(),
                            });
                            *row += batch.num_rows() as u64;
                            return SourceItem::Chunk;
                        }
                        drop(w);
                        let mut start = 0;
                        for end in memchr::memchr_iter(b'\n', &chunk.data) {
                            chunk.records.push(Span {
                                start,
                                end,
                                offset: *row,
                                line: 0,
                            });
                            *row += 1;
                            start = end + 1;
                        }
                        SourceItem::Chunk
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
            Kind::Parquet { failure, .. } => failure.clone(),
            Kind::Unreadable(_) => None,
        }
    }
}

/// Every file under the given paths (folders recursively), sorted, hidden
/// files and folders skipped.
pub fn list_inputs(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let ft = e.file_type()?;
        let path = e.path();
        if ft.is_dir() {
            walk(&path, out)?;
        } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}
