//! Gzip input, inflated straight into the chunk buffer.
//!
//! Through `std::io::Read` (flate2's `MultiGzDecoder`), every byte of a chunk
//! is first zeroed by `read_to_end`, then inflated over: on a benchmark ingest
//! that zeroing alone was a few percent of the time. zlib here writes into the
//! buffer's spare capacity instead. Files of several gzip members (`cat a.gz
//! b.gz`) read as one stream, as with `gzip -d`.

use std::io::{self, Read};

use flate2::{Decompress, FlushDecompress, Status};

use crate::split::Fill;

/// Compressed bytes read from the file at a time, at most.
const INPUT_BYTES: usize = 256 << 10;

/// A gzip file (one or more members) as a [`Fill`] stream.
pub struct Gzip<R> {
    inner: R,
    input: Box<[u8]>,
    /// Unconsumed compressed bytes are `input[start..end]`.
    start: usize,
    end: usize,
    inflate: Decompress,
    /// Between a member's header and its trailer.
    in_member: bool,
    /// The file has no more bytes.
    eof: bool,
}

impl<R: Read> Gzip<R> {
    /// `size`, when known, is the file's length: a small file gets an input
    /// buffer its size (the buffer is zeroed first, and exports come as
    /// thousands of files of tens of KB).
    pub fn new(inner: R, size: Option<u64>) -> Self {
        let input = size.map_or(INPUT_BYTES, |n| {
            usize::try_from(n)
                .unwrap_or(INPUT_BYTES)
                .clamp(64, INPUT_BYTES)
        });
        Gzip {
            inner,
            input: vec![0; input].into_boxed_slice(),
            start: 0,
            end: 0,
            inflate: Decompress::new_gzip(15),
            in_member: false,
            eof: false,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        loop {
            match self.inner.read(&mut self.input) {
                Ok(n) => {
                    self.start = 0;
                    self.end = n;
                    self.eof = n == 0;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl<R: Read> Fill for Gzip<R> {
    fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
        let before = buf.len();
        buf.reserve(want);
        while buf.len() - before < want {
            if self.start == self.end {
                self.refill()?;
                if self.eof {
                    if self.in_member {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the gzip stream is cut short (the file ends inside it)",
                        ));
                    }
                    break;
                }
            }
            if !self.in_member {
                // A member after the first gets a fresh inflater (the one
                // made in `new` serves the first); zlib checks its header.
                if self.inflate.total_in() > 0 {
                    self.inflate = Decompress::new_gzip(15);
                }
                self.in_member = true;
            }
            let room = want - (buf.len() - before);
            let written_before = self.inflate.total_out();
            let consumed_before = self.inflate.total_in();
            let result = self.inflate.decompress_uninit(
                &self.input[self.start..self.end],
                &mut buf.spare_capacity_mut()[..room],
                FlushDecompress::None,
            );
            // What was inflated before an error is kept, like any read.
            let written = (self.inflate.total_out() - written_before) as usize;
            // SAFETY: zlib initialized the first `written` bytes of the spare
            // capacity it was handed (flate2's own `decompress_vec` relies on
            // the same), and `written <= room <= spare capacity`.
            unsafe { buf.set_len(buf.len() + written) };
            let consumed = (self.inflate.total_in() - consumed_before) as usize;
            self.start += consumed;
            let status = result.map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("corrupt gzip data: {e}"),
                )
            })?;
            match status {
                Status::StreamEnd => self.in_member = false,
                // No progress with input left and room to write: zlib
                // wants more input than it was given, which cannot be.
                _ if consumed == 0 && written == 0 && self.start < self.end => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "corrupt gzip data: inflate made no progress",
                    ));
                }
                _ => {}
            }
        }
        Ok(buf.len() - before)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Everything the stream yields, `want` bytes at a time, and how it ended.
    fn drain(input: &[u8], want: usize) -> (Vec<u8>, io::Result<()>) {
        drain_sized(input, want, None)
    }

    fn drain_sized(input: &[u8], want: usize, size: Option<u64>) -> (Vec<u8>, io::Result<()>) {
        let mut g = Gzip::new(input, size);
        let mut out = Vec::new();
        loop {
            match g.fill(&mut out, want) {
                Ok(0) => return (out, Ok(())),
                Ok(n) => assert!(n <= want, "asked for {want}, got {n}"),
                Err(e) => return (out, Err(e)),
            }
        }
    }

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 97)))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn one_member_in_small_and_large_steps() {
        let data = text(20_000);
        let file = gz(&data);
        for want in [1, 4096, 1 << 20, 64 << 20] {
            let (out, end) = drain(&file, want);
            assert!(end.is_ok());
            assert_eq!(out, data, "want {want}");
        }
    }

    #[test]
    fn any_size_hint_reads_the_same() {
        // The hint sizes the input buffer: exact, too small (the file grew),
        // too large, or zero.
        let (a, b) = (text(20_000), text(300));
        let mut file = gz(&a);
        file.extend(gz(&b));
        for size in [file.len() as u64, 10, 1 << 40, 0] {
            let (out, end) = drain_sized(&file, 4096, Some(size));
            assert!(end.is_ok());
            assert_eq!(out, [&a[..], &b[..]].concat(), "size {size}");
        }
    }

    #[test]
    fn members_read_as_one_stream() {
        let (a, b) = (text(3000), text(5));
        let mut file = gz(&a);
        file.extend(gz(&b));
        file.extend(gz(b""));
        let (out, end) = drain(&file, 8192);
        assert!(end.is_ok());
        assert_eq!(out, [a, b].concat());
    }

    #[test]
    fn a_cut_file_keeps_what_came_before_and_says_so() {
        let data = text(20_000);
        let file = gz(&data);
        let (out, end) = drain(&file[..file.len() / 2], 4096);
        let err = end.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("cut short"), "{err}");
        assert!(!out.is_empty() && data.starts_with(&out));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let data = text(1000);
        let mut file = gz(&data);
        file.extend_from_slice(b"not gzip at all");
        let (out, end) = drain(&file, 1 << 16);
        assert_eq!(out, data);
        assert!(end.unwrap_err().to_string().contains("corrupt gzip data"));

        let mut flipped = gz(&data);
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        flipped[mid + 1] ^= 0x55;
        let (_, end) = drain(&flipped, 1 << 16);
        assert!(end.is_err());
    }
}
