//! Events → Arrow record batches of the canonical schema.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BinaryBuilder, Date32Builder, Float64Builder,
    Int32Builder, Int64Builder, MapArray, StringArray, StringBuilder, StructArray,
    TimestampMicrosecondBuilder, UInt32Array,
};
use datafusion::arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Date32Type, SchemaRef, TimestampMicrosecondType};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;

use crate::event::Event;
#[cfg(test)]
use crate::schema::COLUMNS;
use crate::schema::{SORT_ORDER, UTC, event_schema};

/// Where a stored record came from, and its stored text.
pub struct Provenance<'a> {
    pub source_file: &'a str,
    pub source_offset: u64,
    pub record_hash: u128,
    pub raw: Raw<'a>,
}

/// The stored text of a record.
///
/// Record text is the largest column by far. Rather than copying it into the
/// builder and then again into sorted order, the builder can keep where it
/// lies in the caller's input chunks and copy it once, in sorted order, when
/// the batch is finished (see [`EventBatchBuilder::finish_sorted`]).
#[derive(Debug, Clone, Copy)]
pub enum Raw<'a> {
    /// Text in one of the caller's chunks.
    InChunk(ChunkText),
    /// Text held elsewhere (a rewritten record): copied into the builder.
    Text(&'a str),
}

/// Where a record's text lies in the caller's chunks: `len` bytes at
/// `start` of chunk number `chunk`.
#[derive(Debug, Clone, Copy)]
pub struct ChunkText {
    chunk: u32,
    start: usize,
    len: usize,
}

impl ChunkText {
    /// # Safety
    ///
    /// The `len` bytes at `start` of the chunk given as number `chunk` to
    /// [`EventBatchBuilder::finish_sorted`] must be valid UTF-8 then. The
    /// caller has checked them already (it decoded the record from them as
    /// `&str`), so the finished column takes them without a second check.
    pub unsafe fn new(chunk: u32, start: usize, len: usize) -> Self {
        ChunkText { chunk, start, len }
    }
}

/// `ChunkText::chunk` of rows whose text is in the builder's own buffer.
const OWNED: u32 = u32::MAX;

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
    /// Raw text of each row (the last column), resolved at finish.
    raw: Vec<ChunkText>,
    owned_raw: Vec<u8>,
    /// The last batch's raw text buffer, given back by [`Self::recycle_raw`]
    /// once written: tens of MB that would otherwise be fresh memory, faulted
    /// in and zeroed by the kernel, for every batch.
    raw_spare: Vec<u8>,
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
        let fields = schema.fields();
        // The raw text, last, is kept apart: see [`Raw`].
        debug_assert_eq!(fields.last().map(|f| f.name().as_str()), Some("raw"));
        let cols = fields[..fields.len() - 1]
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
            raw: Vec::new(),
            owned_raw: Vec::new(),
            raw_spare: Vec::new(),
            rows: 0,
            bytes: 0,
        }
    }

    /// Give back the raw text buffer of a finished batch (the `raw` column's
    /// values) when nothing else holds it, for the next batch to fill.
    pub fn recycle_raw(&mut self, values: Buffer) {
        if let Ok(v) = values.into_vec::<u8>()
            && v.capacity() > self.raw_spare.capacity()
        {
            self.raw_spare = v;
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
        let slot = match p.raw {
            Raw::InChunk(text) => text,
            Raw::Text(t) => {
                let start = self.owned_raw.len();
                self.owned_raw.extend_from_slice(t.as_bytes());
                ChunkText {
                    chunk: OWNED,
                    start,
                    len: t.len(),
                }
            }
        };
        self.raw.push(slot);
        self.bytes += slot.len + 64;
        self.rows += 1;
    }

    /// Finish the rows appended so far into one batch in [`SORT_ORDER`] and
    /// start anew. `chunks` are the caller's chunks that [`Raw::InChunk`]
    /// rows point into.
    pub fn finish_sorted(&mut self, chunks: &[&[u8]]) -> Result<RecordBatch, ArrowError> {
        let schema = event_schema();
        let n = self.cols.len();
        let mut arrays = self.finish_columns(&schema)?;
        let indices = UInt32Array::from(sort_order(&schema, &arrays)?);
        for a in arrays.iter_mut() {
            *a = match a.as_any().downcast_ref::<MapArray>() {
                Some(map) => take_map(map, &indices)?,
                None => take(a.as_ref(), &indices, None)?,
            };
        }
        let raw = self.finish_raw(indices.values(), chunks)?;
        arrays.push(raw);
        debug_assert_eq!(arrays.len(), n + 1);
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(schema, arrays)
    }

    /// The raw text column, copied once from where each row's text lies, in
    /// `order`.
    fn finish_raw(&mut self, order: &[u32], chunks: &[&[u8]]) -> Result<ArrayRef, ArrowError> {
        let total: usize = self.raw.iter().map(|s| s.len).sum();
        let mut values = std::mem::take(&mut self.raw_spare);
        values.clear();
        values.reserve(total);
        let mut offsets = Vec::with_capacity(order.len() + 1);
        offsets.push(0i32);
        for &i in order {
            let slot = self.raw[i as usize];
            let source = if slot.chunk == OWNED {
                &self.owned_raw[..]
            } else {
                chunks.get(slot.chunk as usize).copied().ok_or_else(|| {
                    ArrowError::InvalidArgumentError(format!(
                        "raw text in missing chunk {}",
                        slot.chunk
                    ))
                })?
            };
            let bytes = source
                .get(slot.start..slot.start + slot.len)
                .ok_or_else(|| {
                    ArrowError::InvalidArgumentError("raw text outside its chunk".into())
                })?;
            values.extend_from_slice(bytes);
            offsets.push(i32::try_from(values.len()).map_err(|_| {
                ArrowError::InvalidArgumentError("raw text of one batch over 2 GiB".into())
            })?);
        }
        self.raw.clear();
        self.owned_raw.clear();
        // SAFETY: every piece is a `&str` copied into the builder or chunk
        // text that `ChunkText::new`'s caller vouched is UTF-8; pieces of
        // UTF-8 joined are UTF-8, and the offsets fall between pieces
        // (`OffsetBuffer::new` checks that they ascend).
        let array = unsafe {
            StringArray::new_unchecked(
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                Buffer::from_vec(values),
                None,
            )
        };
        Ok(Arc::new(array))
    }

    /// Every column but the raw text, in append order.
    fn finish_columns(&mut self, schema: &SchemaRef) -> Result<Vec<ArrayRef>, ArrowError> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.cols.len() + 1);
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
        Ok(arrays)
    }
}

