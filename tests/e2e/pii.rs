//! The workspace PII policy covers typed columns, attributes and the raw text.

use crate::support::{Ws, aws_fixture};

fn ingest_examples(ws: &Ws) {
    let s = ws.ingest(&[
        &aws_fixture("pinpoint-email-click.json"),
        &aws_fixture("ses-open.json"),
        &aws_fixture("pinpoint-sms-success.json"),
    ]);
    assert_eq!(s["stored"], 3);
}

#[test]
fn hash_policy_hashes_every_copy() {
    let ws = Ws::with_init_args(&["--pii", "hash"]);
    ingest_examples(&ws);
    let rows = ws.query("SELECT address, ip_address, raw FROM events WHERE channel = 'email' ORDER BY source_format");
    assert_eq!(rows.len(), 2);
    for r in &rows {
        let address = r["address"].as_str().unwrap();
        assert!(address.starts_with("pii:") && address.len() == 36, "{r}");
        assert!(r["ip_address"].as_str().unwrap().starts_with("pii:"));
        let raw = r["raw"].as_str().unwrap();
        assert!(!raw.contains("recipient@example.com"), "{raw}");
        assert!(
            !raw.contains("72.21.198.67") && !raw.contains("192.0.2.1"),
            "{raw}"
        );
    }
    // The same address hashes the same in both formats, so joins still work.
    assert_eq!(rows[0]["address"], rows[1]["address"]);
    let sms = ws.query("SELECT address, attributes['destination_phone_number'] AS phone FROM events WHERE channel = 'sms'");
    assert!(sms[0]["address"].as_str().unwrap().starts_with("pii:"));
    assert_eq!(sms[0]["address"], sms[0]["phone"]);
}

#[test]
fn drop_policy_removes_values() {
    let ws = Ws::with_init_args(&["--pii", "drop"]);
    ingest_examples(&ws);
    assert_eq!(
        ws.count("SELECT COUNT(*) FROM events WHERE address IS NOT NULL OR ip_address IS NOT NULL"),
        0
    );
    assert_eq!(
        ws.count(
            "SELECT COUNT(*) FROM events WHERE raw LIKE '%@example.com%' OR raw LIKE '%+1425%'"
        ),
        0
    );
}

#[test]
fn keep_policy_stores_as_received() {
    let ws = Ws::new();
    ingest_examples(&ws);
    assert_eq!(
        ws.count("SELECT COUNT(*) FROM events WHERE address = 'recipient@example.com'"),
        2
    );
}
