//! The targets.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{Field, FieldRef};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF};
use sendlens_events::hash::{IdentityKey, Scratch, record_identity};
use sendlens_events::scan::split_records;
use sendlens_events::source::{SourceItem, open_source};
use sendlens_events::split::{Chunk, RecordSplitter};
use sendlens_events::{DecodeOptions, PiiPolicy, PiiScrubber, SourceFormat, decode_record};

/// A reader that hands out at most `size` bytes per read.
struct SmallReads<'a> {
    data: &'a [u8],
    size: usize,
}

impl Read for SmallReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Pieces (position, bytes) must lie in order, each where it says it is,
/// and nothing but whitespace between them (and before them, `from` bytes
/// the reader may pass over): no byte of the input lost.
fn assert_covers(input: &[u8], mut pieces: Vec<(usize, Vec<u8>)>, from: usize, what: &str) {
    pieces.sort_by_key(|(at, _)| *at);
    let mut end = from;
    for (at, bytes) in &pieces {
        assert!(*at >= end, "{what}: pieces overlap at {at}");
        assert!(
            input[end..*at].iter().all(u8::is_ascii_whitespace),
            "{what}: bytes {end}..{at} are in no piece"
        );
        assert_eq!(
            &input[*at..*at + bytes.len()],
            &bytes[..],
            "{what}: the piece at {at} is not what the input holds there"
        );
        end = at + bytes.len();
    }
    assert!(
        input[end..].iter().all(u8::is_ascii_whitespace),
        "{what}: bytes from {end} on are in no piece"
    );
}

/// The record splitter (lines, concatenated, pretty-printed, broken
/// records) over reads of any size, and the cutting of one text into
/// records: every byte is in a record, a rejected piece or whitespace.
pub fn splitter(data: &[u8]) {
    let Some((&size, input)) = data.split_first() else {
        return;
    };
    let mut splitter = RecordSplitter::new(SmallReads {
        data: input,
        size: 1 + usize::from(size) * 7,
    });
    let mut chunk = Chunk::default();
    let mut pieces = Vec::new();
    while splitter.next_chunk(&mut chunk) {
        for span in &chunk.records {
            pieces.push((span.offset as usize, chunk.record(span).to_vec()));
        }
        for b in chunk.broken.drain(..) {
            pieces.push((b.offset as usize, b.bytes));
        }
    }
    // A byte order mark at the start is passed over.
    let bom = if input.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    assert_covers(input, pieces, bom, "the splitter");
    let records = split_records(input)
        .into_iter()
        .map(|(s, e)| (s, input[s..e].to_vec()))
        .collect();
    assert_covers(input, records, 0, "split_records");
}

/// The fast Pinpoint reader against serde: the same event or none.
pub fn pinpoint_reader(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        sendlens_events::fuzzing::reader_agrees_with_serde(text);
        let _ = decode_record(text, None, &DecodeOptions::default());
    }
}

/// Decoding any record (SES and Pinpoint), its identity, and the PII
/// policies applied to it.
pub fn ses_decoder(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for hint in [None, Some(SourceFormat::FirehoseParquet)] {
        let Ok(event) = decode_record(text, hint, &DecodeOptions::default()) else {
            continue;
        };
        let _ = event.event_date();
        if event.format == Some(SourceFormat::SesJson) {
            assert!(
                event.message_key.is_some(),
                "an SES event without a message"
            );
            assert_eq!(event.channel, "email");
        }
        let key = IdentityKey::from_salt(b"fuzz");
        let id = record_identity(&event, &key, &mut Scratch::default());
        for policy in [PiiPolicy::Hash, PiiPolicy::Drop] {
            let mut e = event.clone();
            let mut raw = std::borrow::Cow::Borrowed(text);
            PiiScrubber::new(policy, "fuzz").scrub(&mut e, &mut raw);
        }
        assert_eq!(id, record_identity(&event, &key, &mut Scratch::default()));
    }
}

static FILES: AtomicU64 = AtomicU64::new(0);

