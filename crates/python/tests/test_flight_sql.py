"""Arrow Flight SQL: a BI tool's view of a sendlens cluster.

A scheduler started with ``--flight-sql`` over a workspace and one executor,
each a ``sendlens cluster`` process; the client is the ADBC Flight SQL driver
(``adbc-driver-flightsql``), as DBeaver, Superset and pandas users meet it.
Its answers equal the embedded engine's (the ``sendlens`` binary)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import run, sendlens_bin


def free_port(pair: bool = False) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not pair:
            return port
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue


def wait_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"exited early:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"not listening on {port} after 60 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def flight_sql(workspace: Path, tmp_path_factory: pytest.TempPathFactory):
    logs = tmp_path_factory.mktemp("cluster")
    port, own = free_port(), free_port(pair=True)
    procs = []
    try:
        for name, args, listen in [
            ("scheduler", ["--workspace", workspace, "cluster", "scheduler",
                           "--bind", f"127.0.0.1:{port}", "--flight-sql"], port),
            ("executor", ["cluster", "executor", "--scheduler", f"127.0.0.1:{port}",
                          "--bind", f"127.0.0.1:{own}", "--concurrent-tasks", "2"], own),
        ]:
            log = logs / f"{name}.log"
            proc = subprocess.Popen([str(sendlens_bin()), *map(str, args)],
                                    stdout=subprocess.DEVNULL, stderr=log.open("w"))
            procs.append(proc)
            wait_listening(listen, proc, log)
        time.sleep(2)  # the executor's first heartbeat registers it
        yield f"grpc://127.0.0.1:{port}"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def embedded(workspace: Path, sql: str) -> list[dict]:
    """The rows the embedded engine (the ``sendlens`` binary) answers."""
    out = run("sql", "--workspace", workspace, "--format", "ndjson", "-c", sql)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_views_and_table_functions_answer_over_flight_sql(flight_sql: str, workspace: Path):
    import adbc_driver_flightsql.dbapi as flightsql

    metrics = ("SELECT campaign_id, messages_sent, messages_delivered, delivery_rate, "
               "email_open_rate FROM campaign_metrics ORDER BY campaign_id")
    with flightsql.connect(flight_sql, autocommit=True) as conn:
        def answer(sql: str) -> list[dict]:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetch_arrow_table().to_pylist()

        campaigns = answer(metrics)
        campaign = max(campaigns, key=lambda r: r["messages_sent"])["campaign_id"]
        daily = (f"SELECT * FROM campaign_daily('{campaign}', '2026-01-01', '2026-12-31') "
                 "WHERE endpoint_deliveries > 0 ORDER BY day")
        for sql, got in [(metrics, campaigns), (daily, answer(daily))]:
            want = embedded(workspace, sql)
            assert got and len(got) == len(want), sql
            for g, w in zip(got, want):
                for key, value in w.items():
                    if isinstance(value, float):
                        assert g[key] == pytest.approx(value, rel=1e-12), (sql, key)
                    elif key == "day":
                        assert str(g[key]) == value, (sql, key)
                    else:
                        assert g[key] == value, (sql, key)
