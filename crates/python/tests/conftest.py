"""Fixtures: workspaces of the bundled sample, and the Rust side's answers.

``workspace`` is ``SENDLENS_TEST_WORKSPACE`` when set (CI passes the one the
demo made); otherwise one is made here with the ``sendlens`` binary
(``SENDLENS_BIN``, default ``target/debug/sendlens``) from ``data/sample``.
It has the materialized message facts. ``workspace_without_facts`` is
ingested with ``--no-refresh``: there, ``message_facts`` and the tables after
it are views, planned by whichever DataFusion runs the query.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def sendlens_bin() -> Path:
    path = Path(os.environ.get("SENDLENS_BIN", REPO / "target" / "debug" / "sendlens"))
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with `cargo build` (or set SENDLENS_BIN)")
    return path


def run(*args: str | os.PathLike[str]) -> str:
    done = subprocess.run(
        [str(sendlens_bin()), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"sendlens {' '.join(map(str, args))} failed:\n{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("SENDLENS_TEST_WORKSPACE")
    if given:
        return Path(given)
    ws = tmp_path_factory.mktemp("sample") / "workspace"
    run("init", ws)
    run("ingest", "--workspace", ws, REPO / "data" / "sample")
    return ws


@pytest.fixture(scope="session")
def workspace_without_facts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("sample-views") / "workspace"
    run("init", ws)
    run("ingest", "--no-refresh", "--workspace", ws, REPO / "data" / "sample")
    assert not (ws / ".sendlens" / "facts").exists() or not any((ws / ".sendlens" / "facts").iterdir())
    return ws


@pytest.fixture(scope="session")
def rust_side(tmp_path_factory: pytest.TempPathFactory):
    """Answers of queries by the ``sendlens`` binary (the Rust side) on a
    workspace, each written to Parquet; one run of the binary per batch."""
    import pyarrow.parquet as pq

    def answer(workspace: Path, queries: dict[str, str]) -> dict[str, object]:
        out = tmp_path_factory.mktemp("rust")
        args: list[str] = []
        for key, sql in queries.items():
            path = out / f"{key}.parquet"
            args += ["-c", f"COPY ({sql}) TO '{path}' STORED AS PARQUET"]
        run("sql", "--workspace", workspace, *args)
        return {key: pq.read_table(out / f"{key}.parquet") for key in queries}

    return answer
