"""Registration, and what a user sees when something is wrong."""

from __future__ import annotations

import datafusion
import pytest
from datafusion import SessionContext

import sendlens


def test_a_datafusion_of_another_major_version_is_refused(monkeypatch, workspace) -> None:
    monkeypatch.setattr(datafusion, "__version__", "54.0.0")
    with pytest.raises(ImportError, match=r"datafusion 54\.0\.0 is installed.*datafusion>=55,<56"):
        sendlens.register(SessionContext(), workspace)
    monkeypatch.setattr(datafusion, "__version__", "56.1.0")
    with pytest.raises(ImportError, match="pip install 'datafusion>=55,<56'"):
        sendlens.check_datafusion()


def test_the_installed_datafusion_is_accepted() -> None:
    assert sendlens.check_datafusion().startswith("55.")
    assert sendlens.DATAFUSION_REQUIREMENT == ">=55,<56"


def test_not_a_workspace(tmp_path) -> None:
    with pytest.raises(ValueError, match="sendlens init"):
        sendlens.register(SessionContext(), tmp_path / "nowhere")


def test_a_registration_reads_one_table_version(workspace) -> None:
    ws = sendlens.Workspace(str(workspace))
    assert ws.version is not None and ws.version >= 1
    assert ws.time_zone == "UTC"
    ctx = SessionContext()
    assert sendlens.register(ctx, ws) is ws
    events = ctx.sql("SELECT count(*) AS n FROM events").to_pydict()["n"][0]
    facts = ctx.sql("SELECT count(*) AS n FROM message_facts").to_pydict()["n"][0]
    assert events > facts > 0


def test_names_the_context_has_are_left_alone(workspace) -> None:
    ctx = SessionContext()
    ctx.sql("CREATE VIEW campaign_metrics AS SELECT 'mine' AS owner").collect()
    sendlens.register(ctx, workspace)
    assert ctx.sql("SELECT owner FROM campaign_metrics").to_pydict() == {"owner": ["mine"]}


def test_table_function_mistakes_are_explained(workspace) -> None:
    ctx = SessionContext()
    sendlens.register(ctx, workspace)
    with pytest.raises(Exception, match=r"end date 2026-09-01 is before the start date.*Usage: campaign_dashboard"):
        ctx.sql("SELECT * FROM campaign_dashboard('C1', '2026-09-14', '2026-09-01')").collect()
    with pytest.raises(Exception, match="argument 2 must be a literal"):
        ctx.sql("SELECT * FROM campaign_daily('C1', CAST(random() AS VARCHAR), '2026-09-01')").collect()
    with pytest.raises(Exception, match="unknown|Unknown|no KPI|not a"):
        ctx.sql("SELECT * FROM campaign_kpi('no-such-kpi', 'C1', '2026-09-01', '2026-09-02')").collect()


def test_functions_work_on_python_data(workspace) -> None:
    ctx = SessionContext()
    sendlens.register(ctx, workspace)
    got = ctx.sql(
        "SELECT safe_rate(3, 4) AS r, safe_rate(1, 0) AS z, email_domain('Ann@Example.COM') AS d"
    ).to_pydict()
    assert got == {"r": [0.75], "z": [None], "d": ["example.com"]}


def test_days_in_another_time_zone(workspace) -> None:
    utc, tokyo = SessionContext(), SessionContext()
    sendlens.register(utc, workspace)
    ws = sendlens.register(tokyo, workspace, time_zone="Asia/Tokyo")
    assert ws.time_zone == "Asia/Tokyo"
    query = "SELECT sum(messages_sent) AS n, count(*) AS days FROM campaign_daily_metrics"
    a, b = utc.sql(query).to_pydict(), tokyo.sql(query).to_pydict()
    # The same messages, spread over other day boundaries.
    assert a["n"] == b["n"] and a["n"][0] > 0
    assert a != b
    with pytest.raises(Exception, match="Mars/Olympus"):
        sendlens.register(SessionContext(), workspace, time_zone="Mars/Olympus")
