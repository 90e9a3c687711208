//! Events → Arrow record batches of the canonical schema.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, BinaryBuilder, Date32Builder, Float64Builder, Int32Builder,
    Int64Builder, MapArray, StringBuilder, StructArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;

use crate::event::Event;
#[cfg(test)]
use crate::schema::COLUMNS;
use crate::schema::{UTC, event_schema};

/// Where a stored record came from, and its stored text.
pub struct Provenance<'a> {
    pub source_file: &'a str,
    pub source_offset: u64,
    pub record_hash: u128,
    pub raw: &'a str,
}

enum Col {
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
    Text(StringBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bin(BinaryBuilder),
    Map(Box<MapCol>),
}

struct MapCol {
    keys: StringBuilder,
    text_values: StringBuilder,
    num_values: Float64Builder,
    offsets: Vec<i32>,
    numeric: bool,
}

/// Accumulates events column by column, in the order of [`COLUMNS`].
pub struct EventBatchBuilder {
    cols: Vec<Col>,
    rows: usize,
    bytes: usize,
}

impl Default for EventBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn opt<'b>(v: &'b Option<Cow<'_, str>>) -> Option<&'b str> {
    v.as_deref()
}

impl EventBatchBuilder {
    pub fn new() -> Self {
        let schema = event_schema();
        let cols = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Date32 => Col::Date(Date32Builder::new()),
                DataType::Timestamp(_, _) => {
                    Col::Ts(TimestampMicrosecondBuilder::new().with_timezone(UTC))
                }
                DataType::Int32 => Col::I32(Int32Builder::new()),
                DataType::Int64 => Col::I64(Int64Builder::new()),
                DataType::Float64 => Col::F64(Float64Builder::new()),
                DataType::Binary => Col::Bin(BinaryBuilder::new()),
                DataType::Map(_, _) => Col::Map(Box::new(MapCol {
                    keys: StringBuilder::new(),
                    text_values: StringBuilder::new(),
                    num_values: Float64Builder::new(),
                    offsets: vec![0],
                    numeric: f.name() == "metrics",
                })),
                _ => Col::Text(StringBuilder::new()),
            })
            .collect();
        EventBatchBuilder {
            cols,
            rows: 0,
            bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Approximate bytes held, to flush before a batch grows too large.
    pub fn approx_bytes(&self) -> usize {
        self.bytes
    }

    fn text(&mut self, i: usize, v: Option<&str>) {
        let Col::Text(b) = &mut self.cols[i] else {
            unreachable!("column {i} is text")
        };
        self.bytes += v.map_or(1, str::len);
        b.append_option(v);
    }

    /// Append one event. Columns are addressed by position; the test
    /// `positions_match_schema` keeps these numbers and [`COLUMNS`] in step.
    pub fn append(&mut self, e: &Event<'_>, p: &Provenance<'_>) {
        if let Col::Date(b) = &mut self.cols[0] {
            b.append_value(e.event_date());
        }
        self.text(1, opt(&e.campaign_id));
        self.text(2, Some(&e.event_type));
        if let Col::Ts(b) = &mut self.cols[3] {
            b.append_value(e.occurred_at);
        }
        if let Col::Ts(b) = &mut self.cols[4] {
            b.append_option(e.sent_at);
        }
        self.text(5, Some(e.channel));
        let texts = [
            &e.app_id,
            &e.endpoint_id,
            &e.run_id,
            &e.treatment_id,
            &e.journey_id,
            &e.journey_activity_id,
            &e.journey_run_id,
            &e.send_status,
            &e.delivery_type,
            &e.message_key,
            &e.message_id,
            &e.address,
            &e.from_address,
            &e.subject,
            &e.link,
            &e.user_agent,
            &e.ip_address,
            &e.bounce_type,
            &e.bounce_sub_type,
            &e.complaint_type,
            &e.reject_reason,
            &e.record_status,
            &e.iso_country_code,
            &e.message_type,
        ];
        for (i, v) in texts.into_iter().enumerate() {
            self.text(6 + i, opt(v));
        }
        if let Col::I32(b) = &mut self.cols[30] {
            b.append_option(e.message_parts);
        }
        if let Col::F64(b) = &mut self.cols[31] {
            b.append_option(e.price_millicents);
        }
        self.text(32, opt(&e.aws_account_id));
        self.text(33, Some(e.format.map_or("unknown", |f| f.as_str())));
        self.text(34, Some(p.source_file));
        if let Col::I64(b) = &mut self.cols[35] {
            b.append_value(p.source_offset as i64);
        }
        if let Col::Bin(b) = &mut self.cols[36] {
            b.append_value(p.record_hash.to_be_bytes());
        }
        if let Col::Map(m) = &mut self.cols[37] {
            for (k, v) in &e.attributes {
                m.keys.append_value(k);
                m.text_values.append_value(v);
                self.bytes += k.len() + v.len() + 8;
            }
            m.offsets.push(m.keys.len() as i32);
        }
        if let Col::Map(m) = &mut self.cols[38] {
            for (k, v) in &e.metrics {
                m.keys.append_value(k);
                m.num_values.append_value(*v);
                self.bytes += k.len() + 12;
            }
            m.offsets.push(m.keys.len() as i32);
        }
        self.text(39, Some(p.raw));
        self.bytes += 64;
        self.rows += 1;
    }

    /// Finish the rows appended so far into one batch and start anew.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let schema = event_schema();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.cols.len());
        for (col, field) in self.cols.iter_mut().zip(schema.fields()) {
            let array: ArrayRef = match col {
                Col::Date(b) => Arc::new(b.finish()),
                Col::Ts(b) => Arc::new(b.finish()),
                Col::Text(b) => {
                    let array = Arc::new(b.finish());
                    // Start the next batch with room for one like this one, so the
                    // large text columns are not grown (and copied) step by step.
                    *b = StringBuilder::with_capacity(array.len(), array.value_data().len());
                    array
                }
                Col::I32(b) => Arc::new(b.finish()),
                Col::I64(b) => Arc::new(b.finish()),
                Col::F64(b) => Arc::new(b.finish()),
                Col::Bin(b) => Arc::new(b.finish()),
                Col::Map(m) => {
                    let MapCol {
                        keys,
                        text_values,
                        num_values,
                        offsets,
                        numeric,
                    } = m.as_mut();
                    let DataType::Map(entries_field, sorted) = field.data_type() else {
                        unreachable!("map column")
                    };
                    let DataType::Struct(entry_fields) = entries_field.data_type() else {
                        unreachable!("map entries are a struct")
                    };
                    let values: ArrayRef = if *numeric {
                        Arc::new(num_values.finish())
                    } else {
                        Arc::new(text_values.finish())
                    };
                    let entries = StructArray::try_new(
                        entry_fields.clone(),
                        vec![Arc::new(keys.finish()) as ArrayRef, values],
                        None,
                    )?;
                    let offs = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                    Arc::new(MapArray::try_new(
                        entries_field.clone(),
                        offs,
                        entries,
                        None,
                        *sorted,
                    )?)
                }
            };
            arrays.push(array);
        }
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(schema, arrays)
    }
}

