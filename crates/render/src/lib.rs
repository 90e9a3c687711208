//! Results for people (aligned tables, Markdown) and machines (CSV, TSV,
//! JSON, NDJSON).
//!
//! People get rates as percentages, big numbers with thousands separators,
//! NULL as `NULL`, and a table no wider than the terminal. Machines get the
//! values as they are, every row.

use std::io::Write;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::arrow::json::writer::{EncoderOptions, make_encoder};
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// How results are written. The names `--format` and `\\format` take are
/// clap's, from the variants (and their aliases).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[value(alias = "aligned")]
    Table,
    Csv,
    Tsv,
    Json,
    #[value(alias = "jsonl")]
    Ndjson,
    #[value(alias = "md")]
    Markdown,
}

impl Format {
    /// Every format's name.
    pub fn names() -> Vec<&'static str> {
        <Format as clap::ValueEnum>::value_variants()
            .iter()
            .map(|f| f.name())
            .collect()
    }

    /// A format by name or alias, in any case.
    pub fn parse(s: &str) -> Option<Format> {
        <Format as clap::ValueEnum>::from_str(s, true).ok()
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Markdown => "markdown",
        }
    }

    /// Whether a result in this format can be cut to the first rows.
    pub fn truncates(self) -> bool {
        self == Format::Table
    }
}

/// Writes a machine format batch by batch, so that large results stream.
pub struct StreamWriter<'a> {
    kind: Kind<'a>,
    schema: SchemaRef,
    wrote: bool,
}

enum Kind<'a> {
    Csv(Box<datafusion::arrow::csv::Writer<&'a mut dyn Write>>),
    Json(ArrayWriter<&'a mut dyn Write>),
    Ndjson(LineDelimitedWriter<&'a mut dyn Write>),
}

impl<'a> StreamWriter<'a> {
    /// A streaming writer, for the formats that have one.
    pub fn new(
        format: Format,
        schema: SchemaRef,
        out: &'a mut dyn Write,
    ) -> Option<StreamWriter<'a>> {
        let kind = match format {
            Format::Csv | Format::Tsv => {
                let delimiter = if format == Format::Tsv { b'\t' } else { b',' };
                Kind::Csv(Box::new(
                    CsvWriterBuilder::new()
                        .with_header(true)
                        .with_delimiter(delimiter)
                        .build(out),
                ))
            }
            Format::Json => Kind::Json(ArrayWriter::new(out)),
            Format::Ndjson => Kind::Ndjson(LineDelimitedWriter::new(out)),
            Format::Table | Format::Markdown => return None,
        };
        Some(StreamWriter {
            kind,
            schema,
            wrote: false,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        self.wrote = true;
        match &mut self.kind {
            Kind::Csv(w) => w.write(&nested_as_json(batch)?)?,
            Kind::Json(w) => w.write(batch)?,
            Kind::Ndjson(w) => w.write(batch)?,
        }
        Ok(())
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        if !self.wrote {
            // CSV and TSV still get their header line.
            let empty = RecordBatch::new_empty(self.schema.clone());
            self.write(&empty)?;
        }
        match self.kind {
            Kind::Csv(_) => {}
            Kind::Json(mut w) => {
                w.finish()?;
                let out = w.into_inner();
                writeln!(out)?;
            }
            Kind::Ndjson(mut w) => w.finish()?,
        }
        Ok(())
    }
}

/// A batch with its lists, maps and structs as JSON text (`["a","b"]`,
/// `{"k":"v"}`): CSV has no nested values, and this is how Athena's and
/// DuckDB's users read them back.
pub fn nested_as_json(batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = EncoderOptions::default();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        }
        let mut encoder = make_encoder(field, column.as_ref(), &options)?;
        let mut text = StringBuilder::new();
        let mut buf = Vec::new();
        for row in 0..column.len() {
            if column.is_null(row) {
                text.append_null();
                continue;
            }
            buf.clear();
            encoder.encode(row, &mut buf);
            text.append_value(String::from_utf8_lossy(&buf));
        }
        fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
        columns.push(Arc::new(text.finish()) as ArrayRef);
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Write a whole result: every row, as a table for people or in a machine
/// format.
pub fn write_batches(
    out: &mut dyn Write,
    schema: SchemaRef,
    batches: &[RecordBatch],
    format: Format,
) -> anyhow::Result<()> {
    if matches!(format, Format::Table | Format::Markdown) {
        let cells = cells(&schema, batches, usize::MAX)?;
        let text = if format == Format::Markdown {
            markdown(&schema, &cells)
        } else {
            table(&schema, &cells, usize::MAX)
        };
        out.write_all(text.as_bytes())?;
    } else if let Some(mut w) = StreamWriter::new(format, schema, out) {
        for b in batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    Ok(())
}

/// Cells of `batches` as text for people, row by row, at most `limit` rows.
pub fn cells(
    schema: &Schema,
    batches: &[RecordBatch],
    limit: usize,
) -> anyhow::Result<Vec<Vec<String>>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    'outer: for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(col, field)| CellFormatter::new(col, field.name(), &options))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for r in 0..batch.num_rows() {
            if rows.len() >= limit {
                break 'outer;
            }
            rows.push(formatters.iter().map(|f| f.cell(r)).collect());
        }
    }
    Ok(rows)
}

/// How one column is shown to people.
struct CellFormatter<'a> {
    array: &'a ArrayRef,
    generic: ArrayFormatter<'a>,
    style: Style,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Integer,
    Float,
    Percent,
    Average,
}