/// Row numbers in [`SORT_ORDER`] (nulls first). Each row gets one integer
/// key (date, the campaign id's rank among the batch's few distinct ids,
/// sent time), so the sort compares integers: arrow's `lexsort_to_indices`
/// chooses each column's comparator at run time and compares the id strings
/// every time; it took 3.7 % of ingest's instructions.
fn sort_order(schema: &SchemaRef, arrays: &[ArrayRef]) -> Result<Vec<u32>, ArrowError> {
    let [date, campaign, sent] = SORT_ORDER.map(|name| schema.index_of(name));
    let dates = arrays[date?].as_primitive_opt::<Date32Type>();
    let campaigns = arrays[campaign?].as_string_opt::<i32>();
    let sent = arrays[sent?].as_primitive_opt::<TimestampMicrosecondType>();
    let (Some(dates), Some(campaigns), Some(sent)) = (dates, campaigns, sent) else {
        return Err(ArrowError::InvalidArgumentError(
            "sort columns do not have the event schema's types".into(),
        ));
    };
    if dates.len() >= 1 << 30 {
        return Err(ArrowError::InvalidArgumentError(
            "a batch to sort has over 2^30 rows".into(),
        ));
    }
    let rank = campaign_ranks(campaigns);
    // One u128 per row, most significant first: date present (1 bit), date
    // (32), campaign rank (30; 0 = none), sent time present (1), sent time
    // (64). Flipping the sign bit orders signed values as unsigned ones; an
    // absent value is 0 with its flag 0, so nulls come first.
    let mut keys: Vec<(u128, u32)> = (0..dates.len())
        .map(|i| {
            let date = dates
                .is_valid(i)
                .then(|| (1 << 32) | u128::from(dates.value(i) as u32 ^ (1 << 31)));
            let sent = sent
                .is_valid(i)
                .then(|| (1 << 64) | u128::from(sent.value(i) as u64 ^ (1 << 63)));
            let key = (date.unwrap_or(0) << 95) | (u128::from(rank[i]) << 65) | sent.unwrap_or(0);
            (key, i as u32)
        })
        .collect();
    keys.sort_unstable();
    Ok(keys.into_iter().map(|(_, i)| i).collect())
}

/// Each row's campaign id as its rank among the batch's distinct ids in
/// byte order, 0 for none.
fn campaign_ranks(campaigns: &StringArray) -> Vec<u32> {
    let mut ids: HashMap<&str, u32> = HashMap::new();
    for id in campaigns.iter().flatten() {
        ids.entry(id).or_default();
    }
    let mut distinct: Vec<&str> = ids.keys().copied().collect();
    distinct.sort_unstable();
    for (rank, id) in distinct.into_iter().enumerate() {
        ids.insert(id, rank as u32 + 1);
    }
    campaigns
        .iter()
        .map(|id| id.map_or(0, |id| ids[id]))
        .collect()
}

