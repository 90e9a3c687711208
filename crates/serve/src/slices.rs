//! One campaign's rows of the materialized tables, kept in memory.
//!
//! A campaign page runs six queries, and each reads the same campaign's
//! rows of `message_facts`, `message_events` and `campaign_targets`: a few
//! thousand rows, decoded out of pages of thousands of rows of compressed
//! Parquet, six times a page, again for every range a reader picks. Here a
//! table answers a scan whose filters pick one campaign from that
//! campaign's rows, read once for the session's table version and kept:
//! every later page of the campaign, whatever its range, scans memory.
//! They are read in the background when the campaign is first asked for;
//! until they are in, scans read the files.
//!
//! The rows kept are exactly the campaign's (the filter is applied to
//! them when they are read), and every filter of the query still runs
//! above the scan: no answer changes, only where its rows come from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{ScalarValue, Statistics};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType, col, lit};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use sendlens_metrics::templates::{DeferredScan, is_stand_in, pinned_text};

/// Bytes of rows one table keeps at most, all campaigns together; past it
/// the campaigns read longest ago are dropped.
const TABLE_BYTES: usize = 256 << 20;

/// A campaign with more rows than this is read from its files each time:
/// one campaign must not push every other out.
const CAMPAIGN_BYTES: usize = TABLE_BYTES / 8;

/// Wrap each materialized table that `ctx` has (`campaign_metrics` among
/// them gives each page its campaign's first and last send) so that it
/// keeps its rows per campaign.
pub(crate) async fn keep_campaign_rows(ctx: &SessionContext) -> Result<()> {
    for name in sendlens_store::facts::names() {
        if !ctx.table_exist(name)? {
            continue;
        }
        let inner = ctx.table_provider(name).await?;
        ctx.deregister_table(name)?;
        ctx.register_table(name, Arc::new(CampaignRows::new(inner)))?;
    }
    Ok(())
}

/// Where a campaign's rows are.
enum Slot {
    /// Being read (by the first scan that asked for them).
    Reading,
    /// In memory.
    Kept(Arc<Vec<RecordBatch>>),
    /// Too many to keep: read from the files each time.
    TooBig,
}

struct Kept {
    campaigns: HashMap<String, Entry>,
    bytes: usize,
    next: u64,
    /// [`TABLE_BYTES`] and [`CAMPAIGN_BYTES`] (smaller in tests).
    limits: (usize, usize),
}

impl Default for Kept {
    fn default() -> Self {
        Self {
            campaigns: HashMap::new(),
            bytes: 0,
            next: 0,
            limits: (TABLE_BYTES, CAMPAIGN_BYTES),
        }
    }
}

struct Entry {
    /// When it was last asked for (a counter), for dropping the oldest.
    used: u64,
    slot: Slot,
    bytes: usize,
}

/// What a scan of one campaign finds.
enum Found {
    /// Its rows, in memory.
    Rows(Arc<Vec<RecordBatch>>),
    /// Nothing yet (or too much to keep): read the files.
    Files,
    /// Nobody asked before: read the files, and start reading the rows.
    First,
}

impl Kept {
    /// What a scan of `campaign` finds; the first one marks it as being read.
    fn find(&mut self, campaign: &str) -> Found {
        self.next += 1;
        let used = self.next;
        let Some(entry) = self.campaigns.get_mut(campaign) else {
            let entry = Entry {
                used,
                slot: Slot::Reading,
                bytes: 0,
            };
            self.campaigns.insert(campaign.to_string(), entry);
            return Found::First;
        };
        entry.used = used;
        match &entry.slot {
            Slot::Kept(rows) => Found::Rows(Arc::clone(rows)),
            Slot::Reading | Slot::TooBig => Found::Files,
        }
    }

    /// The rows of `campaign` if they are kept; nothing starts reading.
    fn peek(&mut self, campaign: &str) -> Option<Arc<Vec<RecordBatch>>> {
        self.next += 1;
        let entry = self.campaigns.get_mut(campaign)?;
        entry.used = self.next;
        match &entry.slot {
            Slot::Kept(rows) => Some(Arc::clone(rows)),
            Slot::Reading | Slot::TooBig => None,
        }
    }

    /// Keep `rows` of `campaign` (or forget it, so that a later scan reads
    /// again, when reading failed), and drop the campaigns asked for
    /// longest ago while more than [`TABLE_BYTES`] are kept.
    fn put(&mut self, campaign: &str, rows: Result<Vec<RecordBatch>>) {
        let Ok(rows) = rows else {
            self.campaigns.remove(campaign);
            return;
        };
        let Some(entry) = self.campaigns.get_mut(campaign) else {
            return;
        };
        let bytes: usize = rows.iter().map(RecordBatch::get_array_memory_size).sum();
        if bytes > self.limits.1 {
            entry.slot = Slot::TooBig;
            return;
        }
        entry.slot = Slot::Kept(Arc::new(rows));
        entry.bytes = bytes;
        self.bytes += bytes;
        while self.bytes > self.limits.0 {
            let oldest = self
                .campaigns
                .iter()
                .filter(|(id, _)| id.as_str() != campaign)
                .min_by_key(|(_, e)| e.used)
                .map(|(id, _)| id.clone());
            let Some(oldest) = oldest else { break };
            if let Some(gone) = self.campaigns.remove(&oldest) {
                self.bytes -= gone.bytes;
            }
        }
    }
}

