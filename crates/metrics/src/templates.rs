//! Physical plans kept per SQL shape, copied with each call's values.
//!
//! A table function keeps its logical plan per shape (see
//! [`PlanCache`](crate::table_fns::PlanCache)), but the physical planner and
//! its optimizer rules still run on every call, because the call's values
//! are in the plan. Once a small query's rows are in memory, that planning
//! is most of what it costs. A session that opts in ([`Rebinding`]) plans
//! each shape once more, with stand-ins for the parameters
//! ([`stand_in`]), and keeps that plan as a [`Template`]; a call then gets
//! a copy of it with its own values where the stand-ins were.
//!
//! A copy is only made where it is known to be the plan the call's values
//! would have been planned into:
//! - every node is of a kind whose expressions are rewritten here (filters
//!   and projections) or that holds no stand-in and no dynamic filter (a
//!   filter one run would update for the others);
//! - every leaf is a [`DeferredScan`], which the owner of the table binds
//!   to the call's value, or a leaf that reads nothing (one empty row);
//! - no value decided the shape of the plan: stand-ins are distinct,
//!   non-null, of the values' types, and a deferred scan has no statistics,
//!   so that no rule folds a count into a constant.
//!
//! Every node of a copy is new and its run state reset (a hash join's
//! build side, metrics), so that copies run side by side. Anything else
//! plans as before.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{ScalarValue, Statistics, internal_err};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, Operator, TryCast};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_expr::expressions::{DynamicFilterPhysicalExpr, Literal};
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::joins::{CrossJoinExec, HashJoinExec, NestedLoopJoinExec};
use datafusion::physical_plan::limit::{GlobalLimitExec, LocalLimitExec};
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::unnest::UnnestExec;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec};
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PhysicalExpr, PlanProperties, ReplaceChildrenOptions,
};

/// A session that keeps templates: a [`SessionConfig`] extension
/// (`config.set_extension(Arc::new(Rebinding))`). Its tables' scans must
/// answer a filter on a stand-in with a [`DeferredScan`] for templates to
/// be used; otherwise each shape is planned once more, found unusable, and
/// planned as before.
///
/// [`SessionConfig`]: datafusion::prelude::SessionConfig
#[derive(Debug, Default)]
pub struct Rebinding;

/// Marks a text stand-in at both ends: no id, date or SQL literal holds it.
const MARK: char = '\u{1}';

/// The value standing for parameter `i` (from 0) of a template planned for
/// values like `like`; none for a type templates do not cover, or a NULL.
pub fn stand_in(i: usize, like: &ScalarValue) -> Option<ScalarValue> {
    let text = || Some(format!("{MARK}sendlens parameter {}{MARK}", i + 1));
    Some(match like {
        v if v.is_null() => return None,
        ScalarValue::Utf8(_) => ScalarValue::Utf8(text()),
        ScalarValue::Utf8View(_) => ScalarValue::Utf8View(text()),
        ScalarValue::LargeUtf8(_) => ScalarValue::LargeUtf8(text()),
        // Days long before any event (year 53 BC), in parameter order: a
        // range's first day stands before its last.
        ScalarValue::Date32(_) => ScalarValue::Date32(Some(-700_000 + i as i32)),
        _ => return None,
    })
}

/// Whether `text` is a text stand-in: a scan filtered on it is planned for
/// a template and answers with a [`DeferredScan`].
pub fn is_stand_in(text: &str) -> bool {
    text.len() > 2 && text.starts_with(MARK) && text.ends_with(MARK)
}

/// The text that `filters` (the conjuncts of a scan's filter) pin `column`
/// to, if one does: `column = 'text'` either way round. A bound
/// parameter's filter reaches a scan unsimplified, so the text may be cast
/// to another text type, and the column too (a Utf8 column compared with
/// a Utf8View value). A table that answers a stand-in with a
/// [`DeferredScan`] finds the stand-in here.
pub fn pinned_text(filters: &[Expr], column: &str) -> Option<String> {
    filters.iter().find_map(|f| match f {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => match (uncast_text(left), uncast_text(right)) {
            (Expr::Column(c), value) | (value, Expr::Column(c)) if c.name == column => text(value),
            _ => None,
        },
        _ => None,
    })
}

