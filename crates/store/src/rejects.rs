//! The rejected-records file: one JSON object per line with the record's
//! source file, position, the reason, and the record itself.
//!
//! ```json
//! {"source":"in/a.json.gz","line":12,"offset":3456,"reason":"not valid JSON: ...","record":"{..."}
//! ```
//!
//! `record` holds the text when it is UTF-8, else `record_base64` holds the
//! bytes. The workspace's PII policy covers every field: under `hash` and
//! `drop` the record, the reason (which may quote a value) and the source
//! name are scrubbed as the table's text is, and a record that is not UTF-8
//! is kept as scrubbed text with its invalid bytes replaced. The file is written under `.sendlens/tmp` and moved into
//! `rejected/` only after the ingest has committed, so a killed ingest leaves
//! no partial file behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use sendlens_events::{PiiScrubber, Reject};
use serde::Serialize;

use crate::error::{IoContext, Result};

/// One line of the file, fields in reading order.
#[derive(Serialize)]
struct RejectLine<'a> {
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    row: Option<u64>,
    /// Rows from `row` on that this one line stands for, when more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<u64>,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record_base64: Option<String>,
}

pub struct RejectWriter {
    tmp_path: PathBuf,
    out: Option<BufWriter<File>>,
    count: u64,
    scrubber: PiiScrubber,
}

impl RejectWriter {
    pub fn new(tmp_path: PathBuf, scrubber: PiiScrubber) -> Self {
        RejectWriter {
            tmp_path,
            out: None,
            count: 0,
            scrubber,
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn write(&mut self, r: &Reject) -> Result<()> {
        if self.out.is_none() {
            let f = File::create(&self.tmp_path).at(&self.tmp_path)?;
            self.out = Some(BufWriter::new(f));
        }
        let bytes = self.scrubber.scrub_bytes(&r.bytes);
        let text = std::str::from_utf8(&bytes).ok();
        let line = RejectLine {
            source: &self.scrubber.scrub_text(&r.source),
            line: r.line,
            offset: (!r.is_row).then_some(r.offset),
            row: r.is_row.then_some(r.offset),
            rows: (r.count > 1).then_some(r.count),
            reason: &self.scrubber.scrub_text(&r.reason),
            record: text,
            record_base64: match text {
                Some(_) => None,
                None => Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            },
        };
        let out = self.out.as_mut().expect("opened above");
        serde_json::to_writer(&mut *out, &line)
            .map_err(std::io::Error::from)
            .at(&self.tmp_path)?;
        out.write_all(b"\n").at(&self.tmp_path)?;
        self.count += r.count;
        Ok(())
    }

    /// Flush to disk and move into place; returns the final path, if any
    /// record was rejected.
    pub fn finish(mut self, final_path: &Path) -> Result<Option<PathBuf>> {
        let Some(mut out) = self.out.take() else {
            return Ok(None);
        };
        out.flush().at(&self.tmp_path)?;
        out.get_ref().sync_all().at(&self.tmp_path)?;
        drop(out);
        if let Some(dir) = final_path.parent() {
            std::fs::create_dir_all(dir).at(dir)?;
        }
        std::fs::rename(&self.tmp_path, final_path).at(final_path)?;
        Ok(Some(final_path.to_path_buf()))
    }

    /// Remove the scratch file (the ingest failed before committing).
    pub fn abandon(mut self) {
        self.out.take();
        let _ = std::fs::remove_file(&self.tmp_path);
    }
}
