//! One campaign's rows of the materialized tables, kept in memory.
//!
//! A campaign page runs six queries, and each reads the same campaign's
//! rows of `message_facts`, `message_events` and `campaign_targets`: a few
//! thousand rows, decoded out of pages of thousands of rows of compressed
//! Parquet, six times a page, again for every range a reader picks. Here a
//! table answers a scan whose filters pick one campaign from that
//! campaign's rows, read once for the session's table version and kept:
//! every later page of the campaign, whatever its range, scans memory.
//!
//! The rows kept are exactly the campaign's (the filter is applied to
//! them when they are read), and every filter of the query still runs
//! above the scan: no answer changes, only where its rows come from.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Constraints, DFSchema, ScalarValue, Statistics};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result;
use datafusion::logical_expr::{
    BinaryExpr, Cast, Expr, LogicalPlan, Operator, TableProviderFilterPushDown, TableType, TryCast,
    col, lit,
};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;
use tokio::sync::OnceCell;

/// The tables whose rows are kept per campaign (`campaign_metrics` gives
/// each page its campaign's first and last send).
pub(crate) const TABLES: [&str; 4] = [
    "message_facts",
    "message_events",
    "campaign_targets",
    "campaign_metrics",
];

/// Bytes of rows one table keeps at most, all campaigns together; past it
/// the campaigns read longest ago are dropped.
const TABLE_BYTES: usize = 256 << 20;

/// A campaign with more rows than this is read from its files each time:
/// one campaign must not push every other out.
const CAMPAIGN_BYTES: usize = TABLE_BYTES / 8;

/// Wrap each of [`TABLES`] that `ctx` has so that it keeps its rows per
/// campaign.
pub(crate) async fn keep_campaign_rows(ctx: &SessionContext) -> Result<()> {
    for name in TABLES {
        if !ctx.table_exist(name)? {
            continue;
        }
        let inner = ctx.table_provider(name).await?;
        ctx.deregister_table(name)?;
        ctx.register_table(name, Arc::new(CampaignRows::new(inner)))?;
    }
    Ok(())
}

/// A campaign's rows, once read; `None` when there were too many to keep.
type Rows = Option<Arc<Vec<RecordBatch>>>;

#[derive(Default)]
struct Kept {
    campaigns: HashMap<String, Entry>,
    bytes: usize,
    next: u64,
}

struct Entry {
    /// When it was last asked for (a counter), for dropping the oldest.
    used: u64,
    rows: Arc<OnceCell<Rows>>,
    bytes: usize,
}

/// A table that keeps, per campaign, the rows a scan of one campaign reads.
pub(crate) struct CampaignRows {
    inner: Arc<dyn TableProvider>,
    kept: Mutex<Kept>,
}

impl std::fmt::Debug for CampaignRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CampaignRows").finish_non_exhaustive()
    }
}

impl CampaignRows {
    pub(crate) fn new(inner: Arc<dyn TableProvider>) -> Self {
        Self {
            inner,
            kept: Mutex::default(),
        }
    }

