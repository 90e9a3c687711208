//! A finished physical plan shown to the enclosing plan as a leaf.
//!
//! A table function's table plans its SQL when scanned, and that plan comes
//! back already optimized. Left open, the enclosing query's optimizer would
//! run over it a second time, and some rules refuse that: `join_selection`
//! may not swap a hash join whose dynamic filter the first pass built
//! (DataFusion fails with "Cannot swap HashJoinExec inputs after dynamic
//! filters have been constructed"). Sealed, it is optimized once. The Python
//! extension seals its scans for a second reason: the caller's optimizer,
//! another library's, must not put its own nodes between ours.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties, displayable,
};

/// `inner`, finished: no children to rewrite, executed as it was planned.
#[derive(Debug)]
pub struct SealedExec {
    inner: Arc<dyn ExecutionPlan>,
    task: Option<Arc<TaskContext>>,
}

impl SealedExec {
    /// Seal `inner`; it executes with the task context of the caller.
    pub fn new(inner: Arc<dyn ExecutionPlan>) -> Self {
        Self { inner, task: None }
    }

    /// Execute with `task` whatever context the caller passes: the memory
    /// pool and object stores the plan was built with, when the caller is
    /// another session.
    pub fn with_task_context(mut self, task: Arc<TaskContext>) -> Self {
        self.task = Some(task);
        self
    }
}

impl DisplayAs for SealedExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::Verbose => {
                write!(
                    f,
                    "SendlensExec:\n{}",
                    displayable(self.inner.as_ref()).indent(true)
                )
            }
            _ => write!(
                f,
                "SendlensExec: {}",
                displayable(self.inner.as_ref())
                    .one_line()
                    .to_string()
                    .trim_end()
            ),
        }
    }
}

impl ExecutionPlan for SealedExec {
    fn name(&self) -> &str {
        "SendlensExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
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
            Err(DataFusionError::Internal(
                "a sealed sendlens plan has no children to replace".into(),
            ))
        }
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn execute(
        &self,
        partition: usize,
        caller: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let task = self.task.as_ref().map_or(caller, Arc::clone);
        self.inner.execute(partition, task)
    }
}
