//! The SQL shell, driven like a person at a terminal (in a pseudo-terminal)
//! and like a script.

use std::process::{Command, Stdio};
use std::time::Duration;

use expectrl::{Regex, Session};

use crate::metrics::fixture_workspace;
use crate::support::{Ws, bin};

/// A shell in a pseudo-terminal, at its first prompt.
fn open(ws: &Ws) -> Session {
    open_with(ws, &["shell"])
}

fn open_with(ws: &Ws, args: &[&str]) -> Session {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sendlens"));
    cmd.args(["--workspace", ws.path().to_str().unwrap()])
        .args(args)
        .current_dir(ws.dir.path())
        .env("HOME", ws.dir.path())
        .env("TERM", "xterm")
        .env("COLUMNS", "150");
    let mut s = Session::spawn(cmd).expect("a pty");
    s.set_expect_timeout(Some(Duration::from_secs(120)));
    s.expect("sendlens> ").expect("the prompt");
    s
}

fn quit(mut s: Session) {
    s.send("\\q\r").unwrap();
    s.expect(expectrl::Eof).expect("the shell ends on \\q");
}

#[test]
fn multi_line_statement_shows_an_aligned_table() {
    let ws = fixture_workspace();
    let mut s = open(&ws);
    s.send("SELECT campaign_id, messages_sent,\r").unwrap();
    s.send("       delivery_rate\r").unwrap();
    s.send("FROM campaign_metrics WHERE campaign_id = 'C1';\r")
        .unwrap();
    // 6 messages sent; delivery rate 5/7 as a percentage.
    s.expect(Regex(r"C1\s+\|\s+6\s+\|\s+71\.43%"))
        .expect("the C1 row");
    s.expect(Regex(r"\(1 row, [0-9.]+ s\)"))
        .expect("row count and time");
    quit(s);
}

#[test]
fn tab_completes_a_column_of_the_table_in_the_statement() {
    let ws = fixture_workspace();
    let mut s = open(&ws);
    s.send("SELECT campaign_id FROM campaign_metrics WHERE click_to_open_r")
        .unwrap();
    s.send("\t").unwrap();
    s.expect("click_to_open_rate")
        .expect("the column completed");
    s.send(" > 0.2;\r").unwrap();
    // Only C1 has clicks: 1 of 4 openers (0.25).
    s.expect(Regex(r"C1\s*\r?\n")).expect("C1");
    s.expect("(1 row").expect("one row");
    quit(s);
}

#[test]
fn a_result_wider_than_the_terminal_shows_as_records_and_columns_complete_before_from() {
    let ws = fixture_workspace();
    let mut s = open(&ws);
    // The SELECT list first: a catalog measure completes with no FROM yet.
    s.send("SELECT campaign_id, unique_open_e").unwrap();
    s.send("\t").unwrap();
    s.expect("unique_open_endpoints")
        .expect("the measure completed");
    s.send(" FROM campaign_metrics WHERE campaign_id = 'C1';\r")
        .unwrap();
    // Two columns fit: a table.
    s.expect(Regex(r"C1\s+\|\s+\d+")).expect("a table row");
    // About fifty columns do not: one field per line.
    s.send("SELECT * FROM campaign_runs('C1');\r").unwrap();
    s.expect("-[ RECORD 1 ]").expect("records");
    s.expect(Regex(r"run_id\s+\| \S+"))
        .expect("a field of the record");
    s.send("\\x off\r").unwrap();
    s.expect("expanded: off").expect("\\x off");
    s.send("SELECT * FROM campaign_runs('C1');\r").unwrap();
    s.expect(Regex(r" run_id +\|"))
        .expect("a table header again");
    quit(s);
}

#[test]
fn ctrl_c_cancels_a_slow_query_and_the_shell_goes_on() {
    let ws = fixture_workspace();
    let mut s = open(&ws);
    s.send("SELECT count(*) FROM generate_series(1, 100000000000) a WHERE a.value % 7 = 3;\r")
        .unwrap();
    // After a second the terminal shows the query is running.
    s.expect(Regex(r"running \d+s"))
        .expect("a progress indicator");
    s.send([3u8]).unwrap(); // Ctrl-C
    s.expect("query cancelled").expect("the query is cancelled");
    s.expect("sendlens> ").expect("a new prompt");
    s.send("SELECT 40 + 2 AS answer;\r").unwrap();
    s.expect(Regex(r"answer\s*\r?\n-+\s*\r?\n\s+42"))
        .expect("the next query runs");
    quit(s);
}

#[test]
fn output_to_a_file_with_backslash_o() {
    let ws = fixture_workspace();
    let out = ws.dir.path().join("campaigns.csv");
    let mut s = open(&ws);
    s.send(format!("\\o {}\r", out.display())).unwrap();
    s.expect("results go to").unwrap();
    s.send("\\format csv\r").unwrap();
    s.expect("format: csv").unwrap();
    s.send("SELECT campaign_id, messages_sent FROM campaign_metrics ORDER BY campaign_id;\r")
        .unwrap();
    s.expect("3 rows written to").expect("the file summary");
    s.send("\\o\r").unwrap();
    s.expect("terminal again").unwrap();
    quit(s);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text, "campaign_id,messages_sent\nC1,6\nC2,2\nC3,2\n");
}

