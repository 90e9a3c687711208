//! The metric catalog pinned on hand-worked data.
//!
//! The fixture below is small enough to count by hand; every expected value
//! is derived in the comments from the definitions in the metric catalog.
//!
//! Campaign C1 (email), A/B treatments 0 and 1:
//! - run R1, 2026-03-01 10:00 UTC: `_campaign.send` to E1..E5 (E5 DAILY_CAP).
//!   M1 (E1, t0): delivered, machine open 1 s later, human open, 2 clicks.
//!   M2 (E2, t0): soft bounce, then delivered.
//!   M3 (E3, t1): hard bounce.
//!   M4 (E4, t1): delivered; one open next day by an image proxy; unsubscribe.
//! - run R2, 2026-03-02 23:30 UTC (08:30 on 3 March in Tokyo), no
//!   `_campaign.send` at all: M5 (E1, t0) delivered, opened 3 March 01:00 UTC;
//!   M6 (E6, t0) delivered, opened 2 s after delivery.
//! - M7 (E7): an open whose send is not in the data.
//! - The delivery record of M1 appears twice (at-least-once delivery).
//!
//! Campaign C2 (SMS, run R3): targeted E8, E9; S1 buffered then delivered
//! (645 millicents), S2 failed (300 millicents).
//! Campaign C3 (push, run R4): targeted E10, E11 (SUCCESS), E12 (QUIET_TIME);
//! E10 opened the notification.
//! Transactional email T1 (no campaign): sent, delivered, opened. Journey J1
//! (activity JA1): one email delivered, opened and clicked. Transactional SMS
//! TS1 to the US: delivered, two parts, 500 millicents.

use serde_json::{Value, json};

use crate::support::{Ws, write_file};

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

struct Email<'a> {
    campaign: Option<&'a str>,
    run: &'a str,
    treatment: &'a str,
    endpoint: &'a str,
    message: &'a str,
    sent: &'a str,
}

impl Email<'_> {
    fn event(&self, event_type: &str, at: &str, extra: Value) -> Value {
        let mut attributes = json!({});
        if let Some(c) = self.campaign {
            attributes = json!({"campaign_id": c, "campaign_activity_id": self.run, "treatment_id": self.treatment});
        }
        let mut mail_event = json!({"mail": {"message_id": self.message, "from_address": "news@shop.example", "destination": [format!("{}@example.com", self.endpoint)]}});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                mail_event[k] = v;
            }
        }
        json!({
            "event_type": event_type,
            "event_timestamp": ms(self.sent),
            "arrival_timestamp": ms(at),
            "application": {"app_id": "A1"},
            "client": {"client_id": self.endpoint},
            "attributes": attributes,
            "awsAccountId": "123456789012",
            "facets": {"email_channel": {"mail_event": mail_event}}
        })
    }
}

fn campaign_send(
    campaign: &str,
    run: &str,
    treatment: &str,
    endpoint: &str,
    status: &str,
    delivery: &str,
    at: &str,
) -> Value {
    json!({
        "event_type": "_campaign.send",
        "event_timestamp": ms(at),
        "arrival_timestamp": ms(at),
        "application": {"app_id": "A1"},
        "client": {"client_id": endpoint},
        "attributes": {"campaign_id": campaign, "campaign_activity_id": run, "treatment_id": treatment,
                       "campaign_send_status": status, "delivery_type": delivery}
    })
}

#[allow(clippy::too_many_arguments)]
fn sms(
    event_type: &str,
    endpoint: &str,
    message: &str,
    at: &str,
    status: &str,
    country: &str,
    parts: &str,
    price: f64,
) -> Value {
    json!({
        "event_type": event_type,
        "event_timestamp": ms(at),
        "arrival_timestamp": ms(at),
        "application": {"app_id": "A1"},
        "client": {"client_id": endpoint},
        "attributes": {"campaign_id": "C2", "campaign_activity_id": "R3", "treatment_id": "0",
                       "message_id": message, "record_status": status, "iso_country_code": country,
                       "number_of_message_parts": parts, "destination_phone_number": "+15555550100"},
        "metrics": {"price_in_millicents_usd": price}
    })
}

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148";
const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0";

