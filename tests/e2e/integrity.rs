//! Integrity under odd input and concurrent use: no panic, no record lost
//! or stored twice, no PII past the policy, no reader broken by a writer.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Ws, bin, rejected_lines, run_ok, to_firehose_parquet, write_file};

fn record(message: &str, extra_attribute: &str) -> String {
    format!(
        r#"{{"event_type":"_email.send","event_timestamp":1700000000000,"arrival_timestamp":1700000000100,"client":{{"client_id":"e-{message}"}},"attributes":{{"campaign_id":"c1","campaign_activity_id":"r1"{extra_attribute}}},"facets":{{"email_channel":{{"mail_event":{{"mail":{{"message_id":"{message}","destination":["someone@example.com"]}}}}}}}}}}"#
    )
}

fn good(n: u32) -> String {
    record(&format!("m{n}"), "")
}

#[test]
fn a_multi_byte_event_type_neither_panics_nor_stops_the_ingest() {
    let ws = Ws::new();
    let odd = good(2).replace("_email.send", "_smsé");
    let text = format!("{}\n{odd}\n{}\n", good(1), good(3));
    let path = ws.scratch("in").join("odd.json");
    write_file(&path, text.as_bytes());
    let s = ws.ingest(&[&path]);
    assert_eq!(
        (s["stored"].as_u64(), s["rejected"].as_u64()),
        (Some(3), Some(0)),
        "{s}"
    );
    let rows = ws.query("SELECT event_type, channel FROM events WHERE event_type LIKE '\\_sms%'");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["channel"], "app");
    let rows = ws.query(
        "SELECT event_channel('_smsé') AS a, event_channel('_sms.é') AS b, event_channel('é') AS c",
    );
    assert_eq!(rows[0]["a"], "app");
    assert_eq!(rows[0]["b"], "sms");
}

#[test]
fn every_record_inside_a_line_or_a_concatenated_file_is_counted() {
    let ws = Ws::new();
    let dir = ws.scratch("in");
    let broken = r#"{"event_type":"_email.open","attributes":{"campaign_id":"#;
    // Lines: a good line, then a broken record and a good one on one line.
    write_file(
        &dir.join("lines.json"),
        format!("{}\n{broken}{}\n", good(1), good(2)).as_bytes(),
    );
    // Firehose without a delimiter: a broken record in the middle.
    let concatenated = format!("{}{}{broken}{}{}", good(3), good(4), good(5), good(6));
    write_file(&dir.join("stream"), concatenated.as_bytes());
    let s = ws.ingest(&[&dir]);
    assert_eq!(s["records"], 8, "{s}");
    assert_eq!(s["stored"], 6, "{s}");
    assert_eq!(s["rejected"], 2, "{s}");
    let rejected = rejected_lines(&ws);
    let mut places: Vec<(String, u64)> = rejected
        .iter()
        .map(|r| {
            let source = r["source"].as_str().unwrap();
            (
                Path::new(source)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                r["offset"].as_u64().unwrap(),
            )
        })
        .collect();
    places.sort();
    assert_eq!(
        places,
        [
            ("lines.json".to_string(), good(1).len() as u64 + 1),
            ("stream".to_string(), (good(3).len() + good(4).len()) as u64),
        ]
    );
    for r in &rejected {
        assert_eq!(r["record"], broken, "{r}");
    }
    assert_eq!(
        ws.count("SELECT COUNT(DISTINCT message_key) FROM events"),
        6
    );
}

/// JSON lines of a generated stream: what Firehose's source backup holds.
fn generated_lines(dir: &Path) -> Vec<u8> {
    let mut files: Vec<PathBuf> = crate::support::files_under(dir);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&f).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        for line in text.lines() {
            // The generator writes a few malformed lines; Firehose's
            // conversion would not have converted them.
            if serde_json::from_str::<serde_json::Map<String, Value>>(line).is_ok() {
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
        }
    }
    out
}