/// A Parquet file of any bytes: every row is read or rejected with its
/// own position, in order, and rows render as records the decoder takes
/// or refuses.
pub fn parquet_source(data: &[u8]) {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "sendlens-fuzz-{}-{}.parquet",
        std::process::id(),
        FILES.fetch_add(1, Ordering::Relaxed)
    ));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let mut source = open_source(&path);
    let mut chunk = Chunk::default();
    let mut last: Option<u64> = None;
    while let SourceItem::Chunk = source.next_chunk(&mut chunk) {
        let mut rows: Vec<u64> = chunk.records.iter().map(|s| s.offset).collect();
        rows.extend(chunk.broken.iter().map(|b| b.offset));
        rows.sort_unstable();
        for row in rows {
            if source.is_parquet {
                assert!(
                    last.is_none_or(|l| row > l),
                    "row {row} twice or out of order"
                );
            }
            last = Some(row);
        }
        for span in &chunk.records {
            if let Ok(text) = std::str::from_utf8(chunk.record(span)) {
                let _ = decode_record(
                    text,
                    Some(SourceFormat::FirehoseParquet),
                    &DecodeOptions::default(),
                );
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

fn call(udf: &ScalarUDF, args: Vec<ArrayRef>) {
    let rows = args.first().map_or(1, |a| a.len());
    let arg_fields: Vec<FieldRef> = args
        .iter()
        .enumerate()
        .map(|(i, a)| Arc::new(Field::new(format!("a{i}"), a.data_type().clone(), true)))
        .collect();
    let scalars = vec![None; args.len()];
    let Ok(return_field) = udf.return_field_from_args(ReturnFieldArgs {
        arg_fields: &arg_fields,
        scalar_arguments: &scalars,
    }) else {
        return;
    };
    let _ = udf.invoke_with_args(ScalarFunctionArgs {
        args: args.into_iter().map(ColumnarValue::Array).collect(),
        arg_fields,
        number_rows: rows,
        return_field,
        config_options: Arc::new(ConfigOptions::default()),
    });
}

/// Every scalar function that takes text, with any text (pieces of the
/// input split at U+0001), and numbers and instants made of its bytes.
pub fn text_udfs(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{1}').map(str::to_string);
    let a = parts.next().unwrap_or_default();
    let b = parts.next().unwrap_or_default();
    let c = parts.next().unwrap_or_default();
    let strings = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![Some(v), None])) };
    let mut word = [0u8; 8];
    for (i, byte) in data.iter().rev().take(8).enumerate() {
        word[i] = *byte;
    }
    let number: ArrayRef = Arc::new(Float64Array::from(vec![
        Some(f64::from_le_bytes(word)),
        None,
    ]));
    let instant: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from(vec![Some(i64::from_le_bytes(word)), None])
            .with_timezone("UTC"),
    );
    for udf in sendlens_metrics::udf::all() {
        let args: Vec<Vec<ArrayRef>> = match udf.name() {
            "event_channel" => vec![vec![strings(&a)], vec![strings(&a), strings(&b)]],
            "json_get" | "json_array_elements" => vec![vec![strings(&a), strings(&b)]],
            "message_event_sets" => vec![vec![strings(&a), strings(&b), strings(&c)]],
            "likely_machine_open" => vec![vec![strings(&a), number.clone()]],
            "local_date" | "local_hour" => vec![vec![instant.clone(), strings(&a)]],
            "safe_rate" => vec![vec![number.clone(), number.clone()]],
            "two_proportion_p_value" => vec![vec![
                number.clone(),
                number.clone(),
                number.clone(),
                number.clone(),
            ]],
            _ => vec![vec![strings(&a)]],
        };
        for args in args {
            call(&udf, args);
        }
    }
    let once = sendlens_metrics::udf::url_strip_tracking::strip(&a);
    assert_eq!(
        sendlens_metrics::udf::url_strip_tracking::strip(&once),
        once,
        "stripping twice strips more"
    );
}

/// A report page of any values: labels (escaped: no markup of theirs gets
/// into the page), numbers of every kind (NaN, infinities, extremes) in
/// tiles, tables, bar and line charts, in every output format.
pub fn report_render(data: &[u8]) {
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use sendlens_reports::definition::{Report, Section, Show};
    use sendlens_reports::output::{Document, OutputFormat, SectionData, render};
    use sendlens_reports::period::{Every, Period};

    let cut = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let text = String::from_utf8_lossy(&data[..cut]);
    let labels: Vec<&str> = text.split('\n').take(40).collect();
    let numbers: Vec<f64> = data[cut.min(data.len())..]
        .chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            f64::from_le_bytes(w)
        })
        .collect();
    let rows = labels.len();
    let value = |i: usize| numbers.get(i).copied();
    let schema = Arc::new(Schema::new(vec![
        Field::new("label", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        Field::new("rate", DataType::Float64, true),
        Field::new("count", DataType::Int64, true),
    ]));
    let Ok(batch) = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(labels.clone())),
            Arc::new(Float64Array::from((0..rows).map(value).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(
                (0..rows).map(|i| value(i + rows)).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                (0..rows)
                    .map(|i| value(i).map(f64::to_bits).map(|b| b as i64))
                    .collect::<Vec<_>>(),
            )),
        ],
    ) else {
        return;
    };
    let section = |name: &str, show: Show| Section {
        name: name.to_string(),
        statement: "s".to_string(),
        title: labels.first().copied().unwrap_or_default().to_string(),
        show,
        x: Some("label".to_string()),
        y: vec!["value".to_string(), "rate".to_string()],
    };
    let sections = vec![
        section("tiles", Show::Tiles),
        section("table", Show::Table),
        section("bars", Show::Bars),
        section("lines", Show::Lines),
    ];
    let report = Report {
        name: "fuzz".to_string(),
        title: labels.last().copied().unwrap_or_default().to_string(),
        description: text.to_string(),
        path: PathBuf::from("fuzz.toml"),
        statements: Vec::new(),
        sections: sections.clone(),
        params: Vec::new(),
        schedule: None,
        time_zone: "UTC".to_string(),
        every: Every::Day,
        lookback: 0,
        start: None,
        formats: OutputFormat::all().to_vec(),
        catch_up: false,
        skip_if_empty: false,
    };
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).expect("a date");
    let doc = Document {
        report: &report,
        period: Period {
            start: day,
            end: day,
        },
        params: vec![("campaign_id".to_string(), text.to_string())],
        each: Some(("campaign_id".to_string(), labels[0].to_string())),
        sections: sections
            .into_iter()
            .map(|section| SectionData {
                section,
                schema: schema.clone(),
                batches: vec![batch.clone()],
            })
            .collect(),
        table_version: Some(1),
    };
    for &format in OutputFormat::all() {
        let files = render(&doc, format, std::path::Path::new("out")).expect("renders");
        if format == OutputFormat::Html {
            // The page has no scripts of its own: one there came in
            // unescaped from the data.
            let html = String::from_utf8_lossy(&files[0].1).to_ascii_lowercase();
            assert!(
                !html.contains("<script"),
                "markup from the data is in the page"
            );
        }
    }
}