pub(crate) fn fixture() -> Vec<Value> {
    let m = |endpoint, message, run, treatment, sent| Email {
        campaign: Some("C1"),
        run,
        treatment,
        endpoint,
        message,
        sent,
    };
    let r1 = "2026-03-01T10:00:01Z";
    let r2 = "2026-03-02T23:30:00Z";
    let (m1, m2, m3, m4) = (
        m("E1", "M1", "R1", "0", r1),
        m("E2", "M2", "R1", "0", r1),
        m("E3", "M3", "R1", "1", r1),
        m("E4", "M4", "R1", "1", r1),
    );
    let (m5, m6, m7) = (
        m("E1", "M5", "R2", "0", r2),
        m("E6", "M6", "R2", "0", r2),
        m("E7", "M7", "R2", "0", r2),
    );
    let t1 = Email {
        campaign: None,
        run: "",
        treatment: "",
        endpoint: "E20",
        message: "T1",
        sent: "2026-03-01T08:00:00Z",
    };
    let none = json!({});
    let mut v = Vec::new();
    for (e, t, s) in [
        ("E1", "0", "SUCCESS"),
        ("E2", "0", "SUCCESS"),
        ("E3", "1", "SUCCESS"),
        ("E4", "1", "SUCCESS"),
        ("E5", "1", "DAILY_CAP"),
    ] {
        v.push(campaign_send(
            "C1",
            "R1",
            t,
            e,
            s,
            "EMAIL",
            "2026-03-01T10:00:00Z",
        ));
    }
    let delivered_m1 = m1.event("_email.delivered", "2026-03-01T10:00:05Z", none.clone());
    v.extend([
        m1.event("_email.send", r1, none.clone()),
        delivered_m1.clone(),
        delivered_m1,
        m1.event("_email.open", "2026-03-01T10:00:06Z", json!({"open": {"user_agent": "Mozilla/5.0"}})),
        m1.event("_email.open", "2026-03-01T12:00:00Z", json!({"open": {"user_agent": IPHONE}})),
        m1.event("_email.click", "2026-03-01T12:01:00Z", json!({"click": {"link": "https://shop.example/a?utm_source=mail", "user_agent": IPHONE}})),
        m1.event("_email.click", "2026-03-01T12:02:00Z", json!({"click": {"link": "https://shop.example/a?utm_source=mail", "user_agent": IPHONE}})),
        m2.event("_email.send", r1, none.clone()),
        m2.event("_email.softbounce", "2026-03-01T10:01:00Z", json!({"bounce": {"bounce_type": "Transient", "bounce_sub_type": "MailboxFull"}})),
        m2.event("_email.delivered", "2026-03-01T10:30:00Z", none.clone()),
        m3.event("_email.send", r1, none.clone()),
        m3.event("_email.hardbounce", "2026-03-01T10:02:00Z", json!({"bounce": {"bounce_type": "Permanent", "bounce_sub_type": "NoEmail", "bounced_recipients": [{"email_address": "E3@example.com", "status": "5.1.1"}]}})),
        m4.event("_email.send", r1, none.clone()),
        m4.event("_email.delivered", "2026-03-01T10:00:05Z", none.clone()),
        m4.event("_email.open", "2026-03-02T09:00:00Z", json!({"open": {"user_agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"}})),
        m4.event("_email.unsubscribe", "2026-03-02T09:01:00Z", json!({"click": {"link": "https://shop.example/unsub"}})),
        m5.event("_email.send", r2, none.clone()),
        m5.event("_email.delivered", "2026-03-02T23:30:05Z", none.clone()),
        m5.event("_email.open", "2026-03-03T01:00:00Z", json!({"open": {"user_agent": DESKTOP}})),
        m6.event("_email.send", r2, none.clone()),
        m6.event("_email.delivered", "2026-03-02T23:30:05Z", none.clone()),
        m6.event("_email.open", "2026-03-02T23:30:07Z", json!({"open": {"user_agent": IPHONE}})),
        m7.event("_email.open", "2026-03-03T02:00:00Z", json!({"open": {"user_agent": IPHONE}})),
    ]);
    v.push(campaign_send(
        "C2",
        "R3",
        "0",
        "E8",
        "SUCCESS",
        "SMS",
        "2026-03-01T12:00:00Z",
    ));
    v.push(campaign_send(
        "C2",
        "R3",
        "0",
        "E9",
        "SUCCESS",
        "SMS",
        "2026-03-01T12:00:00Z",
    ));
    v.push(sms(
        "_SMS.BUFFERED",
        "E8",
        "S1",
        "2026-03-01T12:00:01Z",
        "SUCCESSFUL",
        "US",
        "1",
        0.0,
    ));
    v.push(sms(
        "_SMS.SUCCESS",
        "E8",
        "S1",
        "2026-03-01T12:00:10Z",
        "DELIVERED",
        "US",
        "1",
        645.0,
    ));
    v.push(sms(
        "_SMS.FAILURE",
        "E9",
        "S2",
        "2026-03-01T12:00:05Z",
        "UNREACHABLE",
        "DE",
        "2",
        300.0,
    ));
    for (e, s) in [
        ("E10", "SUCCESS"),
        ("E11", "SUCCESS"),
        ("E12", "QUIET_TIME"),
    ] {
        v.push(campaign_send(
            "C3",
            "R4",
            "0",
            e,
            s,
            "GCM",
            "2026-03-01T15:00:00Z",
        ));
    }
    let mut opened = campaign_send(
        "C3",
        "R4",
        "0",
        "E10",
        "SUCCESS",
        "GCM",
        "2026-03-01T15:10:00Z",
    );
    opened["event_type"] = json!("_campaign.opened_notification");
    v.push(opened);
    v.extend([
        t1.event("_email.send", "2026-03-01T08:00:00Z", none.clone()),
        t1.event("_email.delivered", "2026-03-01T08:00:03Z", none.clone()),
        t1.event(
            "_email.open",
            "2026-03-01T09:00:00Z",
            json!({"open": {"user_agent": IPHONE}}),
        ),
    ]);
    // Journey J1 (activity JA1): one email, delivered, opened, clicked.
    let j = Email {
        campaign: None,
        run: "",
        treatment: "",
        endpoint: "E30",
        message: "JM1",
        sent: "2026-03-01T07:00:00Z",
    };
    let journey =
        json!({"journey_id": "J1", "journey_activity_id": "JA1", "journey_run_id": "JR1"});
    for (t, at, extra) in [
        ("_email.send", "2026-03-01T07:00:00Z", json!({})),
        ("_email.delivered", "2026-03-01T07:00:04Z", json!({})),
        (
            "_email.open",
            "2026-03-01T08:00:00Z",
            json!({"open": {"user_agent": IPHONE}}),
        ),
        (
            "_email.click",
            "2026-03-01T08:01:00Z",
            json!({"click": {"link": "https://shop.example/j"}}),
        ),
    ] {
        let mut e = j.event(t, at, extra);
        e["attributes"] = journey.clone();
        v.push(e);
    }
    // Transactional SMS TS1 to the US, two parts, 500 millicents.
    let mut ts1 = sms(
        "_SMS.SUCCESS",
        "E40",
        "TS1",
        "2026-03-01T13:00:00Z",
        "DELIVERED",
        "US",
        "2",
        500.0,
    );
    for k in ["campaign_id", "campaign_activity_id", "treatment_id"] {
        ts1["attributes"].as_object_mut().unwrap().remove(k);
    }
    v.push(ts1);
    v
}

pub(crate) fn fixture_workspace() -> Ws {
    let ws = Ws::new();
    let lines: String = fixture().iter().map(|r| format!("{r}\n")).collect();
    let file = ws.scratch("in").join("events.json");
    write_file(&file, lines.as_bytes());
    let summary = ws.ingest(&[&file]);
    assert_eq!(summary["duplicates"], 1, "{summary}");
    assert_eq!(summary["rejected"], 0, "{summary}");
    ws
}

/// A workspace holding `events` generated events (seed `seed`).
fn generated_workspace(events: u64, seed: u64) -> Ws {
    let ws = Ws::new();
    let input = ws.scratch("gen");
    crate::support::generate(&input, events, seed);
    ws.ingest(&[&input]);
    ws
}

fn f(row: &Value, column: &str) -> Option<f64> {
    row.get(column).and_then(Value::as_f64)
}

#[track_caller]
fn assert_close(row: &Value, column: &str, expected: Option<f64>) {
    let got = f(row, column);
    match (got, expected) {
        (Some(g), Some(e)) => assert!(
            (g - e).abs() < 1e-9,
            "{column}: got {g}, expected {e}\n{row}"
        ),
        (None, None) => {}
        _ => panic!("{column}: got {got:?}, expected {expected:?}\n{row}"),
    }
}

#[track_caller]
fn assert_all(row: &Value, expected: &[(&str, Option<f64>)]) {
    for (c, e) in expected {
        assert_close(row, c, *e);
    }
}

