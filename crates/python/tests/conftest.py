"""Fixtures: a workspace of the bundled sample, and the Rust side's answers.

The workspace is ``SENDLENS_TEST_WORKSPACE`` when set (CI passes the one the
demo made); otherwise one is made here with the ``sendlens`` binary
(``SENDLENS_BIN``, default ``target/debug/sendlens``) from ``data/sample``.
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
def rust_side(workspace: Path, tmp_path_factory: pytest.TempPathFactory):
    """Answers of queries by the ``sendlens`` binary (the Rust side), each
    written to Parquet; one run of the binary for a whole batch."""
    import pyarrow.parquet as pq

    out = tmp_path_factory.mktemp("rust")

    def answer(queries: dict[str, str]) -> dict[str, object]:
        args: list[str] = []
        for key, sql in queries.items():
            path = out / f"{key}.parquet"
            args += ["-c", f"COPY ({sql}) TO '{path}' STORED AS PARQUET"]
        run("sql", "--workspace", workspace, *args)
        return {key: pq.read_table(out / f"{key}.parquet") for key in queries}

    return answer
