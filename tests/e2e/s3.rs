//! Inputs in object storage, against a real S3-compatible server: `moto`
//! in server mode, started on a free loopback port by each test. A
//! `moto_server` on `PATH` is used; without one, the first test installs
//! moto from PyPI into a virtualenv under cargo's target folder.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Ws, bin, files_under, generate, gzip, rejected_lines};

/// A `moto_server` process on loopback, stopped when dropped.
pub(crate) struct S3Server {
    child: Child,
    pub(crate) port: u16,
}

/// `moto_server` from `PATH`, or from a virtualenv the tests make once.
fn moto_server() -> &'static Path {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(|| {
        let on_path = Command::new("moto_server").arg("--help").output();
        if on_path.is_ok_and(|o| o.status.success()) {
            return PathBuf::from("moto_server");
        }
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("moto-venv");
        let server = venv.join("bin/moto_server");
        if !server.exists() {
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 runs (moto, the S3 server of these tests, is a Python package)");
            assert!(made.success(), "python3 -m venv {}", venv.display());
            let installed = Command::new(venv.join("bin/pip"))
                .args([
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "moto[server]>=5.1,<6",
                ])
                .status()
                .expect("pip runs");
            assert!(
                installed.success(),
                "pip install 'moto[server]' (PyPI must be reachable)"
            );
        }
        server
    })
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl S3Server {
    fn start() -> S3Server {
        let port = free_port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let server = S3Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while request(port, "GET", "/", &[]).is_err() {
            assert!(Instant::now() < deadline, "moto_server answers within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn put(&self, path: &str, body: &[u8]) {
        let (status, text) = request(self.port, "PUT", path, body).unwrap();
        assert_eq!(status, 200, "PUT {path}: {text}");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One plain HTTP/1.1 request: status and body. moto checks no
/// signature, but it reads the caller's account from the credential
/// (without one, a request may not replace an object).
fn request(port: u16, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=sendlens-test/20261206/us-east-1/s3/aws4_request, \
         SignedHeaders=host, Signature=0\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, text))
}

/// The AWS variables that point a process at the server on `port`.
pub(crate) fn aws_env(port: u16) -> [(&'static str, String); 5] {
    [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_ACCESS_KEY_ID", "sendlens-test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "sendlens-test".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ]
}

/// [`aws_env`] as delta-rs storage options, for the library's own calls.
fn store_options(port: u16) -> std::collections::BTreeMap<String, String> {
    aws_env(port)
        .into_iter()
        .map(|(name, value)| {
            let option = match name {
                "AWS_ENDPOINT_URL" => "aws_endpoint".to_string(),
                other => other.to_lowercase(),
            };
            (option, value)
        })
        .collect()
}

/// sendlens with the AWS variables that point it at the server on `port`.
fn sendlens(port: u16, args: &[&str]) -> Output {
    bin()
        .args(args)
        .envs(aws_env(port))
        .output()
        .expect("sendlens runs")
}

fn ingest_json(port: u16, ws: &Ws, extra: &[&str]) -> Value {
    let path = ws.path();
    let mut args = vec!["-w", path.to_str().unwrap(), "ingest", "--json"];
    args.extend_from_slice(extra);
    let out = sendlens(port, &args);
    crate::support::assert_success(&out, &args);
    crate::support::ingest_summary(&out.stdout)
}

/// Upload every file under `dir` to `bucket` under `prefix`, by relative
/// path.
fn upload(server: &S3Server, dir: &Path, bucket: &str, prefix: &str) -> usize {
    let files = files_under(dir);
    for f in &files {
        let key = f.strip_prefix(dir).unwrap().to_str().unwrap();
        server.put(
            &format!("/{bucket}/{prefix}{key}"),
            &std::fs::read(f).unwrap(),
        );
    }
    files.len()
}

const BROKEN: &[u8] = b"{\"event_type\":\"_email.send\",\"event_timestamp\":\n";

#[test]
fn ingest_from_s3_equals_local_and_reads_only_new_objects() {
    let server = S3Server::start();
    let port = server.port;
    let local = Ws::new();
    let input = local.scratch("in");
    generate(&input, 3_000, 11);
    std::fs::write(input.join("broken.json"), BROKEN).unwrap();
    server.put("/exports", b"");
    let uploaded = upload(&server, &input, "exports", "pinpoint/");
    // Hidden keys are passed over, as hidden files in a folder are.
    server.put("/exports/pinpoint/.staging/partial.json", BROKEN);

    let remote = Ws::new();
    let from_s3 = ingest_json(port, &remote, &["s3://exports/pinpoint/"]);
    let from_disk = local.ingest(&[&input]);
    for count in ["files", "records", "stored", "duplicates", "rejected"] {
        assert_eq!(
            from_s3[count], from_disk[count],
            "{count}: {from_s3} vs {from_disk}"
        );
    }
    assert_eq!(from_s3["files"].as_u64().unwrap(), uploaded as u64);
    assert!(from_s3["stored"].as_u64().unwrap() > 2_000, "{from_s3}");
    // The rejected record names the object it came from.
    let rejected = rejected_lines(&remote);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["source"], "s3://exports/pinpoint/broken.json");
    // Every metric, whichever way the events came.
    for view in [
        "campaign_metrics",
        "campaign_run_metrics",
        "campaign_daily_metrics",
        "application_metrics",
        "transactional_email_metrics",
    ] {
        let sql = format!("SELECT * FROM {view} ORDER BY 1, 2");
        assert_eq!(remote.query(&sql), local.query(&sql), "{view}");
    }
    let metrics = remote.query("SELECT count(*) AS n FROM campaign_metrics");
    assert!(metrics[0]["n"].as_u64().unwrap() > 1, "{metrics:?}");

    // Again: every object was read, none is.
    let version = remote.table_version();
    let again = ingest_json(port, &remote, &["s3://exports/pinpoint/"]);
    assert_eq!(again["files"], 0, "{again}");
    assert_eq!(
        again["skipped"].as_u64().unwrap(),
        uploaded as u64,
        "{again}"
    );
    assert_eq!(remote.table_version(), version);

    // A new object, and one replaced (its ETag moves): only those are read.
    let extra = br#"{"event_type":"_email.open","event_timestamp":1764590400000,"arrival_timestamp":1764594000000,"application":{"app_id":"A1"},"client":{"client_id":"E-new"},"attributes":{"campaign_id":"C-new","campaign_activity_id":"R1","treatment_id":"0"},"facets":{"email_channel":{"mail_event":{"mail":{"message_id":"m-new"}}}}}"#;
    server.put("/exports/pinpoint/late/new.json.gz", &gzip(extra));
    server.put("/exports/pinpoint/broken.json", b"{}\n");
    let newer = ingest_json(port, &remote, &["s3://exports/pinpoint/"]);
    assert_eq!(newer["files"], 2, "{newer}");
    assert_eq!(newer["stored"], 1, "{newer}");
    assert_eq!(newer["rejected"], 1, "{newer}");
    assert_eq!(
        newer["skipped"].as_u64().unwrap(),
        uploaded as u64 - 1,
        "{newer}"
    );

    // --rescan reads everything again; de-duplication stores nothing twice.
    let rescan = ingest_json(port, &remote, &["--rescan", "s3://exports/pinpoint/"]);
    assert_eq!(
        rescan["files"].as_u64().unwrap(),
        uploaded as u64 + 1,
        "{rescan}"
    );
    assert_eq!(rescan["stored"], 0, "{rescan}");
    assert_eq!(rescan["skipped"], 0, "{rescan}");
}

/// A TCP relay to `port` that stops (closes every connection and refuses
/// new ones) once `budget` bytes have come back from the server: the
/// server going away in the middle of an ingest.
fn relay(port: u16, budget: u64) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_port = listener.local_addr().unwrap().port();
    let down = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let flag = down.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            if flag.load(Ordering::SeqCst) {
                drop(client);
                continue;
            }
            let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut &c2, &mut &s2);
                let _ = s2.shutdown(Shutdown::Write);
            });
            let (flag, sent) = (flag.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = match (&server).read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if flag.load(Ordering::SeqCst)
                        || sent.fetch_add(n as u64, Ordering::SeqCst) > budget
                    {
                        flag.store(true, Ordering::SeqCst);
                        break;
                    }
                    if (&client).write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            });
        }
    });
    (relay_port, down)
}