impl<'a> CellFormatter<'a> {
    fn new(
        array: &'a ArrayRef,
        name: &str,
        options: &'a FormatOptions<'a>,
    ) -> anyhow::Result<Self> {
        let style = match array.data_type() {
            t if t.is_integer() => Style::Integer,
            DataType::Float64 if is_rate_column(name) => Style::Percent,
            DataType::Float64 if is_average_column(name) => Style::Average,
            DataType::Float64 => Style::Float,
            _ => Style::Plain,
        };
        Ok(CellFormatter {
            array,
            generic: ArrayFormatter::try_new(array.as_ref(), options)?,
            style,
        })
    }

    fn cell(&self, row: usize) -> String {
        if self.array.is_null(row) {
            return "NULL".into();
        }
        match self.style {
            Style::Plain => printable(&self.generic.value(row).to_string()),
            Style::Integer => group_digits(&self.generic.value(row).to_string()),
            Style::Float => float_cell(self.array.as_primitive::<Float64Type>().value(row)),
            Style::Average => average(self.array.as_primitive::<Float64Type>().value(row)),
            Style::Percent => {
                let v = self.array.as_primitive::<Float64Type>().value(row);
                if v.is_finite() {
                    format!("{:.2}%", v * 100.0)
                } else {
                    v.to_string()
                }
            }
        }
    }
}

/// Rates of the catalog are named `..._rate` (and `Value` of a rate KPI is
/// left alone: it may be a count).
pub fn is_rate_column(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "rate" || n.ends_with("_rate")
}

/// Averages of counts: the dashboard's endpoint deliveries (a daily
/// average) and columns named `avg_…` or `…_per_day`.
pub fn is_average_column(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "endpoint_deliveries" || n.starts_with("avg_") || n.ends_with("_per_day")
}

/// An average of counts, as people read it: one decimal (`59.6`).
pub fn average(v: f64) -> String {
    if v.is_finite() {
        group_digits(&format!("{v:.1}"))
    } else {
        v.to_string()
    }
}

fn float_cell(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return group_digits(&format!("{v:.0}"));
    }
    if v.abs() >= 1000.0 {
        return group_digits(&format!("{v:.2}"));
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "0" || s == "-0" {
        // Keep tiny values visible (p-values, for one).
        return format!("{v:.2e}");
    }
    s.to_string()
}