/// Column names in the order [`EventBatchBuilder::append`] writes them.
#[cfg(test)]
const APPEND_ORDER: &[&str] = &[
    "event_date",
    "campaign_id",
    "event_type",
    "occurred_at",
    "sent_at",
    "channel",
    "app_id",
    "endpoint_id",
    "run_id",
    "treatment_id",
    "journey_id",
    "journey_activity_id",
    "journey_run_id",
    "send_status",
    "delivery_type",
    "message_key",
    "message_id",
    "address",
    "from_address",
    "subject",
    "link",
    "user_agent",
    "ip_address",
    "bounce_type",
    "bounce_sub_type",
    "complaint_type",
    "reject_reason",
    "record_status",
    "iso_country_code",
    "message_type",
    "message_parts",
    "price_millicents",
    "aws_account_id",
    "source_format",
    "source_file",
    "source_offset",
    "record_hash",
    "attributes",
    "metrics",
    "raw",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_match_schema() {
        let names: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, APPEND_ORDER);
    }

    #[test]
    fn builds_a_valid_batch() {
        let mut b = EventBatchBuilder::new();
        let e = Event {
            event_type: "_email.send".into(),
            channel: "email",
            occurred_at: 86_400_000_000 + 5,
            attributes: vec![("campaign_id".into(), "c1".into())],
            metrics: vec![("price".into(), 1.5)],
            ..Event::default()
        };
        let p = Provenance {
            source_file: "f",
            source_offset: 3,
            record_hash: 7,
            raw: "{}",
        };
        b.append(&e, &p);
        b.append(&e, &p);
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.num_columns(), COLUMNS.len());
        assert!(b.is_empty());
        assert_eq!(b.finish().unwrap().num_rows(), 0);
    }
}
