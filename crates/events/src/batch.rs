//! Events → Arrow record batches of the canonical schema.
//!
//! Text is most of a batch, and the rows are written sorted. Rather than
//! copying each text value into a column as it arrives and then again into
//! sorted order, the builder keeps where each value lies (a [`Span`]: in the
//! caller's input chunk, or in its own buffer for text that lies nowhere
//! else) and copies every value once, in sorted order, row by row, when the
//! batch is finished: a row's values lie together in its record, so the
//! copy reads each record once while it is in cache.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, Date32Array, Date32Builder, Float64Array,
    Float64Builder, Int32Builder, Int64Builder, MapArray, StringArray, StructArray,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder, UInt32Array,
};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use xxhash_rust::xxh3::xxh3_64;

use crate::event::Event;
#[cfg(test)]
use crate::schema::{COLUMNS, Kind};
use crate::schema::{SORT_ORDER, UTC, event_schema, position};

// Positions of the columns that are not text, fixed when compiling.
const EVENT_DATE_AT: usize = position("event_date");
const OCCURRED_AT: usize = position("occurred_at");
const SENT_AT: usize = position("sent_at");
const MESSAGE_PARTS_AT: usize = position("message_parts");
const PRICE_AT: usize = position("price_millicents");
const SOURCE_OFFSET_AT: usize = position("source_offset");
const RECORD_HASH_AT: usize = position("record_hash");

/// Where a stored record came from, and its stored text.
pub struct Provenance<'a> {
    pub source_file: &'a str,
    pub source_offset: u64,
    pub record_hash: u128,
    pub raw: Raw<'a>,
}

/// The stored text of a record.
#[derive(Debug, Clone, Copy)]
pub enum Raw<'a> {
    /// The record's text, as it lies in one of the caller's chunks. The
    /// event's values that borrow from it are taken from the chunk too.
    InChunk(ChunkText<'a>),
    /// Text held elsewhere (a rewritten record): copied into the builder.
    Text(&'a str),
}

/// A record's text and where it lies in the caller's chunks: at `start` of
/// chunk number `chunk`.
#[derive(Debug, Clone, Copy)]
pub struct ChunkText<'a> {
    text: &'a str,
    chunk: u32,
    start: usize,
}

impl<'a> ChunkText<'a> {
    /// # Safety
    ///
    /// `text` must be the bytes at `start` of the chunk given as number
    /// `chunk` to [`EventBatchBuilder::finish_sorted`], and those bytes must
    /// stay as they are until then. The finished columns take the record's
    /// text, and every value that borrows from it, from the chunk without
    /// checking again that they are UTF-8 (they were, as `&str`, here).
    pub unsafe fn new(text: &'a str, chunk: u32, start: usize) -> Self {
        ChunkText { text, chunk, start }
    }

    /// Where `value` lies in the chunk, if it is part of this record's text.
    #[inline(always)]
    fn span_of(&self, value: &str) -> Option<Span> {
        let offset = (value.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        if offset > self.text.len() || value.len() > self.text.len() - offset {
            return None;
        }
        Some(Span {
            chunk: self.chunk,
            len: u32::try_from(value.len()).ok()?,
            start: u32::try_from(self.start + offset).ok()?,
        })
    }
}

/// Where one text value lies: `len` bytes at `start` of chunk number
/// `chunk`, of the builder's own buffer ([`OWNED`]), or no value ([`NULL`]).
/// Twelve bytes: a batch holds tens of spans per row, written as rows are
/// appended and read in sorted order, and their memory traffic showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    chunk: u32,
    len: u32,
    start: u32,
}

const OWNED: u32 = u32::MAX;
const NO_VALUE: u32 = u32::MAX - 1;
const NULL: Span = Span {
    chunk: NO_VALUE,
    len: 0,
    start: 0,
};

/// The columns that are not text (text values are [`Span`]s, kept apart).
enum Col {
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
    Text,
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bin(BinaryBuilder),
    Attributes,
    Metrics,
}

/// A map column's entries, in append order.
struct Entries<V> {
    keys: Vec<Span>,
    values: Vec<V>,
    /// Each row's end in `keys` and `values`.
    ends: Vec<usize>,
    key_bytes: usize,
    value_bytes: usize,
}