/// `1234567.5` → `1,234,567.5`.
pub fn group_digits(s: &str) -> String {
    let (sign, rest) = s.strip_prefix('-').map_or(("", s), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    if !int.bytes().all(|b| b.is_ascii_digit()) || int.len() <= 4 {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// Text inside a Markdown table cell: `|` would end the cell, and HTML
/// (which Markdown passes through) is shown as text.
pub fn markdown_cell(s: &str) -> String {
    markdown_text(s).replace('|', "\\|")
}

/// Text in Markdown shown as it is: HTML is escaped (Markdown passes it
/// through to the page), and so are line breaks.
pub fn markdown_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

/// Control characters would break the table's lines.
fn printable(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| match c {
                '\n' => '↵',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect()
    } else {
        s.to_string()
    }
}

/// Columns `s` takes on a terminal (CJK characters take two).
fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `w` columns, with `…` when cut.
fn cut(s: &str, w: usize) -> String {
    if width(s) <= w {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw + 1 > w {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out
}

/// `s` padded with spaces to `w` columns, on the left or the right.
fn pad(s: &str, w: usize, right: bool) -> String {
    let fill = " ".repeat(w.saturating_sub(width(s)));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// An aligned table (psql style) no wider than `max_width`: the widest
/// columns are cut, with `…`, until it fits.
/// The width [`table`] needs to show every cell whole.
pub fn table_width(schema: &Schema, rows: &[Vec<String>]) -> usize {
    let mut widths: Vec<usize> = schema
        .fields()
        .iter()
        .map(|f| width(&printable(f.name())))
        .collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(c));
        }
    }
    widths.iter().sum::<usize>() + 3 * widths.len().saturating_sub(1) + 2
}

/// Rows as records, one field per line (psql's expanded display): what a
/// terminal shows of a result too wide for a table.
pub fn records(schema: &Schema, rows: &[Vec<String>]) -> String {
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| printable(f.name()))
        .collect();
    let name_width = names.iter().map(|n| width(n)).max().unwrap_or(0);
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let title = format!("-[ RECORD {} ]", i + 1);
        let rule = (name_width + 1).saturating_sub(width(&title));
        out.push_str(&format!("{title}{}+{}\n", "-".repeat(rule), "-".repeat(12)));
        for (name, cell) in names.iter().zip(row) {
            out.push_str(format!("{} | {cell}", pad(name, name_width, false)).trim_end());
            out.push('\n');
        }
    }
    out
}

pub fn table(schema: &Schema, rows: &[Vec<String>], max_width: usize) -> String {
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| printable(f.name()))
        .collect();
    let right: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
        .collect();
    let mut widths: Vec<usize> = names.iter().map(|n| width(n)).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(c));
        }
    }
    // Each column takes its width plus " | " between columns and a space at each end.
    let total = |ws: &[usize]| ws.iter().sum::<usize>() + 3 * ws.len().saturating_sub(1) + 2;
    while total(&widths) > max_width {
        let (i, &w) = widths
            .iter()
            .enumerate()
            .max_by_key(|(_, w)| **w)
            .expect("a table has columns");
        if w <= 6 {
            break;
        }
        widths[i] = w - 1;
    }
    let line = |cells: &[String], header: bool| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .zip(&right)
            .map(|((c, &w), &r)| pad(&cut(c, w), w, r && !header))
            .collect();
        format!(" {} ", parts.join(" | ")).trim_end().to_string()
    };
    let mut out = String::new();
    out.push_str(&line(&names, true));
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    out.push_str(&rule.join("+"));
    out.push('\n');
    for row in rows {
        out.push_str(&line(row, false));
        out.push('\n');
    }
    out
}

