//! Results as HTML (tiles and tables, every number marked with its column
//! and exact value) and as CSV.

use std::fmt::Write;

use sendlens_reports::definition::humanize;

use super::layout::esc;
use crate::queries::Table;

/// One tile: a column of a one-row result.
pub(crate) struct Tile<'a> {
    pub column: &'a str,
    /// The label, when the column's own name is not the best one.
    pub label: Option<&'a str>,
}

/// Tiles for `tiles` out of `table`'s first row, each with `data-metric`
/// (the catalog column) and `data-value` (the exact value; empty when
/// NULL).
pub(crate) fn tiles(h: &mut String, table: &Table, tiles: &[Tile]) -> anyhow::Result<()> {
    let exact = table.exact()?;
    let people = sendlens_render::cells(&table.schema, &table.batches, 1)?;
    let (Some(exact), Some(people)) = (exact.first(), people.first()) else {
        h.push_str("<p class=\"empty\">No data for this range.</p>\n");
        return Ok(());
    };
    h.push_str("<div class=\"tiles\">\n");
    for tile in tiles {
        let Ok(i) = table.schema.index_of(tile.column) else {
            continue;
        };
        let label = tile
            .label
            .map_or_else(|| humanize(tile.column), str::to_string);
        let shown = match people[i].as_str() {
            "NULL" => "–",
            v => v,
        };
        writeln!(
            h,
            "<div class=\"tile\" data-metric=\"{}\" data-value=\"{}\"><div class=\"label\">{}</div>\
             <div class=\"value\">{}</div></div>",
            esc(tile.column),
            esc(exact[i].as_deref().unwrap_or("")),
            esc(&label),
            esc(shown)
        )?;
    }
    h.push_str("</div>\n");
    Ok(())
}

/// How a table's rows are marked.
pub(crate) enum Marks<'a> {
    None,
    /// `data-day` from the `day` column and `data-value` from this column.
    Days(&'a str),
    /// A link from the first column to this path prefix.
    Link(&'a str),
}

/// `table` as an HTML table with a caption.
pub(crate) fn table(
    h: &mut String,
    table: &Table,
    caption: &str,
    marks: Marks,
) -> anyhow::Result<()> {
    let people = sendlens_render::cells(&table.schema, &table.batches, usize::MAX)?;
    if people.is_empty() {
        h.push_str("<p class=\"empty\">No rows for this range.</p>\n");
        return Ok(());
    }
    let exact = table.exact()?;
    let numeric: Vec<bool> = table
        .schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
        .collect();
    let class = |i: usize| if numeric[i] { " class=\"num\"" } else { "" };
    let metric = match marks {
        Marks::Days(column) => format!(" data-metric=\"{}\"", esc(column)),
        _ => String::new(),
    };
    write!(
        h,
        "<div class=\"table-wrap\" tabindex=\"0\"><table{metric}>\n<caption class=\"note\">{}</caption>\n<thead><tr>",
        esc(caption)
    )?;
    for (i, f) in table.schema.fields().iter().enumerate() {
        write!(
            h,
            "<th scope=\"col\"{}>{}</th>",
            class(i),
            esc(&humanize(f.name()))
        )?;
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    let day = table.schema.index_of("day").ok();
    for (row, values) in people.iter().zip(&exact) {
        let attrs = match (&marks, day) {
            (Marks::Days(column), Some(d)) => {
                let v = table
                    .schema
                    .index_of(column)
                    .ok()
                    .and_then(|i| values[i].clone());
                format!(
                    " data-day=\"{}\" data-value=\"{}\"",
                    esc(values[d].as_deref().unwrap_or("")),
                    esc(v.as_deref().unwrap_or(""))
                )
            }
            _ => String::new(),
        };
        write!(h, "<tr{attrs}>")?;
        for (i, v) in row.iter().enumerate() {
            let shown = if v == "NULL" { "–" } else { v.as_str() };
            match (&marks, i) {
                (Marks::Link(prefix), 0) if values[0].is_some() => write!(
                    h,
                    "<th scope=\"row\"><a href=\"{}{}\">{}</a></th>",
                    esc(prefix),
                    esc(&crate::params::encode_component(
                        values[0].as_deref().unwrap_or("")
                    )),
                    esc(shown)
                )?,
                _ => write!(h, "<td{}>{}</td>", class(i), esc(shown))?,
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div>\n");
    Ok(())
}

/// `table` as CSV with a header, values as they are (rates as fractions).
pub(crate) fn csv(table: &Table) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    sendlens_render::write_batches(
        &mut out,
        table.schema.clone(),
        &table.batches,
        sendlens_render::Format::Csv,
    )?;
    Ok(out)
}
