//! Splitting a byte stream into records: JSON lines, or JSON objects written
//! back to back with no separator (Firehose without a delimiter).
//!
//! The reader hands out chunks of whole records so that decoded events can
//! borrow from one buffer; a record never straddles two chunks.

use std::io::{self, Read};

use crate::scan::{NextRecord, Scanned, Scanner, find_record_start, scan_object};

/// Bytes read per chunk (records are whole, so a chunk may be a little larger).
pub const CHUNK_BYTES: usize = 4 << 20;
/// UTF-8's byte order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";
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
    /// Records it stands for: 1, or a run of Parquet rows too long to
    /// list one by one (from `offset` on).
    pub count: u64,
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
        // A byte order mark (editors on Windows write one) is not a record.
        if self.offset == 0 && chunk.data.starts_with(BOM) {
            chunk.data.drain(..BOM.len());
            self.offset = BOM.len() as u64;
        }
        if self.mode == Mode::Undecided {
            self.mode = detect_mode(&chunk.data, self.eof);
        }
        let consumed = match self.mode {
            Mode::Concatenated => self.split_objects(chunk),
            Mode::Lines => self.split_lines(chunk),
            // Not known yet (the first record is not whole): wait for more.
            Mode::Undecided => self.skip_space(&chunk.data),
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
                    count: 1,
                });
            }
        }
        true
    }

    /// Leading whitespace: consumed, counting lines.
    fn skip_space(&mut self, data: &[u8]) -> usize {
        let n = data.iter().take_while(|b| b.is_ascii_whitespace()).count();
        self.line += memchr::memchr_iter(b'\n', &data[..n]).count() as u64;
        self.offset += n as u64;
        n
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

    /// Concatenated mode: each JSON object is a record, told apart by its
    /// structure; after a broken one, the next record starts at the next
    /// object that is a whole record ([`find_record_start`]), so a broken
    /// record never hides the ones after it. Returns bytes consumed; an
    /// unfinished record waits for more input.
    fn split_objects(&mut self, chunk: &mut Chunk) -> usize {
        let data = &chunk.data;
        let more_to_come = !self.eof;
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
            let end = match scan_object(&data[pos..]) {
                Scanned::Complete(len) => pos + len,
                // The end of input ends it: cut short (see `next_chunk`),
                // unless a record follows inside what was read.
                Scanned::Incomplete if more_to_come => break,
                how => match find_record_start(data, pos + 1, more_to_come) {
                    NextRecord::At(next, _) => next,
                    NextRecord::Unfinished(_) => break,
                    NextRecord::None if more_to_come => break,
                    NextRecord::None if how == Scanned::Incomplete => break,
                    // Broken to the end: the decoder says how.
                    NextRecord::None => data.len(),
                },
            };
            let mut rec_end = end;
            while rec_end > pos && data[rec_end - 1].is_ascii_whitespace() {
                rec_end -= 1;
            }
            let len = rec_end - pos;
            if len > MAX_RECORD_BYTES {
                chunk
                    .broken
                    .push(oversized(&data[pos..rec_end], self.offset, self.line, len));
            } else {
                chunk.records.push(Span {
                    start: pos,
                    end: rec_end,
                    offset: self.offset,
                    line: self.line,
                });
            }
            self.line += memchr::memchr_iter(b'\n', &data[pos..end]).count() as u64;
            self.offset += (end - pos) as u64;
            pos = end;
        }
        pos
    }

    /// Drop an oversized record's bytes up to its end, keeping its prefix.
    /// A line break ends it in lines mode; in concatenated mode its
    /// structure does, or, once that breaks, the next record's start.
    fn skip_oversized(&mut self, chunk: &mut Chunk) {
        let start_offset = self.offset;
        let start_line = self.line;
        let prefix: Vec<u8> = self.carry[..OVERSIZED_PREFIX_BYTES.min(self.carry.len())].to_vec();
        let mut total = 0usize;
        let mut buf = std::mem::take(&mut self.carry);
        let mut seek = match self.mode {
            Mode::Concatenated => Seek::Structure(Scanner::new()),
            _ => Seek::Line,
        };
        loop {
            let end = seek.end_in(&buf, total, !self.eof);
            if let Some(end) = end {
                total += end;
                self.line += memchr::memchr_iter(b'\n', &buf[..end]).count() as u64;
                self.carry.extend_from_slice(&buf[end..]);
                self.offset += end as u64;
                break;
            }
            total += buf.len();
            self.offset += buf.len() as u64;
            self.line += memchr::memchr_iter(b'\n', &buf).count() as u64;
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
            count: 1,
        });
    }
}

/// How the end of an oversized record is found, buffer by buffer.
enum Seek {
    /// At the next line break.
    Line,
    /// Where the record's structure closes.
    Structure(Scanner),
    /// The record broke: at the next record's start.
    Record,
}

