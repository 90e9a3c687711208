//! A table exported through `__datafusion_table_provider__`, planned and
//! executed in the workspace's own session.

use std::borrow::Cow;
use std::ptr::NonNull;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_ffi::proto::logical_extension_codec::FFI_LogicalExtensionCodec;
use datafusion_ffi::table_provider::FFI_TableProvider;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use sendlens_metrics::sealed::SealedExec;

use crate::runtime;

/// A table of the workspace, ready to be registered in another session.
#[pyclass(frozen, name = "Table", module = "sendlens._native")]
pub struct Table {
    provider: Arc<dyn TableProvider>,
    state: SessionState,
    filters: bool,
}

impl Table {
    /// `provider` scanned in `state`; `filters` says whether the caller may
    /// push filters down (they arrive serialized and are decoded with the
    /// caller's codec).
    pub fn new(provider: Arc<dyn TableProvider>, state: SessionState, filters: bool) -> Self {
        Self {
            provider,
            state,
            filters,
        }
    }
}

#[pymethods]
impl Table {
    /// The capsule datafusion-python registers; `session` is the calling
    /// `SessionContext`, whose logical codec decodes pushed-down filters.
    fn __datafusion_table_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = logical_codec(&session)?;
        let local = InOwnSession {
            inner: Arc::clone(&self.provider),
            state: self.state.clone(),
        };
        let ffi = FFI_TableProvider::new_with_ffi_codec(
            Arc::new(local),
            self.filters,
            Some(runtime().handle().clone()),
            codec,
        );
        PyCapsule::new_with_value(py, ffi, c"datafusion_table_provider")
    }
}

/// The logical codec of a datafusion-python session.
fn logical_codec(session: &Bound<'_, PyAny>) -> PyResult<FFI_LogicalExtensionCodec> {
    let attr = "__datafusion_logical_extension_codec__";
    let capsule = if session.hasattr(attr)? {
        session.getattr(attr)?.call0()?
    } else {
        session.clone()
    };
    let capsule = capsule.cast::<PyCapsule>().map_err(|_| {
        PyTypeError::new_err(
            "expected a datafusion SessionContext (datafusion>=55,<56) or its logical codec capsule",
        )
    })?;
    let data: NonNull<FFI_LogicalExtensionCodec> = capsule
        .pointer_checked(Some(c"datafusion_logical_extension_codec"))?
        .cast();
    // SAFETY: the capsule's name says what it holds, and the capsule is alive
    // while it is borrowed here; the codec is cloned out of it.
    Ok(unsafe { data.as_ref() }.clone())
}

/// `inner`, planned in the workspace's session on this module's runtime,
/// whatever session asks for the scan.
#[derive(Debug)]
struct InOwnSession {
    inner: Arc<dyn TableProvider>,
    state: SessionState,
}

#[async_trait]
impl TableProvider for InOwnSession {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, datafusion::logical_expr::LogicalPlan>> {
        None
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        _caller: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let inner = Arc::clone(&self.inner);
        let state = self.state.clone();
        let projection = projection.cloned();
        let filters = filters.to_vec();
        let plan = runtime()
            .spawn(async move {
                let plan = inner
                    .scan(&state, projection.as_ref(), &filters, limit)
                    .await?;
                // The caller's optimizer sees a leaf: this side's rules
                // (file-group repartitioning, ...) run here instead.
                let plan = state
                    .physical_optimizers()
                    .iter()
                    .try_fold(plan, |plan, rule| {
                        rule.optimize(plan, state.config_options())
                    })?;
                // Sealed: the caller's optimizer, another library's, must not
                // put its own nodes between these, which would run on a tokio
                // runtime this module's threads are not in.
                Ok::<_, DataFusionError>(SealedExec::new(plan).with_task_context(state.task_ctx()))
            })
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))??;
        Ok(Arc::new(plan))
    }
}