    /// The cell of `campaign`'s rows (new and empty the first time).
    fn cell(&self, campaign: &str) -> Arc<OnceCell<Rows>> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.next += 1;
        let used = kept.next;
        let entry = kept
            .campaigns
            .entry(campaign.to_string())
            .or_insert_with(|| Entry {
                used,
                rows: Arc::default(),
                bytes: 0,
            });
        entry.used = used;
        Arc::clone(&entry.rows)
    }

    /// Count `bytes` of `campaign`'s rows, and drop the campaigns read
    /// longest ago while the table keeps more than [`TABLE_BYTES`].
    fn account(&self, campaign: &str, bytes: usize) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = kept.campaigns.get_mut(campaign) else {
            return;
        };
        entry.bytes = bytes;
        kept.bytes += bytes;
        while kept.bytes > TABLE_BYTES {
            let oldest = kept
                .campaigns
                .iter()
                .filter(|(id, _)| id.as_str() != campaign)
                .min_by_key(|(_, e)| e.used)
                .map(|(id, _)| id.clone());
            let Some(oldest) = oldest else { break };
            if let Some(gone) = kept.campaigns.remove(&oldest) {
                kept.bytes -= gone.bytes;
            }
        }
    }

    /// Every row of `campaign`, read from the table.
    async fn read(&self, state: &dyn Session, campaign: &str) -> Result<Rows> {
        let predicate = col("campaign_id").eq(lit(campaign));
        let scan = self
            .inner
            .scan(state, None, std::slice::from_ref(&predicate), None)
            .await?;
        // A scan may return more rows than its filters pick: filter them.
        let schema = DFSchema::try_from(self.inner.schema())?;
        let predicate = state.create_physical_expr(predicate, &schema)?;
        let plan = Arc::new(FilterExec::try_new(predicate, scan)?);
        let batches = collect(plan, state.task_ctx()).await?;
        let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        if bytes > CAMPAIGN_BYTES {
            return Ok(None);
        }
        self.account(campaign, bytes);
        Ok(Some(Arc::new(batches)))
    }
}

/// The campaign that `filters` (the conjuncts of a scan's filter) pin
/// `campaign_id` to, if one does.
fn campaign_of(filters: &[Expr]) -> Option<String> {
    filters.iter().find_map(|f| match f {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), value) | (value, Expr::Column(c)) if c.name == "campaign_id" => {
                text(value)
            }
            _ => None,
        },
        _ => None,
    })
}

/// The text a literal (or a cast of one: a bound parameter's filter is not
/// simplified in a scan's filters) holds.
fn text(value: &Expr) -> Option<String> {
    match value {
        Expr::Literal(v, _) => match v.cast_to(&DataType::Utf8).ok()? {
            ScalarValue::Utf8(s) => s,
            _ => None,
        },
        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field })
            if is_text(field.data_type()) =>
        {
            text(expr)
        }
        _ => None,
    }
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
    )
}

#[async_trait]
impl TableProvider for CampaignRows {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Kept rows are not filtered by the scan: every filter stays above it.
        Ok(self
            .inner
            .supports_filters_pushdown(filters)?
            .into_iter()
            .map(|p| match p {
                TableProviderFilterPushDown::Exact => TableProviderFilterPushDown::Inexact,
                p => p,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(campaign) = campaign_of(filters) else {
            return self.inner.scan(state, projection, filters, limit).await;
        };
        let cell = self.cell(&campaign);
        let rows = cell.get_or_try_init(|| self.read(state, &campaign)).await?;
        match rows {
            Some(batches) => Ok(MemorySourceConfig::try_new_exec(
                &[batches.as_ref().clone()],
                self.schema(),
                projection.cloned(),
            )?),
            None => self.inner.scan(state, projection, filters, limit).await,
        }
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::cast;

    #[test]
    fn a_scan_of_one_campaign_is_recognised() {
        let one = col("campaign_id").eq(lit("c1"));
        assert_eq!(campaign_of(&[one]).as_deref(), Some("c1"));
        let flipped = lit("c2").eq(col("campaign_id"));
        assert_eq!(
            campaign_of(&[col("sent").is_true(), flipped]).as_deref(),
            Some("c2")
        );
        // A bound parameter's filter, as a scan is given it.
        let bound = col("campaign_id").eq(cast(lit("c3"), DataType::Utf8View));
        assert_eq!(campaign_of(&[bound]).as_deref(), Some("c3"));
        let not_text = col("campaign_id").eq(cast(lit(3), DataType::Int64));
        assert_eq!(campaign_of(&[not_text]), None);
        assert_eq!(campaign_of(&[col("run_id").eq(lit("r"))]), None);
        assert_eq!(campaign_of(&[col("campaign_id").gt(lit("c"))]), None);
        assert_eq!(campaign_of(&[col("campaign_id").is_not_null()]), None);
    }
}
