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

/// What a column holds, as Arrow types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A UTC date (`Date32`), never null.
    Date,
    /// Text that may be missing.
    Text,
    /// Text every event has.
    RequiredText,
    /// A UTC instant in microseconds that may be missing.
    Timestamp,
    /// A UTC instant in microseconds every event has.
    RequiredTimestamp,
    /// A 32-bit integer that may be missing.
    Int32,
    /// A 64-bit integer that may be missing.
    Int64,
    /// A float that may be missing.
    Float64,
    /// The 16-byte record identity.
    Hash,
    /// A map of text to text.
    TextMap,
    /// A map of text to float.
    NumberMap,
}

impl Kind {
    fn arrow(self) -> (DataType, bool) {
        match self {
            Kind::Date => (DataType::Date32, false),
            Kind::Text => (DataType::Utf8, true),
            Kind::RequiredText => (DataType::Utf8, false),
            Kind::Timestamp => (ts(), true),
            Kind::RequiredTimestamp => (ts(), false),
            Kind::Int32 => (DataType::Int32, true),
            Kind::Int64 => (DataType::Int64, true),
            Kind::Float64 => (DataType::Float64, true),
            Kind::Hash => (DataType::Binary, false),
            Kind::TextMap => (map_type(DataType::Utf8), true),
            Kind::NumberMap => (map_type(DataType::Float64), true),
        }
    }
}

/// One column of the events table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Its name.
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// One line on what it means (the CLI's `describe`, the docs).
    pub doc: &'static str,
}

const fn col(name: &'static str, kind: Kind, doc: &'static str) -> Column {
    Column { name, kind, doc }
}

use Kind::*;

/// The event schema, declared once: every column in storage order, with
/// its kind and meaning. The Arrow schema, the batch builder's positions and
/// the docs are derived from it.
#[rustfmt::skip]
pub const COLUMNS: &[Column] = &[
    col("event_date", Date, "UTC date of occurred_at (partition column)"),
    col("campaign_id", Text, "campaign id (Pinpoint attributes.campaign_id, SES tag)"),
    col("event_type", RequiredText, "Pinpoint event type, e.g. _email.send; SES types are mapped onto these"),
    col("occurred_at", RequiredTimestamp, "when the event happened (Pinpoint arrival_timestamp, SES event timestamp)"),
    col("sent_at", Timestamp, "when the message was sent (Pinpoint event_timestamp, SES mail.timestamp)"),
    col("channel", RequiredText, "email, sms, push, voice, in_app, custom or app"),
    col("app_id", Text, "Pinpoint application (project) id"),
    col("endpoint_id", Text, "client.client_id; for SES, the recipient address"),
    col("run_id", Text, "campaign run (attributes.campaign_activity_id)"),
    col("treatment_id", Text, "A/B treatment (attributes.treatment_id, '0' without treatments)"),
    col("journey_id", Text, "journey id"),
    col("journey_activity_id", Text, "journey activity id"),
    col("journey_run_id", Text, "journey run id"),
    col("send_status", Text, "campaign_send_status or journey_send_status"),
    col("delivery_type", Text, "attributes.delivery_type (EMAIL, SMS, GCM, APNS, ...)"),
    col("message_key", Text, "identity of one message (see the metric catalog)"),
    col("message_id", Text, "email or SMS message id as recorded"),
    col("address", Text, "recipient email address or phone number"),
    col("from_address", Text, "sender address (email)"),
    col("subject", Text, "email subject"),
    col("link", Text, "clicked link (email click and unsubscribe)"),
    col("user_agent", Text, "user agent of an open or click"),
    col("ip_address", Text, "IP address of an open or click"),
    col("bounce_type", Text, "Permanent, Transient or Undetermined"),
    col("bounce_sub_type", Text, "bounce sub-type (General, NoEmail, MailboxFull, ...)"),
    col("complaint_type", Text, "complaint feedback type"),
    col("reject_reason", Text, "reason of a rejected or failed email"),
    col("record_status", Text, "SMS record status (DELIVERED, UNREACHABLE, ...)"),
    col("iso_country_code", Text, "SMS destination country"),
    col("message_type", Text, "SMS message type (Transactional, Promotional)"),
    col("message_parts", Int32, "SMS message parts"),
    col("price_millicents", Float64, "metrics.price_in_millicents_usd"),
    col("aws_account_id", Text, "AWS account of the record"),
    col("source_format", RequiredText, "pinpoint_json, ses_json or firehose_parquet"),
    col("source_file", Text, "file the record was read from"),
    col("source_offset", Int64, "byte offset (JSON) or row number (Parquet) in the source file"),
    col("record_hash", Hash, "128-bit identity of the record, used to store duplicates once"),
    col("attributes", TextMap, "every attribute of the record (Pinpoint attributes, SES tags)"),
    col("metrics", NumberMap, "every metric of the record"),
    col("raw", RequiredText, "the original record text"),
];

/// Position of a column in [`COLUMNS`]; an unknown name fails the build
/// where it is used in a constant.
pub const fn position(name: &str) -> usize {
    let mut i = 0;
    while i < COLUMNS.len() {
        if eq(COLUMNS[i].name.as_bytes(), name.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("no such column in the event schema")
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The canonical Arrow schema of the events table (partition column included).
pub fn event_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let fields: Vec<Field> = COLUMNS
            .iter()
            .map(|c| {
                let (ty, nullable) = c.kind.arrow();
                Field::new(c.name, ty, nullable)
            })
            .collect();
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}