impl Seek {
    /// Where the record ends in `buf`, which follows `before` bytes of it.
    fn end_in(&mut self, buf: &[u8], before: usize, more_to_come: bool) -> Option<usize> {
        let mut from = 0;
        if let Seek::Structure(scanner) = self {
            match scanner.feed(buf) {
                Scanned::Complete(n) => return Some(n - before),
                Scanned::Incomplete => return None,
                Scanned::Invalid(_) => {
                    // The next record may start before the byte where the
                    // structure broke (a record cut short by the next one):
                    // search this buffer from its start, but for the
                    // oversized record's own first brace.
                    from = usize::from(before == 0);
                    *self = Seek::Record;
                }
            }
        }
        match self {
            Seek::Line => memchr(b'\n', buf).map(|i| i + 1),
            Seek::Structure(_) => None,
            Seek::Record => match find_record_start(buf, from, more_to_come) {
                NextRecord::At(q, _) | NextRecord::Unfinished(q) => Some(q),
                NextRecord::None => None,
            },
        }
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
        count: 1,
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

/// Lines, unless the first record is followed on the same line by another
/// or spans lines itself (pretty-printed). Garbage before the first record
/// is passed over, so that a broken first record does not decide.
fn detect_mode(data: &[u8], eof: bool) -> Mode {
    let Some(first) = data.iter().position(|b| !b.is_ascii_whitespace()) else {
        return if eof { Mode::Lines } else { Mode::Undecided };
    };
    let (start, len) = match scan_object(&data[first..]) {
        Scanned::Complete(len) => (first, len),
        Scanned::Incomplete if !eof => return Mode::Undecided,
        _ => match find_record_start(data, first + 1, !eof) {
            NextRecord::At(start, len) => (start, len),
            NextRecord::Unfinished(_) => return Mode::Undecided,
            NextRecord::None => return Mode::Lines,
        },
    };
    // A pretty-printed object spans lines: split by structure, not lines.
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
    fn a_byte_order_mark_is_no_record() {
        let (r, b) = records(b"\xef\xbb\xbf{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(r, vec!["{\"a\":1}", "{\"b\":2}"]);
        assert!(b.is_empty());
        let mut s = RecordSplitter::new(&b"\xef\xbb\xbf{}{}"[..]);
        let mut c = Chunk::default();
        assert!(s.next_chunk(&mut c));
        assert_eq!(c.records[0].offset, 3);
        assert_eq!(c.records[1].offset, 5);
    }

    #[test]
    fn positions() {
        let mut s = RecordSplitter::new(&b"{}\n\n{\"x\":1}\n"[..]);
        let mut c = Chunk::default();
        assert!(s.next_chunk(&mut c));
        assert_eq!(c.records[1].line, 3);
        assert_eq!(c.records[1].offset, 4);
    }

    fn record(i: usize) -> String {
        format!(
            r#"{{"event_type":"_email.send","arrival_timestamp":{i},"attributes":{{"n":"{}"}}}}"#,
            "x".repeat(i % 700)
        )
    }

    /// A newline-less stream of many chunks with broken records of every
    /// kind: every good record comes out whole, each broken one is one
    /// piece (or one oversized reject), and nothing else is lost.
    #[test]
    fn broken_records_in_a_long_concatenated_stream_hide_no_others() {
        let broken = [
            r#"{"event_type":"_email.open","attri"#,
            r#"{"event_type":"_email.open","attributes":"#,
            r#"{"event_type":"_email.open","a":{"b":1}"#,
            r#"{"event_type":"_email.open","a":"no end}"#,
            r#"not json at all"#,
        ];
        let mut text = String::new();
        let mut good = Vec::new();
        let mut bad = 0;
        for i in 0..30_000 {
            if i % 997 == 5 {
                text.push_str(broken[bad % broken.len()]);
                bad += 1;
            }
            let r = record(i);
            text.push_str(&r);
            good.push(r);
        }
        assert!(text.len() > 3 * CHUNK_BYTES);
        let (out, broken_out) = records(text.as_bytes());
        assert!(
            broken_out.is_empty(),
            "{:?}",
            broken_out.first().map(|b| &b.reason)
        );
        let kept: Vec<&String> = out.iter().filter(|r| good.contains(r)).collect();
        assert_eq!(kept.len(), good.len());
        assert_eq!(out.len(), good.len() + bad);
    }

    #[test]
    fn an_oversized_record_in_a_concatenated_stream_ends_at_its_structure() {
        let huge = format!(
            r#"{{"event_type":"_email.send","arrival_timestamp":1,"x":"{}"}}"#,
            "y".repeat(MAX_RECORD_BYTES + 10)
        );
        let text = format!("{}{huge}{}{}", record(1), record(2), record(3));
        let (out, broken) = records(text.as_bytes());
        assert_eq!(out, [record(1), record(2), record(3)]);
        assert_eq!(broken.len(), 1);
        assert!(broken[0].reason.starts_with("record too large"));
        assert_eq!(broken[0].offset, record(1).len() as u64);

        // Broken as well as oversized: the next record ends it.
        let text = format!("{}{}{}", record(1), &huge[..huge.len() - 2], record(2));
        let (out, broken) = records(text.as_bytes());
        assert_eq!(out, [record(1), record(2)]);
        assert_eq!(broken.len(), 1);
    }

    #[test]
    fn a_broken_first_record_does_not_make_a_stream_one_line() {
        let text = format!(r#"{{"event_type":"a","x":{}{}"#, record(1), record(2));
        let (out, broken) = records(text.as_bytes());
        assert!(broken.is_empty());
        assert_eq!(
            out,
            [
                r#"{"event_type":"a","x":"#.to_string(),
                record(1),
                record(2)
            ]
        );
    }

    #[test]
    fn a_cut_short_last_record_is_broken_with_its_position() {
        let text = format!("{}{}", record(1), &record(2)[..30]);
        let (out, broken) = records(text.as_bytes());
        assert_eq!(out, [record(1)]);
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].offset, record(1).len() as u64);
        assert!(broken[0].reason.contains("cut short"));
    }
}
