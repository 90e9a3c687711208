"""Registration, and what a user sees when something is wrong."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import datafusion
import pytest
from conftest import run
from datafusion import SessionContext

import sendlens


def test_import_refuses_a_datafusion_of_another_major_version(tmp_path) -> None:
    stub = tmp_path / "datafusion"
    stub.mkdir()
    (stub / "__init__.py").write_text('__version__ = "54.0.0"\n')
    done = subprocess.run(
        [sys.executable, "-c", "import sendlens"],
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "ImportError: sendlens 0.1.0 is built for datafusion >=55,<56" in done.stderr
    assert "datafusion 54.0.0 is installed" in done.stderr
    assert "pip install 'datafusion>=55,<56'" in done.stderr


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


def test_a_registration_reads_one_table_version(workspace, tmp_path) -> None:
    copy = tmp_path / "workspace"
    shutil.copytree(workspace, copy)
    ws = sendlens.Workspace(str(copy))
    assert ws.version is not None and ws.version >= 1
    assert ws.time_zone == "UTC"
    ctx = SessionContext()
    assert sendlens.register(ctx, ws) is ws
    count = "SELECT count(*) AS n FROM events"
    events = ctx.sql(count).to_pydict()["n"][0]
    facts = ctx.sql("SELECT count(*) AS n FROM message_facts").to_pydict()["n"][0]
    assert events > facts > 0

    # Another ingest commits a new version; this registration keeps reading
    # the one it opened, a new one reads the new.
    more = tmp_path / "more"
    run("generate", "--out", more, "--events", "500", "--seed", "11")
    run("ingest", "--workspace", copy, more)
    assert ctx.sql(count).to_pydict()["n"][0] == events
    later = SessionContext()
    assert sendlens.register(later, copy).version > ws.version
    assert later.sql(count).to_pydict()["n"][0] > events


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
