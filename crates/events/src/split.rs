//! Splitting a byte stream into records: JSON lines, or JSON objects written
//! back to back with no separator (Firehose without a delimiter).
//!
//! The reader hands out chunks of whole records so that decoded events can
//! borrow from one buffer; a record never straddles two chunks.

use std::io::{self, Read};

/// Bytes read per chunk (records are whole, so a chunk may be a little larger).
pub const CHUNK_BYTES: usize = 4 << 20;
/// A record larger than this is rejected without being held in memory.
pub const MAX_RECORD_BYTES: usize = 8 << 20;
/// How much of an oversized record is kept in the rejected-records file.
pub const OVERSIZED_PREFIX_BYTES: usize = 64 << 10;

/// One record's place in a chunk and in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    /// Byte offset of the record in the (decompressed) source.
    pub offset: u64,
    /// 1-based line number of the record's first byte.
    pub line: u64,
}

/// A record that cannot be a record: too large, or cut short by a broken input.
#[derive(Debug, Clone)]
pub struct Broken {
    pub offset: u64,
    pub line: u64,
    pub reason: String,
    /// The record's bytes, or their first [`OVERSIZED_PREFIX_BYTES`].
    pub bytes: Vec<u8>,
}

/// A chunk of whole records.
#[derive(Debug, Default)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub records: Vec<Span>,
    pub broken: Vec<Broken>,
}

impl Chunk {
    pub fn clear(&mut self) {
        self.data.clear();
        self.records.clear();
        self.broken.clear();
    }

    pub fn record(&self, span: &Span) -> &[u8] {
        &self.data[span.start..span.end]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Undecided,
    Lines,
    Concatenated,
}

/// A byte stream that appends to a buffer.
pub trait Fill {
    /// Append up to `want` bytes to `buf`; 0 at the end of the stream. Bytes
    /// appended before an error stay in `buf`.
    fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> io::Result<usize>;
}

impl<F: Fill + ?Sized> Fill for Box<F> {
    fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
        (**self).fill(buf, want)
    }
}

/// Any reader as a [`Fill`] stream.
pub struct Plain<R>(pub R);