#[test]
fn one_event_is_stored_once_whether_json_pretty_json_or_firehose_parquet() {
    let ws = Ws::new();
    let gen_dir = ws.scratch("gen");
    crate::support::generate(&gen_dir, 6_000, 11);
    let lines = generated_lines(&gen_dir);
    let json = ws.scratch("json").join("backup.json");
    write_file(&json, &lines);
    let first = ws.ingest(&[&json]);
    let stored = first["stored"].as_u64().unwrap();
    assert!(stored > 5_000, "{first}");
    let sends = ws.count("SELECT COUNT(*) FROM campaign_send");

    // The same records as Firehose's Parquet conversion, in several row groups.
    let parquet = ws.scratch("parquet").join("converted.parquet");
    to_firehose_parquet(&lines, &parquet, 1_000);
    let again = ws.ingest(&[&parquet]);
    assert_eq!(again["stored"], 0, "{again}");
    assert_eq!(again["rejected"], 0, "{again}");
    assert_eq!(ws.count("SELECT COUNT(*) FROM events"), stored);
    assert_eq!(ws.count("SELECT COUNT(*) FROM campaign_send"), sends);

    // Pretty-printed, keys reordered: still the same events.
    let some: Vec<&[u8]> = lines.split(|&b| b == b'\n').take(50).collect();
    let mut pretty = String::new();
    for line in some.iter().filter(|l| !l.is_empty()) {
        let v: serde_json::Map<String, Value> = serde_json::from_slice(line).unwrap();
        let reordered: serde_json::Map<String, Value> = v.into_iter().rev().collect();
        pretty.push_str(&serde_json::to_string_pretty(&reordered).unwrap());
        pretty.push('\n');
    }
    let pretty_path = ws.scratch("pretty").join("pretty.json");
    write_file(&pretty_path, pretty.as_bytes());
    let third = ws.ingest(&[&pretty_path]);
    assert_eq!(third["stored"], 0, "{third}");
    assert_eq!(third["duplicates"], third["records"], "{third}");
}