impl<V> Entries<V> {
    fn new() -> Self {
        Entries {
            keys: Vec::new(),
            values: Vec::new(),
            ends: Vec::new(),
            key_bytes: 0,
            value_bytes: 0,
        }
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.values.clear();
        self.ends.clear();
        self.key_bytes = 0;
        self.value_bytes = 0;
    }
}

/// Accumulates events, in the column order of [`COLUMNS`].
pub struct EventBatchBuilder {
    cols: Vec<Col>,
    /// Text values per row: the text columns in schema order, then `raw`.
    slots: usize,
    /// Each row's campaign, numbered in order of first appearance (a sort
    /// key, ranked when the batch is finished).
    campaigns: CampaignNumbers,
    /// `slots` spans per row, row after row.
    spans: Vec<Span>,
    /// Bytes of each slot's values so far: the finished column's size.
    slot_bytes: Vec<usize>,
    /// Each slot's last value copied into `owned`, reused when the next one
    /// is the same (a file name, a channel, a format: once per batch).
    last_owned: Vec<Span>,
    attributes: Entries<Span>,
    metrics: Entries<f64>,
    /// Text that lies in no chunk: rewritten records, normalised values.
    owned: Vec<u8>,
    /// A text value over 4 GiB, or past 4 GiB of copied text, was appended;
    /// finishing fails.
    too_long: bool,
    /// Rows left out of the batch ([`Self::drop_row`]); empty until the
    /// first one.
    dropped: Vec<bool>,
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

impl EventBatchBuilder {
    pub fn new() -> Self {
        let schema = event_schema();
        let fields = schema.fields();
        debug_assert_eq!(fields.last().map(|f| f.name().as_str()), Some("raw"));
        let cols: Vec<Col> = fields[..fields.len() - 1]
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
                DataType::Map(_, _) if f.name() == "metrics" => Col::Metrics,
                DataType::Map(_, _) => Col::Attributes,
                _ => Col::Text,
            })
            .collect();
        let text_columns = cols.iter().filter(|c| matches!(c, Col::Text)).count();
        let slots = text_columns + 1;
        EventBatchBuilder {
            cols,
            slots,
            campaigns: CampaignNumbers::default(),
            spans: Vec::new(),
            slot_bytes: vec![0; slots],
            last_owned: vec![NULL; slots],
            attributes: Entries::new(),
            metrics: Entries::new(),
            owned: Vec::new(),
            too_long: false,
            dropped: Vec::new(),
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

    /// Leave row `row` (in append order) out of the finished batch: the
    /// caller learnt, after appending it, that it is a duplicate.
    pub fn drop_row(&mut self, row: usize) {
        if row < self.rows {
            self.dropped.resize(self.rows, false);
            self.dropped[row] = true;
        }
    }

    /// Approximate bytes held, to flush before a batch grows too large.
    pub fn approx_bytes(&self) -> usize {
        self.bytes
    }

    /// Where `value` will be taken from: the record in its chunk, or a copy
    /// in `owned` (reusing slot `reuse`'s last copy when it is the same).
    #[inline]
    fn place(&mut self, record: Option<&ChunkText<'_>>, value: &str, reuse: Option<usize>) -> Span {
        if let Some(span) = record.and_then(|r| r.span_of(value)) {
            return span;
        }
        if let Some(slot) = reuse {
            let last = self.last_owned[slot];
            if last != NULL
                && last.len as usize == value.len()
                && self
                    .owned
                    .get(last.start as usize..last.start as usize + value.len())
                    == Some(value.as_bytes())
            {
                return last;
            }
        }
        let (Ok(len), Ok(start)) = (u32::try_from(value.len()), u32::try_from(self.owned.len()))
        else {
            self.too_long = true;
            return NULL;
        };
        let span = Span {
            chunk: OWNED,
            len,
            start,
        };
        self.owned.extend_from_slice(value.as_bytes());
        if let Some(slot) = reuse {
            self.last_owned[slot] = span;
        }
        span
    }

    /// The next text slot of the row being appended.
    #[inline]
    fn text(&mut self, record: Option<&ChunkText<'_>>, value: Option<&str>) {
        let slot = self.spans.len() - self.rows * self.slots;
        let span = match value {
            Some(v) => {
                self.slot_bytes[slot] += v.len();
                self.bytes += v.len();
                self.place(record, v, Some(slot))
            }
            None => NULL,
        };
        self.bytes += 16;
        self.spans.push(span);
    }

    /// Append one event. Text columns are written in the schema's order
    /// (`text_columns_follow_the_schema` checks it); the others are found
    /// by name.
    pub fn append(&mut self, e: &Event<'_>, p: &Provenance<'_>) {
        let record = match &p.raw {
            Raw::InChunk(at) => Some(at),
            Raw::Text(_) => None,
        };
        if let Col::Date(b) = &mut self.cols[EVENT_DATE_AT] {
            b.append_value(e.event_date());
        }
        self.campaigns.push(e.campaign_id.as_deref());
        self.text(record, e.campaign_id.as_deref());
        self.text(record, Some(&e.event_type));
        if let Col::Ts(b) = &mut self.cols[OCCURRED_AT] {
            b.append_value(e.occurred_at);
        }
        if let Col::Ts(b) = &mut self.cols[SENT_AT] {
            b.append_option(e.sent_at);
        }
        self.text(record, Some(e.channel));
        for v in e.column_texts() {
            self.text(record, v.as_deref());
        }
        if let Col::I32(b) = &mut self.cols[MESSAGE_PARTS_AT] {
            b.append_option(e.message_parts);
        }
        if let Col::F64(b) = &mut self.cols[PRICE_AT] {
            b.append_option(e.price_millicents);
        }
        self.text(record, e.aws_account_id.as_deref());
        self.text(record, Some(e.format.map_or("unknown", |f| f.as_str())));
        self.text(record, Some(p.source_file));
        if let Col::I64(b) = &mut self.cols[SOURCE_OFFSET_AT] {
            b.append_value(p.source_offset as i64);
        }
        if let Col::Bin(b) = &mut self.cols[RECORD_HASH_AT] {
            b.append_value(p.record_hash.to_be_bytes());
        }
        for (k, v) in &e.attributes {
            let key = self.place(record, k, None);
            let value = self.place(record, v, None);
            let a = &mut self.attributes;
            a.keys.push(key);
            a.values.push(value);
            a.key_bytes += k.len();
            a.value_bytes += v.len();
            self.bytes += k.len() + v.len() + 32;
        }
        self.attributes.ends.push(self.attributes.keys.len());
        for (k, v) in &e.metrics {
            let key = self.place(record, k, None);
            let m = &mut self.metrics;
            m.keys.push(key);
            m.values.push(*v);
            m.key_bytes += k.len();
            self.bytes += k.len() + 24;
        }
        self.metrics.ends.push(self.metrics.keys.len());
        let raw = match p.raw {
            Raw::InChunk(at) => at.text,
            Raw::Text(t) => t,
        };
        self.text(record, Some(raw));
        debug_assert_eq!(self.spans.len(), (self.rows + 1) * self.slots);
        self.bytes += 48;
        self.rows += 1;
    }

    /// Finish the rows appended so far, but the dropped ones, into one batch
    /// in [`SORT_ORDER`] and start anew. `chunks` are the caller's chunks
    /// that [`Raw::InChunk`] rows point into.
    pub fn finish_sorted(&mut self, chunks: &[&[u8]]) -> Result<RecordBatch, ArrowError> {
        let batch = self.build(chunks);
        self.spans.clear();
        self.slot_bytes.fill(0);
        self.last_owned.fill(NULL);
        self.attributes.clear();
        self.metrics.clear();
        self.owned.clear();
        self.dropped.clear();
        self.campaigns.clear();
        self.too_long = false;
        self.rows = 0;
        self.bytes = 0;
        batch
    }

    fn build(&mut self, chunks: &[&[u8]]) -> Result<RecordBatch, ArrowError> {
        if self.too_long {
            return Err(ArrowError::InvalidArgumentError(
                "a text value of over 4 GiB, or over 4 GiB of text in one batch".into(),
            ));
        }
        let schema = event_schema();
        let fields = schema.fields();
        let text = Sources {
            chunks,
            owned: &self.owned,
        };
        // Columns that are not text, in append order; `None` for text.
        let mut others: Vec<Option<ArrayRef>> = self
            .cols
            .iter_mut()
            .map(|c| -> Option<ArrayRef> {
                match c {
                    Col::Date(b) => Some(Arc::new(b.finish())),
                    Col::Ts(b) => Some(Arc::new(b.finish())),
                    Col::I32(b) => Some(Arc::new(b.finish())),
                    Col::I64(b) => Some(Arc::new(b.finish())),
                    Col::F64(b) => Some(Arc::new(b.finish())),
                    Col::Bin(b) => Some(Arc::new(b.finish())),
                    Col::Text | Col::Attributes | Col::Metrics => None,
                }
            })
            .collect();

        let [date, _, sent] = SORT_ORDER.map(|name| schema.index_of(name));
        let dates = others[date?].as_ref().and_then(|a| a.as_primitive_opt());
        let sent = others[sent?].as_ref().and_then(|a| a.as_primitive_opt());
        let (Some(dates), Some(sent)) = (dates, sent) else {
            return Err(ArrowError::InvalidArgumentError(
                "sort columns do not have the event schema's types".into(),
            ));
        };
        let order = UInt32Array::from(sort_order(
            dates,
            &self.campaigns.ranks(),
            sent,
            &self.dropped,
        )?);
        for a in others.iter_mut().flatten() {
            *a = take(a.as_ref(), &order, None)?;
        }

        // Every text value, copied once, row by row in sorted order.
        let mut columns: Vec<TextColumn> = self.slot_bytes[..self.slots - 1]
            .iter()
            .map(|&bytes| TextColumn::with_capacity(self.rows, bytes, Vec::new()))
            .collect::<Result<_, _>>()?;
        let mut raw = TextColumn::with_capacity(
            self.rows,
            self.slot_bytes[self.slots - 1],
            std::mem::take(&mut self.raw_spare),
        )?;
        let (attributes, metrics) = (&self.attributes, &self.metrics);
        let mut attribute_keys =
            TextColumn::with_capacity(attributes.keys.len(), attributes.key_bytes, Vec::new())?;
        let mut attribute_values =
            TextColumn::with_capacity(attributes.keys.len(), attributes.value_bytes, Vec::new())?;
        let mut attribute_ends = Vec::with_capacity(self.rows + 1);
        attribute_ends.push(0i32);
        let mut metric_keys =
            TextColumn::with_capacity(metrics.keys.len(), metrics.key_bytes, Vec::new())?;
        let mut metric_values = Vec::with_capacity(metrics.values.len());
        let mut metric_ends = Vec::with_capacity(self.rows + 1);
        metric_ends.push(0i32);
        for (i, &row) in order.values().iter().enumerate() {
            // Rows ahead lie elsewhere in the chunks and in the spans: ask
            // for their spans first, then (once those have arrived) for
            // their record text, so that both are in cache when their turn
            // comes.
            if let Some(&ahead) = order.values().get(i + 2 * PREFETCH_ROWS) {
                let ahead = ahead as usize;
                prefetch(&self.spans[ahead * self.slots..(ahead + 1) * self.slots]);
                let entries = entries_of(&attributes.ends, ahead);
                prefetch(&attributes.keys[entries.clone()]);
                prefetch(&attributes.values[entries]);
            }
            if let Some(&ahead) = order.values().get(i + PREFETCH_ROWS) {
                text.prefetch(self.spans[(ahead as usize + 1) * self.slots - 1]);
            }
            let row = row as usize;
            let spans = &self.spans[row * self.slots..(row + 1) * self.slots];
            let (raw_span, spans) = spans.split_last().expect("raw is a slot");
            for (column, &span) in columns.iter_mut().zip(spans) {
                column.push(text.bytes(span)?);
            }
            raw.push(text.bytes(*raw_span)?);
            for i in entries_of(&attributes.ends, row) {
                attribute_keys.push(text.bytes(attributes.keys[i])?);
                attribute_values.push(text.bytes(attributes.values[i])?);
            }
            attribute_ends.push(attribute_keys.offsets.len() as i32 - 1);
            for i in entries_of(&metrics.ends, row) {
                metric_keys.push(text.bytes(metrics.keys[i])?);
                metric_values.push(metrics.values[i]);
            }
            metric_ends.push(metric_keys.offsets.len() as i32 - 1);
        }

        let mut attributes = Some((attribute_ends, attribute_keys, attribute_values));
        let mut metrics = Some((metric_ends, metric_keys, metric_values));
        let mut columns = columns.into_iter();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(fields.len());
        for ((col, other), field) in self.cols.iter().zip(others).zip(fields) {
            arrays.push(match (col, other) {
                (_, Some(array)) => array,
                (Col::Attributes, None) => {
                    let (ends, keys, values) = attributes.take().expect("one attributes column");
                    map_array(
                        field.data_type(),
                        ends,
                        keys.finish(),
                        Arc::new(values.finish()),
                    )?
                }
                (Col::Metrics, None) => {
                    let (ends, keys, values) = metrics.take().expect("one metrics column");
                    let values = Arc::new(Float64Array::from(values));
                    map_array(field.data_type(), ends, keys.finish(), values)?
                }
                _ => Arc::new(columns.next().expect("one column per text slot").finish()),
            });
        }
        arrays.push(Arc::new(raw.finish()));
        RecordBatch::try_new(schema, arrays)
    }
}

/// Entry numbers of `row` in a map column with these row ends.
fn entries_of(ends: &[usize], row: usize) -> std::ops::Range<usize> {
    let start = if row == 0 { 0 } else { ends[row - 1] };
    start..ends[row]
}

/// Where spans point: the caller's chunks and the builder's own buffer.
struct Sources<'c> {
    chunks: &'c [&'c [u8]],
    owned: &'c [u8],
}

