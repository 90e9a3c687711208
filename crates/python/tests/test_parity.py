"""Every table, view and table function reachable from Python answers what
the Rust side (the ``sendlens`` binary) answers on the same workspace."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from datafusion import SessionConfig, SessionContext

import sendlens


def open_session(workspace):
    ctx = SessionContext(SessionConfig().with_information_schema(True))
    ws = sendlens.register(ctx, workspace)
    return ctx, ws


@pytest.fixture(scope="module")
def session(workspace):
    return open_session(workspace)


def scalar(ctx: SessionContext, sql: str) -> Any:
    table = ctx.sql(sql).to_arrow_table()
    assert table.num_rows == 1, sql
    return table.column(0)[0].as_py()


def table_function_calls(ctx: SessionContext, ws: sendlens.Workspace) -> dict[str, str]:
    """One or more calls of every table function, with arguments read from
    the data: the campaign with most sends, an A/B-tested campaign, the
    first application and journey, the whole date range."""
    start, end = (
        d.isoformat()
        for d in ctx.sql("SELECT min(event_date), max(event_date) FROM events")
        .to_arrow_table()
        .to_pylist()[0]
        .values()
    )
    campaign = scalar(
        ctx,
        "SELECT campaign_id FROM campaign_metrics ORDER BY messages_sent DESC, campaign_id LIMIT 1",
    )
    ab = scalar(
        ctx,
        "SELECT campaign_id FROM campaign_treatment_metrics GROUP BY campaign_id "
        "HAVING count(*) > 1 ORDER BY campaign_id LIMIT 1",
    )
    app = scalar(
        ctx,
        "SELECT app_id FROM events WHERE campaign_id IS NULL AND journey_id IS NULL "
        "GROUP BY app_id ORDER BY count(*) DESC, app_id LIMIT 1",
    )
    journey = scalar(ctx, "SELECT min(journey_id) FROM events")
    ids = {"campaign_kpi": campaign, "application_kpi": app, "journey_kpi": journey}
    r = f"'{start}', '{end}'"
    calls = {
        "campaign_dashboard": f"campaign_dashboard('{campaign}', {r})",
        "campaign_daily": f"campaign_daily('{campaign}', {r})",
        "campaign_daily_ny": f"campaign_daily('{campaign}', {r}, 'America/New_York')",
        "campaign_hourly": f"campaign_hourly('{campaign}', {r})",
        "campaign_runs": f"campaign_runs('{campaign}')",
        "campaign_runs_range": f"campaign_runs('{campaign}', DATE '{start}', DATE '{end}', 'Asia/Tokyo')",
        "campaign_treatments": f"campaign_treatments('{ab}', {r})",
        "campaign_links": f"campaign_links('{campaign}', {r})",
        "campaign_comparison": f"campaign_comparison({r})",
        "transactional_metrics": f"transactional_metrics({r})",
    }
    for i, (function, kpi) in enumerate(ws.kpi_names()):
        calls[f"{function}_{i}"] = f"{function}('{kpi}', '{ids[function]}', {r})"
    return {key: f"SELECT * FROM {call}" for key, call in calls.items()}


def all_queries(ctx: SessionContext, ws: sendlens.Workspace) -> dict[str, str]:
    names = [name for name, _ in ws.tables()] + [name for name, _ in ws.views()]
    queries = {name: f"SELECT * FROM {name}" for name in names}
    queries.update(table_function_calls(ctx, ws))
    return queries


def type_name(t) -> str:
    """The type as a reader sees it: Parquet has one string type, and names
    a map's entries itself."""
    name = str(t)
    for alias in ("string_view", "large_string"):
        name = name.replace(alias, "string")
    return re.sub(r" \('[^']*'\)", "", name)


def normalized(table) -> tuple[list[tuple[str, str]], list[tuple]]:
    columns = [(f.name, type_name(f.type)) for f in table.schema]
    names = table.column_names
    rows = [tuple(row[c] for c in names) for row in table.to_pylist()]
    return columns, sorted(rows, key=repr)


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return a == b


def test_every_function_view_and_table_is_registered(session) -> None:
    ctx, ws = session
    names = {name for name, _ in ws.tables()} | {name for name, _ in ws.views()}
    assert {"events", "campaign_metrics", "campaign_daily_metrics"} <= names
    for name in names:
        assert ctx.table_exist(name), name
    routines = {
        row["routine_name"]
        for row in ctx.sql("SELECT routine_name FROM information_schema.routines")
        .to_arrow_table()
        .to_pylist()
    }
    exported = {f.name for f in ws.scalar_functions() + ws.aggregate_functions()}
    assert len(exported) >= 10
    assert exported <= routines, exported - routines
    calls = table_function_calls(ctx, ws)
    for name, _, _ in ws.table_functions():
        assert any(q.startswith(f"SELECT * FROM {name}(") for q in calls.values()), name


@pytest.mark.parametrize("facts", ["materialized", "views"])
def test_python_answers_what_rust_answers(
    facts, workspace, workspace_without_facts, rust_side
) -> None:
    """Views are planned by the Python side's DataFusion over the exported
    tables and functions; table functions are planned in the extension's
    own session, so for them this checks arguments and transport. With
    ``views``, ``message_facts`` and the tables after it are views too."""
    path = workspace if facts == "materialized" else workspace_without_facts
    ctx, ws = open_session(path)
    tables = {name for name, _ in ws.tables()}
    assert ("message_facts" in tables) == (facts == "materialized")
    queries = all_queries(ctx, ws)
    expected = rust_side(path, queries)
    nonempty = 0
    for key, sql in queries.items():
        got = ctx.sql(sql).to_arrow_table()
        want = expected[key]
        got_columns, got_rows = normalized(got)
        want_columns, want_rows = normalized(want)
        assert got_columns == want_columns, key
        assert len(got_rows) == len(want_rows), f"{key}: {len(got_rows)} rows, Rust {len(want_rows)}"
        for g, w in zip(got_rows, want_rows):
            assert same_value(list(g), list(w)), f"{key}: {g} != {w}"
        nonempty += bool(got_rows)
    # The sample has data for nearly everything; an all-empty run would
    # compare nothing.
    assert nonempty >= 0.8 * len(queries), f"only {nonempty} of {len(queries)} non-empty"