#[test]
fn a_server_that_goes_away_mid_ingest_leaves_the_table_at_its_last_commit() {
    let server = S3Server::start();
    let ws = Ws::new();
    let input = ws.scratch("in");
    generate(&input, 4_000, 12);
    server.put("/exports", b"");
    upload(&server, &input, "exports", "p/");
    // Fail fast rather than retry for minutes.
    let config = ws.path().join("sendlens.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[storage]\n",
        "[storage]\nmax_retries = \"1\"\nretry_timeout = \"2s\"\n",
    );
    assert!(text.contains("max_retries"), "{text}");
    std::fs::write(&config, text).unwrap();
    let before = ws.table_version();
    let total: u64 = files_under(&input)
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum();

    let (relay_port, down) = relay(server.port, total / 2);
    let path = ws.path();
    let args = [
        "-w",
        path.to_str().unwrap(),
        "ingest",
        "--json",
        "s3://exports/p/",
    ];
    let out = sendlens(relay_port, &args);
    assert!(
        down.load(Ordering::SeqCst),
        "the relay stopped mid-ingest: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the ingest fails");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read s3://exports/p/") && stderr.contains("AWS_ENDPOINT_URL"),
        "a clear error: {stderr}"
    );
    assert_eq!(ws.table_version(), before, "nothing committed");

    // Straight to the server, the same ingest completes.
    let done = ingest_json(server.port, &ws, &["s3://exports/p/"]);
    assert_eq!(done["skipped"], 0, "{done}");
    assert!(done["stored"].as_u64().unwrap() > 3_000, "{done}");
    assert_eq!(ws.table_version(), before + 1);
}

