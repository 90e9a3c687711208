//! Malformed input of every kind: each bad record is rejected with its
//! position and reason, good records around it are stored, nothing panics.

use crate::support::{Ws, gzip, rejected_lines, write_file};

const GOOD: &str = r#"{"event_type":"_email.send","event_timestamp":1700000000000,"arrival_timestamp":1700000000100,"client":{"client_id":"e1"},"attributes":{"campaign_id":"c1","campaign_activity_id":"r1","treatment_id":"0"},"facets":{"email_channel":{"mail_event":{"mail":{"message_id":"m1","destination":["a@example.com"]}}}}}"#;

fn good(n: u32) -> String {
    GOOD.replace("\"m1\"", &format!("\"m{n}\""))
}

#[test]
fn truncated_gzip_keeps_what_came_before() {
    let ws = Ws::new();
    let text: String = (0..200).map(|i| good(i) + "\n").collect();
    let gz = gzip(text.as_bytes());
    let cut = &gz[..gz.len() * 2 / 3];
    let path = ws.scratch("in").join("cut.json.gz");
    write_file(&path, cut);
    let s = ws.ingest(&[&path]);
    let stored = s["stored"].as_u64().unwrap();
    assert!(stored > 50 && stored < 200, "{s}");
    assert_eq!(s["rejected"], 1, "the record cut in half: {s}");
    assert!(
        s["warnings"][0].as_str().unwrap().contains("ended early"),
        "{s}"
    );
    let r = &rejected_lines(&ws)[0];
    assert!(r["reason"].as_str().unwrap().contains("cut short"), "{r}");
    assert_eq!(r["line"].as_u64().unwrap(), stored + 1);
}

#[test]
fn binary_garbage_is_rejected_line_by_line() {
    let ws = Ws::new();
    // Deterministic noise with newlines, NULs and invalid UTF-8.
    let mut x: u32 = 12345;
    let bytes: Vec<u8> = (0..200_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    let path = ws.scratch("in").join("noise.bin");
    write_file(&path, &bytes);
    let s = ws.ingest(&[&path]);
    assert_eq!(s["stored"], 0);
    let lines = bytes
        .split(|&b| b == b'\n')
        .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
        .count() as u64;
    assert_eq!(s["rejected"].as_u64().unwrap(), lines, "{s}");
    let rejected = rejected_lines(&ws);
    assert!(rejected.iter().any(|r| r.get("record_base64").is_some()));
    assert!(
        rejected
            .iter()
            .all(|r| r["reason"].as_str().is_some() && r["offset"].as_u64().is_some())
    );
}

#[test]
fn a_50_mb_line_is_rejected_without_losing_its_neighbours() {
    let ws = Ws::new();
    let mut text = good(1);
    text.push('\n');
    text.push_str("{\"event_type\":\"");
    text.push_str(&"x".repeat(50 << 20));
    text.push_str("\"}\n");
    text.push_str(&good(2));
    text.push('\n');
    let path = ws.scratch("in").join("big.json");
    write_file(&path, text.as_bytes());
    let s = ws.ingest(&[&path]);
    assert_eq!(
        (s["stored"].as_u64(), s["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{s}"
    );
    let r = &rejected_lines(&ws)[0];
    assert!(r["reason"].as_str().unwrap().contains("too large"), "{r}");
    assert_eq!(r["line"], 2);
    assert_eq!(r["offset"].as_u64().unwrap(), good(1).len() as u64 + 1);
}

#[test]
fn wrong_types_and_shapes() {
    let ws = Ws::new();
    let bad = [
        GOOD.replace("1700000000100", "\"soon\""),
        GOOD.replace("\"client_id\":\"e1\"", "\"client_id\":17"),
        GOOD.replace("\"facets\"", "\"metrics\":{\"price\":\"cheap\"},\"facets\""),
        GOOD.replace(
            "\"attributes\":{",
            "\"attributes\":{\"number_of_message_parts\":\"two\",",
        ),
        "{\"eventType\":\"Bounce\"}".to_string(),
        "[1,2,3]".to_string(),
        "42".to_string(),
        "{\"hello\":\"world\"}".to_string(),
        GOOD[..GOOD.len() - 10].to_string(),
    ];
    let mut text = String::new();
    for (i, b) in bad.iter().enumerate() {
        text.push_str(&good(i as u32));
        text.push('\n');
        text.push_str(b);
        text.push('\n');
    }
    let path = ws.scratch("in").join("mixed.json");
    write_file(&path, text.as_bytes());
    let s = ws.ingest(&[&path]);
    assert_eq!(s["stored"].as_u64().unwrap(), bad.len() as u64, "{s}");
    assert_eq!(s["rejected"].as_u64().unwrap(), bad.len() as u64, "{s}");
    let rejected = rejected_lines(&ws);
    let lines: Vec<u64> = rejected
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lines,
        (1..=bad.len() as u64).map(|i| 2 * i).collect::<Vec<_>>()
    );
    for (r, b) in rejected.iter().zip(&bad) {
        assert_eq!(r["record"].as_str().unwrap(), b.as_str());
        assert!(!r["reason"].as_str().unwrap().is_empty());
    }
}

#[test]
fn invalid_utf8_is_kept_as_base64() {
    let ws = Ws::new();
    let mut bytes = good(1).into_bytes();
    bytes.push(b'\n');
    bytes.extend_from_slice(b"{\"event_type\":\"_email.open\xff\xfe\"}\n");
    let path = ws.scratch("in").join("latin1.json");
    write_file(&path, &bytes);
    let s = ws.ingest(&[&path]);
    assert_eq!(
        (s["stored"].as_u64(), s["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    let r = &rejected_lines(&ws)[0];
    assert!(r["reason"].as_str().unwrap().contains("UTF-8"));
    assert!(r["record_base64"].as_str().is_some());
}

#[test]
fn concatenated_records_crlf_and_blank_lines() {
    let ws = Ws::new();
    let dir = ws.scratch("in");
    // Firehose without a delimiter: objects back to back.
    write_file(
        &dir.join("a"),
        format!("{}{}{}", good(1), good(2), good(3)).as_bytes(),
    );
    // Windows line endings and blank lines.
    write_file(
        &dir.join("b.json"),
        format!("{}\r\n\r\n\n{}\r\n", good(4), good(5)).as_bytes(),
    );
    // A line holding two records in an otherwise line-delimited file.
    write_file(
        &dir.join("c.json"),
        format!("{}\n{}{}\n", good(6), good(7), good(8)).as_bytes(),
    );
    // Empty and whitespace-only files hold no records.
    write_file(&dir.join("d.json"), b"");
    write_file(&dir.join("e.json"), b"\n \n");
    let s = ws.ingest(&[&dir]);
    assert_eq!(s["stored"], 8, "{s}");
    assert_eq!(s["records"], 8, "{s}");
    assert_eq!(
        ws.count("SELECT COUNT(DISTINCT message_key) FROM events"),
        8
    );
}

#[test]
fn missing_input_is_a_clear_error() {
    let ws = Ws::new();
    let wsp = ws.path();
    let out = crate::support::bin()
        .args([
            "--workspace",
            wsp.to_str().unwrap(),
            "ingest",
            "/nonexistent/exports",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/exports"), "{err}");
}