fn one(ws: &Ws, sql: &str) -> Value {
    let rows = ws.query(sql);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows.into_iter().next().unwrap()
}

/// C1 over all time (and over a range that covers every send).
fn c1_expected() -> Vec<(&'static str, Option<f64>)> {
    vec![
        ("messages_sent", Some(6.0)),      // M1..M6; M7 has no send
        ("messages_delivered", Some(5.0)), // 6 sent - 1 hard bounce (M3)
        ("endpoints_targeted", Some(7.0)), // R1: E1..E5 (any status); R2 (no _campaign.send): E1, E6
        ("delivery_rate", Some(5.0 / 7.0)),
        ("links_clicked", Some(2.0)), // both clicks of M1
        ("unique_opens", Some(4.0)),  // M1, M4, M5, M6 (not M7)
        ("email_open_rate", Some(4.0 / 5.0)),
        ("bounce_rate", Some(1.0 / 6.0)),
        ("total_email_opened", Some(5.0)), // M1 twice, M4, M5, M6
        ("unique_clicks", Some(1.0)),
        ("click_through_rate", Some(1.0 / 5.0)),
        ("click_to_open_rate", Some(1.0 / 4.0)),
        ("soft_bounces", Some(1.0)), // M2, then delivered
        ("soft_bounce_rate", Some(1.0 / 6.0)),
        ("unsubscribes", Some(1.0)),
        ("unsubscribe_rate", Some(1.0 / 5.0)),
        ("complaints", Some(0.0)),
        ("complaint_rate", Some(0.0)),
        ("estimated_human_opens", Some(2.0)), // M1 (12:00 iPhone) and M5; M4 proxy, M6 2 s after delivery
        ("estimated_human_open_rate", Some(2.0 / 5.0)),
        ("push_open_rate", None), // no push deliveries
    ]
}

#[test]
fn campaign_metrics_view_matches_the_hand_count() {
    let ws = fixture_workspace();
    let c1 = one(
        &ws,
        "SELECT * FROM campaign_metrics WHERE campaign_id = 'C1'",
    );
    assert_all(&c1, &c1_expected());

    // SMS: S1 delivered, S2 failed; no email, so the email rates are NULL.
    let c2 = one(
        &ws,
        "SELECT * FROM campaign_metrics WHERE campaign_id = 'C2'",
    );
    assert_all(
        &c2,
        &[
            ("messages_sent", Some(2.0)),
            ("messages_delivered", Some(1.0)),
            ("endpoints_targeted", Some(2.0)),
            ("delivery_rate", Some(0.5)),
            ("email_open_rate", None),
            ("bounce_rate", None),
            ("sms_failures", Some(1.0)),
            ("sms_spend_millicents", Some(945.0)),
        ],
    );

    // Push: the successful _campaign.send is the send and the delivery.
    let c3 = one(
        &ws,
        "SELECT * FROM campaign_metrics WHERE campaign_id = 'C3'",
    );
    assert_all(
        &c3,
        &[
            ("messages_sent", Some(2.0)),
            ("messages_delivered", Some(2.0)),
            ("endpoints_targeted", Some(3.0)),
            ("delivery_rate", Some(2.0 / 3.0)),
            ("push_opens", Some(1.0)),
            ("push_open_rate", Some(0.5)),
            ("email_open_rate", None),
        ],
    );

    // Transactional email is not a campaign.
    assert_eq!(ws.count("SELECT count(*) FROM campaign_metrics"), 3);
    let txn = one(&ws, "SELECT * FROM transactional_email_metrics");
    assert_all(
        &txn,
        &[
            ("messages_sent", Some(1.0)),
            ("txn_emails_delivered", Some(1.0)),
            ("unique_opens", Some(1.0)),
        ],
    );
}

#[test]
fn runs_treatments_links_and_facts() {
    let ws = fixture_workspace();
    let runs = ws.query("SELECT * FROM campaign_runs('C1')");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0]["run_id"], "R1");
    assert_eq!(runs[0]["run_started_at"], "2026-03-01T10:00:00Z");
    assert_all(
        &runs[0],
        &[
            ("endpoints_targeted", Some(5.0)),
            ("messages_sent", Some(4.0)),
            ("messages_delivered", Some(3.0)),
            ("delivery_rate", Some(0.6)),
            ("email_open_rate", Some(2.0 / 3.0)),
            ("bounce_rate", Some(0.25)),
            ("total_email_opened", Some(3.0)),
        ],
    );
    assert_eq!(runs[1]["run_id"], "R2");
    assert_eq!(runs[1]["run_started_at"], "2026-03-02T23:30:00Z");
    assert_all(
        &runs[1],
        &[
            ("endpoints_targeted", Some(2.0)),
            ("messages_sent", Some(2.0)),
            ("delivery_rate", Some(1.0)),
            ("email_open_rate", Some(1.0)),
            ("bounce_rate", Some(0.0)),
            ("total_email_opened", Some(2.0)),
        ],
    );
    // The view agrees with the table function.
    let view =
        ws.query("SELECT * FROM campaign_run_metrics WHERE campaign_id = 'C1' ORDER BY run_id");
    assert_eq!(view[0]["delivery_rate"], runs[0]["delivery_rate"]);
    assert_eq!(view[1]["messages_sent"], runs[1]["messages_sent"]);

    // Treatments: endpoints targeted summed over runs.
    let t = ws.query(
        "SELECT * FROM campaign_treatment_metrics WHERE campaign_id = 'C1' ORDER BY treatment_id",
    );
    assert_eq!(t.len(), 2);
    assert_all(
        &t[0],
        &[
            ("messages_sent", Some(4.0)), // M1, M2, M5, M6
            ("messages_delivered", Some(4.0)),
            ("endpoints_targeted", Some(4.0)), // R1: E1, E2; R2: E1, E6
            ("email_open_rate", Some(0.75)),   // M1, M5, M6
            ("open_rate_p_value", None),       // the control itself
        ],
    );
    assert_all(
        &t[1],
        &[
            ("messages_sent", Some(2.0)),
            ("messages_delivered", Some(1.0)),
            ("endpoints_targeted", Some(3.0)), // E3, E4, E5
            ("delivery_rate", Some(1.0 / 3.0)),
            ("email_open_rate", Some(1.0)),
        ],
    );
    // Pooled z-test of 1/1 against 3/4: z = 0.25 / sqrt(0.8 * 0.2 * 1.25).
    let p = f(&t[1], "open_rate_p_value").unwrap();
    assert!((p - 0.576_150_122).abs() < 1e-6, "{p}");

    let links = one(
        &ws,
        "SELECT * FROM campaign_link_metrics WHERE campaign_id = 'C1'",
    );
    assert_eq!(links["link"], "https://shop.example/a?utm_source=mail");
    assert_all(
        &links,
        &[
            ("clicks", Some(2.0)),
            ("unique_clicks", Some(1.0)),
            ("unique_endpoints", Some(1.0)),
        ],
    );
    let clean = one(
        &ws,
        "SELECT url_strip_tracking(link) AS u FROM campaign_link_metrics",
    );
    assert_eq!(clean["u"], "https://shop.example/a");

    // message_facts keeps the unsent message, flagged.
    let m7 = one(
        &ws,
        "SELECT sent, opened, open_count FROM message_facts WHERE message_key = 'M7'",
    );
    assert_eq!(m7, json!({"sent": false, "opened": true, "open_count": 1}));
    let m2 = one(
        &ws,
        "SELECT delivered, soft_bounced, hard_bounced FROM message_facts WHERE message_key = 'M2'",
    );
    assert_eq!(
        m2,
        json!({"delivered": true, "soft_bounced": true, "hard_bounced": false})
    );
}

