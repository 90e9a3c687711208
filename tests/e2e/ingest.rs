//! Ingest: the count invariant, de-duplication, idempotence, a killed ingest.

use std::time::{Duration, Instant};

use crate::support::{Ws, aws_fixture, generate, run_ok};

#[test]
fn generated_stream_counts_add_up_and_match_the_table() {
    let ws = Ws::new();
    let input = ws.scratch("in");
    generate(&input, 20_000, 7);
    let s = ws.ingest(&[&input]);
    let records = s["records"].as_u64().unwrap();
    assert!(records >= 20_000, "{s}");
    assert!(
        s["duplicates"].as_u64().unwrap() > 0,
        "the generator writes duplicates: {s}"
    );
    assert!(
        s["rejected"].as_u64().unwrap() > 0,
        "the generator writes malformed lines: {s}"
    );
    assert_eq!(
        ws.count("SELECT COUNT(*) FROM events"),
        s["stored"].as_u64().unwrap()
    );
    // No identity is stored twice.
    assert_eq!(
        ws.count("SELECT COUNT(DISTINCT record_hash) FROM events"),
        s["stored"].as_u64().unwrap()
    );
}

#[test]
fn reingest_stores_nothing_and_keeps_the_version() {
    let ws = Ws::new();
    let input = ws.scratch("in");
    generate(&input, 3_000, 3);
    let first = ws.ingest(&[&input]);
    let version = ws.table_version();
    // The sources ledger passes over every file, unread.
    let passed = ws.ingest(&[&input]);
    assert_eq!(passed["files"], 0, "{passed}");
    assert_eq!(passed["records"], 0, "{passed}");
    assert_eq!(passed["skipped"], first["files"], "{passed}");
    assert_eq!(ws.table_version(), version, "nothing read, no commit");
    // Read again, every record is a duplicate or rejected again.
    let again = ws.ingest_with(&["--rescan"], &[&input]);
    assert_eq!(again["files"], first["files"], "{again}");
    assert_eq!(again["stored"], 0, "{again}");
    assert_eq!(
        again["duplicates"],
        first["stored"].as_u64().unwrap() + first["duplicates"].as_u64().unwrap()
    );
    assert_eq!(again["rejected"], first["rejected"]);
    assert_eq!(ws.table_version(), version, "nothing new, no commit");
    assert_eq!(
        ws.count("SELECT COUNT(*) FROM events"),
        first["stored"].as_u64().unwrap()
    );
}

#[test]
fn duplicates_across_ingests_are_stored_once() {
    let ws = Ws::new();
    let a = aws_fixture("pinpoint-email-click.json");
    let b = aws_fixture("pinpoint-sms-success.json");
    let s1 = ws.ingest(&[&a]);
    assert_eq!(
        (s1["stored"].as_u64(), s1["duplicates"].as_u64()),
        (Some(1), Some(0))
    );
    // Both files, one of them already stored, plus a copy of it in another file.
    let copy = ws.scratch("copy").join("again.json");
    std::fs::copy(&a, &copy).unwrap();
    let s2 = ws.ingest_with(&["--rescan"], &[&a, &b, &copy]);
    assert_eq!(s2["records"], 3);
    assert_eq!(s2["stored"], 1);
    assert_eq!(s2["duplicates"], 2);
    assert_eq!(ws.count("SELECT COUNT(*) FROM events"), 2);
}

#[test]
fn every_aws_example_is_stored_with_typed_columns() {
    let ws = Ws::new();
    let dir = aws_fixture("");
    let s = ws.ingest(&[&dir]);
    assert_eq!(s["stored"], 8, "{s}");
    assert_eq!(s["rejected"], 0, "{s}");
    let rows = ws.query(
        "SELECT event_type, channel, source_format FROM events ORDER BY event_type, source_format",
    );
    let got: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["event_type"].as_str().unwrap(),
                r["channel"].as_str().unwrap(),
                r["source_format"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            "_SMS.SUCCESS sms pinpoint_json",
            "_campaign.send push pinpoint_json",
            "_email.click email pinpoint_json",
            "_email.click email ses_json",
            "_email.delivered email ses_json",
            "_email.hardbounce email ses_json",
            "_email.open email ses_json",
            "_email.send email ses_json",
        ]
    );
    // Attributes and the original text are kept.
    let rows = ws.query(
        "SELECT attributes['myCustomTag1'] AS tag, raw FROM events WHERE event_type = '_email.send'",
    );
    assert_eq!(rows[0]["tag"], "myCustomTagValue1");
    assert!(
        rows[0]["raw"]
            .as_str()
            .unwrap()
            .contains("\"eventType\": \"Send\"")
    );
    // Partitioned by the UTC day of occurred_at.
    assert_eq!(
        ws.count("SELECT COUNT(*) FROM events WHERE event_date = DATE '2019-08-01'"),
        1
    );
}

