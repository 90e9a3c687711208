"""sendlens campaign metrics in a datafusion-python ``SessionContext``.

>>> from datafusion import SessionContext
>>> import sendlens
>>> ctx = SessionContext()
>>> ws = sendlens.register(ctx, "data/workspace")
>>> ctx.sql("SELECT * FROM campaign_metrics").to_pandas()   # doctest: +SKIP

``register`` adds to the context, through DataFusion's FFI capsules, the very
functions, tables and views the ``sendlens`` shell and reports use:

- every scalar and aggregate function (``safe_rate``, ``local_date``,
  ``message_metric``, ...);
- the workspace's ``events`` table (the Delta table's latest committed
  version) and, when current, the materialized ``message_facts``,
  ``campaign_targets`` and ``message_events``;
- every metric view and compatibility view, created in the context from the
  same SQL the Rust side registers;
- every table function (``campaign_dashboard``, ``campaign_daily``,
  ``campaign_runs``, ``campaign_kpi``, ...), as Python table functions that
  return sendlens's own table for the call.

The extension is built against one major version of DataFusion's FFI; a
``datafusion`` package of another major version is refused with an
ImportError instead of crashing the interpreter.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

from sendlens._native import (
    AggregateFunction,
    ScalarFunction,
    Table,
    Workspace,
    ffi_major_version,
)
from sendlens._native import __version__ as __version__

__all__ = [
    "AggregateFunction",
    "ScalarFunction",
    "Table",
    "Workspace",
    "check_datafusion",
    "register",
]

#: The datafusion-python versions this build of sendlens works with.
DATAFUSION_REQUIREMENT = f">={ffi_major_version()},<{ffi_major_version() + 1}"


def check_datafusion() -> str:
    """Return the installed datafusion version, or raise ImportError when its
    major version is not the one sendlens was built with.

    DataFusion's FFI structures change between major versions; handing a
    capsule to a datafusion of another major version would crash the
    interpreter, so this refuses first.
    """
    try:
        import datafusion
    except ImportError as e:  # pragma: no cover - the package depends on it
        msg = (
            "sendlens needs the datafusion package: "
            f"pip install 'datafusion{DATAFUSION_REQUIREMENT}'"
        )
        raise ImportError(msg) from e
    version = getattr(datafusion, "__version__", "unknown")
    major = version.split(".", 1)[0]
    if not major.isdigit() or int(major) != ffi_major_version():
        msg = (
            f"sendlens {__version__} is built for datafusion "
            f"{DATAFUSION_REQUIREMENT} (DataFusion FFI {ffi_major_version()}), "
            f"but datafusion {version} is installed. Install a matching one: "
            f"pip install 'datafusion{DATAFUSION_REQUIREMENT}'"
        )
        raise ImportError(msg)
    return version


check_datafusion()


def register(
    ctx: Any,
    workspace: str | os.PathLike[str] | Workspace,
    time_zone: str | None = None,
) -> Workspace:
    """Register sendlens's functions, tables, views and table functions of
    ``workspace`` (a folder made by ``sendlens init``, an ``s3://bucket/prefix``
    URL of a workspace in object storage, or an opened :class:`Workspace`)
    in the datafusion ``SessionContext`` ``ctx``.

    Days (the views' day boundaries, the table functions' default zone) are
    in ``time_zone``, an IANA name, or the workspace's when it is None.

    A table or view name the context already has is left alone, so a
    notebook may bring its own ``message_facts``. Returns the opened
    workspace (its ``version`` is the Delta table version every query of
    this registration reads).
    """
    check_datafusion()
    from datafusion import udaf, udf, udtf

    if isinstance(workspace, Workspace):
        if time_zone is not None and time_zone != workspace.time_zone:
            msg = "pass time_zone to Workspace(...) when giving an opened workspace"
            raise ValueError(msg)
        ws = workspace
    else:
        ws = Workspace(os.fspath(workspace), time_zone)
    for f in ws.scalar_functions():
        ctx.register_udf(udf(f))
    for f in ws.aggregate_functions():
        ctx.register_udaf(udaf(f))
    for name, table in ws.tables():
        if not ctx.table_exist(name):
            ctx.register_table(name, table)
    for name, sql in ws.views():
        if not ctx.table_exist(name):
            try:
                ctx.register_view(name, ctx.sql(sql))
            except Exception as e:
                msg = f"sendlens view {name}: {e}"
                raise RuntimeError(msg) from e
    for name, usage, doc in ws.table_functions():
        ctx.register_udtf(udtf(_TableFunction(ws, name, usage, doc), name))
    return ws


class _TableFunction:
    """A sendlens table function as a Python table function: the literal
    arguments go to sendlens, which checks them and returns its table."""

    def __init__(self, ws: Workspace, name: str, usage: str, doc: str) -> None:
        self._ws = ws
        self.__name__ = name
        self.__doc__ = f"{usage}\n\n{doc}"
        self._usage = usage

    def __call__(self, *args: Any) -> Table:
        return self._ws.call_table_function(
            self.__name__, *(self._value(i, a) for i, a in enumerate(args, 1))
        )

    def _value(self, i: int, expr: Any) -> Any:
        if expr.variant_name() != "Literal":
            msg = (
                f"{self.__name__}: argument {i} must be a literal "
                f"(a string, number or date), got {expr}. Usage: {self._usage}"
            )
            raise ValueError(msg)
        value = expr.python_value().as_py()
        if isinstance(value, datetime.datetime):
            msg = (
                f"{self.__name__}: argument {i} is a timestamp; give a date "
                f"(DATE '2026-09-01' or '2026-09-01'). Usage: {self._usage}"
            )
            raise ValueError(msg)
        if isinstance(value, datetime.date):
            return value.isoformat()
        return value