#[test]
fn dashboard_ranges_time_zones_and_empty_days() {
    let ws = fixture_workspace();
    // Every send falls in 1-2 March (UTC): the all-time numbers, and
    // endpoint deliveries = (3 on 1 March: E1, E2, E4; 2 on 2 March: E1, E6) / 2.
    let d = one(
        &ws,
        "SELECT * FROM campaign_dashboard('C1', '2026-03-01', '2026-03-02')",
    );
    assert_all(&d, &c1_expected());
    assert_close(&d, "endpoint_deliveries", Some(2.5));

    // A third, empty day lowers the daily average: 5 / 3.
    let d3 = one(
        &ws,
        "SELECT endpoint_deliveries FROM campaign_dashboard('C1', '2026-03-01', '2026-03-03')",
    );
    assert_close(&d3, "endpoint_deliveries", Some(5.0 / 3.0));

    // A range that cuts messages: 1 March picks M1..M4, and M4's open on
    // 2 March still counts; R2 sent nothing that day.
    let cut = one(
        &ws,
        "SELECT * FROM campaign_dashboard('C1', '2026-03-01', '2026-03-01')",
    );
    assert_all(
        &cut,
        &[
            ("messages_sent", Some(4.0)),
            ("messages_delivered", Some(3.0)),
            ("endpoints_targeted", Some(5.0)),
            ("delivery_rate", Some(0.6)),
            ("unique_opens", Some(2.0)),
            ("total_email_opened", Some(3.0)),
            ("endpoint_deliveries", Some(3.0)),
        ],
    );

    // Tokyo: R2 was sent at 08:30 on 3 March, so 3 March holds M5 and M6.
    let tokyo = one(
        &ws,
        "SELECT * FROM campaign_dashboard('C1', '2026-03-03', '2026-03-03', 'Asia/Tokyo')",
    );
    assert_all(
        &tokyo,
        &[
            ("messages_sent", Some(2.0)),
            ("endpoints_targeted", Some(2.0)),
            ("delivery_rate", Some(1.0)),
            ("email_open_rate", Some(1.0)),
            ("endpoint_deliveries", Some(2.0)),
        ],
    );
    // In UTC nothing was sent on 3 March: zeros and NULL rates, one row.
    let empty = one(
        &ws,
        "SELECT * FROM campaign_dashboard('C1', '2026-03-03', '2026-03-03')",
    );
    assert_all(
        &empty,
        &[
            ("messages_sent", Some(0.0)),
            ("endpoints_targeted", Some(0.0)),
            ("delivery_rate", None),
            ("email_open_rate", None),
            ("bounce_rate", None),
            ("endpoint_deliveries", Some(0.0)),
        ],
    );

    // The chart: one row per day, zeros included; opens by the day they happened.
    let daily = ws.query("SELECT * FROM campaign_daily('C1', '2026-03-01', '2026-03-03')");
    let col = |c: &str| daily.iter().map(|r| f(r, c).unwrap()).collect::<Vec<_>>();
    assert_eq!(
        daily
            .iter()
            .map(|r| r["day"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["2026-03-01", "2026-03-02", "2026-03-03"]
    );
    assert_eq!(col("endpoint_deliveries"), [3.0, 2.0, 0.0]);
    assert_eq!(col("total_email_opened"), [2.0, 2.0, 1.0]);
    assert_eq!(col("links_clicked"), [2.0, 0.0, 0.0]);
    assert_eq!(col("hard_bounces"), [1.0, 0.0, 0.0]);
    let tokyo_daily =
        ws.query("SELECT * FROM campaign_daily('C1', '2026-03-03', '2026-03-03', 'Asia/Tokyo')");
    assert_close(&tokyo_daily[0], "endpoint_deliveries", Some(2.0));
}

#[test]
fn kpis_by_pinpoint_name() {
    let ws = fixture_workspace();
    let kpi = |name: &str| {
        ws.query(&format!(
            "SELECT * FROM campaign_kpi('{name}', 'C1', '2026-03-01', '2026-03-03')"
        ))
    };
    let by_run = kpi("successful-delivery-rate-grouped-by-campaign-activity");
    assert_eq!(
        by_run,
        vec![
            json!({"CampaignActivityId": "R1", "Value": 0.75}),
            json!({"CampaignActivityId": "R2", "Value": 1.0})
        ]
    );
    assert_eq!(
        kpi("attempted-deliveries-grouped-by-campaign-activity")[0]["Value"],
        4.0
    );
    assert_eq!(kpi("clicks-grouped-by-campaign-activity")[0]["Value"], 2.0);
    // Distinct endpoints with a delivery in the range: E1, E2, E4, E6.
    assert_eq!(kpi("unique-deliveries"), vec![json!({"Value": 4.0})]);
    assert_close(&kpi("hard-bounce-rate")[0], "Value", Some(1.0 / 6.0));
    assert_close(&kpi("email-open-rate")[0], "Value", Some(0.8));
    let by_date = kpi("successful-delivery-rate-grouped-by-date");
    assert_eq!(
        by_date,
        vec![
            json!({"Date": "2026-03-01", "Value": 0.75}),
            json!({"Date": "2026-03-02", "Value": 1.0})
        ]
    );
    let spend =
        ws.query("SELECT * FROM campaign_kpi('sms-spend', 'C2', '2026-03-01', '2026-03-01')");
    assert_eq!(spend, vec![json!({"Value": 945.0})]);
    let txn = ws.query(
        "SELECT * FROM application_kpi('txn-emails-delivered', 'A1', '2026-03-01', '2026-03-01')",
    );
    assert_eq!(txn, vec![json!({"Value": 1.0})]);

    // An unknown name lists the known ones.
    let out = crate::support::bin()
        .args([
            "--workspace",
            ws.path().to_str().unwrap(),
            "sql",
            "-c",
            "SELECT * FROM campaign_kpi('open-rate', 'C1', '2026-03-01', '2026-03-03')",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown KPI name 'open-rate'")
            && err.contains("email-open-rate-grouped-by-campaign-activity"),
        "{err}"
    );
}

#[test]
fn one_metric_three_ways() {
    let ws = fixture_workspace();
    let view = one(
        &ws,
        "SELECT email_open_rate AS v FROM campaign_metrics WHERE campaign_id = 'C1'",
    );
    let function = one(
        &ws,
        "SELECT email_open_rate AS v FROM campaign_dashboard('C1', '2026-03-01', '2026-03-03')",
    );
    let aggregate = one(
        &ws,
        "SELECT email_open_rate(event_type, message_key) AS v FROM events WHERE campaign_id = 'C1'",
    );
    assert_close(&view, "v", Some(0.8));
    assert_eq!(view, function);
    assert_eq!(view, aggregate);
    // Push needs channel and status to recognise the send.
    let push = one(
        &ws,
        "SELECT messages_sent(event_type, message_key, channel, send_status) AS n, push_open_rate(event_type, message_key, channel, send_status) AS r FROM events WHERE campaign_id = 'C3'",
    );
    assert_eq!(push, json!({"n": 2, "r": 0.5}));
    let zero = one(
        &ws,
        "SELECT safe_rate(1, 0) AS r, bounce_rate(event_type, message_key) AS b FROM events WHERE campaign_id = 'C2'",
    );
    assert_eq!(zero, json!({}), "NULL rates are left out of JSON rows");
}

#[test]
fn compatibility_views_fill_the_treatment() {
    let ws = fixture_workspace();
    let sends = ws.query("SELECT pinpoint_campaign_id, pinpoint_treatment_id, message_id FROM email_send WHERE endpoint_id = 'E3'");
    assert_eq!(
        sends,
        vec![
            json!({"pinpoint_campaign_id": "C1", "pinpoint_treatment_id": "1", "message_id": "M3"})
        ]
    );
    let bounce = one(
        &ws,
        "SELECT bounced_recipient_email_address, bounced_recipient_status, bounce_type FROM email_hardbounce",
    );
    assert_eq!(
        bounce,
        json!({"bounced_recipient_email_address": "E3@example.com", "bounced_recipient_status": "5.1.1", "bounce_type": "Permanent"})
    );
    assert_eq!(ws.count("SELECT count(*) FROM email_open"), 8);
    assert_eq!(
        ws.count("SELECT count(*) FROM sms_success WHERE iso_country_code = 'US'"),
        2
    );
    assert_eq!(
        ws.count("SELECT count(*) FROM campaign_send WHERE pinpoint_campaign_id = 'C3'"),
        3
    );
}

#[test]
fn metrics_and_campaigns_commands() {
    let ws = fixture_workspace();
    let page = crate::support::run_ok(&[
        "--workspace",
        ws.path().to_str().unwrap(),
        "metrics",
        "C1",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-03",
    ]);
    for expected in [
        "Messages sent",
        "Delivery rate                 71.4%",
        "Email open rate               80.0%",
        "2026-03-01",
        "R2",
    ] {
        assert!(page.contains(expected), "missing {expected:?} in\n{page}");
    }
    let json: Value = serde_json::from_str(&crate::support::run_ok(&[
        "--workspace",
        ws.path().to_str().unwrap(),
        "metrics",
        "C1",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(json["dashboard"]["messages_sent"], 6);
    assert_eq!(
        json["daily"].as_array().unwrap().len(),
        2,
        "first to last send day"
    );
    let list = crate::support::run_ok(&[
        "--workspace",
        ws.path().to_str().unwrap(),
        "campaigns",
        "--format",
        "csv",
    ]);
    assert_eq!(list.lines().count(), 4, "{list}");
}

/// Queries answered from the materialized tables and from the views they
/// materialize must agree, row for row.
fn assert_facts_match_views(ws: &Ws, queries: &[&str]) {
    let facts = ws.path().join(".sendlens/facts");
    assert!(facts.exists(), "ingest materializes the message facts");
    let with: Vec<Vec<Value>> = queries.iter().map(|q| ws.query(q)).collect();
    std::fs::remove_dir_all(&facts).unwrap();
    let without: Vec<Vec<Value>> = queries.iter().map(|q| ws.query(q)).collect();
    for ((q, a), b) in queries.iter().zip(&with).zip(&without) {
        assert_eq!(a, b, "{q}");
    }
}

#[test]
fn materialized_facts_agree_with_the_views() {
    let ws = fixture_workspace();
    assert_facts_match_views(
        &ws,
        &[
            "SELECT * FROM campaign_metrics ORDER BY campaign_id",
            "SELECT * FROM campaign_runs('C1')",
            "SELECT * FROM campaign_daily('C1', '2026-03-01', '2026-03-03')",
            "SELECT * FROM campaign_dashboard('C1', '2026-03-03', '2026-03-03', 'Asia/Tokyo')",
            "SELECT * FROM message_facts ORDER BY message_key",
            "SELECT * FROM campaign_link_metrics",
        ],
    );
}

#[test]
fn generated_stream_rates_stay_in_range_and_views_agree() {
    let ws = generated_workspace(20_000, 11);
    let rates: Vec<&str> = [
        "delivery_rate",
        "successful_delivery_rate",
        "email_open_rate",
        "estimated_human_open_rate",
        "bounce_rate",
        "soft_bounce_rate",
        "click_through_rate",
        "click_to_open_rate",
        "complaint_rate",
        "unsubscribe_rate",
        "push_open_rate",
        "sms_delivery_rate",
        "opt_out_rate",
    ]
    .to_vec();
    for view in [
        "campaign_metrics",
        "campaign_run_metrics",
        "campaign_treatment_metrics",
        "application_metrics",
    ] {
        let rows = ws.query(&format!("SELECT * FROM {view}"));
        assert!(!rows.is_empty(), "{view}");
        for row in &rows {
            for r in &rates {
                if let Some(v) = f(row, r) {
                    assert!((0.0..=1.0).contains(&v), "{view}.{r} = {v}: {row}");
                }
            }
        }
    }
    assert_facts_match_views(
        &ws,
        &[
            "SELECT * FROM campaign_metrics ORDER BY campaign_id",
            "SELECT * FROM campaign_run_metrics ORDER BY campaign_id, run_id",
            "SELECT * FROM campaign_daily_metrics ORDER BY campaign_id, day",
            "SELECT * FROM sms_metrics ORDER BY app_id, campaign_id, iso_country_code, record_status",
        ],
    );
}

/// The inode numbers and names of a complete facts folder's files.
fn facts_files(ws: &Ws) -> std::collections::BTreeMap<u64, String> {
    use std::os::unix::fs::MetadataExt;
    let facts = ws.path().join(".sendlens/facts");
    let copy = std::fs::read_dir(&facts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("_complete").exists())
        .expect("a complete copy");
    crate::support::files_under(&copy)
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (std::fs::metadata(p).unwrap().ino(), name)
        })
        .collect()
}

#[test]
fn facts_refreshed_after_each_of_ten_pieces_equal_one_ingest_of_the_whole() {
    // A month's stream cut at nine random points into ten pieces, in time
    // order, as hourly ingests see it; slices of about 1,000 events, so
    // that a piece leaves some of them alone, and of at most seven files
    // per table, so that updates by key and rebuilt slices both happen.
    let input = tempfile::tempdir().unwrap();
    crate::support::run_ok(&[
        "generate",
        "--out",
        input.path().to_str().unwrap(),
        "--events",
        "20000",
        "--seed",
        "31",
        "--days",
        "30",
        "--records-per-file",
        "2000",
    ]);
    let files = crate::support::files_under(input.path());
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut cuts = std::collections::BTreeSet::from([0, files.len()]);
    while cuts.len() < 11 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        cuts.insert(1 + (state % (files.len() as u64 - 1)) as usize);
    }
    let cuts: Vec<usize> = cuts.into_iter().collect();
    let ingest = |ws: &Ws, dir: &std::path::Path| {
        let out = crate::support::bin()
            .args([
                "--workspace",
                ws.path().to_str().unwrap(),
                "ingest",
                "--json",
            ])
            .arg(dir)
            .env("SENDLENS_FACTS_SLICE_EVENTS", "1000")
            .env("SENDLENS_FACTS_SLICE_FILES", "7")
            .output()
            .unwrap();
        crate::support::assert_success(&out, &["ingest"]);
    };

    let pieces = Ws::new();
    let (mut reused, mut updated) = (0, 0);
    for (k, range) in cuts.windows(2).enumerate() {
        let dir = pieces.scratch(&format!("piece-{k}"));
        for (i, f) in files[range[0]..range[1]].iter().enumerate() {
            std::fs::copy(
                f,
                dir.join(format!(
                    "{i:05}-{}",
                    f.file_name().unwrap().to_string_lossy()
                )),
            )
            .unwrap();
        }
        let before = (k > 0).then(|| facts_files(&pieces));
        ingest(&pieces, &dir);
        if let Some(before) = before {
            let after = facts_files(&pieces);
            reused += after.keys().filter(|i| before.contains_key(i)).count();
            // Files of rows rebuilt by key are named `<slice>-r<version>-…`.
            updated += after
                .values()
                .filter(|n| {
                    let parts: Vec<&str> = n.split('-').collect();
                    parts.len() > 2
                        && parts[1]
                            .strip_prefix('r')
                            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
                })
                .count();
        }
    }
    assert!(
        reused > 0,
        "some slices' files are kept from one version to the next"
    );
    assert!(updated > 0, "some refreshes rebuild rows by campaign");

    let whole = Ws::new();
    ingest(&whole, input.path());
    let queries = [
        "SELECT * FROM message_facts ORDER BY message_key, campaign_id",
        "SELECT * FROM campaign_targets ORDER BY campaign_id, run_id, treatment_id, endpoint_id, target_at, from_send",
        "SELECT * FROM message_events ORDER BY campaign_id, message_key, occurred_at, event_type, endpoint_id, link, user_agent",
        "SELECT * FROM campaign_metrics ORDER BY campaign_id",
        "SELECT * FROM campaign_daily_metrics ORDER BY campaign_id, day",
    ];
    for q in queries {
        let (a, b) = (pieces.query(q), whole.query(q));
        assert_eq!(a.len(), b.len(), "{q}: rows");
        if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
            panic!("{q}: row {i} differs\npieces: {}\nwhole:  {}", a[i], b[i]);
        }
    }
    assert_facts_match_views(&pieces, &queries);
}

#[test]
fn facts_built_in_campaign_slices_agree_with_the_views() {
    let ws = generated_workspace(20_000, 12);
    // Rebuild the facts in slices of about 1,000 events: the events without
    // a campaign (about 2,400) get slices of their own, by message key.
    let facts = ws.path().join(".sendlens/facts");
    std::fs::remove_dir_all(&facts).unwrap();
    let p = ws.path();
    let out = crate::support::bin()
        .args(["--workspace", p.to_str().unwrap(), "refresh"])
        .env("SENDLENS_FACTS_SLICE_EVENTS", "1000")
        .output()
        .unwrap();
    crate::support::assert_success(&out, &["refresh"]);
    let copy = std::fs::read_dir(&facts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("_complete").exists())
        .expect("a complete copy");
    let slices: std::collections::BTreeSet<String> = std::fs::read_dir(copy.join("message_facts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy()[..5].to_string())
        .collect();
    assert!(slices.len() >= 8, "built in slices: {slices:?}");
    assert_facts_match_views(
        &ws,
        &[
            "SELECT * FROM message_facts ORDER BY message_key, campaign_id",
            "SELECT * FROM campaign_targets ORDER BY campaign_id, run_id, treatment_id, endpoint_id, target_at, from_send",
            "SELECT campaign_id, event_type, count(*) AS n, count(DISTINCT message_key) AS messages, sum(sets) AS sets \
             FROM message_events GROUP BY campaign_id, event_type ORDER BY campaign_id, event_type",
            "SELECT * FROM campaign_metrics ORDER BY campaign_id",
            "SELECT * FROM campaign_run_metrics ORDER BY campaign_id, run_id",
            "SELECT * FROM campaign_daily_metrics ORDER BY campaign_id, day",
        ],
    );
}

#[test]
fn the_reference_document_is_current() {
    let generated = crate::support::run_ok(&["functions", "--markdown"]);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/queries/REFERENCE.md"))
            .unwrap();
    assert!(
        generated == committed,
        "queries/REFERENCE.md is out of date: run `sendlens functions --markdown > queries/REFERENCE.md`"
    );
}

#[test]
fn journeys_sms_views_and_every_kpi_name() {
    let ws = fixture_workspace();
    let journey = one(&ws, "SELECT * FROM journey_email_metrics");
    assert_eq!(journey["journey_id"], "J1");
    assert_all(
        &journey,
        &[
            ("messages_sent", Some(1.0)),
            ("messages_with_delivery_event", Some(1.0)),
            ("unique_opens", Some(1.0)),
            ("unique_clicks", Some(1.0)),
        ],
    );
    let jk = ws.query("SELECT * FROM journey_kpi('emails-opened-grouped-by-journey-activity', 'J1', '2026-03-01', '2026-03-01')");
    assert_eq!(jk, vec![json!({"JourneyActivityId": "JA1", "Value": 1.0})]);
    // Journey and transactional messages are not campaigns, nor each other.
    assert_eq!(ws.count("SELECT count(*) FROM campaign_metrics"), 3);
    let txn = one(&ws, "SELECT messages_sent FROM transactional_email_metrics");
    assert_eq!(txn["messages_sent"], 1);

    // Transactional SMS by country; C2's SMS are a campaign's, not transactional.
    let by_country = ws.query("SELECT * FROM application_kpi('txn-sms-total-price-grouped-by-country', 'A1', '2026-03-01', '2026-03-01')");
    assert_eq!(
        by_country,
        vec![json!({"CountryCode": "US", "Value": 500.0})]
    );
    let parts = ws.query(
        "SELECT * FROM application_kpi('txn-sms-sent-by-parts', 'A1', '2026-03-01', '2026-03-01')",
    );
    assert_eq!(parts, vec![json!({"MessageParts": "2", "Value": 1.0})]);
    let sms = ws.query("SELECT campaign_id, iso_country_code, record_status, messages_sent, sms_spend_millicents FROM sms_metrics ORDER BY campaign_id NULLS FIRST, iso_country_code");
    assert_eq!(
        sms,
        vec![
            json!({"iso_country_code": "US", "record_status": "DELIVERED", "messages_sent": 1, "sms_spend_millicents": 500.0}),
            json!({"campaign_id": "C2", "iso_country_code": "DE", "record_status": "UNREACHABLE", "messages_sent": 1, "sms_spend_millicents": 300.0}),
            json!({"campaign_id": "C2", "iso_country_code": "US", "record_status": "DELIVERED", "messages_sent": 1, "sms_spend_millicents": 645.0}),
        ]
    );

    // The application: its three campaigns, endpoints targeted summed over runs.
    let app = one(&ws, "SELECT * FROM application_metrics");
    assert_all(
        &app,
        &[
            ("messages_sent", Some(10.0)),
            ("endpoints_targeted", Some(12.0)),
        ],
    );
    let daily = ws.query("SELECT day, endpoint_deliveries FROM campaign_daily_metrics WHERE campaign_id = 'C1' ORDER BY day");
    assert_eq!(
        daily,
        vec![
            json!({"day": "2026-03-01", "endpoint_deliveries": 3}),
            json!({"day": "2026-03-02", "endpoint_deliveries": 2}),
            json!({"day": "2026-03-03", "endpoint_deliveries": 0})
        ]
    );

    // Every KPI name of every scope runs, has the columns its name asks for,
    // and its rates stay within [0, 1].
    use sendlens_metrics::kpi::{Scope, names};
    for (scope, function, id) in [
        (Scope::Campaign, "campaign_kpi", "C1"),
        (Scope::Application, "application_kpi", "A1"),
        (Scope::Journey, "journey_kpi", "J1"),
    ] {
        for name in names(scope) {
            let rows = ws.query(&format!(
                "SELECT * FROM {function}('{name}', '{id}', '2026-03-01', '2026-03-03')"
            ));
            for row in &rows {
                let obj = row.as_object().unwrap();
                let group = [
                    "CampaignActivityId",
                    "Date",
                    "CampaignId",
                    "JourneyActivityId",
                    "CountryCode",
                    "RecordStatus",
                    "MessageParts",
                ]
                .iter()
                .filter(|c| obj.contains_key(**c))
                .count();
                assert!(group <= 1 && obj.len() <= 2, "{name}: {row}");
                assert_eq!(
                    group == 1,
                    name.contains("grouped-by")
                        || name.contains("by-parts")
                        || name.contains("distribution"),
                    "{name}: {row}"
                );
                if let Some(v) = f(row, "Value") {
                    assert!(v.is_finite() && v >= 0.0, "{name}: {row}");
                    if name.contains("rate") {
                        assert!(v <= 1.0, "{name}: {row}");
                    }
                }
            }
        }
    }
}

#[test]
fn engagement_by_domain_and_device() {
    let ws = fixture_workspace();
    // C1's opens and clicks: machine (M1's bare Mozilla/5.0, M4's image proxy),
    // mobile (M1 at 12:00 and its two clicks, M6), desktop (M5).
    let rows = ws.query("SELECT device_class, opens, clicks, opened_messages FROM campaign_engagement_metrics WHERE campaign_id = 'C1' AND recipient_domain = 'example.com' ORDER BY device_class");
    assert_eq!(
        rows,
        vec![
            json!({"device_class": "desktop", "opens": 1, "clicks": 0, "opened_messages": 1}),
            json!({"device_class": "machine", "opens": 2, "clicks": 0, "opened_messages": 2}),
            json!({"device_class": "mobile", "opens": 2, "clicks": 2, "opened_messages": 2}),
        ]
    );
}

#[test]
fn ingest_without_refresh_then_refresh() {
    let ws = Ws::new();
    let lines: String = fixture().iter().map(|r| format!("{r}\n")).collect();
    let file = ws.scratch("in").join("events.json");
    write_file(&file, lines.as_bytes());
    let p = ws.path();
    let p = p.to_str().unwrap();
    crate::support::run_ok(&[
        "--workspace",
        p,
        "ingest",
        "--no-refresh",
        file.to_str().unwrap(),
    ]);
    let facts = ws.path().join(".sendlens/facts");
    assert!(!facts.exists(), "--no-refresh leaves the facts alone");
    let computed = ws.query("SELECT * FROM campaign_metrics ORDER BY campaign_id");
    let out = crate::support::run_ok(&["--workspace", p, "refresh"]);
    assert!(out.contains("Message facts are current"), "{out}");
    let copy = std::fs::read_dir(&facts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("v1-"))
        .expect("a copy for table version 1");
    assert!(copy.join("_complete").exists());
    assert_eq!(
        ws.query("SELECT * FROM campaign_metrics ORDER BY campaign_id"),
        computed
    );
}

#[test]
fn ranged_table_functions_agree_with_the_views_and_the_hand_count() {
    let ws = fixture_workspace();
    // A range that covers every send gives the all-time views' numbers.
    let range = "'2026-03-01', '2026-03-03'";
    let c1 = one(
        &ws,
        &format!("SELECT * FROM campaign_comparison({range}) WHERE campaign_id = 'C1'"),
    );
    assert_all(&c1, &c1_expected());
    assert_eq!(
        ws.query(&format!(
            "SELECT campaign_id FROM campaign_comparison({range})"
        )),
        ws.query(
            "SELECT campaign_id FROM campaign_metrics ORDER BY messages_sent DESC, campaign_id"
        )
    );
    assert_eq!(
        ws.query(&format!("SELECT * FROM campaign_treatments('C1', {range})")),
        ws.query("SELECT * FROM campaign_treatment_metrics WHERE campaign_id = 'C1' ORDER BY treatment_id")
    );
    assert_eq!(
        ws.query(&format!("SELECT * FROM campaign_links('C1', {range})")),
        ws.query("SELECT * FROM campaign_link_metrics WHERE campaign_id = 'C1'")
    );
    let txn = ws.query(&format!("SELECT * FROM transactional_metrics({range})"));
    assert_eq!(txn.len(), 2, "{txn:?}");
    assert_eq!(
        (txn[0]["channel"].as_str(), txn[1]["channel"].as_str()),
        (Some("email"), Some("sms"))
    );
    let view = one(&ws, "SELECT * FROM transactional_email_metrics");
    for k in [
        "messages_sent",
        "txn_emails_delivered",
        "unique_opens",
        "txn_emails_delivery_rate",
    ] {
        assert_eq!(txn[0][k], view[k], "{k}");
    }
    assert_all(
        &txn[1],
        &[
            ("sms_messages_sent", Some(1.0)),
            ("sms_messages_delivered", Some(1.0)),
            ("sms_message_parts", Some(2.0)),
            ("sms_spend_millicents", Some(500.0)),
        ],
    );

    // 1 March only: C1's run R1 (M1..M4), whose treatments are 0 (M1, M2)
    // and 1 (M3 hard bounce, M4). Targets: E1..E5, all on 1 March.
    let day = "'2026-03-01', '2026-03-01'";
    let c1 = one(
        &ws,
        &format!("SELECT * FROM campaign_comparison({day}) WHERE campaign_id = 'C1'"),
    );
    assert_all(
        &c1,
        &[
            ("messages_sent", Some(4.0)),
            ("messages_delivered", Some(3.0)),
            ("endpoints_targeted", Some(5.0)),
            ("delivery_rate", Some(0.6)),
            ("unique_opens", Some(2.0)), // M1, M4 (the open of M4 on 2 March counts: the message was sent on 1 March)
            ("email_open_rate", Some(2.0 / 3.0)),
        ],
    );
    let t = ws.query(&format!("SELECT * FROM campaign_treatments('C1', {day})"));
    assert_eq!(t.len(), 2);
    // Treatment 0: M1, M2 delivered, M1 opened: 1/2. Treatment 1: M4 of M3, M4
    // delivered and opened: 1/1. Targets 0: E1, E2; 1: E3, E4, E5.
    assert_all(
        &t[0],
        &[
            ("messages_delivered", Some(2.0)),
            ("email_open_rate", Some(0.5)),
            ("delivery_rate", Some(1.0)),
            ("open_rate_p_value", None),
        ],
    );
    assert_all(
        &t[1],
        &[
            ("messages_delivered", Some(1.0)),
            ("email_open_rate", Some(1.0)),
            ("delivery_rate", Some(1.0 / 3.0)),
        ],
    );
    assert!(t[1]["open_rate_p_value"].as_f64().is_some());
    // 3 March: nothing was sent, so no campaign and no links.
    let none = "'2026-03-03', '2026-03-03'";
    assert!(
        ws.query(&format!("SELECT * FROM campaign_comparison({none})"))
            .is_empty()
    );
    assert!(
        ws.query(&format!("SELECT * FROM campaign_links('C1', {none})"))
            .is_empty()
    );
}

#[test]
fn table_functions_over_message_facts_as_a_view() {
    // The bundled sample without materialized facts. On some ingest layouts
    // (file statistics) campaign_links failed here with "Cannot swap
    // HashJoinExec inputs after dynamic filters have been constructed": the
    // enclosing query optimized the table function's already optimized plan
    // a second time. The plan is now sealed (one leaf), which EXPLAIN shows
    // whatever the layout.
    let ws = Ws::new();
    let p = ws.path();
    let p = p.to_str().unwrap();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample");
    crate::support::run_ok(&["--workspace", p, "ingest", "--no-refresh", sample]);
    let top = ws.query(
        "SELECT campaign_id FROM campaign_metrics ORDER BY messages_sent DESC, campaign_id LIMIT 1",
    );
    let campaign = top[0]["campaign_id"].as_str().unwrap().to_string();
    let range = "'2026-09-01', '2026-09-14'";
    let links = ws.query(&format!(
        "SELECT sum(clicks) AS clicks FROM campaign_links('{campaign}', {range})"
    ));
    let view = ws.query(&format!(
        "SELECT sum(clicks) AS clicks FROM campaign_link_metrics WHERE campaign_id = '{campaign}'"
    ));
    assert_eq!(links, view);
    let plan = ws.query(&format!(
        "EXPLAIN SELECT * FROM campaign_links('{campaign}', {range})"
    ));
    let physical = plan
        .iter()
        .find(|r| r["plan_type"] == "physical_plan")
        .expect("a physical plan");
    assert!(
        physical["plan"]
            .as_str()
            .unwrap()
            .contains("SendlensExec: "),
        "{physical}"
    );
    assert!(links[0]["clicks"].as_i64().unwrap() > 0, "{links:?}");
    for call in [
        format!("campaign_treatments('{campaign}', {range})"),
        format!("campaign_dashboard('{campaign}', {range})"),
        format!("campaign_comparison({range})"),
    ] {
        assert!(
            !ws.query(&format!("SELECT * FROM {call}")).is_empty(),
            "{call}"
        );
    }
}
