//! Decoding of the example records from AWS's documentation
//! (`tests/fixtures/aws-examples`). Expected values are read off the
//! fixture text by hand.

use std::path::PathBuf;

use crate::split::{Chunk, RecordSplitter};
use crate::{DecodeOptions, Event, decode_record};

pub(crate) fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/aws-examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "fixture {} is missing ({e}); it comes with the repository",
            path.display()
        )
    })
}

/// The fixtures are pretty-printed: split them as ingest does, then decode.
fn with_event(name: &str, check: impl FnOnce(&Event<'_>)) {
    let text = fixture(name);
    let mut splitter = RecordSplitter::new(text.as_bytes());
    let mut chunk = Chunk::default();
    assert!(splitter.next_chunk(&mut chunk));
    assert_eq!(chunk.records.len(), 1, "{name} is one record");
    assert!(chunk.broken.is_empty());
    let record = std::str::from_utf8(chunk.record(&chunk.records[0])).unwrap();
    let event = decode_record(record, None, &DecodeOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    check(&event);
}

fn ms(v: i64) -> i64 {
    v * 1000
}

#[test]
fn pinpoint_email_click() {
    with_event("pinpoint-email-click.json", |e| {
        assert_eq!(e.event_type, "_email.click");
        assert_eq!(e.channel, "email");
        assert_eq!(e.occurred_at, ms(1_564_618_713_751));
        assert_eq!(e.sent_at, Some(ms(1_564_618_621_380)));
        assert_eq!(
            e.app_id.as_deref(),
            Some("a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6")
        );
        assert_eq!(
            e.endpoint_id.as_deref(),
            Some("49c1413e-a69c-46dc-b1c4-6470eexample")
        );
        let id = "0200000073rnbmd1-mbvdg3uo-q8ia-m3ku-ibd3-ms77kexample-000000";
        assert_eq!(e.message_key.as_deref(), Some(id));
        assert_eq!(e.message_id.as_deref(), Some(id));
        assert_eq!(e.link.as_deref(), Some("https://aws.amazon.com/pinpoint/"));
        assert_eq!(e.ip_address.as_deref(), Some("72.21.198.67"));
        assert!(e.user_agent.as_deref().unwrap().contains("Safari/605.1.15"));
        assert_eq!(e.address.as_deref(), Some("recipient@example.com"));
        assert_eq!(e.from_address.as_deref(), Some("sender@example.com"));
        assert_eq!(e.subject.as_deref(), Some("Amazon Pinpoint Test"));
        assert_eq!(e.campaign_id, None);
        assert_eq!(e.aws_account_id.as_deref(), Some("123456789012"));
        assert_eq!(
            e.attribute("feedback"),
            Some("https://aws.amazon.com/pinpoint/")
        );
    });
}

#[test]
fn pinpoint_campaign_send() {
    with_event("pinpoint-campaign-send.json", |e| {
        assert_eq!(e.event_type, "_campaign.send");
        assert_eq!(e.channel, "push");
        assert_eq!(e.delivery_type.as_deref(), Some("GCM"));
        assert_eq!(e.send_status.as_deref(), Some("SUCCESS"));
        assert_eq!(
            e.campaign_id.as_deref(),
            Some("4f8d6097c2e8400fa3081d875example")
        );
        assert_eq!(
            e.run_id.as_deref(),
            Some("5473285727f04865bc673e527example")
        );
        assert_eq!(e.treatment_id.as_deref(), Some("0"));
        assert_eq!(
            e.message_key.as_deref(),
            Some("5473285727f04865bc673e527example:d8dcf7c5-e81a-48ae-8313-f540cexample")
        );
        assert_eq!(e.occurred_at, ms(1_562_109_497_494));
        assert_eq!(e.sent_at, Some(ms(1_562_109_497_426)));
    });
}

#[test]
fn pinpoint_sms_success() {
    with_event("pinpoint-sms-success.json", |e| {
        assert_eq!(e.event_type, "_SMS.SUCCESS");
        assert_eq!(e.channel, "sms");
        assert_eq!(e.message_key.as_deref(), Some("1111-2222-3333"));
        assert_eq!(e.address.as_deref(), Some("+14255550199"));
        assert_eq!(e.record_status.as_deref(), Some("DELIVERED"));
        assert_eq!(e.iso_country_code.as_deref(), Some("US"));
        assert_eq!(e.message_type.as_deref(), Some("Transactional"));
        assert_eq!(e.message_parts, Some(1));
        assert_eq!(e.price_millicents, Some(645.0));
        assert_eq!(
            e.campaign_id.as_deref(),
            Some("52dc44b35c4742c98c5935269example")
        );
        assert_eq!(
            e.run_id.as_deref(),
            Some("cbcfc3c5e3bd48a8ae2b9cb41example")
        );
        // Arrival precedes event_timestamp in this record; both are kept as given.
        assert_eq!(e.occurred_at, ms(1_553_104_954_064));
        assert_eq!(e.sent_at, Some(ms(1_553_104_954_322)));
        assert_eq!(e.metrics.len(), 1);
    });
}

#[test]
fn ses_send() {
    with_event("ses-send.json", |e| {
        assert_eq!(e.event_type, "_email.send");
        assert_eq!(e.occurred_at, ms(1_476_421_336_645));
        assert_eq!(e.sent_at, Some(ms(1_476_421_336_645)));
        assert_eq!(
            e.message_key.as_deref(),
            Some("EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000")
        );
        assert_eq!(e.endpoint_id.as_deref(), Some("recipient@example.com"));
        assert_eq!(e.attribute("myCustomTag1"), Some("myCustomTagValue1"));
        assert_eq!(e.campaign_id, None);
    });
}

#[test]
fn ses_delivery() {
    with_event("ses-delivery.json", |e| {
        assert_eq!(e.event_type, "_email.delivered");
        assert_eq!(e.occurred_at, ms(1_476_919_264_133));
        assert_eq!(e.sent_at, Some(ms(1_476_919_252_240)));
        assert_eq!(e.channel, "email");
    });
}

#[test]
fn ses_open() {
    with_event("ses-open.json", |e| {
        assert_eq!(e.event_type, "_email.open");
        assert_eq!(e.occurred_at, ms(1_502_316_019_652));
        assert_eq!(e.sent_at, Some(ms(1_502_315_989_927)));
        assert_eq!(e.ip_address.as_deref(), Some("192.0.2.1"));
        assert!(
            e.user_agent
                .as_deref()
                .unwrap()
                .contains("iPhone OS 10_3_3")
        );
    });
}

#[test]
fn ses_click() {
    with_event("ses-click.json", |e| {
        assert_eq!(e.event_type, "_email.click");
        assert_eq!(e.occurred_at, ms(1_502_322_685_570));
        assert_eq!(e.sent_at, Some(ms(1_502_322_605_795)));
        assert_eq!(
            e.link.as_deref(),
            Some("http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html")
        );
        assert_eq!(e.attribute("ses:configuration-set"), Some("ConfigSet"));
    });
}

#[test]
fn ses_bounce_permanent_is_a_hard_bounce() {
    with_event("ses-bounce-permanent.json", |e| {
        assert_eq!(e.event_type, "_email.hardbounce");
        assert_eq!(e.bounce_type.as_deref(), Some("Permanent"));
        assert_eq!(e.bounce_sub_type.as_deref(), Some("General"));
        assert_eq!(e.occurred_at, ms(1_501_893_662_669));
        assert_eq!(e.sent_at, Some(ms(1_501_893_602_012)));
        assert_eq!(e.address.as_deref(), Some("recipient@example.com"));
    });
}

#[test]
fn ses_transient_bounce_is_soft_and_tags_name_the_campaign() {
    let text = fixture("ses-bounce-permanent.json")
        .replace("\"Permanent\"", "\"Transient\"")
        .replace(
            "\"ses:caller-identity\": [",
            "\"cmp\": [\"spring\"], \"run\": [\"r1\"], \"variant\": [\"1\"], \"ses:caller-identity\": [",
        );
    let compact: serde_json::Value = serde_json::from_str(&text).unwrap();
    let compact = compact.to_string();
    let opts = DecodeOptions {
        campaign_tag: "cmp".into(),
        run_tag: "run".into(),
        treatment_tag: "variant".into(),
    };
    let e = decode_record(&compact, None, &opts).unwrap();
    assert_eq!(e.event_type, "_email.softbounce");
    assert_eq!(e.campaign_id.as_deref(), Some("spring"));
    assert_eq!(e.run_id.as_deref(), Some("r1"));
    assert_eq!(e.treatment_id.as_deref(), Some("1"));
}

#[test]
fn bad_records_say_what_is_wrong() {
    let opts = DecodeOptions::default();
    let err = |s: &str| decode_record(s, None, &opts).unwrap_err().0;
    assert!(err("{\"event_type\":\"_email.open\",\"arrival_timestamp\":").contains("truncated"));
    assert!(err("not json").contains("not valid JSON"));
    assert!(err("{\"hello\":1}").contains("unrecognised record"));
    assert!(
        err("{\"event_type\":\"x\",\"arrival_timestamp\":\"soon\"}").contains("invalid timestamp")
    );
    assert!(
        err("{\"event_type\":\"x\",\"client\":{\"client_id\":5},\"arrival_timestamp\":1}")
            .contains("expected a string")
    );
    assert!(err("{\"event_type\":\"x\"}").contains("neither"));
    assert!(err("{\"eventType\":\"Teleport\",\"mail\":{\"messageId\":\"m\",\"timestamp\":\"2020-01-01T00:00:00Z\"}}")
        .contains("unknown SES eventType"));
    assert!(err("[1,2]").contains("unexpected") || err("[1,2]").contains("invalid"));
}

#[test]
fn lower_case_sms_types_are_normalised() {
    let e = decode_record(
        "{\"event_type\":\"_sms.success\",\"arrival_timestamp\":1,\"attributes\":{\"message_id\":\"m1\"}}",
        None,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(e.event_type, "_SMS.SUCCESS");
    assert_eq!(e.message_key.as_deref(), Some("m1"));
}
