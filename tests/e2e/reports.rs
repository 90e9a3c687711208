//! Scheduled reports: shipped definitions, formats read back, parameter
//! binding, idempotent runs, catch-up, crashes, shutdown, failures, and the
//! HTML page rendered in headless Chromium.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::metrics::{fixture, fixture_workspace};
use crate::support::{Ws, bin, decode_png, headless, run_ok, write_file};
use sendlens_reports::shipped::SHIPPED;

impl Ws {
    /// Remove the shipped reports, so that the scheduler sees only the
    /// test's own.
    fn without_shipped_reports(self) -> Ws {
        for e in std::fs::read_dir(self.path().join("reports")).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        self
    }

    fn report(&self, name: &str, toml: &str) {
        write_file(
            &self.path().join("reports").join(format!("{name}.toml")),
            toml.as_bytes(),
        );
    }

    fn sendlens(&self, args: &[&str]) -> std::process::Output {
        bin()
            .arg("-w")
            .arg(self.path())
            .args(args)
            .output()
            .expect("sendlens runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let path = self.path();
        let mut all = vec!["-w", path.to_str().unwrap()];
        all.extend_from_slice(args);
        run_ok(&all)
    }

    fn spawn(&self, args: &[&str]) -> Child {
        bin()
            .arg("-w")
            .arg(self.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sendlens starts")
    }

    /// The latest state of every run (the ledger through `report history --json`).
    fn runs(&self) -> Vec<Value> {
        self.ok(&["report", "history", "--json", "--limit", "1000"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn read(&self, report: &str, period: &str, file: &str) -> String {
        std::fs::read_to_string(self.out(report, period).join(file)).unwrap()
    }

    fn out(&self, report: &str, period: &str) -> PathBuf {
        self.path().join("out").join(report).join(period)
    }
}

fn states(runs: &[Value], report: &str) -> Vec<(String, String, String)> {
    runs.iter()
        .filter(|r| r["report"] == report)
        .map(|r| {
            (
                r["period"].as_str().unwrap().to_string(),
                r["trigger"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ledger_text(ws: &Ws) -> String {
    std::fs::read_to_string(ws.path().join(".sendlens/reports/ledger.jsonl")).unwrap_or_default()
}

const C1_REPORT: &str = r#"
title = "C1 check"
description = "Campaign C1 <by hand>"
formats = ["csv", "json", "parquet", "markdown", "html"]
query = """
-- name: headline
SELECT messages_sent, messages_delivered, delivery_rate, endpoint_deliveries
FROM campaign_dashboard($campaign_id, $start, $end, $time_zone)
-- name: daily
SELECT day, endpoint_deliveries FROM campaign_daily($campaign_id, $start, $end, $time_zone) ORDER BY day
"""
[period]
every = "day"
[params.campaign_id]
type = "string"
default = "C1"
[[sections]]
name = "headline"
title = "Headline"
show = "tiles"
[[sections]]
name = "daily"
title = "Endpoint deliveries per day"
show = "bars"
x = "day"
y = ["endpoint_deliveries"]
"#;

#[test]
fn a_new_workspace_lists_the_shipped_reports_and_each_runs() {
    let ws = fixture_workspace();
    let list = ws.ok(&["report", "list"]);
    assert_eq!(
        SHIPPED.len(),
        6,
        "the campaign page, comparison, A/B, links, transactional, CSV export"
    );
    for (name, _, _) in SHIPPED {
        assert!(list.contains(name), "{list}");
    }
    assert!(
        list.contains("0 6 * * * UTC") && list.contains("never"),
        "{list}"
    );
    for (name, _, _) in SHIPPED {
        let out = ws.ok(&[
            "report",
            "run",
            name,
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-03",
        ]);
        assert!(out.contains(": succeeded"), "{name}: {out}");
    }
    // A declared parameter that picks nothing: the report skips the period.
    let out = ws.ok(&[
        "report",
        "run",
        "transactional",
        "--for",
        "2026-03-01",
        "--param",
        "app_id=A2",
    ]);
    assert!(out.contains(": skipped, 0 rows"), "{out}");
    assert!(!ws.out("transactional", "2026-03-01").exists());
    let dir = ws.out("campaign_page", "2026-03-01_2026-03-03");
    // One page per campaign with messages sent: C1, C2, C3.
    for c in ["C1", "C2", "C3"] {
        assert!(dir.join(format!("{c}.html")).is_file(), "{c}");
    }
    // The campaign page's numbers are the hand-counted ones.
    let page: Value = serde_json::from_slice(&std::fs::read(dir.join("C1.json")).unwrap()).unwrap();
    let headline = &page["sections"][0]["rows"][0];
    assert_eq!(headline["messages_sent"], 6);
    assert_eq!(headline["messages_delivered"], 5);
    assert_eq!(headline["links_clicked"], 2);
    assert!((headline["delivery_rate"].as_f64().unwrap() - 5.0 / 7.0).abs() < 1e-12);
    assert!((headline["email_open_rate"].as_f64().unwrap() - 0.8).abs() < 1e-12);
    // A/B: C1 has treatments 0 and 1; the others one each.
    let ab = ws.out("ab_test", "2026-03-01_2026-03-03");
    assert!(ab.join("C1.html").is_file() && !ab.join("C2.html").exists());
    let csv = std::fs::read_to_string(ab.join("C1.treatments.csv")).unwrap();
    assert!(csv.starts_with("treatment_id,messages_sent,messages_delivered,unique_opens,email_open_rate,open_rate_p_value"), "{csv}");
    assert!(
        csv.contains("\n0,4,4,3,0.75,,") && csv.contains(",control\n"),
        "{csv}"
    );
    // Links: the two clicks of M1 on one link.
    let links = ws.read("link_clicks", "2026-03-01_2026-03-03", "C1.links.csv");
    assert_eq!(
        links,
        "link,clicks,unique_clicks,unique_endpoints\nhttps://shop.example/a?utm_source=mail,2,1,1\n"
    );
    // Transactional: T1 (email) and TS1 (SMS, 2 parts, 500 millicents).
    let email = ws.read(
        "transactional",
        "2026-03-01_2026-03-03",
        "transactional.email.csv",
    );
    assert_eq!(
        email.lines().nth(1),
        Some("A1,1,1,1.0,1,1.0,0,0.0,0,0.0,0,0.0"),
        "{email}"
    );
    let sms = ws.read(
        "transactional",
        "2026-03-01_2026-03-03",
        "transactional.sms.csv",
    );
    assert!(sms.contains("\nA1,1,1,1.0,0,0,2,0.005\n"), "{sms}");
    // The console-shaped export: R1 and R2 of C1, rates in percent.
    let export = ws.read("pinpoint_csv", "2026-03-01_2026-03-03", "C1.csv");
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(
        lines[0],
        "Campaign ID,Campaign run ID,Run start time,Endpoints targeted,Messages sent,Messages delivered,Delivery rate (%),Email open rate (%),Bounce rate (%),Total email opened,Links clicked"
    );
    assert_eq!(
        lines[1],
        "C1,R1,2026-03-01T10:00:00Z,5,4,3,60.0,66.67,25.0,3,2"
    );
    assert_eq!(lines.len(), 3, "{export}");
    // The comparison: every campaign, largest first.
    let cmp = ws.read(
        "campaign_comparison",
        "2026-03-01_2026-03-03",
        "campaign_comparison.campaigns.csv",
    );
    let ids: Vec<&str> = cmp
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids, ["C1", "C2", "C3"]);
}

#[test]
fn every_format_reads_back_with_the_hand_counted_numbers() {
    let ws = fixture_workspace();
    ws.report("c1", C1_REPORT);
    let out = ws.ok(&[
        "report",
        "run",
        "c1",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-03",
    ]);
    assert!(out.contains("succeeded, 4 rows"), "{out}");
    let dir = ws.out("c1", "2026-03-01_2026-03-03");

    // CSV, one file per section. Endpoint deliveries by the day the delivery
    // happened: 1 March E1, E2, E4; 2 March E1 (M5) and E6; 3 March none.
    assert_eq!(
        std::fs::read_to_string(dir.join("c1.headline.csv")).unwrap(),
        format!(
            "messages_sent,messages_delivered,delivery_rate,endpoint_deliveries\n6,5,{},{}\n",
            5.0_f64 / 7.0,
            5.0_f64 / 3.0
        )
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("c1.daily.csv")).unwrap(),
        "day,endpoint_deliveries\n2026-03-01,3\n2026-03-02,2\n2026-03-03,0\n"
    );

    // JSON: the period, the parameters and every section.
    let doc: Value = serde_json::from_slice(&std::fs::read(dir.join("c1.json")).unwrap()).unwrap();
    assert_eq!(doc["report"], "c1");
    assert_eq!(doc["period"]["start"], "2026-03-01");
    assert_eq!(doc["period"]["end"], "2026-03-03");
    assert_eq!(doc["params"]["campaign_id"], "C1");
    assert_eq!(doc["sections"][1]["rows"][1]["endpoint_deliveries"], 2);

    // Parquet, with its types.
    let file = std::fs::File::open(dir.join("c1.daily.parquet")).unwrap();
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let b = &batches[0];
    assert_eq!(b.num_rows(), 3);
    assert_eq!(
        b.schema().field(0).data_type(),
        &datafusion::arrow::datatypes::DataType::Date32
    );
    let n = datafusion::arrow::array::AsArray::as_primitive::<
        datafusion::arrow::datatypes::Int64Type,
    >(b.column(1));
    assert_eq!(n.values().to_vec(), vec![3, 2, 0]);

    // Markdown: tiles as metric/value rows, rates as percentages.
    let md = std::fs::read_to_string(dir.join("c1.md")).unwrap();
    assert!(md.starts_with("# C1 check\n"), "{md}");
    assert!(
        md.contains("| Messages sent | 6 |") && md.contains("| Delivery rate | 71.43% |"),
        "{md}"
    );
    assert!(
        md.contains("| 2026-03-02 | 2 |") || md.contains("| 2026-03-02 |"),
        "{md}"
    );

    // HTML: tiles, a bar per day, the description escaped, nothing external.
    let html = std::fs::read_to_string(dir.join("c1.html")).unwrap();
    assert!(
        html.contains(r#"<div class="label">Messages sent</div><div class="value">6</div>"#),
        "{html}"
    );
    assert!(html.contains(r#"<div class="value">71.43%</div>"#));
    // The daily average of endpoint deliveries, (3 + 2 + 0) / 3, as the CLI rounds it.
    assert!(
        html.contains(
            r#"<div class="label">Endpoint deliveries</div><div class="value">1.7</div>"#
        ),
        "{html}"
    );
    assert_eq!(html.matches(r#"<rect class="bar""#).count(), 3);
    assert!(html.contains("Campaign C1 &lt;by hand&gt;"));
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
    assert!(html.contains(r#"name="viewport""#) && html.contains("@media print"));
}

#[test]
fn a_campaign_id_with_a_quote_is_bound_as_one_value() {
    // C1's events again under the id `it's "C1"; DROP TABLE events; --`.
    let ws = fixture_workspace();
    let evil = r#"it's "C1"; DROP TABLE events; --"#;
    let lines: String = fixture()
        .into_iter()
        .filter(|e| e["attributes"]["campaign_id"] == "C1")
        .map(|mut e| {
            e["attributes"]["campaign_id"] = Value::from(evil);
            if let Some(m) = e.pointer_mut("/facets/email_channel/mail_event/mail/message_id") {
                *m = Value::from(format!("Q{}", m.as_str().unwrap()));
            }
            format!("{e}\n")
        })
        .collect();
    let file = ws.scratch("quoted").join("events.json");
    write_file(&file, lines.as_bytes());
    ws.ingest(&[&file]);
    ws.report("c1", C1_REPORT);
    let param = format!("campaign_id={evil}");
    let out = ws.ok(&[
        "report",
        "run",
        "c1",
        "--for",
        "2026-03-01",
        "--param",
        &param,
        "--format",
        "csv,json",
    ]);
    assert!(out.contains("succeeded"), "{out}");
    let dir = ws.out("c1", "2026-03-01");
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let json = files
        .iter()
        .find(|f| f.ends_with(".json"))
        .expect("a json output");
    assert!(
        !json.contains('\'') && !json.contains('"') && !json.contains(' '),
        "{json}"
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(dir.join(json)).unwrap()).unwrap();
    assert_eq!(doc["params"]["campaign_id"], evil);
    // Sent on 1 March: R1's M1..M4 (4 sent, 3 delivered).
    assert_eq!(doc["sections"][0]["rows"][0]["messages_sent"], 4);
    assert_eq!(doc["sections"][0]["rows"][0]["messages_delivered"], 3);
    // The table is still there and still holds the quoted campaign.
    assert_eq!(ws.count(&format!("SELECT count(DISTINCT message_key) FROM message_facts WHERE sent AND campaign_id = '{}'", evil.replace('\'', "''"))), 6);
    // A parameter the report does not declare is refused.
    let bad = ws.sendlens(&[
        "report",
        "run",
        "c1",
        "--for",
        "2026-03-01",
        "--param",
        "campaign=C1",
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("has no parameter campaign (it has: campaign_id)")
    );
}

#[test]
fn rerunning_a_period_replaces_its_outputs_with_the_same_content() {
    let ws = fixture_workspace();
    ws.report("c1", C1_REPORT);
    ws.ok(&["report", "run", "c1", "--for", "2026-03-01"]);
    let dir = ws.out("c1", "2026-03-01");
    let first: Vec<(PathBuf, Vec<u8>)> = files(&dir);
    ws.ok(&["report", "run", "c1", "--for", "2026-03-01"]);
    assert_eq!(files(&dir), first, "same files, same bytes");
    let runs = ws.runs();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["content_hash"], runs[1]["content_hash"]);
    assert_eq!(runs[0]["state"], "succeeded");
    assert_eq!(runs[0]["rows"], 2);
    assert_eq!(runs[0]["outputs"].as_array().unwrap().len(), 7);
    // A dry run plans and writes nothing.
    let dry = ws.ok(&["report", "run", "c1", "--for", "2026-03-02", "--dry-run"]);
    assert!(dry.contains("2 statements planned"), "{dry}");
    assert!(!ws.out("c1", "2026-03-02").exists());
    assert_eq!(ws.runs().len(), 2);
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    v.sort();
    v
}

/// A report of `query` that runs daily at 06:00 UTC for the day before,
/// written as CSV.
fn daily_report(query: &str, catch_up: bool) -> String {
    format!(
        "query = \"{query}\"\nformats = [\"csv\"]\ncatch_up = {catch_up}\n[schedule]\ncron = \"0 6 * * *\"\n[period]\nevery = \"day\"\n"
    )
}

const SENT_PER_PERIOD: &str = "SELECT $period AS period, count(*) AS sent FROM message_facts WHERE sent AND local_date(sent_at, $time_zone) BETWEEN $start AND $end";

#[test]
fn the_scheduler_catches_up_after_a_gap_and_backfills() {
    let ws = fixture_workspace().without_shipped_reports();
    ws.report("daily", &daily_report(SENT_PER_PERIOD, true));
    ws.report("latest", &daily_report(SENT_PER_PERIOD, false));
    // First tick: each report runs its latest firing (2 March 06:00 → 1 March).
    let out = ws.ok(&["schedule", "tick", "--now", "2026-03-02T07:00:00Z"]);
    assert!(
        out.contains("daily 2026-03-01") && out.contains("latest 2026-03-01"),
        "{out}"
    );
    assert_eq!(
        ws.read("daily", "2026-03-01", "daily.csv"),
        // 1 March: M1..M4, S1, S2, C3's two pushes, T1, JM1, TS1.
        "period,sent\n2026-03-01,11\n"
    );
    // Down for three days: the catch-up report runs every missed day, the
    // other only the latest.
    ws.ok(&["schedule", "tick", "--now", "2026-03-05T07:00:00Z"]);
    let runs = ws.runs();
    let s = |p: &str, t: &str| (p.to_string(), t.to_string(), "succeeded".to_string());
    assert_eq!(
        states(&runs, "daily"),
        [
            s("2026-03-01", "schedule"),
            s("2026-03-02", "catch-up"),
            s("2026-03-03", "catch-up"),
            s("2026-03-04", "schedule")
        ]
    );
    assert_eq!(
        states(&runs, "latest"),
        [s("2026-03-01", "schedule"), s("2026-03-04", "schedule")]
    );
    let caught = runs
        .iter()
        .find(|r| r["report"] == "daily" && r["period"] == "2026-03-02")
        .unwrap();
    assert_eq!(caught["scheduled_for"], "2026-03-03T06:00:00Z");
    // Nothing twice.
    assert!(
        ws.ok(&["schedule", "tick", "--now", "2026-03-05T07:30:00Z"])
            .contains("nothing due")
    );
    // Backfill: every day of a range, each its own run.
    let out = ws.ok(&[
        "report",
        "backfill",
        "daily",
        "--from",
        "2026-02-27",
        "--to",
        "2026-03-01",
    ]);
    assert!(out.contains("3 periods"), "{out}");
    assert!(ws.out("daily", "2026-02-27").join("daily.csv").is_file());
    assert_eq!(
        ws.runs()
            .iter()
            .filter(|r| r["trigger"] == "backfill")
            .count(),
        3
    );
    let history = ws.ok(&["report", "history", "daily"]);
    assert!(
        history.contains("catch-up") && history.contains("2026-03-03 06:00"),
        "{history}"
    );
}

#[test]
fn a_failing_report_is_recorded_and_the_others_still_run() {
    let ws = fixture_workspace().without_shipped_reports();
    ws.report("daily", &daily_report(SENT_PER_PERIOD, false));
    ws.report(
        "broken",
        &daily_report(
            &SENT_PER_PERIOD.replace("FROM message_facts", "FROM no_such_table"),
            false,
        ),
    );
    write_file(
        &ws.path().join("reports/garbled.toml"),
        b"query = \"SELECT 1\"\n[period\n",
    );
    let out = ws.sendlens(&["schedule", "tick", "--now", "2026-03-02T07:00:00Z"]);
    assert!(!out.status.success(), "a failed run makes the tick fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("report garbled is invalid"), "{stderr}");
    let runs = ws.runs();
    assert_eq!(states(&runs, "daily")[0].2, "succeeded");
    let broken = runs.iter().find(|r| r["report"] == "broken").unwrap();
    assert_eq!(broken["state"], "failed");
    assert!(
        broken["error"].as_str().unwrap().contains("no_such_table"),
        "{broken}"
    );
    assert!(
        ws.ok(&["report", "list"])
            .contains("garbled (invalid, not scheduled)")
    );
    // Mend it; retry runs the failed run only, then there is nothing to retry.
    ws.report("broken", &daily_report(SENT_PER_PERIOD, false));
    let out = ws.ok(&["report", "retry"]);
    assert!(
        out.contains("broken 2026-03-01") && !out.contains("daily 2026-03-01"),
        "{out}"
    );
    let runs = ws.runs();
    let last = runs.last().unwrap();
    assert_eq!(
        (last["trigger"].as_str(), last["state"].as_str()),
        (Some("retry"), Some("succeeded"))
    );
    assert_eq!(last["scheduled_for"], "2026-03-02T06:00:00Z");
    assert!(ws.ok(&["report", "retry"]).contains("nothing to retry"));
}

const SLOW_QUERY: &str = "SELECT count(*) AS n FROM generate_series(1, 100000000000)";

#[test]
fn a_killed_run_leaves_no_lock_and_no_partial_output() {
    let ws = fixture_workspace();
    ws.report("slow", &daily_report(SLOW_QUERY, false));
    let mut child = ws.spawn(&["report", "run", "slow", "--for", "2026-03-01"]);
    wait_for("the run to start", Duration::from_secs(60), || {
        ledger_text(&ws).contains("\"state\":\"running\"")
    });
    // The same period cannot run twice at once.
    let second = ws.ok(&["report", "run", "slow", "--for", "2026-03-01"]);
    assert!(second.contains("already running"), "{second}");
    child.kill().unwrap();
    child.wait().unwrap();
    let runs = ws.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "interrupted");
    // The lock died with the process: the period runs again at once.
    ws.report(
        "slow",
        &daily_report(&SLOW_QUERY.replace("100000000000", "10"), false),
    );
    let out = ws.ok(&["report", "retry"]);
    assert!(
        out.contains("slow 2026-03-01 (2026-03-01 to 2026-03-01): succeeded"),
        "{out}"
    );
    assert_eq!(ws.read("slow", "2026-03-01", "slow.csv"), "n\n10\n");

    // Killed while writing a large output: the file is either absent or whole.
    ws.report(
        "big",
        &daily_report("SELECT value FROM generate_series(1, 2000000)", false),
    );
    let target = ws.out("big", "2026-03-01").join("big.csv");
    for delay in [300, 700, 1200, 2000] {
        let mut child = ws.spawn(&["report", "run", "big", "--for", "2026-03-01"]);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().unwrap();
        if let Ok(text) = std::fs::read_to_string(&target) {
            assert_eq!(
                text.lines().count(),
                2_000_001,
                "a partial file after a kill at {delay} ms"
            );
        }
    }
    ws.ok(&["report", "run", "big", "--for", "2026-03-01"]);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap().lines().count(),
        2_000_001
    );
    let names: Vec<String> = std::fs::read_dir(target.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["big.csv"], "no temporary files left");
}

#[test]
fn the_scheduler_stops_cleanly_on_sigterm() {
    let ws = fixture_workspace().without_shipped_reports();
    // Both are due at start (latest firing); `a_fast` runs first, then the
    // slow one is cancelled by SIGTERM.
    ws.report("a_fast", &daily_report(SENT_PER_PERIOD, false));
    ws.report("z_slow", &daily_report(SLOW_QUERY, false));
    let child = ws.spawn(&["schedule", "run"]);
    wait_for("the slow run to start", Duration::from_secs(60), || {
        ledger_text(&ws).contains("\"report\":\"z_slow\"")
    });
    // A cron-driven pass meanwhile leaves everything to the running one.
    let other = ws.ok(&["schedule", "tick"]);
    assert!(
        other.contains("scheduler pass") && other.contains("already running"),
        "{other}"
    );
    // And no pass may run periods that are not over yet.
    let future = ws.sendlens(&["schedule", "tick", "--now", "2099-01-01T00:00:00Z"]);
    assert!(!future.status.success());
    assert!(String::from_utf8_lossy(&future.stderr).contains("in the future"));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "shutdown took {:?}",
        start.elapsed()
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("scheduler started") && stdout.contains("scheduler stopped"),
        "{stdout}"
    );
    let runs = ws.runs();
    assert_eq!(states(&runs, "a_fast")[0].2, "succeeded");
    assert_eq!(states(&runs, "z_slow")[0].2, "cancelled");
    // The slow firing was not marked done: the next pass runs it again.
    ws.report(
        "z_slow",
        &daily_report(&SLOW_QUERY.replace("100000000000", "10"), false),
    );
    let now = runs[0]["scheduled_for"]
        .as_str()
        .unwrap()
        .replace("06:00:00Z", "06:00:30Z");
    let out = ws.ok(&["schedule", "tick", "--now", &now]);
    assert!(
        out.contains("z_slow") && out.contains("succeeded") && !out.contains("a_fast"),
        "{out}"
    );
}

#[test]
fn a_run_for_one_campaign_replaces_only_its_own_outputs() {
    let ws = fixture_workspace();
    let period = ["--from", "2026-03-01", "--to", "2026-03-03"];
    let run = |extra: &[&str]| {
        let mut args = vec!["report", "run", "campaign_page"];
        args.extend_from_slice(&period);
        args.extend_from_slice(extra);
        ws.ok(&args)
    };
    run(&[]);
    let dir = ws.out("campaign_page", "2026-03-01_2026-03-03");
    let all = files(&dir);
    assert!(all.len() > 6, "several campaigns' pages: {}", all.len());
    // The README's own run for one campaign of that period.
    run(&["--param", "campaign_id=C2"]);
    assert_eq!(files(&dir), all, "every page is still there, unchanged");
    // Fewer formats for that one campaign: its other files go, no one else's.
    run(&["--param", "campaign_id=C2", "--format", "csv"]);
    let now = files(&dir);
    let names = |v: &[(PathBuf, Vec<u8>)]| -> Vec<String> {
        v.iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let gone: Vec<String> = names(&all)
        .into_iter()
        .filter(|n| !names(&now).contains(n))
        .collect();
    assert!(
        !gone.is_empty() && gone.iter().all(|n| n.starts_with("C2.")),
        "{gone:?}"
    );
    assert!(names(&now).iter().any(|n| n.starts_with("C1.")));
    // Every file the ledger's latest run of each campaign lists exists.
    for r in ws.runs() {
        if r["state"] != "succeeded" {
            continue;
        }
        let last_for_c2 =
            r["params"]["campaign_id"] == "C2" && r["formats"] == serde_json::json!(["csv"]);
        if last_for_c2 {
            for o in r["outputs"].as_array().unwrap() {
                assert!(Path::new(o.as_str().unwrap()).is_file(), "{o}");
            }
        }
    }
}

#[test]
fn a_scheduler_firing_that_meets_a_manual_run_waits_and_then_runs() {
    let ws = fixture_workspace().without_shipped_reports();
    // Slow only when the manual run asks for many rows.
    ws.report(
        "count",
        "query = \"SELECT count(*) AS n FROM generate_series(1, $n)\"\nformats = [\"csv\"]\n\
         [schedule]\ncron = \"0 6 * * *\"\n[period]\nevery = \"day\"\n\
         [params.n]\ntype = \"integer\"\ndefault = 10\n",
    );
    let mut manual = ws.spawn(&[
        "report",
        "run",
        "count",
        "--for",
        "2026-03-01",
        "--param",
        "n=100000000000",
    ]);
    wait_for("the manual run to start", Duration::from_secs(60), || {
        ledger_text(&ws).contains("\"state\":\"running\"")
    });
    let tick = ws.spawn(&["schedule", "tick", "--now", "2026-03-02T07:00:00Z"]);
    wait_for("the firing to wait", Duration::from_secs(60), || {
        ledger_text(&ws).contains("\"state\":\"waiting\"")
    });
    let waiting = ws.runs();
    let w = waiting.iter().find(|r| r["trigger"] == "schedule").unwrap();
    assert_eq!(w["state"], "waiting");
    assert!(w["error"].as_str().unwrap().contains("waiting for"), "{w}");
    // The manual run ends (here: killed); the firing runs.
    manual.kill().unwrap();
    manual.wait().unwrap();
    let out = tick.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = ws.runs();
    assert_eq!(
        states(&runs, "count"),
        [
            ("2026-03-01".into(), "manual".into(), "interrupted".into()),
            ("2026-03-01".into(), "schedule".into(), "succeeded".into())
        ]
    );
    assert_eq!(ws.read("count", "2026-03-01", "count.csv"), "n\n10\n");
    // Its firing is done: the next pass has nothing to do.
    assert!(
        ws.ok(&["schedule", "tick", "--now", "2026-03-02T07:30:00Z"])
            .contains("nothing due")
    );
}

#[test]
fn the_html_page_renders_in_chromium_with_its_text_and_charts() {
    let ws = fixture_workspace();
    ws.ok(&[
        "report",
        "run",
        "campaign_page",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-03",
        "--param",
        "campaign_id=C1",
        "--format",
        "html",
    ]);
    let page = ws
        .out("campaign_page", "2026-03-01_2026-03-03")
        .join("C1.html");
    let profile = ws.scratch("chromium");
    let url = format!("file://{}", page.display());

    // The DOM as Chromium parsed it: the text and the chart elements.
    let dom = headless(&profile, &url, &["--dump-dom".to_string()]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    for text in [
        "Campaign page",
        "Delivery counts and rates",
        "Messages sent",
        "71.43%",
        "Endpoint deliveries per day",
        "Opens and clicks per day",
        "Rates per run",
        "Campaign runs",
        "R1",
        "R2",
    ] {
        assert!(dom.contains(text), "{text} missing from the rendered page");
    }
    assert_eq!(dom.matches("class=\"chart chart-bars\"").count(), 2);
    assert_eq!(dom.matches("class=\"chart chart-lines\"").count(), 1);

    // A phone-sized screenshot: the page draws, and the chart colours are on it.
    let shot = ws.scratch("shot").join("page.png");
    headless(
        &profile,
        &url,
        &[
            "--window-size=412,2400".to_string(),
            format!("--screenshot={}", shot.display()),
        ],
    );
    let (width, height, channels, pixels) = decode_png(&std::fs::read(&shot).unwrap());
    assert_eq!((width, height), (412, 2400));
    let count = |rgb: [u8; 3]| {
        pixels
            .chunks(channels)
            .filter(|p| p[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 8))
            .count()
    };
    // Bars and the first line in the first colour (#2f6fde), the second
    // series in the second (#e07b00), tiles in their grey.
    assert!(
        count([0x2f, 0x6f, 0xde]) > 500,
        "no chart colour on the screenshot"
    );
    assert!(
        count([0xe0, 0x7b, 0x00]) > 50,
        "no second series on the screenshot"
    );
    assert!(
        count([0xf5, 0xf7, 0xfa]) > 5_000,
        "no tiles on the screenshot"
    );

    // Printed through Chromium's print path (the page's print styles).
    let pdf = ws.scratch("shot").join("page.pdf");
    headless(
        &profile,
        &url,
        &[
            "--no-pdf-header-footer".to_string(),
            format!("--print-to-pdf={}", pdf.display()),
        ],
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(
        bytes.starts_with(b"%PDF") && bytes.len() > 10_000,
        "{} bytes",
        bytes.len()
    );
}
