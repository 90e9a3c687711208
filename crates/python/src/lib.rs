//! `sendlens._native`: the sendlens metrics exported to a datafusion-python
//! `SessionContext` through DataFusion's FFI capsules.
//!
//! The Python package (`python/sendlens/__init__.py`) does the registering;
//! this module hands it the pieces:
//! - every scalar and aggregate function as an object with
//!   `__datafusion_scalar_udf__` / `__datafusion_aggregate_udf__`;
//! - the workspace's tables (`events`, and the materialized message facts
//!   when they are current) as objects with `__datafusion_table_provider__`;
//! - the view definitions, the same SQL the Rust side registers;
//! - the table functions, called with literal arguments, each returning a
//!   table provider (the callable-returns-provider route: see the README).
//!
//! The tables scan in a session this module owns (the workspace's, opened at
//! the same table version), on this module's own tokio runtime: the calling
//! session is another library's, so neither its `SessionState` nor its tokio
//! runtime is usable from here.

mod table;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use datafusion::catalog::TableFunctionArgs;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{AggregateUDF, Expr, ScalarUDF, TableType};
use datafusion::prelude::SessionContext;
use datafusion_ffi::udaf::FFI_AggregateUDF;
use datafusion_ffi::udf::FFI_ScalarUDF;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};
use sendlens_store::Workspace;
use tokio::runtime::Runtime;

use table::Table;

/// The runtime the exported tables plan and execute on.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("sendlens")
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// A planning mistake (bad arguments, unknown names) is a ValueError; the
/// message keeps every context the error gathered.
fn py_err(e: DataFusionError) -> PyErr {
    match e.find_root() {
        DataFusionError::Plan(_) => PyValueError::new_err(e.to_string()),
        _ => PyRuntimeError::new_err(e.to_string()),
    }
}

/// An opened workspace: the session the exported tables scan in.
#[pyclass(frozen, name = "Workspace", module = "sendlens._native")]
struct PyWorkspace {
    ctx: SessionContext,
    location: String,
    time_zone: String,
    version: Option<u64>,
}

#[pymethods]
impl PyWorkspace {
    /// Open the workspace at `path`, a folder or an `s3://bucket/prefix`
    /// URL (its latest committed table version),
    /// with days in `time_zone` (default: the workspace's).
    #[new]
    #[pyo3(signature = (path, time_zone = None))]
    fn new(py: Python<'_>, path: PathBuf, time_zone: Option<String>) -> PyResult<Self> {
        let ws = Workspace::open(&path).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let time_zone = time_zone.unwrap_or_else(|| ws.config().time.zone.clone());
        let (ctx, version) = py
            .detach(|| {
                runtime().block_on(async {
                    let table = ws
                        .open_table()
                        .await
                        .map_err(|e| DataFusionError::External(Box::new(e)))?;
                    let ctx = sendlens_metrics::session_context();
                    sendlens_store::register_on_in_zone(&ctx, &ws, &table, &time_zone).await?;
                    Ok::<_, DataFusionError>((ctx, table.version()))
                })
            })
            .map_err(py_err)?;
        Ok(Self {
            ctx,
            location: ws.location(),
            time_zone,
            version,
        })
    }

    /// The workspace folder, or its `s3://` URL.
    #[getter]
    fn path(&self) -> String {
        self.location.clone()
    }

    /// The time zone of the workspace's day boundaries (the views' default).
    #[getter]
    fn time_zone(&self) -> String {
        self.time_zone.clone()
    }

    /// The Delta table version the session reads.
    #[getter]
    fn version(&self) -> Option<u64> {
        self.version
    }

    /// The scalar functions, each exportable with `__datafusion_scalar_udf__`.
    fn scalar_functions(&self) -> Vec<ScalarFunction> {
        sendlens_metrics::udf::all()
            .into_iter()
            .map(|f| ScalarFunction(Arc::new(f)))
            .collect()
    }

    /// The aggregate functions, each exportable with
    /// `__datafusion_aggregate_udf__`.
    fn aggregate_functions(&self) -> Vec<AggregateFunction> {
        sendlens_metrics::udaf::all()
            .into_iter()
            .map(|f| AggregateFunction(Arc::new(f)))
            .collect()
    }

    /// `(name, table)` for each base table of the session (`events`, and the
    /// materialized message facts when current), in registration order of
    /// dependence: views over them come from [`Self::views`].
    fn tables(&self, py: Python<'_>) -> PyResult<Vec<(String, Table)>> {
        let state = self.ctx.state();
        let mut tables = Vec::new();
        // The facts are registered only when current; otherwise the name is
        // a view and comes with the views.
        let candidates =
            std::iter::once(sendlens_metrics::EVENTS_TABLE).chain(sendlens_store::facts::names());
        for name in candidates {
            let provider = py
                .detach(|| runtime().block_on(self.ctx.table_provider(name)))
                .map_err(py_err)?;
            if provider.table_type() == TableType::Base {
                tables.push((name.to_string(), Table::new(provider, state.clone(), true)));
            }
        }
        Ok(tables)
    }

