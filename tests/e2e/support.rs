//! Helpers shared by the end-to-end tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sendlens"))
}

/// Run sendlens with `args`; panics with its output unless it succeeds.
pub fn run_ok(args: &[&str]) -> String {
    let out = bin().args(args).output().expect("sendlens runs");
    assert_success(&out, args);
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn assert_success(out: &Output, args: &[&str]) {
    assert!(
        out.status.success(),
        "sendlens {args:?} failed ({})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `dir`, in path order (the generator's folders are hours).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for e in std::fs::read_dir(&folder).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                folders.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A fresh workspace in a temp folder.
pub struct Ws {
    pub dir: tempfile::TempDir,
}

impl Ws {
    pub fn new() -> Ws {
        Ws::with_init_args(&[])
    }

    pub fn with_init_args(extra: &[&str]) -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        let mut args = vec!["init", ws.to_str().unwrap()];
        args.extend_from_slice(extra);
        run_ok(&args);
        Ws { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Ingest and return the machine-readable summary.
    pub fn ingest(&self, paths: &[&Path]) -> Value {
        self.ingest_with(&[], paths)
    }

    /// [`Ws::ingest`] with more options (`--rescan`, ...).
    pub fn ingest_with(&self, options: &[&str], paths: &[&Path]) -> Value {
        let ws = self.path();
        let mut args = vec!["--workspace", ws.to_str().unwrap(), "ingest", "--json"];
        args.extend_from_slice(options);
        for p in paths {
            args.push(p.to_str().unwrap());
        }
        ingest_summary(run_ok(&args).as_bytes())
    }

    /// Rows of a query, as JSON objects.
    pub fn query(&self, sql: &str) -> Vec<Value> {
        let ws = self.path();
        let out = run_ok(&[
            "--workspace",
            ws.to_str().unwrap(),
            "sql",
            "--format",
            "ndjson",
            "-c",
            sql,
        ]);
        ndjson_rows(&out)
    }

    /// A single number from a query's first row and column.
    pub fn count(&self, sql: &str) -> u64 {
        let rows = self.query(sql);
        let row = rows.first().expect("one row");
        row.as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .as_u64()
            .expect("a number")
    }

    pub fn table_version(&self) -> u64 {
        let log = self.path().join("events/_delta_log");
        std::fs::read_dir(log)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".json")?.parse::<u64>().ok()
            })
            .max()
            .unwrap()
    }
}

/// `ingest --json`'s summary, whose counts must add up.
pub fn ingest_summary(stdout: &[u8]) -> Value {
    let summary: Value = serde_json::from_slice(stdout).expect("JSON summary");
    assert_eq!(
        summary["records"].as_u64().unwrap(),
        summary["stored"].as_u64().unwrap()
            + summary["duplicates"].as_u64().unwrap()
            + summary["rejected"].as_u64().unwrap(),
        "counts add up: {summary}"
    );
    summary
}

/// Generate a synthetic stream into `dir`.
pub fn generate(dir: &Path, events: u64, seed: u64) -> Value {
    let out = run_ok(&[
        "generate",
        "--out",
        dir.to_str().unwrap(),
        "--events",
        &events.to_string(),
        "--seed",
        &seed.to_string(),
        "--days",
        "5",
        "--records-per-file",
        "2000",
    ]);
    serde_json::json!({ "text": out })
}

pub fn write_file(path: &Path, bytes: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The AWS documentation examples, copied into tests/fixtures.
pub fn aws_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/aws-examples")
        .join(name)
}

/// Every line of every rejected-records file of the workspace.
pub fn rejected_lines(ws: &Ws) -> Vec<Value> {
    let mut out = Vec::new();
    let dir = ws.path().join("rejected");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            out.push(serde_json::from_str(line).unwrap());
        }
    }
    out
}

fn strukt(
    fields: Vec<datafusion::arrow::datatypes::Field>,
) -> datafusion::arrow::datatypes::DataType {
    datafusion::arrow::datatypes::DataType::Struct(fields.into())
}

