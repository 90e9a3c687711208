//! The canonical event schema: one row per stored event.
//!
//! Column order matters: Delta Lake collects min/max statistics for the first
//! 32 columns, so the columns that queries filter on come first and the large
//! catch-all columns (`attributes`, `metrics`, `raw`) come last.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Name of the partition column: the UTC calendar date of `occurred_at`.
pub const EVENT_DATE: &str = "event_date";
/// Order of the rows in each batch that ingest writes: event date, then
/// campaign, then send time (nulls first), so that one campaign's rows lie
/// together and the others' row groups and pages can be skipped. A data file
/// holds several such batches, so the file as a whole is not in this order.
pub const SORT_ORDER: [&str; 3] = [EVENT_DATE, "campaign_id", "sent_at"];

/// Name of the 128-bit record identity used for de-duplication.
pub const RECORD_HASH: &str = "record_hash";

/// Time zone of every timestamp column (Delta Lake's `timestamp` type).
pub const UTC: &str = "UTC";

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

/// Map type in the layout Delta Lake uses (`key_value` entries).
pub fn map_type(value: DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "key_value",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", value, true),
            ])),
            false,
        )),
        false,
    )
}

/// Columns in storage order, with a one-line description each (shown by the
/// CLI's `describe` and used for docs).
pub const COLUMNS: &[(&str, &str)] = &[
    ("event_date", "UTC date of occurred_at (partition column)"),
    (
        "campaign_id",
        "campaign id (Pinpoint attributes.campaign_id, SES tag)",
    ),
    (
        "event_type",
        "Pinpoint event type, e.g. _email.send; SES types are mapped onto these",
    ),
    (
        "occurred_at",
        "when the event happened (Pinpoint arrival_timestamp, SES event timestamp)",
    ),
    (
        "sent_at",
        "when the message was sent (Pinpoint event_timestamp, SES mail.timestamp)",
    ),
    ("channel", "email, sms, push, voice, in_app, custom or app"),
    ("app_id", "Pinpoint application (project) id"),
    (
        "endpoint_id",
        "client.client_id; for SES, the recipient address",
    ),
    ("run_id", "campaign run (attributes.campaign_activity_id)"),
    (
        "treatment_id",
        "A/B treatment (attributes.treatment_id, '0' without treatments)",
    ),
    ("journey_id", "journey id"),
    ("journey_activity_id", "journey activity id"),
    ("journey_run_id", "journey run id"),
    ("send_status", "campaign_send_status or journey_send_status"),
    (
        "delivery_type",
        "attributes.delivery_type (EMAIL, SMS, GCM, APNS, ...)",
    ),
    (
        "message_key",
        "identity of one message (see the metric catalog)",
    ),
    ("message_id", "email or SMS message id as recorded"),
    ("address", "recipient email address or phone number"),
    ("from_address", "sender address (email)"),
    ("subject", "email subject"),
    ("link", "clicked link (email click and unsubscribe)"),
    ("user_agent", "user agent of an open or click"),
    ("ip_address", "IP address of an open or click"),
    ("bounce_type", "Permanent, Transient or Undetermined"),
    (
        "bounce_sub_type",
        "bounce sub-type (General, NoEmail, MailboxFull, ...)",
    ),
    ("complaint_type", "complaint feedback type"),
    ("reject_reason", "reason of a rejected or failed email"),
    (
        "record_status",
        "SMS record status (DELIVERED, UNREACHABLE, ...)",
    ),
    ("iso_country_code", "SMS destination country"),
    (
        "message_type",
        "SMS message type (Transactional, Promotional)",
    ),
    ("message_parts", "SMS message parts"),
    ("price_millicents", "metrics.price_in_millicents_usd"),
    ("aws_account_id", "AWS account of the record"),
    (
        "source_format",
        "pinpoint_json, ses_json or firehose_parquet",
    ),
    ("source_file", "file the record was read from"),
    (
        "source_offset",
        "byte offset (JSON) or row number (Parquet) in the source file",
    ),
    (
        "record_hash",
        "128-bit identity of the record, used to store duplicates once",
    ),
    (
        "attributes",
        "every attribute of the record (Pinpoint attributes, SES tags)",
    ),
    ("metrics", "every metric of the record"),
    ("raw", "the original record text"),
];

/// The canonical Arrow schema of the events table (partition column included).
pub fn event_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let fields: Vec<Field> = COLUMNS
            .iter()
            .map(|(name, _)| {
                let (ty, nullable) = match *name {
                    "event_date" => (DataType::Date32, false),
                    "event_type" | "channel" | "source_format" | "raw" => (DataType::Utf8, false),
                    "occurred_at" => (ts(), false),
                    "sent_at" => (ts(), true),
                    "message_parts" => (DataType::Int32, true),
                    "price_millicents" => (DataType::Float64, true),
                    "source_offset" => (DataType::Int64, true),
                    "record_hash" => (DataType::Binary, false),
                    "attributes" => (map_type(DataType::Utf8), true),
                    "metrics" => (map_type(DataType::Float64), true),
                    _ => (DataType::Utf8, true),
                };
                Field::new(*name, ty, nullable)
            })
            .collect();
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// Index of a column in [`event_schema`]; panics on an unknown name, which is a
/// programming error caught by the tests.
pub fn column_index(name: &str) -> usize {
    COLUMNS
        .iter()
        .position(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no column {name} in the event schema"))
}