/// A table that keeps, per campaign, the rows a scan of one campaign reads.
pub(crate) struct CampaignRows {
    inner: Arc<dyn TableProvider>,
    kept: Arc<Mutex<Kept>>,
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
            kept: Arc::default(),
        }
    }

    /// The kept rows of `campaign`, if they are in memory. The first time
    /// a campaign is asked for, its rows are read in the background: the
    /// scan that asked reads the files as if nothing were kept, so that
    /// the first page of a campaign does not wait for the whole campaign.
    fn rows(&self, state: &dyn Session, campaign: &str) -> Option<Arc<Vec<RecordBatch>>> {
        let found = self
            .kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .find(campaign);
        match found {
            Found::Rows(rows) => return Some(rows),
            Found::Files => return None,
            Found::First => {}
        }
        let (Ok(runtime), Ok(state)) = (
            tokio::runtime::Handle::try_current(),
            sendlens_metrics::table_fns::session_state(state),
        ) else {
            return None;
        };
        let (inner, kept) = (Arc::clone(&self.inner), Arc::clone(&self.kept));
        let (state, campaign) = (state.clone(), campaign.to_string());
        runtime.spawn(async move {
            let rows = read(inner, state, &campaign).await;
            kept.lock()
                .unwrap_or_else(|p| p.into_inner())
                .put(&campaign, rows);
        });
        None
    }
}

impl CampaignRows {
    /// A template's scan (see `sendlens_metrics::templates`): bound to a
    /// campaign whose rows are kept, it scans them; any other is planned
    /// with its value, which reads the files and starts keeping its rows.
    fn deferred(
        &self,
        stand_in: String,
        projection: Option<&Vec<usize>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (kept, schema) = (Arc::clone(&self.kept), self.schema());
        let projected = match projection {
            Some(columns) => Arc::new(schema.project(columns)?),
            None => Arc::clone(&schema),
        };
        let projection = projection.cloned();
        let bind = move |value: &ScalarValue| {
            let Some(campaign) = value.try_as_str().flatten() else {
                return Ok(None);
            };
            let rows = kept
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .peek(campaign);
            rows.map(|rows| memory_scan(&rows, Arc::clone(&schema), projection.as_ref()))
                .transpose()
        };
        Ok(Arc::new(DeferredScan::new(
            stand_in,
            projected,
            Arc::new(bind),
        )))
    }
}

/// A scan of kept rows.
fn memory_scan(
    rows: &Arc<Vec<RecordBatch>>,
    schema: SchemaRef,
    projection: Option<&Vec<usize>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    Ok(MemorySourceConfig::try_new_exec(
        &[rows.as_ref().clone()],
        schema,
        projection.cloned(),
    )?)
}

/// Every row of `campaign` in `table`, read through the optimizer (which
/// prunes the files' row groups and pages by the filter, as any query's
/// scan).
async fn read(
    table: Arc<dyn TableProvider>,
    state: SessionState,
    campaign: &str,
) -> Result<Vec<RecordBatch>> {
    SessionContext::new_with_state(state)
        .read_table(table)?
        .filter(col("campaign_id").eq(lit(campaign)))?
        .collect()
        .await
}

/// The campaign that `filters` (the conjuncts of a scan's filter) pin
/// `campaign_id` to, if one does.
fn campaign_of(filters: &[Expr]) -> Option<String> {
    pinned_text(filters, "campaign_id")
}

#[async_trait]
impl TableProvider for CampaignRows {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
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
        if is_stand_in(&campaign) {
            return self.deferred(campaign, projection);
        }
        match self.rows(state, &campaign) {
            Some(batches) => memory_scan(&batches, self.schema(), projection),
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
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::cast;

    fn rows(n: i64) -> Vec<RecordBatch> {
        let values = Arc::new(Int64Array::from_iter_values(0..n));
        vec![RecordBatch::try_from_iter([("v", values as _)]).unwrap()]
    }

    fn kept(k: &mut Kept, campaign: &str) -> Option<usize> {
        match k.find(campaign) {
            Found::Rows(b) => Some(b.iter().map(RecordBatch::num_rows).sum()),
            _ => None,
        }
    }

    #[test]
    fn a_campaign_is_read_once_kept_and_the_oldest_dropped() {
        let mut k = Kept {
            limits: (20_000, 10_000),
            ..Kept::default()
        };
        // The first scan starts the reading; scans until it is in read files.
        assert!(matches!(k.find("a"), Found::First));
        assert!(matches!(k.find("a"), Found::Files));
        k.put("a", Ok(rows(1000)));
        assert_eq!(kept(&mut k, "a"), Some(1000));
        // A failed read is forgotten: the next scan reads again.
        assert!(matches!(k.find("b"), Found::First));
        k.put(
            "b",
            Err(datafusion::error::DataFusionError::Plan("x".into())),
        );
        assert!(matches!(k.find("b"), Found::First));
        // Too many rows for one campaign: never kept.
        k.put("b", Ok(rows(5000)));
        assert!(matches!(k.find("b"), Found::Files));
        // Past the table's bytes, the campaign asked for longest ago goes.
        assert!(matches!(k.find("c"), Found::First));
        k.put("c", Ok(rows(1000)));
        assert!(matches!(k.find("d"), Found::First));
        let _ = k.find("a"); // a is now newer than c
        k.put("d", Ok(rows(1000)));
        assert!(k.bytes <= 20_000, "{} bytes kept", k.bytes);
        assert!(k.campaigns.contains_key("a") && k.campaigns.contains_key("d"));
        assert!(!k.campaigns.contains_key("c"));
    }

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