/// `take` for a map column. Arrow's generic path extends the result row by
/// row through `MutableArrayData`; gathering the entries by index instead
/// lets each child (key and value strings) use the fast typed `take`.
fn take_map(map: &MapArray, indices: &UInt32Array) -> Result<ArrayRef, ArrowError> {
    // The builder never writes a null map; should one appear, its validity
    // has to move with the rows, which the generic path does.
    if map.nulls().is_some() {
        return take(map, indices, None);
    }
    let offsets = map.value_offsets();
    let mut entries = Vec::with_capacity(map.entries().len());
    let mut new_offsets = Vec::with_capacity(indices.len() + 1);
    new_offsets.push(0i32);
    for &row in indices.values() {
        let row = row as usize;
        entries.extend(offsets[row] as u32..offsets[row + 1] as u32);
        new_offsets.push(entries.len() as i32);
    }
    let entries = take(map.entries(), &UInt32Array::from(entries), None)?;
    let DataType::Map(field, sorted) = map.data_type() else {
        unreachable!("a map array has a map type")
    };
    Ok(Arc::new(MapArray::try_new(
        field.clone(),
        OffsetBuffer::new(ScalarBuffer::from(new_offsets)),
        entries
            .as_any()
            .downcast_ref::<StructArray>()
            .cloned()
            .ok_or_else(|| {
                ArrowError::InvalidArgumentError("map entries are not a struct".into())
            })?,
        None,
        *sorted,
    )?))
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
            raw: Raw::Text("{}"),
        };
        b.append(&e, &p);
        let chunk = br#"..{"a":1}"#;
        let later = Event {
            occurred_at: 2 * 86_400_000_000,
            ..e.clone()
        };
        b.append(
            &later,
            &Provenance {
                // SAFETY: bytes 2..9 of `chunk` are the ASCII text `{"a":1}`.
                raw: Raw::InChunk(unsafe { ChunkText::new(0, 2, 7) }),
                ..p
            },
        );
        b.append(&e, &p);
        let batch = b.finish_sorted(&[chunk]).unwrap();
        assert_eq!(batch.num_rows(), 3);
        assert_eq!(batch.num_columns(), COLUMNS.len());
        let raw = batch
            .column_by_name("raw")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        // Sorted by date: the chunk row moves last, with its text.
        assert_eq!(
            raw.iter().collect::<Vec<_>>(),
            [Some("{}"), Some("{}"), Some(r#"{"a":1}"#)]
        );
        assert!(b.is_empty());
        assert_eq!(b.finish_sorted(&[]).unwrap().num_rows(), 0);
    }

    #[test]
    fn rows_sort_by_date_campaign_and_send_time_nulls_first() {
        const DAY: i64 = 86_400_000_000;
        // (day, campaign, sent_at): a day before 1970 and a negative send
        // time check the sign handling of the integer key.
        let rows: [(i64, Option<&str>, Option<i64>); 7] = [
            (2, Some("b"), Some(5)),
            (1, Some("b"), Some(9)),
            (1, None, Some(7)),
            (1, Some("a"), None),
            (1, Some("a"), Some(3)),
            (-1, Some("z"), Some(1)),
            (1, Some("a"), Some(-5)),
        ];
        let names: Vec<String> = (0..rows.len()).map(|i| format!("r{i}")).collect();
        let mut b = EventBatchBuilder::new();
        for ((day, campaign, sent), name) in rows.iter().zip(&names) {
            let e = Event {
                event_type: "_email.send".into(),
                occurred_at: day * DAY + 1,
                campaign_id: campaign.map(Cow::Borrowed),
                sent_at: *sent,
                ..Event::default()
            };
            let p = Provenance {
                source_file: "f",
                source_offset: 0,
                record_hash: 0,
                raw: Raw::Text(name),
            };
            b.append(&e, &p);
        }
        let batch = b.finish_sorted(&[]).unwrap();
        let raw = batch.column_by_name("raw").unwrap().as_string::<i32>();
        assert_eq!(
            raw.iter().flatten().collect::<Vec<_>>(),
            ["r5", "r2", "r3", "r6", "r4", "r1", "r0"]
        );
    }

    #[test]
    fn maps_follow_their_rows_when_sorted() {
        let mut b = EventBatchBuilder::new();
        let p = Provenance {
            source_file: "f",
            source_offset: 0,
            record_hash: 0,
            raw: Raw::Text("{}"),
        };
        // Days 3, 1, 2 with 2, 0 and 1 attributes; sorted: 1, 2, 3.
        for (day, attrs) in [(3, vec!["a", "b"]), (1, vec![]), (2, vec!["c"])] {
            let e = Event {
                event_type: "_email.send".into(),
                occurred_at: day * 86_400_000_000,
                attributes: attrs
                    .iter()
                    .map(|k| ((*k).into(), format!("{k}{day}").into()))
                    .collect(),
                metrics: vec![("n".into(), day as f64)],
                ..Event::default()
            };
            b.append(&e, &p);
        }
        let batch = b.finish_sorted(&[]).unwrap();
        let rows = |name: &str| -> Vec<String> {
            let map = batch
                .column_by_name(name)
                .unwrap()
                .as_any()
                .downcast_ref::<MapArray>()
                .unwrap();
            (0..map.len())
                .map(|i| {
                    let entry = map.value(i);
                    let keys = entry
                        .column(0)
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .unwrap();
                    let values = datafusion::arrow::util::display::ArrayFormatter::try_new(
                        entry.column(1).as_ref(),
                        &Default::default(),
                    )
                    .unwrap();
                    (0..entry.len())
                        .map(|j| format!("{}={}", keys.value(j), values.value(j)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect()
        };
        assert_eq!(rows("attributes"), ["", "c=c2", "a=a3,b=b3"]);
        assert_eq!(rows("metrics"), ["n=1.0", "n=2.0", "n=3.0"]);
    }
}