impl<R: Read> Fill for Plain<R> {
    fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
        loop {
            match self.0.by_ref().take(want as u64).read_to_end(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}

/// Reads records from any byte stream.
pub struct RecordSplitter<F> {
    inner: F,
    /// Bytes read but not yet handed out (the start of an unfinished record).
    carry: Vec<u8>,
    /// Stream offset and line of `carry[0]`.
    offset: u64,
    line: u64,
    mode: Mode,
    eof: bool,
    /// An input error ends the stream; the text says why.
    failure: Option<String>,
}

impl<R: Read> RecordSplitter<Plain<R>> {
    pub fn new(reader: R) -> Self {
        RecordSplitter::from_fill(Plain(reader))
    }
}

impl<F: Fill> RecordSplitter<F> {
    pub fn from_fill(inner: F) -> Self {
        RecordSplitter {
            inner,
            carry: Vec::new(),
            offset: 0,
            line: 1,
            mode: Mode::Undecided,
            eof: false,
            failure: None,
        }
    }

    /// The input error that ended the stream early, if any.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Fill `chunk` with the next records. Returns false at the end of input.
    pub fn next_chunk(&mut self, chunk: &mut Chunk) -> bool {
        chunk.clear();
        if self.eof && self.carry.is_empty() {
            return false;
        }
        // Reuse the chunk's buffer: growing a fresh one per chunk would copy
        // and fault in every page again.
        chunk
            .data
            .reserve(CHUNK_BYTES + (1 << 20) + self.carry.len());
        chunk.data.extend_from_slice(&self.carry);
        self.carry.clear();
        // Read until the chunk is big enough or the input ends. An unfinished
        // record carried over always gets more bytes, so it either ends or
        // grows past the size limit.
        let want_total = CHUNK_BYTES.max(chunk.data.len() + (1 << 20));
        while !self.eof && chunk.data.len() < want_total {
            let want = want_total - chunk.data.len();
            if let Err(e) = read_some(&mut self.inner, &mut chunk.data, want) {
                match e {
                    ReadEnd::Eof => self.eof = true,
                    ReadEnd::Failed(msg) => {
                        self.eof = true;
                        self.failure = Some(msg);
                    }
                }
            }
        }
        if self.mode == Mode::Undecided {
            self.mode = detect_mode(&chunk.data, self.eof);
        }
        let consumed = match self.mode {
            Mode::Concatenated => self.split_objects(chunk),
            _ => self.split_lines(chunk),
        };
        self.carry.clear();
        self.carry.extend_from_slice(&chunk.data[consumed..]);
        chunk.data.truncate(consumed);
        // An oversized unfinished record: keep its prefix, skip to its end.
        if !self.eof && self.carry.len() >= MAX_RECORD_BYTES {
            self.skip_oversized(chunk);
        }
        // At the end of input, what is left is a record cut short (or a last
        // line with no newline, handled by the splitters).
        if self.eof && !self.carry.is_empty() {
            let reason = match &self.failure {
                Some(f) => format!("record cut short: the input ended early ({f})"),
                None => "record cut short: the input ended inside a JSON object".to_string(),
            };
            let bytes = std::mem::take(&mut self.carry);
            if bytes.iter().any(|b| !b.is_ascii_whitespace()) {
                chunk.broken.push(Broken {
                    offset: self.offset,
                    line: self.line,
                    reason,
                    bytes,
                });
            }
        }
        true
    }

    /// Lines mode: every complete line is a record; returns bytes consumed.
    fn split_lines(&mut self, chunk: &mut Chunk) -> usize {
        let data = &chunk.data;
        let mut pos = 0;
        while pos < data.len() {
            let nl = memchr(b'\n', &data[pos..]);
            let end = match nl {
                Some(i) => pos + i,
                None if self.eof && self.failure.is_none() => data.len(),
                None => break,
            };
            let mut rec_end = end;
            if rec_end > pos && data[rec_end - 1] == b'\r' {
                rec_end -= 1;
            }
            let (s, e) = trim(data, pos, rec_end);
            if s < e {
                if e - s > MAX_RECORD_BYTES {
                    chunk.broken.push(oversized(
                        &data[s..e],
                        self.offset + (s - pos) as u64,
                        self.line,
                        e - s,
                    ));
                } else {
                    chunk.records.push(Span {
                        start: s,
                        end: e,
                        offset: self.offset + (s - pos) as u64,
                        line: self.line,
                    });
                }
            }
            let next = (end + 1).min(data.len());
            self.offset += (next - pos) as u64;
            if nl.is_some() {
                self.line += 1;
            }
            pos = next;
        }
        pos
    }

    /// Concatenated mode: each balanced top-level JSON object is a record.
    fn split_objects(&mut self, chunk: &mut Chunk) -> usize {
        let data = &chunk.data;
        let mut pos = 0;
        loop {
            // Skip separators between objects, counting lines.
            while pos < data.len() && data[pos].is_ascii_whitespace() {
                if data[pos] == b'\n' {
                    self.line += 1;
                }
                pos += 1;
                self.offset += 1;
            }
            if pos >= data.len() {
                break;
            }
            match object_end(&data[pos..]) {
                Some(len) => {
                    let newlines = data[pos..pos + len].iter().filter(|&&b| b == b'\n').count();
                    if len > MAX_RECORD_BYTES {
                        chunk.broken.push(oversized(
                            &data[pos..pos + len],
                            self.offset,
                            self.line,
                            len,
                        ));
                    } else {
                        chunk.records.push(Span {
                            start: pos,
                            end: pos + len,
                            offset: self.offset,
                            line: self.line,
                        });
                    }
                    self.line += newlines as u64;
                    self.offset += len as u64;
                    pos += len;
                }
                None => break,
            }
        }
        pos
    }

    /// Drop an oversized record's bytes up to its end, keeping its prefix.
    fn skip_oversized(&mut self, chunk: &mut Chunk) {
        let start_offset = self.offset;
        let start_line = self.line;
        let prefix: Vec<u8> = self.carry[..OVERSIZED_PREFIX_BYTES.min(self.carry.len())].to_vec();
        let mut total = 0usize;
        let mut buf = std::mem::take(&mut self.carry);
        loop {
            // In lines mode the record ends at a newline; in concatenated mode
            // at the next object, which a newline-free stream may never show,
            // so a newline ends it there too.
            if let Some(i) = memchr(b'\n', &buf) {
                total += i + 1;
                self.carry.extend_from_slice(&buf[i + 1..]);
                self.offset += (i + 1) as u64;
                self.line += 1;
                break;
            }
            total += buf.len();
            self.offset += buf.len() as u64;
            buf.clear();
            if self.eof {
                break;
            }
            if let Err(e) = read_some(&mut self.inner, &mut buf, CHUNK_BYTES) {
                self.eof = true;
                if let ReadEnd::Failed(msg) = e {
                    self.failure = Some(msg);
                }
            }
        }
        chunk.broken.push(Broken {
            offset: start_offset,
            line: start_line,
            reason: format!(
                "record too large: {total} bytes, over the {} MiB limit (its first {} KiB are kept here; \
                 the whole record is at this offset of the source)",
                MAX_RECORD_BYTES >> 20,
                OVERSIZED_PREFIX_BYTES >> 10
            ),
            bytes: prefix,
        });
    }
}

fn oversized(bytes: &[u8], offset: u64, line: u64, len: usize) -> Broken {
    Broken {
        offset,
        line,
        reason: format!(
            "record too large: {len} bytes, over the {} MiB limit (its first {} KiB are kept here; \
             the whole record is at this offset of the source)",
            MAX_RECORD_BYTES >> 20,
            OVERSIZED_PREFIX_BYTES >> 10
        ),
        bytes: bytes[..OVERSIZED_PREFIX_BYTES.min(bytes.len())].to_vec(),
    }
}

enum ReadEnd {
    Eof,
    Failed(String),
}

/// Append up to `want` bytes; `Err(Eof)` when nothing more comes. Bytes read
/// before an error are kept.
fn read_some<F: Fill>(r: &mut F, buf: &mut Vec<u8>, want: usize) -> Result<(), ReadEnd> {
    match r.fill(buf, want) {
        Ok(0) => Err(ReadEnd::Eof),
        Ok(_) => Ok(()),
        Err(e) => Err(ReadEnd::Failed(e.to_string())),
    }
}

/// Lines, unless the first object is followed on the same line by another.
fn detect_mode(data: &[u8], eof: bool) -> Mode {
    let start = data.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return if eof { Mode::Lines } else { Mode::Undecided };
    };
    match object_end(&data[start..]) {
        Some(len) => {
            // A pretty-printed object spans lines: split by braces, not lines.
            if memchr(b'\n', &data[start..start + len]).is_some() {
                return Mode::Concatenated;
            }
            let rest = &data[start + len..];
            match rest
                .iter()
                .position(|&b| b != b' ' && b != b'\t' && b != b'\r')
            {
                Some(i) if rest[i] == b'{' => Mode::Concatenated,
                _ => Mode::Lines,
            }
        }
        None => Mode::Lines,
    }
}

/// Length of the JSON object (or any balanced value) at the start of `data`,
/// if it is complete. Non-object garbage ends at the next newline.
pub fn object_end(data: &[u8]) -> Option<usize> {
    if data.first() != Some(&b'{') {
        return memchr(b'\n', data);
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in data.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Split one line that holds several objects back to back.
pub fn split_concatenated(line: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < line.len() {
        while pos < line.len() && line[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= line.len() {
            break;
        }
        match object_end(&line[pos..]) {
            Some(len) => {
                out.push((pos, pos + len));
                pos += len;
            }
            None => {
                out.push((pos, line.len()));
                break;
            }
        }
    }
    out
}

fn trim(data: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && data[s].is_ascii_whitespace() {
        s += 1;
    }
    while e > s && data[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    (s, e)
}

use memchr::memchr;

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &[u8]) -> (Vec<String>, Vec<Broken>) {
        let mut s = RecordSplitter::new(input);
        let mut chunk = Chunk::default();
        let mut out = Vec::new();
        let mut broken = Vec::new();
        while s.next_chunk(&mut chunk) {
            for r in &chunk.records {
                out.push(String::from_utf8_lossy(chunk.record(r)).into_owned());
            }
            broken.append(&mut chunk.broken);
        }
        (out, broken)
    }

    #[test]
    fn lines_with_blank_lines_and_crlf() {
        let (r, b) = records(b"{\"a\":1}\r\n\n  \n{\"b\":2}");
        assert_eq!(r, vec!["{\"a\":1}", "{\"b\":2}"]);
        assert!(b.is_empty());
    }

    #[test]
    fn concatenated_objects() {
        let (r, b) = records(b"{\"a\":\"}{\"}{\"b\":{\"c\":[1]}}{\"d\":3}");
        assert_eq!(
            r,
            vec!["{\"a\":\"}{\"}", "{\"b\":{\"c\":[1]}}", "{\"d\":3}"]
        );
        assert!(b.is_empty());
    }

    #[test]
    fn truncated_tail_in_concatenated_mode_is_broken() {
        let (r, b) = records(b"{\"a\":1}{\"b\":");
        assert_eq!(r, vec!["{\"a\":1}"]);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].offset, 7);
    }

    #[test]
    fn positions() {
        let mut s = RecordSplitter::new(&b"{}\n\n{\"x\":1}\n"[..]);
        let mut c = Chunk::default();
        assert!(s.next_chunk(&mut c));
        assert_eq!(c.records[1].line, 3);
        assert_eq!(c.records[1].offset, 4);
    }
}