/// `e` without the casts to text types around it.
fn uncast_text(mut e: &Expr) -> &Expr {
    while let Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) = e {
        if !is_text(field.data_type()) {
            break;
        }
        e = expr;
    }
    e
}

/// The text a literal holds.
fn text(value: &Expr) -> Option<String> {
    match value {
        Expr::Literal(v, _) => match v.cast_to(&DataType::Utf8).ok()? {
            ScalarValue::Utf8(s) => s,
            _ => None,
        },
        _ => None,
    }
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
    )
}

/// Binds a deferred scan to the value its stand-in stands for: the scan's
/// plan for that value, or none when the table has no plan it can bind
/// (the call is then planned as before).
pub type Bind = dyn Fn(&ScalarValue) -> Result<Option<Arc<dyn ExecutionPlan>>> + Send + Sync;

/// A template's scan of a table filtered on a stand-in: which rows it reads
/// is known only once the call's value is.
pub struct DeferredScan {
    stand_in: String,
    properties: Arc<PlanProperties>,
    bind: Arc<Bind>,
}

impl DeferredScan {
    /// A scan producing `schema` (one partition, no order) for the value of
    /// the text stand-in `stand_in`, made by `bind`.
    pub fn new(stand_in: String, schema: SchemaRef, bind: Arc<Bind>) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Self {
            stand_in,
            properties: Arc::new(properties),
            bind,
        }
    }
}

impl fmt::Debug for DeferredScan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredScan")
            .field("stand_in", &self.stand_in)
            .finish_non_exhaustive()
    }
}

impl DisplayAs for DeferredScan {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DeferredScan: {:?}", self.stand_in)
    }
}

impl ExecutionPlan for DeferredScan {
    fn name(&self) -> &str {
        "DeferredScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            internal_err!("a deferred scan has no children")
        }
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn partition_statistics(&self, _partition: Option<usize>) -> Result<Arc<Statistics>> {
        Ok(Arc::new(Statistics::new_unknown(&self.schema())))
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        internal_err!("a template's deferred scan runs only in a bound copy")
    }
}

/// A physical plan with stand-ins for its parameters.
#[derive(Debug)]
pub struct Template {
    plan: Arc<dyn ExecutionPlan>,
    stand_ins: Vec<ScalarValue>,
    /// The filters and projections whose expressions hold a stand-in (by
    /// address in `plan`): found once, so that a copy does not search
    /// every expression of the plan again.
    holding: HashSet<usize>,
}

/// A node's address, which names it while its plan is alive.
fn address(node: &Arc<dyn ExecutionPlan>) -> usize {
    Arc::as_ptr(node).cast::<()>() as usize
}

impl Template {
    /// `plan`, planned with `stand_ins` for the parameters, as a template;
    /// none when a copy of it could not be made exact (see the module).
    pub fn prepare(
        plan: Arc<dyn ExecutionPlan>,
        stand_ins: Vec<ScalarValue>,
    ) -> Result<Option<Template>> {
        let mut holding = HashSet::new();
        Ok(
            Self::usable(&plan, &stand_ins, &mut holding)?.then_some(Template {
                plan,
                stand_ins,
                holding,
            }),
        )
    }