#[test]
fn meta_commands_describe_the_catalog() {
    let ws = fixture_workspace();
    // `sendlens` alone, in a terminal, is the shell.
    let mut s = open_with(&ws, &[]);
    s.send("\\d campaign_metrics\r").unwrap();
    s.expect(Regex(r"email_open_rate\s+\|\s+Float64")).unwrap();
    s.send("\\df email_open_rate\r").unwrap();
    s.expect("[aggregate] email_open_rate(").unwrap();
    s.send("\\metrics bounce\r").unwrap();
    s.expect("hard_bounces").unwrap();
    // Long results are cut on the terminal, with a note.
    s.send("\\maxrows 2\r").unwrap();
    s.expect("maxrows: 2").unwrap();
    s.send("SELECT campaign_id FROM campaign_metrics;\r")
        .unwrap();
    s.expect("showing 2 of 3 rows").expect("the cut is said");
    s.send("SELECT * FROM campain_metrics;\r").unwrap();
    s.expect("did you mean campaign_metrics")
        .expect("a suggestion");
    s.expect("sendlens> ").expect("the shell stays");
    quit(s);
}

fn run_shell(ws: &Ws, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = bin()
        .args(["--workspace", ws.path().to_str().unwrap(), "shell"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn scripts_run_from_c_f_and_stdin() {
    let ws = fixture_workspace();
    let (ok, out, _) = run_shell(
        &ws,
        &[
            "-c",
            "SELECT 1 AS a",
            "-c",
            "\\format csv",
            "-c",
            "SELECT 2 AS b; SELECT 3 AS c",
        ],
        "",
    );
    assert!(ok);
    assert_eq!(out, " a\n---\n 1\n(1 row)\nformat: csv\nb\n2\nc\n3\n");

    let (ok, out, _) = run_shell(
        &ws,
        &["--format", "ndjson"],
        "-- piped\nSELECT campaign_id FROM campaign_metrics\n ORDER BY 1 LIMIT 2;\nSELECT 'x;y' AS s;",
    );
    assert!(ok);
    assert_eq!(
        out,
        "{\"campaign_id\":\"C1\"}\n{\"campaign_id\":\"C2\"}\n{\"s\":\"x;y\"}\n"
    );

    let rc = ws.dir.path().join("rc");
    std::fs::write(&rc, "\\format csv\n\\timing off\n").unwrap();
    let (ok, out, _) = run_shell(
        &ws,
        &["--rc", rc.to_str().unwrap(), "-c", "SELECT 5 AS five"],
        "",
    );
    assert!(ok);
    assert_eq!(out, "format: csv\ntiming: off\nfive\n5\n");

    // An empty result still has its header; \g sends one result to a file.
    let g = ws.dir.path().join("seven.txt");
    let (ok, out, err) = run_shell(
        &ws,
        &[
            "--format",
            "csv",
            "-c",
            "SELECT campaign_id FROM campaign_metrics WHERE false",
            "-c",
            &format!(
                "-- a comment\n\\format table\nSELECT 7 AS seven \\g {}",
                g.display()
            ),
        ],
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(
        out,
        format!(
            "campaign_id\nformat: table\n(1 row written to {})\n",
            g.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&g).unwrap(),
        " seven\n-------\n     7\n"
    );

    // A file that includes itself stops with an error, not a crash.
    let looped = ws.dir.path().join("loop.sql");
    std::fs::write(&looped, format!("\\i {}\n", looped.display())).unwrap();
    let (ok, _, err) = run_shell(&ws, &["-f", looped.to_str().unwrap()], "");
    assert!(!ok);
    assert!(err.contains("more than 16 deep"), "{err}");

    let file = ws.dir.path().join("q.sql");
    std::fs::write(&file, "\\format tsv\nSELECT campaign_id, messages_sent FROM campaign_metrics WHERE campaign_id = 'C2';\n").unwrap();
    let (ok, out, _) = run_shell(&ws, &["-f", file.to_str().unwrap()], "");
    assert!(ok);
    assert_eq!(out, "format: tsv\ncampaign_id\tmessages_sent\nC2\t2\n");
}

#[test]
fn errors_point_into_the_statement_and_exit_1() {
    let ws = fixture_workspace();
    let (ok, out, err) = run_shell(
        &ws,
        &[
            "-c",
            "SELECT campaign_id,\n       nope FROM campaign_metrics",
            "-c",
            "SELECT 1",
        ],
        "",
    );
    assert!(!ok, "exit code 1");
    assert_eq!(out, "", "stops at the first error");
    assert!(err.contains("nope"), "{err}");
    assert!(
        err.contains("LINE 2:        nope FROM campaign_metrics\n"),
        "{err}"
    );
    assert!(err.contains("\n               ^"), "{err}");

    let (ok, _, err) = run_shell(&ws, &[], "SELECT * FROM campaign_metric;");
    assert!(!ok);
    assert!(err.contains("did you mean campaign_metrics"), "{err}");

    let (ok, _, err) = run_shell(&ws, &[], "SELEC 1;");
    assert!(!ok);
    assert!(err.contains("LINE 1: SELEC 1\n"), "{err}");
}

#[test]
fn memory_limit_spills_instead_of_failing() {
    let ws = Ws::new();
    // The window needs the 3 M rows sorted: about 24 MB, over the limit.
    let sql = "SELECT max(rn) AS n FROM (SELECT row_number() OVER (ORDER BY value DESC) rn \
               FROM generate_series(1, 3000000))";
    let (ok, out, err) = run_shell(
        &ws,
        &["--memory-limit", "20M", "--format", "csv", "-c", sql],
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "n\n3000000\n");
    let explain = format!("EXPLAIN ANALYZE {sql}");
    let (ok, out, err) = run_shell(
        &ws,
        &["--memory-limit", "20M", "--format", "csv", "-c", &explain],
        "",
    );
    assert!(ok, "{err}");
    let spilled = out
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|m| m.strip_prefix("spill_count="))
        .any(|n| n.parse::<u64>().unwrap_or(0) > 0);
    assert!(spilled, "the sort spilled to disk:\n{out}");
    let (ok, _, err) = run_shell(&ws, &["--memory-limit", "12Q", "-c", "SELECT 1"], "");
    assert!(!ok);
    assert!(err.contains("unknown unit"), "{err}");
}

#[test]
fn the_shell_keeps_its_version_says_when_there_is_newer_and_refresh_moves_it() {
    let ws = fixture_workspace();
    let mut s = open(&ws);
    s.send("CREATE VIEW mine AS SELECT 'events' AS what, count(*) AS n FROM events;\r")
        .unwrap();
    s.expect("sendlens> ").unwrap();
    s.send("SELECT what, n FROM mine;\r").unwrap();
    let before = s.expect(Regex(r"events\s+\|\s+([\d,]+)\s")).unwrap();
    let before: u64 = String::from_utf8_lossy(before.get(1).unwrap())
        .replace(',', "")
        .parse()
        .unwrap();
    s.expect("sendlens> ").unwrap();
    // Another process adds events, then vacuums what the shell read.
    let more = ws.scratch("more").join("more.json");
    crate::support::write_file(
        &more,
        br#"{"event_type":"_custom.late","arrival_timestamp":1772323200000,"client":{"client_id":"x"}}
"#,
    );
    ws.ingest(&[&more]);
    crate::support::run_ok(&["-w", ws.path().to_str().unwrap(), "optimize"]);
    crate::support::run_ok(&[
        "-w",
        ws.path().to_str().unwrap(),
        "vacuum",
        "--retain-days",
        "0",
    ]);
    s.send("SELECT what, n FROM mine;\r").unwrap();
    s.expect(Regex(&format!(r"events\s+\|\s+{before}\s")))
        .expect("the version it opened");
    s.expect("newer data")
        .expect("a note that there is newer data");
    s.send("\\refresh\r").unwrap();
    s.expect(Regex(r"session moved to table version \d+ \(kept: mine\)"))
        .expect("moved, the view kept");
    s.send("SELECT what, n FROM mine;\r").unwrap();
    s.expect(Regex(&format!(r"events\s+\|\s+{}\s", before + 1)))
        .expect("the new event");
    quit(s);
}

#[test]
fn csv_writes_nested_columns_as_json_and_a_failed_result_leaves_no_file() {
    let ws = fixture_workspace();
    // Every column of `events` and of a compatibility view, maps and lists
    // included, as CSV and TSV.
    for format in ["csv", "tsv"] {
        for sql in [
            "SELECT * FROM events ORDER BY occurred_at LIMIT 3",
            "SELECT * FROM email_send",
        ] {
            let (ok, out, err) = run_shell(&ws, &["--format", format, "-c", sql], "");
            assert!(ok, "{format} {sql}: {err}");
            assert!(out.lines().count() > 1, "{format} {sql}: {out}");
        }
    }
    let (ok, out, err) = run_shell(
        &ws,
        &[
            "--format",
            "csv",
            "-c",
            "SELECT map(['team'], ['growth']) AS tags, ['a', 'b'] AS list",
        ],
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "tags,list\n\"{\"\"team\"\":\"\"growth\"\"}\",\"[\"\"a\"\",\"\"b\"\"]\"\n"
    );

    // A result that fails half way leaves neither the file nor a piece of it.
    let target = ws.dir.path().join("out.csv");
    let (_, _, err) = run_shell(
        &ws,
        &[
            "--format",
            "csv",
            "-c",
            &format!(
                "SELECT CAST(v AS INT) FROM (VALUES ('1'), ('x')) t(v) \\g {}",
                target.display()
            ),
        ],
        "",
    );
    assert!(!err.is_empty());
    assert!(!target.exists());
    let left: Vec<_> = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("out.csv"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // A device is written in place, not replaced.
    let (ok, _, err) = run_shell(&ws, &["-c", "SELECT 1 AS one \\g /dev/null"], "");
    assert!(ok, "{err}");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}
