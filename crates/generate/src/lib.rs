//! A deterministic, realistic synthetic Pinpoint event stream, written the way
//! Kinesis Data Firehose delivers it: gzip JSON lines in `YYYY/MM/DD/HH/`
//! folders.
//!
//! What it holds: email, SMS and push campaigns with several runs, A/B
//! treatments, transactional email, journeys; a `_campaign.send` for every
//! targeted endpoint with realistic send statuses; deliveries, hard and soft
//! bounces (some soft bounces delivered later), complaints, rejects,
//! unsubscribes, repeated opens and clicks (some days later, across
//! midnight); exact duplicate records (at-least-once delivery) and a few
//! malformed lines. The same seed always gives the same files.

mod records;
mod rng;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Timelike};
use flate2::Compression;
use flate2::write::GzEncoder;

pub use records::Stats;
use records::World;
pub use rng::Rng;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Approximate number of records (within one campaign run of it).
    pub events: u64,
    pub seed: u64,
    /// First day, as epoch milliseconds at 00:00 UTC.
    pub start_ms: i64,
    /// Days over which campaign runs start.
    pub days: u32,
    /// Records per output file (Firehose buffers by size and time).
    pub records_per_file: usize,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            events: 10_000,
            seed: 1,
            // 2026-09-01T00:00:00Z
            start_ms: 1_788_220_800_000,
            days: 14,
            records_per_file: 5_000,
        }
    }
}

/// A record waiting to be written, ordered by arrival time.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    arrival_ms: i64,
    seq: u64,
    line: String,
}

/// Writes records into Firehose's hourly folders, in arrival order.
struct FirehoseWriter {
    out: PathBuf,
    records_per_file: usize,
    current: Option<(i64, GzEncoder<BufWriter<File>>, usize)>,
    files: Vec<PathBuf>,
    seq: u64,
}

impl FirehoseWriter {
    fn write(&mut self, arrival_ms: i64, line: &str) -> std::io::Result<()> {
        let hour = arrival_ms.div_euclid(3_600_000);
        let roll = match &self.current {
            Some((h, _, n)) => *h != hour || *n >= self.records_per_file,
            None => true,
        };
        if roll {
            self.close()?;
            let t = DateTime::from_timestamp_millis(arrival_ms).unwrap_or_default();
            let dir = self.out.join(format!(
                "{:04}/{:02}/{:02}/{:02}",
                t.year(),
                t.month(),
                t.day(),
                t.hour()
            ));
            std::fs::create_dir_all(&dir)?;
            self.seq += 1;
            let name = format!(
                "sendlens-events-1-{}-{:08x}.gz",
                t.format("%Y-%m-%d-%H-%M-%S"),
                self.seq
            );
            let path = dir.join(name);
            let f = BufWriter::new(File::create(&path)?);
            self.files.push(path);
            self.current = Some((hour, GzEncoder::new(f, Compression::new(6)), 0));
        }
        let (_, enc, n) = self.current.as_mut().expect("opened above");
        enc.write_all(line.as_bytes())?;
        enc.write_all(b"\n")?;
        *n += 1;
        Ok(())
    }

    fn close(&mut self) -> std::io::Result<()> {
        if let Some((_, enc, _)) = self.current.take() {
            enc.finish()?.flush()?;
        }
        Ok(())
    }
}

/// Generate into `out` (created if missing). Returns what was written.
pub fn generate(out: &Path, opts: &GenerateOptions) -> std::io::Result<Stats> {
    std::fs::create_dir_all(out)?;
    let mut world = World::new(opts);
    let mut writer = FirehoseWriter {
        out: out.to_path_buf(),
        records_per_file: opts.records_per_file.max(1),
        current: None,
        files: Vec::new(),
        seq: 0,
    };
    let mut heap: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
    let mut seq = 0u64;
    // Runs are generated in start order; records due before the next run
    // starts are written out, so memory holds only the records in flight.
    while let Some((run_start, records)) = world.next_run() {
        while let Some(Reverse(p)) = heap.peek() {
            if p.arrival_ms >= run_start {
                break;
            }
            let Reverse(p) = heap.pop().expect("peeked");
            writer.write(p.arrival_ms, &p.line)?;
        }
        for (arrival_ms, line) in records {
            seq += 1;
            heap.push(Reverse(Pending {
                arrival_ms,
                seq,
                line,
            }));
        }
    }
    while let Some(Reverse(p)) = heap.pop() {
        writer.write(p.arrival_ms, &p.line)?;
    }
    writer.close()?;
    let mut stats = world.stats;
    stats.files = writer.files.len() as u64;
    Ok(stats)
}