#[test]
fn killed_ingest_leaves_the_last_commit_and_a_rerun_completes() {
    let ws = Ws::new();
    let base = ws.scratch("base");
    std::fs::copy(aws_fixture("ses-send.json"), base.join("send.json")).unwrap();
    ws.ingest(&[&base]);
    let version = ws.table_version();

    let input = ws.scratch("big");
    generate(&input, 150_000, 11);
    let wsp = ws.path();
    let mut child = crate::support::bin()
        .args([
            "--workspace",
            wsp.to_str().unwrap(),
            "ingest",
            "--quiet",
            "--threads",
            "1",
            input.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has written data files but before it commits.
    let started = Instant::now();
    let mut killed_mid_write = false;
    while started.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if count_data_files(&wsp.join("events")) > 0 {
            child.kill().unwrap();
            killed_mid_write = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait().unwrap();
    assert!(
        killed_mid_write,
        "the ingest finished before it could be killed; make the input larger"
    );
    assert_eq!(
        ws.table_version(),
        version,
        "a killed ingest commits nothing"
    );
    assert_eq!(ws.count("SELECT COUNT(*) FROM events"), 1);

    let s = ws.ingest(&[&input]);
    assert!(s["stored"].as_u64().unwrap() > 100_000, "{s}");
    assert_eq!(ws.table_version(), version + 1);
    assert_eq!(
        ws.count("SELECT COUNT(*) FROM events"),
        s["stored"].as_u64().unwrap() + 1
    );
    // The scratch rejected file of the killed run is not in rejected/.
    let rejected: Vec<_> = std::fs::read_dir(wsp.join("rejected")).unwrap().collect();
    assert_eq!(rejected.len(), 1);
}

/// Data files being written or written (anything in a partition folder).
fn count_data_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() && name.starts_with("event_date=") {
                n += std::fs::read_dir(&p).map(|d| d.count()).unwrap_or(0);
            }
        }
    }
    n
}

#[test]
fn help_on_every_subcommand() {
    for sub in [
        "init",
        "ingest",
        "sql",
        "metrics",
        "campaigns",
        "functions",
        "optimize",
        "refresh",
        "vacuum",
        "generate",
        "demo",
    ] {
        let out = run_ok(&[sub, "--help"]);
        assert!(out.contains("Usage: sendlens"), "{sub}: {out}");
    }
}

#[test]
fn a_folder_that_is_not_a_workspace_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::bin()
        .args([
            "--workspace",
            dir.path().to_str().unwrap(),
            "sql",
            "-c",
            "SELECT 1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sendlens init"), "{err}");
}

#[test]
fn an_ingest_of_a_growing_folder_reads_only_new_and_changed_files() {
    let ws = Ws::new();
    let input = ws.scratch("in");
    let a = input.join("a.json");
    let click = std::fs::read(aws_fixture("pinpoint-email-click.json")).unwrap();
    let sms = std::fs::read(aws_fixture("pinpoint-sms-success.json")).unwrap();
    std::fs::write(&a, &click).unwrap();
    let first = ws.ingest(&[&input]);
    assert_eq!(
        (first["files"].as_u64(), first["stored"].as_u64()),
        (Some(1), Some(1))
    );
    // A new file: only it is read.
    std::fs::write(input.join("b.json"), &sms).unwrap();
    let second = ws.ingest(&[&input]);
    assert_eq!(second["files"], 1, "{second}");
    assert_eq!(second["skipped"], 1, "{second}");
    assert_eq!(second["stored"], 1, "{second}");
    // A file that changed (another size, another time) is read again whole.
    let mut both = click.clone();
    both.extend_from_slice(b"\n");
    both.extend_from_slice(&sms);
    std::fs::write(&a, &both).unwrap();
    let third = ws.ingest(&[&input]);
    assert_eq!(third["files"], 1, "{third}");
    assert_eq!(third["records"], 2, "{third}");
    assert_eq!(third["duplicates"], 2, "{third}");
    assert_eq!(ws.count("SELECT COUNT(*) FROM events"), 2);
}

#[test]
fn a_writer_waits_for_the_workspace_lock_and_says_who_held_it_when_it_gives_up() {
    let ws = Ws::new();
    let input = ws.scratch("in");
    generate(&input, 2_000, 5);
    let wsp = ws.path();
    let lock = std::fs::File::options()
        .write(true)
        .open(wsp.join(".sendlens/lock"))
        .or_else(|_| std::fs::File::create(wsp.join(".sendlens/lock")))
        .unwrap();
    lock.lock().unwrap();
    let args = [
        "--workspace",
        wsp.to_str().unwrap(),
        "ingest",
        "--json",
        input.to_str().unwrap(),
    ];
    crate::support::assert_refused_while_locked(crate::support::bin().args(args));
    // Released while it waits: the ingest goes on and lands.
    let waiting = crate::support::bin()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    drop(lock);
    let out = waiting.wait_with_output().unwrap();
    crate::support::assert_success(&out, &args);
    let summary = crate::support::ingest_summary(&out.stdout);
    assert!(summary["stored"].as_u64().unwrap() > 1_500, "{summary}");
}