#[test]
fn no_pii_passes_the_drop_policy_anywhere_the_workspace_writes() {
    let ws = Ws::with_init_args(&["--pii", "drop"]);
    // A folder named after a person, an encoded address in a link, and a
    // broken record that quotes an address.
    let dir = ws.scratch("in").join("alice@example.com");
    let click = record("m1", "").replace(
        "\"mail\":",
        "\"click\":{\"link\":\"https://t.example.net/c?e=alice%40example.com&u=YWxpY2VAZXhhbXBsZS5jb20=\",\"ip_address\":\"198.51.100.7\"},\"mail\":",
    ).replace("_email.send", "_email.click");
    let broken = r#"{"event_type":"_email.send","arrival_timestamp":"bob@example.com"}"#;
    let unicode = record("m2", r#","note":"carol\u0040example.com""#);
    write_file(
        &dir.join("part.json"),
        format!("{click}\n{broken}\n{unicode}\n").as_bytes(),
    );
    let s = ws.ingest(&[&dir]);
    assert_eq!(
        (s["stored"].as_u64(), s["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{s}"
    );
    let table = ws.query("SELECT * FROM events");
    let rejected = rejected_lines(&ws);
    for text in table.iter().chain(&rejected).map(Value::to_string) {
        for person in [
            "alice",
            "bob",
            "carol",
            "someone",
            "198.51.100.7",
            "YWxpY2VA",
        ] {
            assert!(!text.contains(person), "{person} in {text}");
        }
    }
    assert_eq!(rejected[0]["line"], 2);
}

#[test]
fn hashed_addresses_match_however_encoded_and_identities_are_keyed() {
    let a = Ws::with_init_args(&["--pii", "hash"]);
    let b = Ws::with_init_args(&["--pii", "hash"]);
    let click = record(
        "m1",
        r#","link_to":"https://t.example.net/c?e=someone%40example.com""#,
    );
    for ws in [&a, &b] {
        let path = ws.scratch("in").join("x.json");
        write_file(&path, format!("{click}\n").as_bytes());
        ws.ingest(&[&path]);
    }
    let row = &a.query("SELECT address, attributes['link_to'] AS link, record_hash FROM events")[0];
    let address = row["address"].as_str().unwrap();
    assert!(address.starts_with("pii:"), "{row}");
    assert_eq!(
        row["link"].as_str().unwrap(),
        format!("https://t.example.net/c?e={address}")
    );
    // The same record in two workspaces: identities keyed by each salt.
    let other = &b.query("SELECT record_hash FROM events")[0];
    assert_ne!(row["record_hash"], other["record_hash"]);
}

#[test]
fn a_workspace_without_its_salt_refuses_to_ingest() {
    let ws = Ws::new();
    let salt = ws.path().join(".sendlens/salt");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&salt).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::remove_file(&salt).unwrap();
    let input = ws.scratch("in").join("a.json");
    write_file(&input, format!("{}\n", good(1)).as_bytes());
    let out = bin()
        .args(["-w", ws.path().to_str().unwrap(), "ingest"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("salt") && err.contains("missing"), "{err}");
    assert!(!salt.exists(), "no new salt made in its place");
}

#[test]
fn symlinked_folders_are_followed_and_loops_reported() {
    let ws = Ws::new();
    let real = ws.scratch("real");
    write_file(&real.join("a.json"), format!("{}\n", good(1)).as_bytes());
    let input = ws.scratch("input");
    write_file(&input.join("b.json"), format!("{}\n", good(2)).as_bytes());
    std::os::unix::fs::symlink(&real, input.join("linked")).unwrap();
    std::os::unix::fs::symlink(&input, input.join("loop")).unwrap();
    std::os::unix::fs::symlink(ws.dir.path().join("nowhere"), input.join("dangling")).unwrap();
    let s = ws.ingest(&[&input]);
    assert_eq!(s["stored"], 2, "{s}");
    let warnings = s["warnings"].to_string();
    assert!(
        warnings.contains("loop") && warnings.contains("to nothing"),
        "{warnings}"
    );
    // A folder that holds only a link to a folder.
    let only = ws.scratch("only");
    std::os::unix::fs::symlink(&real, only.join("linked")).unwrap();
    let s = ws.ingest_with(&["--rescan"], &[&only]);
    assert_eq!(s["records"], 1, "{s}");
    // Through the link it is the file read before: the ledger knows it.
    let s = ws.ingest(&[&only]);
    assert_eq!(
        (s["files"].as_u64(), s["skipped"].as_u64()),
        (Some(0), Some(1)),
        "{s}"
    );
}

/// Answers a session gives: events, a metric view over the materialized
/// facts, and a materialized table.
async fn answers(ctx: &datafusion::prelude::SessionContext) -> datafusion::error::Result<String> {
    let mut out = String::new();
    for sql in [
        "SELECT count(*) AS n FROM events",
        "SELECT sum(messages_sent) AS sent, sum(messages_delivered) AS delivered, \
         sum(unique_opens) AS opens FROM campaign_metrics",
        "SELECT count(*) AS n FROM campaign_targets",
    ] {
        out.push_str(&crate::support::answer_text(ctx, sql).await?);
    }
    Ok(out)
}

#[test]
fn an_open_session_keeps_answering_while_other_processes_write() {
    let ws = Ws::new();
    let a = ws.scratch("a");
    crate::support::generate(&a, 8_000, 21);
    ws.ingest(&[&a]);
    let b = ws.scratch("b");
    crate::support::generate(&b, 8_000, 22);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = sendlens_store::Workspace::open(&ws.path()).unwrap();
    let pinned = rt.block_on(sendlens_store::open_session(&store)).unwrap();
    let old = rt.block_on(answers(&pinned)).unwrap();

    let done = AtomicBool::new(false);
    let path = ws.path();
    let (seen, failures) = std::thread::scope(|s| {
        s.spawn(|| {
            let w = path.to_str().unwrap();
            run_ok(&["-w", w, "ingest", b.to_str().unwrap()]);
            run_ok(&["-w", w, "optimize"]);
            run_ok(&["-w", w, "vacuum", "--retain-days", "0"]);
            run_ok(&["-w", w, "refresh"]);
            run_ok(&["-w", w, "vacuum", "--retain-days", "0"]);
            done.store(true, Ordering::SeqCst);
        });
        let mut seen = BTreeSet::new();
        let mut failures = Vec::new();
        let mut after = 0;
        while after < 2 {
            if done.load(Ordering::SeqCst) {
                after += 1;
            }
            // The session opened before the writers still reads its version.
            match rt.block_on(answers(&pinned)) {
                Ok(a) if a == old => {}
                Ok(a) => failures.push(format!("the pinned session changed its answer:\n{a}")),
                Err(e) => failures.push(format!("the pinned session failed: {e}")),
            }
            // A session opened now reads whichever version is current.
            let fresh = rt.block_on(async {
                let ctx = sendlens_store::open_session(&store).await?;
                answers(&ctx).await
            });
            match fresh {
                Ok(a) => {
                    seen.insert(a);
                }
                Err(e) => failures.push(format!("a new session failed: {e}")),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (seen, failures)
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let new = rt
        .block_on(async {
            let ctx = sendlens_store::open_session(&store).await?;
            answers(&ctx).await
        })
        .unwrap();
    assert_ne!(old, new, "the second stream adds events");
    for a in &seen {
        assert!(*a == old || *a == new, "an answer of neither version:\n{a}");
    }
    assert!(seen.contains(&new));
    // Once the pinned session is gone, the next refresh removes its facts.
    let facts = ws.path().join(".sendlens/facts");
    let count = || std::fs::read_dir(&facts).unwrap().count();
    assert!(count() >= 2, "the pinned session's facts were kept");
    drop(pinned);
    run_ok(&["-w", ws.path().to_str().unwrap(), "refresh"]);
    assert_eq!(count(), 1);
}

#[test]
fn a_refresh_keeps_newer_facts_and_clears_what_an_ended_refresh_left() {
    let ws = Ws::new();
    let input = ws.scratch("in").join("a.json");
    write_file(&input, format!("{}\n{}\n", good(1), good(2)).as_bytes());
    ws.ingest(&[&input]);
    let facts = ws.path().join(".sendlens/facts");
    // What a slower refresh of an older version meets: a newer version's
    // facts. And the folders of a refresh that died, and of one that runs.
    let newer = facts.join("v999-0123456789abcdef");
    write_file(&newer.join("_complete"), b"999");
    let dead = facts.join(".v7.4242.tmp");
    write_file(&dead.join(".building"), b"");
    write_file(&dead.join("message_facts/part.parquet"), b"half");
    let running = facts.join(".v8.4243.tmp");
    write_file(&running.join(".building"), b"");
    let lock = std::fs::File::open(running.join(".building")).unwrap();
    lock.lock().unwrap();
    run_ok(&["-w", ws.path().to_str().unwrap(), "refresh"]);
    assert!(newer.exists(), "a newer version's facts are never removed");
    assert!(!dead.exists(), "an ended refresh's folder is removed");
    assert!(running.exists(), "a running refresh's folder stays");
    drop(lock);
}

#[test]
fn a_broken_parquet_row_group_costs_its_own_rows_each_alone() {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let ws = Ws::new();
    let lines: String = (1..=6).map(|i| good(i) + "\n").collect();
    let path = ws.scratch("in").join("three-groups.parquet");
    to_firehose_parquet(lines.as_bytes(), &path, 2);
    // Break the page header of the middle row group's first column.
    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(reader.metadata().num_row_groups(), 3);
    let at = reader.metadata().row_group(1).column(0).data_page_offset() as usize;
    drop(reader);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at..at + 6].fill(0xff);
    std::fs::write(&path, &bytes).unwrap();

    let s = ws.ingest(&[&path]);
    assert_eq!(s["records"], 6, "{s}");
    assert_eq!(s["stored"], 4, "{s}");
    assert_eq!(s["rejected"], 2, "{s}");
    let rows: Vec<u64> = rejected_lines(&ws)
        .iter()
        .map(|r| r["row"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [2, 3]);
    let stored: BTreeSet<String> = ws
        .query("SELECT message_key FROM events")
        .iter()
        .map(|r| r["message_key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, ["m1", "m2", "m5", "m6"].map(String::from).into());
}
