//! The metric catalog's semantics as sqllogictest files (`tests/slt/*.slt`),
//! run through the library over small in-memory event tables: no binary, no
//! workspace, the extension as an application would register it.
//!
//! Each file starts from an empty `events` table with the canonical columns
//! (all nullable, so that a case lists only the columns it needs) and the
//! extension registered with UTC days; `INSERT INTO events (…) VALUES …`
//! fills it, and the views and functions read it as it is at each query.
//!
//! Values print as DataFusion's own tests print them, except floats: six
//! decimals at most, trailing zeros dropped (`0.333333`, `0.5`, `1`).
//! Column types are checked: `I` integer, `R` float, `T` text, anything else
//! (`B`, `D`, `P`) for the other types.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};

struct Engine {
    ctx: SessionContext,
}

impl Engine {
    async fn new() -> Result<Engine, DataFusionError> {
        let canonical = sendlens_events::schema::event_schema();
        let nullable: Vec<Field> = canonical
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let events = MemTable::try_new(Arc::new(Schema::new(nullable)), vec![vec![]])?;
        let ctx = sendlens_metrics::session_context();
        ctx.register_table(sendlens_metrics::EVENTS_TABLE, Arc::new(events))?;
        sendlens_metrics::register_with_events_table(&ctx, "UTC").await?;
        Ok(Engine { ctx })
    }
}

fn column_type(ty: &DataType) -> DefaultColumnType {
    match ty {
        t if t.is_integer() => DefaultColumnType::Integer,
        DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
            DefaultColumnType::FloatingPoint
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DefaultColumnType::Text,
        _ => DefaultColumnType::Any,
    }
}

fn float_text(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn cell(column: &dyn Array, row: usize) -> Result<String, DataFusionError> {
    if column.is_null(row) {
        return Ok("NULL".into());
    }
    if let DataType::Float64 = column.data_type() {
        return Ok(float_text(column.as_primitive::<Float64Type>().value(row)));
    }
    let text = ArrayFormatter::try_new(column, &FormatOptions::default())?
        .value(row)
        .to_string();
    Ok(if text.is_empty() {
        "(empty)".into()
    } else {
        text
    })
}

#[async_trait::async_trait]
impl AsyncDB for Engine {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let frame = self.ctx.sql(sql).await?;
        let schema = frame.schema().as_arrow().clone();
        let batches = frame.collect().await?;
        let types: Vec<_> = schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let mut rows = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                rows.push(
                    batch
                        .columns()
                        .iter()
                        .map(|c| cell(c.as_ref(), row))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
        }
        if types.is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "sendlens"
    }
}

fn files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_sqllogictest_file_passes() {
    let files = files();
    assert!(!files.is_empty(), "no .slt files in tests/slt");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut failures = Vec::new();
    for file in &files {
        let mut runner = Runner::new(Engine::new);
        runner.with_column_validator(sqllogictest::strict_column_validator);
        if let Err(e) = runtime.block_on(runner.run_file_async(file)) {
            failures.push(format!("{}\n{}", file.display(), e.display(false)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What the reference promises: every measure and rate of the catalog is
/// pinned by a case in `tests/slt`, and every aggregate function is compared
/// with its view column in `aggregates.slt`.
#[test]
fn every_measure_rate_and_aggregate_function_has_a_case() {
    // The statements and expected results, comments left out: a name only
    // a comment mentions is not pinned.
    let queries: Vec<(PathBuf, String)> = files()
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect();
            (f, code)
        })
        .collect();
    let mentioned = |name: &str| queries.iter().any(|(_, text)| has_word(text, name));
    let catalog = sendlens_metrics::catalog::MEASURES
        .iter()
        .map(|m| m.name)
        .chain(sendlens_metrics::catalog::RATES.iter().map(|r| r.name))
        .chain(
            sendlens_metrics::catalog::SERIES_ONLY
                .iter()
                .map(|m| m.name),
        );
    let missing: Vec<&str> = catalog.filter(|n| !mentioned(n)).collect();
    assert!(missing.is_empty(), "no .slt case for {missing:?}");

    let (_, aggregates) = queries
        .iter()
        .find(|(f, _)| f.ends_with("aggregates.slt"))
        .expect("tests/slt/aggregates.slt");
    let unpinned: Vec<String> = sendlens_metrics::udaf::all()
        .iter()
        .map(|f| f.name().to_string())
        .filter(|name| {
            let call = format!("{name}(event_type, message_key, channel, send_status)");
            let column = format!("v.{name}");
            !(aggregates.contains(&call) && aggregates.contains(&column))
        })
        .collect();
    assert!(
        unpinned.is_empty(),
        "aggregate functions not compared with their view column: {unpinned:?}"
    );
}

/// Whether `word` stands in `text` as a whole identifier.
fn has_word(text: &str, word: &str) -> bool {
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    text.match_indices(word).any(|(at, _)| {
        !ident(text[..at].chars().next_back()) && !ident(text[at + word.len()..].chars().next())
    })
}