    /// `(name, sql)` of every view, in an order where each reads only tables
    /// and views before it: the metric views, then the compatibility views.
    fn views(&self) -> Vec<(String, String)> {
        sendlens_metrics::views::all(&self.time_zone)
            .into_iter()
            .map(|v| (v.name.to_string(), v.sql))
            .collect()
    }

    /// `(name, usage, description)` of every table function.
    fn table_functions(&self) -> Vec<(String, String, String)> {
        sendlens_metrics::table_fns::TABLE_FUNCTIONS
            .iter()
            .map(|(name, usage, doc, _)| (name.to_string(), usage.to_string(), doc.to_string()))
            .collect()
    }

    /// `(table_function, kpi_name)` of every Pinpoint KPI the `*_kpi` table
    /// functions answer.
    fn kpi_names(&self) -> Vec<(String, String)> {
        use sendlens_metrics::table_fns::{Kind, TABLE_FUNCTIONS};
        TABLE_FUNCTIONS
            .iter()
            .filter_map(|(function, _, _, kind)| match kind {
                Kind::Kpi(scope) => Some((*function, *scope)),
                _ => None,
            })
            .flat_map(|(function, scope)| {
                sendlens_metrics::kpi::names(scope)
                    .into_iter()
                    .map(move |name| (function.to_string(), name))
            })
            .collect()
    }

    /// Call the table function `name` with literal arguments (`str`, `int`,
    /// `float`, `bool`, `None`; dates as `'YYYY-MM-DD'` strings) and return
    /// its table.
    #[pyo3(signature = (name, *args))]
    fn call_table_function(&self, name: &str, args: &Bound<'_, PyTuple>) -> PyResult<Table> {
        let exprs = args
            .iter()
            .enumerate()
            .map(|(i, a)| {
                literal(&a).map_err(|msg| {
                    PyValueError::new_err(format!("{name}: argument {}: {msg}", i + 1))
                })
            })
            .collect::<PyResult<Vec<Expr>>>()?;
        let function = self.ctx.table_function(name).map_err(py_err)?;
        let state = self.ctx.state();
        let provider = function
            .create_table_provider_with_args(TableFunctionArgs::new(&exprs, &state))
            .map_err(py_err)?;
        // Filters stay on the calling side: the caller's codec (the global
        // session's, for a Python table function) may not know the functions
        // a filter names.
        Ok(Table::new(provider, state, false))
    }

    fn __repr__(&self) -> String {
        format!(
            "Workspace({:?}, version={:?}, time_zone={:?})",
            self.location, self.version, self.time_zone
        )
    }
}

/// A Python value as a literal argument.
fn literal(value: &Bound<'_, PyAny>) -> Result<Expr, String> {
    let scalar = if value.is_none() {
        ScalarValue::Null
    } else if let Ok(b) = value.cast::<pyo3::types::PyBool>() {
        ScalarValue::Boolean(Some(b.is_true()))
    } else if value.is_instance_of::<pyo3::types::PyInt>() {
        let i = value
            .extract::<i64>()
            .map_err(|_| format!("{value} does not fit in a 64-bit integer"))?;
        ScalarValue::Int64(Some(i))
    } else if let Ok(f) = value.extract::<f64>() {
        ScalarValue::Float64(Some(f))
    } else if let Ok(s) = value.extract::<String>() {
        ScalarValue::Utf8(Some(s))
    } else {
        let kind = value
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(format!(
            "expected a string, number, boolean or None, got {kind}"
        ));
    };
    Ok(Expr::Literal(scalar, None))
}

/// A scalar function, exportable to another DataFusion.
#[pyclass(frozen, name = "ScalarFunction", module = "sendlens._native")]
struct ScalarFunction(Arc<ScalarUDF>);

#[pymethods]
impl ScalarFunction {
    #[getter]
    fn name(&self) -> String {
        self.0.name().to_string()
    }

    fn __datafusion_scalar_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let ffi = FFI_ScalarUDF::from(Arc::clone(&self.0));
        PyCapsule::new_with_value(py, ffi, c"datafusion_scalar_udf")
    }

    fn __repr__(&self) -> String {
        format!("ScalarFunction({})", self.0.name())
    }
}

/// An aggregate function, exportable to another DataFusion.
#[pyclass(frozen, name = "AggregateFunction", module = "sendlens._native")]
struct AggregateFunction(Arc<AggregateUDF>);

#[pymethods]
impl AggregateFunction {
    #[getter]
    fn name(&self) -> String {
        self.0.name().to_string()
    }

    fn __datafusion_aggregate_udf__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let ffi = FFI_AggregateUDF::from(Arc::clone(&self.0));
        PyCapsule::new_with_value(py, ffi, c"datafusion_aggregate_udf")
    }

    fn __repr__(&self) -> String {
        format!("AggregateFunction({})", self.0.name())
    }
}

/// The major version of the DataFusion FFI this module was built with; the
/// Python package refuses a datafusion whose major version differs.
#[pyfunction]
fn ffi_major_version() -> u64 {
    datafusion_ffi::version()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWorkspace>()?;
    m.add_class::<ScalarFunction>()?;
    m.add_class::<AggregateFunction>()?;
    m.add_class::<Table>()?;
    m.add_function(wrap_pyfunction!(ffi_major_version, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