/// The nested schema Firehose's Parquet conversion writes for the Pinpoint
/// stream (what sendlens reads, plus extras), as a Glue table would define
/// it: column names in lower case.
pub fn firehose_schema() -> datafusion::arrow::datatypes::Schema {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use sendlens_events::schema::map_type as map;
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let engagement = || strukt(vec![text("link"), text("ip_address"), text("user_agent")]);
    let mail = strukt(vec![
        text("message_id"),
        Field::new("message_send_timestamp", DataType::Int64, true),
        text("from_address"),
        Field::new(
            "destination",
            DataType::List(std::sync::Arc::new(Field::new(
                "item",
                DataType::Utf8,
                true,
            ))),
            true,
        ),
        Field::new("common_headers", strukt(vec![text("subject")]), true),
    ]);
    let mail_event = strukt(vec![
        Field::new("mail", mail, true),
        Field::new("click", engagement(), true),
        Field::new("open", engagement(), true),
        Field::new("unsubscribe", engagement(), true),
        Field::new(
            "bounce",
            strukt(vec![text("bounce_type"), text("bounce_sub_type")]),
            true,
        ),
        Field::new(
            "complaint",
            strukt(vec![text("complaint_feedback_type")]),
            true,
        ),
        Field::new("reject", strukt(vec![text("reason")]), true),
    ]);
    Schema::new(vec![
        text("event_type"),
        Field::new("event_timestamp", DataType::Int64, true),
        Field::new("arrival_timestamp", DataType::Int64, true),
        text("event_version"),
        Field::new("application", strukt(vec![text("app_id")]), true),
        Field::new("client", strukt(vec![text("client_id")]), true),
        Field::new("attributes", map(DataType::Utf8), true),
        Field::new("metrics", map(DataType::Float64), true),
        text("awsaccountid"),
        Field::new(
            "facets",
            strukt(vec![Field::new(
                "email_channel",
                strukt(vec![Field::new("mail_event", mail_event, true)]),
                true,
            )]),
            true,
        ),
    ])
}

/// Firehose's Parquet conversion of JSON lines: one file, `rows_per_group`
/// rows per row group.
pub fn to_firehose_parquet(json_lines: &[u8], out: &Path, rows_per_group: usize) {
    use datafusion::arrow::json::ReaderBuilder;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;
    let schema = std::sync::Arc::new(firehose_schema());
    // Firehose matches JSON keys to the Glue columns without regard to case.
    let text = String::from_utf8_lossy(json_lines).replace("\"awsAccountId\"", "\"awsaccountid\"");
    let reader = ReaderBuilder::new(schema.clone())
        .with_batch_size(4096)
        .build(text.as_bytes())
        .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows_per_group))
        .build();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(out).unwrap(), schema, Some(props)).unwrap();
    for batch in reader {
        w.write(&batch.unwrap()).unwrap();
    }
    w.close().unwrap();
}

/// A query's answer in a session, as an aligned text table.
pub async fn answer_text(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
) -> datafusion::error::Result<String> {
    let batches = ctx.sql(sql).await?.collect().await?;
    Ok(datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string())
}

/// Run `command` while another process holds the workspace lock, waiting
/// one second for it: it fails and says who holds the lock and how to wait
/// longer. Returns its stderr.
pub fn assert_refused_while_locked(command: &mut Command) -> String {
    let out = command.env("SENDLENS_LOCK_WAIT", "1").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains("another sendlens ingest") && stderr.contains("SENDLENS_LOCK_WAIT"),
        "{stderr}"
    );
    stderr
}

/// The rows `sql --format ndjson` printed, as JSON objects.
pub fn ndjson_rows(out: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("ndjson row"))
        .collect()
}

/// Chromium from Debian's package (`.ci/run` installs it).
pub fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("headless Chromium is needed for this test: apt-get install chromium (.ci/run does)");
}

/// Headless, without a sandbox (tests run as root in CI), and without the
/// background connections a closed network refuses.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// Run headless Chromium on `url` with `args`; its output, once it succeeded.
pub fn headless(profile: &Path, url: &str, args: &[String]) -> std::process::Output {
    let out = Command::new(chromium())
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium starts");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The pixels of an 8-bit RGB or RGBA PNG without interlacing (what
/// Chromium writes): (width, height, channels, rows of pixels).
pub fn decode_png(bytes: &[u8]) -> (u32, u32, usize, Vec<u8>) {
    use std::io::Read;
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (mut pos, mut idat) = (8, Vec::new());
    let (mut width, mut height, mut channels) = (0, 0, 0);
    while pos + 8 <= bytes.len() {
        let len = be(&bytes[pos..]) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let data = &bytes[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => {
                width = be(data);
                height = be(&data[4..]);
                assert_eq!((data[8], data[12]), (8, 0), "8-bit, not interlaced");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("PNG colour type {t}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width as usize * channels;
    let mut out = vec![0u8; stride * height as usize];
    for y in 0..height as usize {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels {
                out[y * stride + x - channels]
            } else {
                0
            };
            let b = if y > 0 { out[(y - 1) * stride + x] } else { 0 };
            let c = if x >= channels && y > 0 {
                out[(y - 1) * stride + x - channels]
            } else {
                0
            };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((a as u16 + b as u16) / 2) as u8,
                4 => {
                    let p = a as i16 + b as i16 - c as i16;
                    let (pa, pb, pc) = (
                        (p - a as i16).abs(),
                        (p - b as i16).abs(),
                        (p - c as i16).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("PNG filter {f}"),
            };
            out[y * stride + x] = line[x].wrapping_add(predicted);
        }
    }
    (width, height, channels, out)
}
