//! Table functions planned on the client.
//!
//! A table function's table (`SqlTable`) plans its SQL when it is scanned,
//! in the session that scans it. Ballista ships the client's logical plan to
//! the scheduler, and a custom table has no wire form: so before the plan
//! leaves, every such scan is replaced by the SQL's own plan, with its
//! arguments bound, under the scan's name. What is shipped then reads only
//! the events, the facts and the functions, which every node has.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::datasource::source_as_provider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, TableScan, col};
use datafusion::physical_plan::ExecutionPlan;
use sendlens_metrics::table_fns::{self, SqlTable};

/// A query planner that inlines table functions, then hands the plan to
/// `inner` (Ballista's, which sends it to the scheduler).
#[derive(Debug)]
pub struct TableFunctionsFirst {
    inner: Arc<dyn QueryPlanner + Send + Sync>,
}

impl TableFunctionsFirst {
    pub fn new(inner: Arc<dyn QueryPlanner + Send + Sync>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl QueryPlanner for TableFunctionsFirst {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let state = table_fns::session_state(session)?;
        let plan = inline_table_functions(plan.clone(), state).await?;
        self.inner.create_physical_plan(&plan, session).await
    }
}

/// `plan` with every scan of a table function's table replaced by the plan
/// of its SQL (which may itself call none: the generated SQL reads views).
pub async fn inline_table_functions(
    plan: LogicalPlan,
    state: &SessionState,
) -> Result<LogicalPlan> {
    // Planning a table's SQL is async, and tree rewrites are not: collect
    // the plans first, then put them in place in the same visiting order.
    let mut scans = Vec::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Some(provider) = sql_table(scan)
        {
            scans.push((scan.clone(), provider));
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if scans.is_empty() {
        return Ok(plan);
    }
    let mut inlined = Vec::with_capacity(scans.len());
    for (scan, provider) in &scans {
        let table = provider
            .downcast_ref::<SqlTable>()
            .ok_or_else(|| DataFusionError::Internal("not a table function's table".into()))?;
        inlined.push(in_place_of(scan, table.logical_plan(state).await?)?);
    }
    let mut next = inlined.into_iter();
    let plan = plan
        .transform_up_with_subqueries(|node| match &node {
            LogicalPlan::TableScan(scan) if sql_table(scan).is_some() => {
                let replacement = next.next().ok_or_else(|| {
                    DataFusionError::Internal("a table function's scan was not planned".into())
                })?;
                Ok(Transformed::yes(replacement))
            }
            _ => Ok(Transformed::no(node)),
        })?
        .data;
    Ok(plan)
}

/// The provider of a scan that reads a table function's table.
fn sql_table(scan: &TableScan) -> Option<Arc<dyn TableProvider>> {
    // A source that is not a provider is nothing of ours.
    let provider = source_as_provider(&scan.source).ok()?;
    provider.is::<SqlTable>().then_some(provider)
}

/// `inner` shaped as `scan`'s output: its columns, projected, under the
/// scan's name, with its row limit.
fn in_place_of(scan: &TableScan, inner: LogicalPlan) -> Result<LogicalPlan> {
    let columns: Vec<_> = scan
        .projected_schema
        .fields()
        .iter()
        .map(|f| col(datafusion::common::Column::new_unqualified(f.name())))
        .collect();
    let mut builder = LogicalPlanBuilder::from(inner)
        .alias(scan.table_name.clone())?
        .project(columns)?;
    if let Some(fetch) = scan.fetch {
        builder = builder.limit(0, Some(fetch))?;
    }
    builder.build()
}