impl<'c> Sources<'c> {
    #[inline(always)]
    fn bytes(&self, span: Span) -> Result<Option<&'c [u8]>, ArrowError> {
        let source = match span.chunk {
            NO_VALUE => return Ok(None),
            OWNED => self.owned,
            chunk => self.chunks.get(chunk as usize).copied().ok_or_else(|| {
                ArrowError::InvalidArgumentError(format!("text in missing chunk {chunk}"))
            })?,
        };
        source
            .get(span.start as usize..span.start as usize + span.len as usize)
            .map(Some)
            .ok_or_else(|| ArrowError::InvalidArgumentError("text outside its chunk".into()))
    }

    /// Have the cache lines of `span`'s bytes loaded, without waiting.
    #[inline(always)]
    fn prefetch(&self, span: Span) {
        if let Ok(Some(bytes)) = self.bytes(span) {
            prefetch(bytes);
        }
    }
}

/// Have the cache lines of `values` loaded, without waiting.
#[inline(always)]
fn prefetch<T>(values: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // From the line that holds the first byte to the one with the last.
        let start = values.as_ptr() as usize;
        for line in (start & !63..start + std::mem::size_of_val(values)).step_by(64) {
            // SAFETY: a prefetch reads nothing and cannot fault.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line as *const i8) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}

/// How many rows ahead of the copy their record text is prefetched (and
/// twice as many, their spans).
const PREFETCH_ROWS: usize = 4;

/// A string column filled in order, sized beforehand.
struct TextColumn {
    values: Vec<u8>,
    offsets: Vec<i32>,
    /// Validity, one bit per value; left empty until the first null.
    nulls: Vec<u8>,
}

impl TextColumn {
    /// Room for `rows` values of `bytes` in all, in `values`' buffer.
    fn with_capacity(rows: usize, bytes: usize, mut values: Vec<u8>) -> Result<Self, ArrowError> {
        // With the total known to fit, each offset below fits as well.
        if i32::try_from(bytes).is_err() {
            return Err(ArrowError::InvalidArgumentError(
                "one column of a batch holds over 2 GiB of text".into(),
            ));
        }
        values.clear();
        values.reserve(bytes);
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Ok(TextColumn {
            values,
            offsets,
            nulls: Vec::new(),
        })
    }

    #[inline(always)]
    fn push(&mut self, value: Option<&[u8]>) {
        match value {
            Some(v) => self.values.extend_from_slice(v),
            None => {
                let rows = self.offsets.len() - 1;
                if self.nulls.is_empty() {
                    // Every value so far was valid.
                    self.nulls = vec![u8::MAX; self.offsets.capacity().div_ceil(8)];
                }
                self.nulls[rows / 8] &= !(1 << (rows % 8));
            }
        }
        self.offsets.push(self.values.len() as i32);
    }

    fn finish(self) -> StringArray {
        let rows = self.offsets.len() - 1;
        let nulls = (!self.nulls.is_empty())
            .then(|| NullBuffer::new(BooleanBuffer::new(Buffer::from_vec(self.nulls), 0, rows)));
        // SAFETY: every value is a `&str` copied into the builder's buffer,
        // or the same bytes of a chunk that `ChunkText::new`'s caller vouched
        // for; UTF-8 pieces joined are UTF-8, and the offsets fall between
        // pieces (`OffsetBuffer::new` checks that they ascend).
        unsafe {
            StringArray::new_unchecked(
                OffsetBuffer::new(ScalarBuffer::from(self.offsets)),
                Buffer::from_vec(self.values),
                nulls,
            )
        }
    }
}

/// A map column of `map_type` from its entries in row order.
fn map_array(
    map_type: &DataType,
    ends: Vec<i32>,
    keys: StringArray,
    values: ArrayRef,
) -> Result<ArrayRef, ArrowError> {
    let DataType::Map(entries_field, sorted) = map_type else {
        unreachable!("map column")
    };
    let DataType::Struct(entry_fields) = entries_field.data_type() else {
        unreachable!("map entries are a struct")
    };
    let entries = StructArray::try_new(entry_fields.clone(), vec![Arc::new(keys), values], None)?;
    Ok(Arc::new(MapArray::try_new(
        FieldRef::clone(entries_field),
        OffsetBuffer::new(ScalarBuffer::from(ends)),
        entries,
        None,
        *sorted,
    )?))
}

/// Row numbers in [`SORT_ORDER`] (nulls first). Each row gets one integer
/// key (date, the campaign id's rank among the batch's few distinct ids,
/// sent time), so the sort compares integers: arrow's `lexsort_to_indices`
/// chooses each column's comparator at run time and compares the id strings
/// every time; it took 3.7 % of ingest's instructions. Rows marked in
/// `dropped` are left out.
fn sort_order(
    dates: &Date32Array,
    rank: &[u32],
    sent: &TimestampMicrosecondArray,
    dropped: &[bool],
) -> Result<Vec<u32>, ArrowError> {
    if dates.len() >= 1 << 30 {
        return Err(ArrowError::InvalidArgumentError(
            "a batch to sort has over 2^30 rows".into(),
        ));
    }
    // One u128 per row, most significant first: date present (1 bit), date
    // (32), campaign rank (30; 0 = none), sent time present (1), sent time
    // (64). Flipping the sign bit orders signed values as unsigned ones; an
    // absent value is 0 with its flag 0, so nulls come first.
    let mut keys: Vec<(u128, u32)> = (0..dates.len())
        .filter(|&i| !dropped.get(i).copied().unwrap_or(false))
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

/// Campaign ids numbered as rows are appended, while each record's text is
/// still in cache (numbering them when the batch is sorted read every id
/// again from the scattered records). A batch holds a few distinct ids.
#[derive(Default)]
struct CampaignNumbers {
    numbers: HashMap<Box<str>, u32, BuildHasherDefault<IdHasher>>,
    /// Each row's number; [`NO_CAMPAIGN`] for none.
    rows: Vec<u32>,
}

const NO_CAMPAIGN: u32 = u32::MAX;

impl CampaignNumbers {
    fn push(&mut self, id: Option<&str>) {
        let number = match id {
            None => NO_CAMPAIGN,
            Some(id) => match self.numbers.get(id) {
                Some(&n) => n,
                None => {
                    let n = self.numbers.len() as u32;
                    self.numbers.insert(id.into(), n);
                    n
                }
            },
        };
        self.rows.push(number);
    }

    fn clear(&mut self) {
        self.numbers.clear();
        self.rows.clear();
    }

    /// Each row's campaign id as its rank among the batch's distinct ids in
    /// byte order, 0 for none.
    fn ranks(&self) -> Vec<u32> {
        let mut by_id: Vec<(&str, u32)> = self.numbers.iter().map(|(id, &n)| (&**id, n)).collect();
        by_id.sort_unstable();
        let mut rank = vec![0; by_id.len()];
        for (r, &(_, n)) in by_id.iter().enumerate() {
            rank[n as usize] = r as u32 + 1;
        }
        self.rows
            .iter()
            .map(|&n| rank.get(n as usize).copied().unwrap_or(0))
            .collect()
    }
}

/// Hashes campaign ids with xxh3. The standard library's SipHash took 3 % of
/// ingest time here; its key guards against ids crafted to collide, and the
/// ids are the user's own export, at most one batch (16 Ki rows) at a time.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = self.0.rotate_left(5) ^ xxh3_64(bytes);
    }

    /// The length `[u8]` writes first: mixed in without hashing it.
    fn write_usize(&mut self, n: usize) {
        self.0 ^= n as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_columns_follow_the_schema() {
        // The text columns append writes, in order: campaign, type,
        // channel, the event's own, account, format, file, then raw.
        let texts: Vec<&str> = COLUMNS
            .iter()
            .filter(|c| matches!(c.kind, Kind::Text | Kind::RequiredText))
            .map(|c| c.name)
            .collect();
        let mut written = vec!["campaign_id", "event_type", "channel"];
        written.extend(Event::TEXT_COLUMNS);
        written.extend(["aws_account_id", "source_format", "source_file", "raw"]);
        assert_eq!(texts, written);

        // Each text field lands in the column of its name.
        let mut e = Event {
            event_type: "_email.send".into(),
            channel: "email",
            occurred_at: 1,
            ..Event::default()
        };
        for (value, name) in e.column_texts_mut().into_iter().zip(Event::TEXT_COLUMNS) {
            *value = Some((*name).into());
        }
        let mut b = EventBatchBuilder::new();
        b.append(&e, &copied("{}"));
        let batch = b.finish_sorted(&[]).unwrap();
        for name in Event::TEXT_COLUMNS {
            let column = batch.column_by_name(name).unwrap().as_string::<i32>();
            assert_eq!(column.value(0), *name);
        }
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
        let text = std::str::from_utf8(&chunk[2..]).unwrap();
        let later = Event {
            occurred_at: 2 * 86_400_000_000,
            ..e.clone()
        };
        b.append(
            &later,
            &Provenance {
                // SAFETY: `text` is bytes 2.. of `chunk`, passed as chunk 0.
                raw: Raw::InChunk(unsafe { ChunkText::new(text, 0, 2) }),
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
    fn values_are_taken_from_where_they_lie() {
        // Two records in one chunk; the second has an escaped value (owned),
        // a value borrowed from elsewhere, and a missing one.
        let chunk = r#"{"c":"x1","k":"v1"}{"c":"y2","e":"a\"b"}"#.as_bytes().to_vec();
        let all = std::str::from_utf8(&chunk).unwrap();
        let (first, second) = all.split_at(19);
        let elsewhere = String::from("z9");
        let mut b = EventBatchBuilder::new();
        let rows = [
            (
                first,
                0,
                &first[6..8],
                Some(&first[15..17]),
                Some(&first[11..12]),
            ),
            (second, 19, &second[6..8], Some(r#"a"b"#), None),
        ];
        for (day, (text, start, campaign, value, key)) in rows.into_iter().enumerate().rev() {
            let e = Event {
                event_type: "_custom".into(),
                occurred_at: day as i64 * 86_400_000_000,
                campaign_id: Some(campaign.into()),
                endpoint_id: value.map(Into::into),
                app_id: key.map(|_| elsewhere.as_str().into()),
                attributes: key
                    .into_iter()
                    .map(|k| (k.into(), text[15..17].into()))
                    .collect(),
                ..Event::default()
            };
            // SAFETY: `text` is the bytes at `start` of `chunk`, chunk 0.
            let raw = Raw::InChunk(unsafe { ChunkText::new(text, 0, start) });
            let p = Provenance {
                source_file: "f",
                source_offset: start as u64,
                record_hash: 0,
                raw,
            };
            b.append(&e, &p);
        }
        // Only what lies outside the chunk is copied, each repeated value
        // once: `a"b`, `_custom`, `z9`, `unknown` (format), `f`, `` (channel).
        assert_eq!(b.owned.len(), 3 + 7 + 2 + 7 + 1);
        let batch = b.finish_sorted(&[&chunk]).unwrap();
        let column = |name: &str| -> Vec<Option<String>> {
            let a = batch.column_by_name(name).unwrap().as_string::<i32>();
            a.iter().map(|v| v.map(str::to_owned)).collect()
        };
        let s = |v: &str| Some(v.to_string());
        assert_eq!(column("campaign_id"), [s("x1"), s("y2")]);
        assert_eq!(column("endpoint_id"), [s("v1"), s(r#"a"b"#)]);
        assert_eq!(column("app_id"), [s("z9"), None]);
        assert_eq!(column("raw"), [s(first), s(second)]);
        assert_eq!(column("source_file"), [s("f"), s("f")]);
        let attributes = batch.column_by_name("attributes").unwrap().as_map();
        assert_eq!(attributes.value_offsets(), [0, 1, 1]);
        let keys = attributes.keys().as_string::<i32>();
        let values = attributes.values().as_string::<i32>();
        assert_eq!((keys.value(0), values.value(0)), ("k", "v1"));
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
                campaign_id: campaign.map(Into::into),
                sent_at: *sent,
                ..Event::default()
            };
            b.append(&e, &copied(name));
        }
        let batch = b.finish_sorted(&[]).unwrap();
        let raw = batch.column_by_name("raw").unwrap().as_string::<i32>();
        assert_eq!(
            raw.iter().flatten().collect::<Vec<_>>(),
            ["r5", "r2", "r3", "r6", "r4", "r1", "r0"]
        );
    }

    /// A row whose record text is copied (it lies in no chunk).
    fn copied(raw: &str) -> Provenance<'_> {
        Provenance {
            source_file: "f",
            source_offset: 0,
            record_hash: 0,
            raw: Raw::Text(raw),
        }
    }

    #[test]
    fn maps_follow_their_rows_when_sorted() {
        let mut b = EventBatchBuilder::new();
        let p = copied("{}");
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

    #[test]
    fn dropped_rows_are_left_out_and_forgotten() {
        let mut b = EventBatchBuilder::new();
        let append = |b: &mut EventBatchBuilder, day: i64, name: &str| {
            let e = Event {
                event_type: "_email.send".into(),
                occurred_at: day * 86_400_000_000,
                campaign_id: Some(format!("c{day}").into()),
                attributes: vec![("k".into(), name.into())],
                ..Event::default()
            };
            b.append(&e, &copied(name));
        };
        for (day, name) in [(4, "r0"), (3, "r1"), (2, "r2"), (1, "r3")] {
            append(&mut b, day, name);
        }
        b.drop_row(1);
        b.drop_row(3);
        b.drop_row(9); // no such row: ignored
        let batch = b.finish_sorted(&[]).unwrap();
        let strings = |batch: &RecordBatch, name: &str| -> Vec<String> {
            let a = batch.column_by_name(name).unwrap().as_string::<i32>();
            a.iter().flatten().map(str::to_owned).collect()
        };
        assert_eq!(strings(&batch, "raw"), ["r2", "r0"]);
        assert_eq!(strings(&batch, "campaign_id"), ["c2", "c4"]);
        let attributes = batch.column_by_name("attributes").unwrap().as_map();
        assert_eq!(attributes.value_offsets(), [0, 1, 2]);
        assert_eq!(
            attributes
                .values()
                .as_string::<i32>()
                .iter()
                .flatten()
                .collect::<Vec<_>>(),
            ["r2", "r0"]
        );
        // The next batch starts with no row dropped.
        append(&mut b, 5, "r4");
        append(&mut b, 6, "r5");
        let batch = b.finish_sorted(&[]).unwrap();
        assert_eq!(strings(&batch, "raw"), ["r4", "r5"]);
    }
}