#[test]
fn an_object_replaced_after_its_listing_is_read_as_it_is_now() {
    let server = S3Server::start();
    server.put("/exports", b"");
    server.put("/exports/p/a.json", b"first version\n");
    let options = store_options(server.port);
    let url = url::Url::parse("s3://exports/p/").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = sendlens_store::objects::Bucket::open(&url, &options).unwrap();
    let mut listed = rt.block_on(bucket.list(&url)).unwrap();
    assert_eq!(listed.len(), 1);
    let mut object = listed.remove(0);
    assert_eq!(object.url, "s3://exports/p/a.json");
    let listed_etag = object.etag.clone();
    assert!(listed_etag.is_some());

    server.put("/exports/p/a.json", b"second, longer version\n");
    let data = rt.block_on(bucket.read(&mut object)).unwrap();
    assert_eq!(&data[..], b"second, longer version\n");
    assert_ne!(object.etag, listed_etag, "the ETag read is recorded");
    assert_eq!(object.size, data.len() as u64);
}

/// A workspace in the server's bucket `lake`, used as one host uses it:
/// with a cache folder of its own.
pub(crate) struct Lake {
    port: u16,
    url: String,
    cache: PathBuf,
}

impl Lake {
    /// The workspace at `url` in `server`, through the cache folder `cache`.
    pub(crate) fn new(server: &S3Server, url: &str, cache: PathBuf) -> Lake {
        Lake {
            port: server.port,
            url: url.to_string(),
            cache,
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = bin();
        command
            .args(["-w", &self.url])
            .args(args)
            .envs(aws_env(self.port))
            .env("SENDLENS_CACHE_DIR", &self.cache);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("sendlens runs")
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        crate::support::assert_success(&out, args);
        String::from_utf8(out.stdout).unwrap()
    }

    fn query(&self, sql: &str) -> Vec<Value> {
        crate::support::ndjson_rows(&self.ok(&["sql", "--format", "ndjson", "-c", sql]))
    }

    /// Another host: the same workspace through another cache folder.
    fn elsewhere(&self, cache: PathBuf) -> Lake {
        Lake {
            port: self.port,
            url: self.url.clone(),
            cache,
        }
    }
}

/// Keys under `prefix` in `bucket` (a ListObjectsV2 of the server).
fn keys(server: &S3Server, bucket: &str, prefix: &str) -> Vec<String> {
    let (status, text) = request(
        server.port,
        "GET",
        &format!("/{bucket}?list-type=2&prefix={prefix}"),
        &[],
    )
    .unwrap();
    assert_eq!(status, 200, "{text}");
    text.split("<Key>")
        .skip(1)
        .filter_map(|k| k.split("</Key>").next())
        .map(str::to_string)
        .collect()
}

/// Every view and materialized table of the extension, by name (not
/// `events`, whose rows name their source files).
fn view_names(ws: &Ws) -> Vec<String> {
    ws.query(
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name <> 'events' ORDER BY table_name",
    )
    .iter()
    .map(|r| r["table_name"].as_str().unwrap().to_string())
    .collect()
}

/// Every view's rows (sorted), from a workspace in S3 and a local one.
fn assert_same_views(lake: &Lake, local: &Ws, views: &[String], when: &str) {
    let sorted = |rows: Vec<Value>| {
        let mut rows: Vec<String> = rows.iter().map(Value::to_string).collect();
        rows.sort();
        rows
    };
    for view in views {
        let sql = format!("SELECT * FROM {view}");
        let rows = sorted(local.query(&sql));
        assert_eq!(sorted(lake.query(&sql)), rows, "{view} ({when})");
    }
}

/// A server with a generated stream (and `extra` as one more object, when
/// not empty) under `s3://exports/p/`, and an empty bucket `lake`; the
/// scratch workspace holds the stream's local copy, returned too.
pub(crate) fn exports_and_lake(seed: u64, extra: &[u8]) -> (S3Server, Ws, PathBuf) {
    let server = S3Server::start();
    let scratch = Ws::new();
    let input = scratch.scratch("in");
    generate(&input, 3_000, seed);
    if !extra.is_empty() {
        std::fs::write(input.join("broken.json"), extra).unwrap();
    }
    server.put("/exports", b"");
    server.put("/lake", b"");
    upload(&server, &input, "exports", "p/");
    (server, scratch, input)
}

#[test]
fn a_workspace_in_s3_answers_every_command_as_a_local_one_does() {
    let (server, local, input) = exports_and_lake(21, BROKEN);
    let lake = Lake::new(&server, "s3://lake/team/ws", local.scratch("cache-a"));

    // init: the configuration, salt, table and report definitions in the
    // bucket; the cache holds no events.
    let made = lake.ok(&["init", "--time-zone", "UTC"]);
    assert!(
        made.contains("Created workspace s3://lake/team/ws/"),
        "{made}"
    );
    let stored = keys(&server, "lake", "team/ws/");
    for key in [
        "team/ws/sendlens.toml",
        "team/ws/.sendlens/salt",
        "team/ws/events/_delta_log/00000000000000000000.json",
        "team/ws/reports/campaign_page.toml",
        "team/ws/queries/reports/campaign_page.sql",
    ] {
        assert!(stored.contains(&key.to_string()), "{key}: {stored:?}");
    }
    let again = lake.run(&["init"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already a sendlens workspace"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // ingest from S3 into S3, against the same files from a local folder.
    let out = lake.ok(&["ingest", "--json", "s3://exports/p/"]);
    let from_s3 = crate::support::ingest_summary(out.as_bytes());
    let from_disk = local.ingest(&[&input]);
    for count in ["files", "records", "stored", "duplicates", "rejected"] {
        assert_eq!(from_s3[count], from_disk[count], "{count}");
    }
    assert_eq!(from_s3["rejected"], 1);
    let rejected = from_s3["rejected_file"].as_str().unwrap();
    assert!(
        rejected.starts_with("s3://lake/team/ws/rejected/"),
        "{rejected}"
    );
    assert_eq!(keys(&server, "lake", "team/ws/rejected/").len(), 1);
    assert!(
        !keys(&server, "lake", "team/ws/.sendlens/sources/").is_empty(),
        "the sources ledger is in the bucket"
    );

    let views = view_names(&local);
    assert!(views.len() > 25, "{views:?}");
    assert!(views.contains(&"campaign_metrics".to_string()));
    assert_same_views(&lake, &local, &views, "after ingest");

    // A second host: no cache yet, the same answers, and the ledger in the
    // bucket: nothing is read again.
    let other = lake.elsewhere(local.scratch("cache-b"));
    let sql = "SELECT * FROM campaign_metrics ORDER BY campaign_id";
    assert_eq!(other.query(sql), local.query(sql));
    let out = other.ok(&["ingest", "--json", "s3://exports/p/"]);
    let repeat = crate::support::ingest_summary(out.as_bytes());
    assert_eq!(repeat["files"], 0, "{repeat}");

    // refresh, optimize and vacuum on the bucket's table; every view stays.
    let refreshed = lake.ok(&["refresh"]);
    assert!(!refreshed.is_empty());
    let optimized = lake.ok(&["optimize"]);
    assert!(optimized.contains("version"), "{optimized}");
    lake.ok(&["vacuum", "--retain-days", "0"]);
    assert_same_views(&lake, &local, &views, "after optimize and vacuum");

    // A report from the bucket's definitions, its outputs to S3, one PUT
    // a file: the same bytes as the local workspace's run.
    let days = local.query("SELECT min(event_date) AS a, max(event_date) AS b FROM events");
    let (from, to) = (
        days[0]["a"].as_str().unwrap().to_string(),
        days[0]["b"].as_str().unwrap().to_string(),
    );
    let run = [
        "report",
        "run",
        "pinpoint_csv",
        "--from",
        &from,
        "--to",
        &to,
        "--format",
        "csv",
    ];
    let mut remote_run = run.to_vec();
    remote_run.extend(["--out", "s3://lake/outputs/"]);
    let said = lake.ok(&remote_run);
    assert!(said.contains("succeeded"), "{said}");
    let local_path = local.path();
    let mut local_run = vec!["-w", local_path.to_str().unwrap()];
    local_run.extend(run);
    crate::support::run_ok(&local_run);
    let period = format!("{from}_{to}");
    let written = files_under(&local.path().join("out/pinpoint_csv").join(&period));
    assert!(!written.is_empty());
    let objects = keys(&server, "lake", "outputs/");
    assert_eq!(objects.len(), written.len(), "{objects:?}");
    for file in written {
        let name = file.file_name().unwrap().to_str().unwrap();
        let key = format!("outputs/pinpoint_csv/{period}/{name}");
        assert!(objects.contains(&key), "{key}: {objects:?}");
        let (status, body) = request(server.port, "GET", &format!("/lake/{key}"), &[]).unwrap();
        assert_eq!(status, 200);
        let local_text = std::fs::read_to_string(&file).unwrap();
        assert!(body.ends_with(&local_text), "{key}");
    }
}

#[test]
fn writers_of_a_workspace_in_s3_take_turns_and_store_nothing_twice() {
    let (server, scratch, input) = exports_and_lake(22, b"");
    let lake = Lake::new(&server, "s3://lake/ws", scratch.scratch("cache-a"));
    lake.ok(&["init"]);

    // A lock its holder renews stops a second writer, with who holds it.
    let now = chrono::Utc::now().to_rfc3339();
    let held = format!(r#"{{"host":"scheduler-1","pid":4242,"since":"{now}","renewed":"{now}"}}"#);
    server.put("/lake/ws/.sendlens/lock", held.as_bytes());
    let stderr = crate::support::assert_refused_while_locked(
        &mut lake.command(&["ingest", "s3://exports/p/"]),
    );
    assert!(stderr.contains("scheduler-1"), "{stderr}");
    // A writer waits for the lock: released while it waits, it goes on.
    let waiting = lake
        .command(&["ingest", "--json", "--no-refresh", "s3://exports/p/"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    request(server.port, "DELETE", "/lake/ws/.sendlens/lock", &[]).unwrap();
    let waited = waiting.wait_with_output().unwrap();
    crate::support::assert_success(&waited, &["ingest (waiting)"]);
    assert!(
        crate::support::ingest_summary(&waited.stdout)["stored"]
            .as_u64()
            .unwrap()
            > 2_000
    );
    // One its holder stopped renewing (the process died) is taken over,
    // and released when the command ends.
    let old = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
    let stale = format!(r#"{{"host":"gone","pid":1,"since":"{old}","renewed":"{old}"}}"#);
    server.put("/lake/ws/.sendlens/lock", stale.as_bytes());
    lake.ok(&["ingest", "--rescan", "--no-refresh", "s3://exports/p/"]);
    assert!(
        keys(&server, "lake", "ws/.sendlens/lock").is_empty(),
        "the lock is released"
    );

    // Two hosts ingesting the same inputs at once: the second waits for
    // the first's lock; should one be told to run again (a commit between
    // its reads and its commit), it is; every event is stored once.
    let hosts = [
        lake.elsewhere(scratch.scratch("cache-b")),
        lake.elsewhere(scratch.scratch("cache-c")),
    ];
    let mut pending: Vec<&Lake> = hosts.iter().collect();
    for _ in 0..10 {
        if pending.is_empty() {
            break;
        }
        let children: Vec<_> = pending
            .iter()
            .map(|h| {
                h.command(&["ingest", "--json", "--rescan", "s3://exports/p/"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut still = Vec::new();
        for (host, child) in pending.iter().zip(children) {
            let out = child.wait_with_output().unwrap();
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    stderr.contains("another sendlens")
                        || stderr.contains("another writer committed"),
                    "a clear reason: {stderr}"
                );
                still.push(*host);
            }
        }
        pending = still;
    }
    assert!(pending.is_empty(), "both ingests land in the end");
    let local = Ws::new();
    let whole = local.ingest(&[&input]);
    let stored = lake.query("SELECT count(*) AS n FROM events");
    assert_eq!(stored[0]["n"], whole["stored"], "nothing lost or doubled");
}

#[test]
fn two_commits_of_one_version_in_s3_cannot_both_land() {
    let server = S3Server::start();
    server.put("/lake", b"");
    let scratch = Ws::new();
    let lake = Lake::new(&server, "s3://lake/ws", scratch.scratch("cache"));
    lake.ok(&["init"]);
    let options = store_options(server.port);
    let url = url::Url::parse("s3://lake/ws/events/").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let table = rt
        .block_on(sendlens_store::table::open_at(url, &options))
        .unwrap();
    assert_eq!(table.version(), Some(0));
    // Two writers that both read version 0 write version 1: delta-rs puts
    // a commit only if its file does not exist yet (If-None-Match).
    let commit = |marker: &str| {
        let line = format!(
            "{{\"commitInfo\":{{\"timestamp\":0,\"operation\":\"WRITE\",\"writer\":\"{marker}\"}}}}\n"
        );
        rt.block_on(table.log_store().write_commit_entry(
            1,
            deltalake::logstore::CommitOrBytes::LogBytes(line.into_bytes().into()),
            uuid::Uuid::new_v4(),
        ))
    };
    commit("first").expect("the first writer commits version 1");
    let second = commit("second").expect_err("the second writer of version 1 fails");
    assert!(
        matches!(
            second,
            deltalake::kernel::transaction::TransactionError::VersionAlreadyExists(1)
        ),
        "{second:?}"
    );
    let (status, body) = request(
        server.port,
        "GET",
        "/lake/ws/events/_delta_log/00000000000000000001.json",
        &[],
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("first") && !body.contains("second"),
        "not overwritten: {body}"
    );
}

#[test]
fn one_cache_never_mixes_two_workspaces_of_the_same_url() {
    // Two servers, each with a workspace at s3://lake/ws of other events,
    // used by one host (one cache folder): each at version 1 with facts.
    let (first, scratch, input) = exports_and_lake(31, b"");
    let (second, _other, other_input) = exports_and_lake(32, b"");
    let cache = scratch.scratch("cache");
    let lakes = [&first, &second].map(|server| Lake {
        port: server.port,
        url: "s3://lake/ws".to_string(),
        cache: cache.clone(),
    });
    let sql = "SELECT * FROM campaign_metrics ORDER BY campaign_id";
    let mut answers = Vec::new();
    for (n, (lake, events)) in lakes.iter().zip([&input, &other_input]).enumerate() {
        lake.ok(&["init"]);
        lake.ok(&["ingest", events.to_str().unwrap()]);
        let local = Ws::new();
        local.ingest(&[events]);
        let answer = lake.query(sql);
        assert_eq!(answer.len(), local.query(sql).len(), "server {n}");
        assert_eq!(answer, local.query(sql), "server {n}");
        answers.push(answer);
    }
    assert_ne!(answers[0], answers[1], "other events, other metrics");
    // The first server's workspace again, after the second's facts.
    assert_eq!(lakes[0].query(sql), answers[0]);
}

#[test]
fn a_server_that_goes_away_mid_ingest_into_a_workspace_in_s3_leaves_its_last_commit() {
    let (server, scratch, input) = exports_and_lake(41, b"");
    let direct = Lake::new(&server, "s3://lake/ws", scratch.scratch("cache"));
    direct.ok(&["init"]);
    // Fail fast rather than retry for minutes.
    let (_, config) = request(server.port, "GET", "/lake/ws/sendlens.toml", &[]).unwrap();
    let config = config.split("\r\n\r\n").nth(1).unwrap().replace(
        "[storage]\n",
        "[storage]\nmax_retries = \"1\"\nretry_timeout = \"2s\"\n",
    );
    assert!(config.contains("max_retries"), "{config}");
    server.put("/lake/ws/sendlens.toml", config.as_bytes());
    let log = || keys(&server, "lake", "ws/events/_delta_log/");
    let before = log();
    let total: u64 = files_under(&input)
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum();
    // Inputs and workspace through a relay that stops halfway through.
    let (relay_port, down) = relay(server.port, total / 2);
    let cut = Lake {
        port: relay_port,
        ..direct.elsewhere(direct.cache.clone())
    };
    let out = cut.run(&["ingest", "s3://exports/p/"]);
    assert!(down.load(Ordering::SeqCst), "the relay stopped mid-ingest");
    assert!(!out.status.success(), "the ingest fails");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("s3://") && stderr.contains("AWS_ENDPOINT_URL"),
        "a clear error: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(log(), before, "nothing committed");

    // Straight to the server: the dead process's lock is taken over, and
    // the same ingest completes, as from a local folder.
    let done = direct.ok(&["ingest", "--json", "s3://exports/p/"]);
    let done = crate::support::ingest_summary(done.as_bytes());
    let local = Ws::new();
    let whole = local.ingest(&[&input]);
    assert_eq!(done["stored"], whole["stored"], "{done}");
    assert_eq!(log().len(), before.len() + 1);
}
