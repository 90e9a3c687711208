//! The named queries the server runs: the extension's table functions,
//! called with typed arguments (never SQL text from a request), and the
//! campaign list.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::catalog::TableFunctionArgs;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, lit};
use datafusion::physical_plan::collect;
use datafusion::prelude::SessionContext;

use crate::params::DayRange;

/// A result: its schema and rows.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Every value as exact text, row by row (NULL as `None`): what
    /// `data-value` carries and CSV shows, unformatted.
    pub fn exact(&self) -> Result<Vec<Vec<Option<String>>>> {
        let options = FormatOptions::default();
        let mut rows = Vec::new();
        for batch in &self.batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            for r in 0..batch.num_rows() {
                rows.push(
                    batch
                        .columns()
                        .iter()
                        .zip(&formatters)
                        .map(|(c, f)| (!c.is_null(r)).then(|| f.value(r).to_string()))
                        .collect(),
                );
            }
        }
        Ok(rows)
    }

    /// The table with only `columns` (those it has), in that order.
    pub fn select(&self, columns: &[&str]) -> Result<Table> {
        let indices: Vec<usize> = columns
            .iter()
            .filter_map(|c| self.schema.index_of(c).ok())
            .collect();
        let schema = Arc::new(self.schema.project(&indices)?);
        let batches = self
            .batches
            .iter()
            .map(|b| b.project(&indices))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Table { schema, batches })
    }
}

/// Call table function `name` with `args`.
pub(crate) async fn call(ctx: &SessionContext, name: &str, args: Vec<Expr>) -> Result<Table> {
    let function = ctx.table_function(name)?;
    let state = ctx.state();
    let provider =
        function.create_table_provider_with_args(TableFunctionArgs::new(&args, &state))?;
    // A table function's scan is the whole query, planned and optimized
    // (see `sendlens_metrics::table_fns::SqlTable`): nothing around it to
    // plan or optimize.
    let plan = provider.scan(&state, None, &[], None).await?;
    let batches = collect(plan, state.task_ctx()).await?;
    Ok(Table {
        schema: provider.schema(),
        batches,
    })
}

/// A date argument.
pub(crate) fn date(d: NaiveDate) -> Expr {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    lit(ScalarValue::Date32(Some((d - epoch).num_days() as i32)))
}

/// The arguments of a campaign's table function over a range.
pub(crate) fn campaign_args(campaign: &str, range: &DayRange) -> Vec<Expr> {
    vec![
        lit(campaign),
        date(range.start),
        date(range.end),
        lit(range.tz.as_str()),
    ]
}

/// Run a fixed query (no parameters) of the server's own.
pub(crate) async fn fixed(ctx: &SessionContext, sql: &str) -> Result<Table> {
    let frame = ctx.sql(sql).await?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await?;
    Ok(Table { schema, batches })
}
