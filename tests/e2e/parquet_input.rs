//! Firehose's Parquet conversion of the Pinpoint stream is read like JSON.

use std::sync::Arc;

use datafusion::arrow::json::ReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;

use crate::support::{Ws, firehose_schema, rejected_lines};

const ROWS: &str = r#"
{"event_type":"_email.click","event_timestamp":1700000000000,"arrival_timestamp":1700000300000,"event_version":"3.1","application":{"app_id":"app1"},"client":{"client_id":"ep1"},"attributes":{"campaign_id":"c1","campaign_activity_id":"r1","treatment_id":"0"},"awsaccountid":"123456789012","facets":{"email_channel":{"mail_event":{"mail":{"message_id":"m1","message_send_timestamp":1700000000000,"from_address":"a@example.com","destination":["b@example.com"]},"click":{"link":"https://x.example.com/?utm_source=p","ip_address":"192.0.2.7","user_agent":"UA"}}}}}
{"event_type":"_SMS.SUCCESS","event_timestamp":1700000000000,"arrival_timestamp":1700000005000,"event_version":"3.1","application":{"app_id":"app1"},"client":{"client_id":"ep2"},"attributes":{"campaign_id":"c2","campaign_activity_id":"r2","message_id":"s1","record_status":"DELIVERED","iso_country_code":"DE","number_of_message_parts":"2"},"metrics":{"price_in_millicents_usd":2709.0}}
{"event_type":null,"event_timestamp":1700000000000,"arrival_timestamp":1700000005000}
"#;

#[test]
fn firehose_parquet_rows_become_events() {
    let ws = Ws::new();
    let schema = Arc::new(firehose_schema());
    let mut reader = ReaderBuilder::new(schema.clone())
        .build(ROWS.trim().as_bytes())
        .unwrap();
    let batch = reader.next().unwrap().unwrap();
    let path = ws.scratch("in").join("firehose.parquet");
    let mut w = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let s = ws.ingest(&[&path]);
    assert_eq!(
        (s["stored"].as_u64(), s["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{s}"
    );
    let rows = ws.query(
        "SELECT event_type, channel, campaign_id, run_id, message_key, link, address, \
         record_status, message_parts, price_millicents, source_format, \
         CAST(occurred_at AS VARCHAR) AS occurred, CAST(sent_at AS VARCHAR) AS sent \
         FROM events ORDER BY event_type",
    );
    assert_eq!(rows[0]["event_type"], "_SMS.SUCCESS");
    assert_eq!(rows[0]["message_key"], "s1");
    assert_eq!(rows[0]["message_parts"], 2);
    assert_eq!(rows[0]["price_millicents"], 2709.0);
    assert_eq!(rows[0]["record_status"], "DELIVERED");
    assert_eq!(rows[1]["event_type"], "_email.click");
    assert_eq!(rows[1]["channel"], "email");
    assert_eq!(rows[1]["campaign_id"], "c1");
    assert_eq!(rows[1]["run_id"], "r1");
    assert_eq!(rows[1]["message_key"], "m1");
    assert_eq!(rows[1]["address"], "b@example.com");
    assert_eq!(rows[1]["link"], "https://x.example.com/?utm_source=p");
    assert_eq!(rows[1]["source_format"], "firehose_parquet");
    // 1700000300000 ms = 2023-11-14T22:18:20Z; 1700000000000 ms = 22:13:20.
    assert!(
        rows[1]["occurred"]
            .as_str()
            .unwrap()
            .starts_with("2023-11-14T22:18:20"),
        "{}",
        rows[1]
    );
    assert!(
        rows[1]["sent"]
            .as_str()
            .unwrap()
            .starts_with("2023-11-14T22:13:20"),
        "{}",
        rows[1]
    );
    let r = &rejected_lines(&ws)[0];
    assert_eq!(r["row"], 2, "{r}");
}
