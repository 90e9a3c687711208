//! The HTML report: one self-contained page (styles inline, charts as SVG,
//! no scripts, no external files) that reads on a phone and prints cleanly.

use std::fmt::Write;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::record_batch::RecordBatch;

use crate::definition::{Show, humanize};
use crate::output::{Document, SectionData, subtitle};
use crate::svg::{self, Kind, Series, esc};

/// The page style, shared with the pages of `sendlens serve`.
pub const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1d232b; --muted: #5b6673; --line: #e1e5ea; --tile: #f5f7fa; --accent: #2f6fde; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 16px 48px; }
header h1 { margin: 0 0 4px; font-size: 1.6rem; }
header .subtitle { margin: 0; color: var(--muted); }
header .description { margin: 8px 0 0; color: var(--muted); max-width: 70ch; }
section { margin-top: 28px; }
h2 { font-size: 1.1rem; margin: 0 0 10px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; }
.tile { background: var(--tile); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.tile .label { color: var(--muted); font-size: .85rem; }
.tile .value { font-size: 1.5rem; font-weight: 600; font-variant-numeric: tabular-nums; margin-top: 2px; }
.chart-wrap { overflow-x: auto; }
.chart { width: 100%; height: auto; display: block; }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { background: var(--tile); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:last-child td { border-bottom: 0; }
.empty { color: var(--muted); font-style: italic; }
footer { margin-top: 36px; color: var(--muted); font-size: .8rem; }
@media (max-width: 600px) {
  main { padding: 16px 10px 32px; }
  .tile .value { font-size: 1.25rem; }
  header h1 { font-size: 1.3rem; }
  /* Keep chart labels readable: scroll the chart rather than shrink it. */
  .chart { min-width: 560px; }
}
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  section, .tile, svg { break-inside: avoid; }
  .table-wrap { overflow: visible; border: 0; }
  th, td { white-space: normal; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// The page of `doc`.
pub fn page(doc: &Document) -> anyhow::Result<String> {
    let mut h = String::new();
    write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} · {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<header>\n<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n",
        esc(&doc.report.title),
        esc(&doc.period.label()),
        esc(&doc.report.title),
        esc(&subtitle(doc)),
    )?;
    if !doc.report.description.is_empty() {
        writeln!(
            h,
            "<p class=\"description\">{}</p>",
            esc(&doc.report.description)
        )?;
    }
    h.push_str("</header>\n");
    for s in &doc.sections {
        writeln!(
            h,
            "<section class=\"section-{}\" id=\"{}\">\n<h2>{}</h2>",
            show_name(s.section.show),
            esc(&s.section.name),
            esc(&s.section.title)
        )?;
        match s.section.show {
            Show::Tiles => tiles(&mut h, s)?,
            Show::Table => table(&mut h, s)?,
            Show::Bars | Show::Lines => chart(&mut h, s)?,
        }
        h.push_str("</section>\n");
    }
    let version = doc
        .table_version
        .map_or(String::new(), |v| format!(" · events table version {v}"));
    write!(
        h,
        "<footer>sendlens report <code>{}</code> · period {} ({} to {}){}</footer>\n</main>\n</body>\n</html>\n",
        esc(&doc.report.name),
        esc(&doc.period.key()),
        doc.period.start,
        doc.period.end,
        version
    )?;
    Ok(h)
}

fn show_name(s: Show) -> &'static str {
    match s {
        Show::Tiles => "tiles",
        Show::Table => "table",
        Show::Bars => "bars",
        Show::Lines => "lines",
    }
}

fn tiles(h: &mut String, s: &SectionData) -> anyhow::Result<()> {
    let cells = sendlens_render::cells(&s.schema, &s.batches, 1)?;
    let Some(row) = cells.first() else {
        h.push_str("<p class=\"empty\">No data for this period.</p>\n");
        return Ok(());
    };
    h.push_str("<div class=\"tiles\">\n");
    for (f, v) in s.schema.fields().iter().zip(row) {
        writeln!(
            h,
            "<div class=\"tile\"><div class=\"label\">{}</div><div class=\"value\">{}</div></div>",
            esc(&humanize(f.name())),
            esc(&display(v))
        )?;
    }
    h.push_str("</div>\n");
    Ok(())
}

/// NULL rates read better as a dash on a page.
fn display(v: &str) -> String {
    if v == "NULL" {
        "–".into()
    } else {
        v.to_string()
    }
}

fn table(h: &mut String, s: &SectionData) -> anyhow::Result<()> {
    let cells = sendlens_render::cells(&s.schema, &s.batches, usize::MAX)?;
    if cells.is_empty() {
        h.push_str("<p class=\"empty\">No rows for this period.</p>\n");
        return Ok(());
    }
    let numeric: Vec<bool> = s
        .schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
        .collect();
    let class = |i: usize| if numeric[i] { " class=\"num\"" } else { "" };
    h.push_str("<div class=\"table-wrap\"><table>\n<thead><tr>");
    for (i, f) in s.schema.fields().iter().enumerate() {
        write!(h, "<th{}>{}</th>", class(i), esc(&humanize(f.name())))?;
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for row in &cells {
        h.push_str("<tr>");
        for (i, v) in row.iter().enumerate() {
            write!(h, "<td{}>{}</td>", class(i), esc(&display(v)))?;
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div>\n");
    Ok(())
}

/// Column `index` of `batches` as chart labels: the values as text (NULL
/// as empty).
pub fn column_labels(batches: &[RecordBatch], index: usize) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let col = cast(b.column(index), &DataType::Utf8).ok();
            (0..b.num_rows())
                .map(move |r| {
                    col.as_ref()
                        .filter(|c| !c.is_null(r))
                        .map_or_else(String::new, |c| c.as_string::<i32>().value(r).to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Column `index` of `batches` as a chart series' values (NULL as none).
pub fn column_numbers(batches: &[RecordBatch], index: usize) -> anyhow::Result<Vec<Option<f64>>> {
    let mut values = Vec::new();
    for b in batches {
        let col = cast(b.column(index), &DataType::Float64)?;
        let col = col.as_primitive::<Float64Type>();
        values.extend((0..col.len()).map(|r| (!col.is_null(r)).then(|| col.value(r))));
    }
    Ok(values)
}

fn chart(h: &mut String, s: &SectionData) -> anyhow::Result<()> {
    let x = s.section.x.as_deref().unwrap_or_default();
    let xi = s.schema.index_of(x).map_err(|_| {
        anyhow::anyhow!(
            "section {}: x = \"{x}\" is not a column of its result",
            s.section.name
        )
    })?;
    // Labels straight from the values (not formatted for people), so dates
    // stay dates.
    let labels = column_labels(&s.batches, xi);
    let mut series = Vec::new();
    let mut percent = true;
    for y in &s.section.y {
        let yi = s.schema.index_of(y).map_err(|_| {
            anyhow::anyhow!(
                "section {}: y column \"{y}\" is not a column of its result",
                s.section.name
            )
        })?;
        percent &= sendlens_render::is_rate_column(y);
        series.push(Series {
            name: humanize(y),
            values: column_numbers(&s.batches, yi)?,
        });
    }
    if labels.is_empty() {
        h.push_str("<p class=\"empty\">No data for this period.</p>\n");
        return Ok(());
    }
    let kind = if s.section.show == Show::Bars {
        Kind::Bars
    } else {
        Kind::Lines
    };
    h.push_str("<div class=\"chart-wrap\">");
    h.push_str(&svg::chart(
        kind,
        &s.section.title,
        &labels,
        &series,
        percent,
    ));
    h.push_str("</div>\n");
    // The numbers behind the chart, for people who print or cannot see it.
    h.push_str("<details><summary>Data</summary>\n");
    table(h, s)?;
    h.push_str("</details>\n");
    Ok(())
}