/// A Markdown table (GitHub flavour).
pub fn markdown(schema: &Schema, rows: &[Vec<String>]) -> String {
    let esc = markdown_cell;
    let mut out = String::new();
    let names: Vec<String> = schema.fields().iter().map(|f| esc(f.name())).collect();
    out.push_str(&format!("| {} |\n", names.join(" | ")));
    let rule: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type().is_numeric() {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    out.push_str(&format!("| {} |\n", rule.join(" | ")));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| esc(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::Field;

    use super::*;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            (
                "campaign_id",
                Arc::new(StringArray::from(vec![Some("spring-sale"), None])) as ArrayRef,
            ),
            (
                "messages_sent",
                Arc::new(Int64Array::from(vec![1234567, 12])) as ArrayRef,
            ),
            (
                "delivery_rate",
                Arc::new(Float64Array::from(vec![Some(0.98765), None])) as ArrayRef,
            ),
            (
                "spend",
                Arc::new(Float64Array::from(vec![12345.678, 0.5])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn csv_writes_lists_and_maps_as_json_text() {
        use datafusion::arrow::array::{ListBuilder, MapBuilder, StringBuilder};
        let mut list = ListBuilder::new(StringBuilder::new());
        list.values().append_value("a@example.com");
        list.values().append_value("b\"x");
        list.append(true);
        list.append(false);
        let mut map = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        map.keys().append_value("team");
        map.values().append_value("growth");
        map.append(true).unwrap();
        map.append(false).unwrap();
        let b = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("to", Arc::new(list.finish()) as ArrayRef),
            ("tags", Arc::new(map.finish()) as ArrayRef),
        ])
        .unwrap();
        let mut out = Vec::new();
        write_batches(&mut out, b.schema(), &[b], Format::Csv).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,to,tags\n1,\"[\"\"a@example.com\"\",\"\"b\\\"\"x\"\"]\",\"{\"\"team\"\":\"\"growth\"\"}\"\n2,,\n"
        );
    }

    #[test]
    fn averages_show_one_decimal() {
        let b = RecordBatch::try_from_iter(vec![(
            "endpoint_deliveries",
            Arc::new(Float64Array::from(vec![59.571428, 12345.25])) as ArrayRef,
        )])
        .unwrap();
        let rows = cells(&b.schema(), std::slice::from_ref(&b), 10).unwrap();
        assert_eq!(rows, [["59.6"], ["12,345.2"]]);
    }

    #[test]
    fn format_names_are_clap_s() {
        use clap::ValueEnum;
        for f in Format::value_variants() {
            assert_eq!(f.to_possible_value().unwrap().get_name(), f.name());
            assert_eq!(Format::parse(&f.name().to_uppercase()), Some(*f));
        }
        assert_eq!(Format::parse("md"), Some(Format::Markdown));
        assert_eq!(Format::parse("yaml"), None);
    }

    #[test]
    fn wide_rows_read_as_records() {
        let b = batch();
        let rows = cells(&b.schema(), std::slice::from_ref(&b), 100).unwrap();
        assert_eq!(table_width(&b.schema(), &rows), 57);
        assert_eq!(
            records(&b.schema(), &rows[..1]),
            "-[ RECORD 1 ]-+------------\n\
             campaign_id   | spring-sale\n\
             messages_sent | 1,234,567\n\
             delivery_rate | 98.77%\n\
             spend         | 12,345.68\n"
        );
    }

    #[test]
    fn people_see_percentages_separators_and_null() {
        let b = batch();
        let rows = cells(&b.schema(), std::slice::from_ref(&b), 100).unwrap();
        assert_eq!(rows[0], ["spring-sale", "1,234,567", "98.77%", "12,345.68"]);
        assert_eq!(rows[1], ["NULL", "12", "NULL", "0.5"]);
        let t = table(&b.schema(), &rows, 200);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            " campaign_id | messages_sent | delivery_rate | spend"
        );
        assert_eq!(
            lines[2],
            " spring-sale |     1,234,567 |        98.77% | 12,345.68"
        );
    }

    #[test]
    fn tables_fit_the_terminal() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Utf8, true),
        ]);
        let rows = vec![vec!["x".repeat(100), "short".into()]];
        let t = table(&schema, &rows, 40);
        assert!(t.lines().all(|l| width(l) <= 40), "{t}");
        assert!(t.contains('…'));
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let schema = Schema::new(vec![
            Field::new("subject", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]);
        let rows = vec![
            vec!["夏のセール".to_string(), "1".to_string()],
            vec!["sale".to_string(), "22".to_string()],
        ];
        let t = table(&schema, &rows, 200);
        let lines: Vec<&str> = t.lines().collect();
        // Every line of the table is as wide on the terminal.
        assert_eq!(width(lines[2]), width(lines[3]), "{t}");
        assert_eq!(lines[2], " 夏のセール |  1");
        let narrow = table(&schema, &rows, 14);
        assert!(narrow.lines().all(|l| width(l) <= 14), "{narrow}");
        assert!(narrow.contains(" 夏のセ… |  1"), "{narrow}");
    }

    #[test]
    fn limit_cuts_rows() {
        let b = batch();
        assert_eq!(
            cells(&b.schema(), &[b.clone(), b.clone()], 3)
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn digits_group_in_threes() {
        assert_eq!(group_digits("1234"), "1234");
        assert_eq!(group_digits("12345"), "12,345");
        assert_eq!(group_digits("-1234567.25"), "-1,234,567.25");
        assert_eq!(float_cell(0.00001), "1.00e-5");
    }
}