    /// Whether copies of `node`, planned with `stand_ins`, can be made
    /// exact; the nodes whose expressions hold a stand-in go to `holding`.
    fn usable(
        node: &Arc<dyn ExecutionPlan>,
        stand_ins: &[ScalarValue],
        holding: &mut HashSet<usize>,
    ) -> Result<bool> {
        if node.is::<DeferredScan>() {
            return Ok(true);
        }
        let rewritten = node.is::<FilterExec>() || node.is::<ProjectionExec>();
        let leaf = node.is::<PlaceholderRowExec>() || node.is::<EmptyExec>();
        let kept_as_is = node.is::<AggregateExec>()
            || node.is::<HashJoinExec>()
            || node.is::<CrossJoinExec>()
            || node.is::<NestedLoopJoinExec>()
            || node.is::<SortExec>()
            || node.is::<SortPreservingMergeExec>()
            || node.is::<BoundedWindowAggExec>()
            || node.is::<WindowAggExec>()
            || node.is::<UnnestExec>()
            || node.is::<UnionExec>()
            || node.is::<CoalescePartitionsExec>()
            || node.is::<GlobalLimitExec>()
            || node.is::<LocalLimitExec>()
            || node.is::<CooperativeExec>();
        if !(rewritten || leaf || kept_as_is) || !node.dynamic_expressions_produced().is_empty() {
            return Ok(false);
        }
        let (mut fine, mut holds) = (true, false);
        node.apply_expressions(&mut |root| {
            root.apply(|e| {
                let stand_in = e
                    .downcast_ref::<Literal>()
                    .is_some_and(|l| stand_ins.contains(l.value()));
                holds |= stand_in;
                if e.is::<DynamicFilterPhysicalExpr>() || (stand_in && !rewritten) {
                    fine = false;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        if !fine {
            return Ok(false);
        }
        if holds {
            holding.insert(address(node));
        }
        for child in node.children() {
            if !Self::usable(child, stand_ins, holding)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A copy for `values` (one per stand-in, of the same types), or none
    /// when a deferred scan cannot be bound to its value.
    pub fn bind(&self, values: &[ScalarValue]) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        if values.len() != self.stand_ins.len()
            || values
                .iter()
                .zip(&self.stand_ins)
                .any(|(v, s)| v.data_type() != s.data_type() || v.is_null())
        {
            return Ok(None);
        }
        Copy {
            stand_ins: &self.stand_ins,
            values,
            holding: &self.holding,
        }
        .node(&self.plan)
    }
}

/// One copy being made.
struct Copy<'a> {
    stand_ins: &'a [ScalarValue],
    values: &'a [ScalarValue],
    holding: &'a HashSet<usize>,
}

impl Copy<'_> {
    fn value_of(&self, stand_in: &ScalarValue) -> Option<&ScalarValue> {
        let i = self.stand_ins.iter().position(|s| s == stand_in)?;
        self.values.get(i)
    }

    fn expr(&self, expr: &Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(Arc::clone(expr)
            .transform_up(|e| {
                let value = e
                    .downcast_ref::<Literal>()
                    .and_then(|l| self.value_of(l.value()));
                Ok(match value {
                    Some(v) => Transformed::yes(Arc::new(Literal::new(v.clone())) as _),
                    None => Transformed::no(e),
                })
            })?
            .data)
    }

    fn node(&self, node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        if let Some(scan) = node.downcast_ref::<DeferredScan>() {
            let stand_in = self
                .stand_ins
                .iter()
                .find(|s| s.try_as_str().flatten() == Some(scan.stand_in.as_str()));
            let Some(value) = stand_in.and_then(|s| self.value_of(s)) else {
                return Ok(None);
            };
            return (scan.bind)(value);
        }
        let mut children = Vec::with_capacity(node.children().len());
        for child in node.children() {
            match self.node(child)? {
                Some(c) => children.push(c),
                None => return Ok(None),
            }
        }
        // A node whose expressions hold a stand-in is planned again with
        // the values; any other keeps what was worked out for the template
        // (its schema, order and partitioning do not depend on the values).
        let keep = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep);
        let holds = self.holding.contains(&address(node));
        let copy: Arc<dyn ExecutionPlan> = match (
            node.downcast_ref::<FilterExec>(),
            node.downcast_ref::<ProjectionExec>(),
        ) {
            (Some(filter), _) if holds => Arc::new(
                FilterExecBuilder::from(filter)
                    .with_predicate(self.expr(filter.predicate())?)
                    .with_input(children.swap_remove(0))
                    .build()?,
            ),
            (_, Some(projection)) if holds => {
                let exprs = projection
                    .expr()
                    .iter()
                    .map(|p| {
                        Ok(ProjectionExpr {
                            expr: self.expr(&p.expr)?,
                            alias: p.alias.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Arc::new(ProjectionExec::try_new(exprs, children.swap_remove(0))?)
            }
            _ if children.is_empty() => Arc::clone(node),
            _ => Arc::clone(node).replace_children(children, keep)?,
        };
        // A new node shares nothing a run changes with the template or
        // another copy (a hash join's build side, a sort's top-k filter).
        copy.reset_state().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use datafusion::arrow::array::{Date32Array, Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::catalog::{Session, TableProvider};
    use datafusion::common::ScalarValue;
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::*;
    use crate::table_fns::{PlanCache, SqlTable};

    /// Rows of keys `k`, days `d` and values `v`; a scan filtered on one
    /// key is deferred when the key is a stand-in, as a server's kept rows
    /// are, and counted when bound.
    #[derive(Debug)]
    struct Keyed {
        rows: RecordBatch,
        binds: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl TableProvider for Keyed {
        fn schema(&self) -> SchemaRef {
            self.rows.schema()
        }
        fn table_type(&self) -> datafusion::logical_expr::TableType {
            datafusion::logical_expr::TableType::Base
        }
        fn supports_filters_pushdown(
            &self,
            filters: &[&Expr],
        ) -> Result<Vec<TableProviderFilterPushDown>> {
            Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
        }
        async fn scan(
            &self,
            _state: &dyn Session,
            projection: Option<&Vec<usize>>,
            filters: &[Expr],
            _limit: Option<usize>,
        ) -> Result<Arc<dyn ExecutionPlan>> {
            let projection = projection.cloned();
            let (rows, binds) = (self.rows.clone(), Arc::clone(&self.binds));
            let scan = move |_key: &ScalarValue| -> Result<Arc<dyn ExecutionPlan>> {
                // Every row: the filters above pick the key's.
                Ok(MemorySourceConfig::try_new_exec(
                    &[vec![rows.clone()]],
                    rows.schema(),
                    projection.clone(),
                )?)
            };
            match pinned_text(filters, "k") {
                Some(key) if is_stand_in(&key) => {
                    let projected = scan(&ScalarValue::Null)?.schema();
                    let bind = move |key: &ScalarValue| {
                        binds.fetch_add(1, Ordering::SeqCst);
                        scan(key).map(Some)
                    };
                    Ok(Arc::new(DeferredScan::new(key, projected, Arc::new(bind))))
                }
                _ => scan(&ScalarValue::Null),
            }
        }
    }

    fn rows() -> RecordBatch {
        let keys = ["a", "a", "a", "b", "b", "c"];
        let days = [20_000, 20_001, 20_003, 20_001, 20_002, 20_001];
        let values = [1, 2, 4, 8, 16, 32];
        RecordBatch::try_from_iter([
            ("k", Arc::new(StringArray::from(keys.to_vec())) as _),
            ("d", Arc::new(Date32Array::from(days.to_vec())) as _),
            ("v", Arc::new(Int64Array::from(values.to_vec())) as _),
        ])
        .unwrap()
    }

    /// A sum over a key's days, joined to the key's maximum over all days
    /// (a hash join, whose build side a copy must not share).
    const SQL: &str = "SELECT t.k, count(*) AS n, sum(t.v) AS s, max(m.top) AS top \
        FROM t JOIN (SELECT k AS mk, max(v) AS top FROM t WHERE k = CAST($1 AS VARCHAR) GROUP BY k) m \
          ON t.k = m.mk \
        WHERE t.k = CAST($1 AS VARCHAR) AND t.d BETWEEN CAST($2 AS DATE) AND CAST($3 AS DATE) \
        GROUP BY t.k";

    async fn run(ctx: &SessionContext, plans: &Arc<PlanCache>, params: Vec<ScalarValue>) -> String {
        let schema = ctx
            .state()
            .create_logical_plan(SQL)
            .await
            .unwrap()
            .schema()
            .as_arrow()
            .clone();
        let table = SqlTable::bound(SQL.into(), Arc::new(schema), params, Arc::clone(plans));
        let batches = ctx
            .read_table(Arc::new(table))
            .unwrap()
            .collect()
            .await
            .unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    fn params(key: &str, from: i32, to: i32) -> Vec<ScalarValue> {
        vec![
            ScalarValue::Utf8(Some(key.into())),
            ScalarValue::Date32(Some(from)),
            ScalarValue::Date32(Some(to)),
        ]
    }

    #[tokio::test]
    async fn copies_of_a_template_give_what_planning_each_call_gives() {
        let binds = Arc::new(AtomicUsize::new(0));
        let session = |rebinding: bool| {
            let mut config = SessionConfig::new().with_target_partitions(1);
            // As `SET` does it: the switch of every kind of dynamic filter.
            config
                .options_mut()
                .set(
                    "datafusion.optimizer.enable_dynamic_filter_pushdown",
                    "false",
                )
                .unwrap();
            if rebinding {
                config.set_extension(Arc::new(Rebinding));
            }
            let ctx = SessionContext::new_with_config(config);
            let table = Keyed {
                rows: rows(),
                binds: Arc::clone(&binds),
            };
            ctx.register_table("t", Arc::new(table)).unwrap();
            ctx
        };
        let (copied, planned) = (session(true), session(false));
        let (copies, plans) = (
            Arc::new(PlanCache::default()),
            Arc::new(PlanCache::default()),
        );
        let calls = [
            ("a", 20_000, 20_001),
            ("b", 20_000, 20_005),
            ("a", 20_003, 20_003),
            ("c", 20_001, 20_001),
            ("z", 20_000, 20_009),
        ];
        for (key, from, to) in calls {
            let want = run(&planned, &plans, params(key, from, to)).await;
            let got = run(&copied, &copies, params(key, from, to)).await;
            assert_eq!(got, want, "{key} {from}..{to}");
        }
        // a: 1+2 over its first two days, its maximum 4 from all days.
        let a = run(&copied, &copies, params("a", 20_000, 20_001)).await;
        assert!(a.contains("| a | 2 | 3 | 4   |"), "{a}");
        // Two scans a call, each bound (the template was copied, not planned).
        assert_eq!(binds.load(Ordering::SeqCst), 2 * (calls.len() + 1));
        // Side by side, copies share no run state.
        let (x, y) = tokio::join!(
            run(&copied, &copies, params("a", 20_000, 20_009)),
            run(&copied, &copies, params("b", 20_000, 20_009)),
        );
        assert!(x.contains("| a | 3 | 7 | 4   |"), "{x}");
        assert!(y.contains("| b | 2 | 24 | 16  |"), "{y}");
    }

    #[test]
    fn stand_ins_are_distinct_typed_and_recognised() {
        let text = stand_in(0, &ScalarValue::Utf8View(Some("c".into()))).unwrap();
        assert!(matches!(&text, ScalarValue::Utf8View(Some(s)) if is_stand_in(s)));
        let (start, end) = (
            stand_in(1, &ScalarValue::Date32(Some(1))).unwrap(),
            stand_in(2, &ScalarValue::Date32(Some(1))).unwrap(),
        );
        assert!(start < end);
        assert_eq!(stand_in(0, &ScalarValue::Utf8(None)), None);
        assert_eq!(stand_in(0, &ScalarValue::Float64(Some(1.0))), None);
        assert!(!is_stand_in("campaign-1"));
    }
}
