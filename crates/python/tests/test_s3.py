"""``register(ctx, "s3://…")``: a workspace in object storage, against a
real S3-compatible server (``moto_server``, installed with the test
requirements) started on a free loopback port. Every view answers what the
same sample answers from a local workspace."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from datafusion import SessionConfig, SessionContext

import sendlens
from conftest import REPO, sendlens_bin

ENV = {
    "AWS_ACCESS_KEY_ID": "sendlens-test",
    "AWS_SECRET_ACCESS_KEY": "sendlens-test",
    "AWS_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}


def moto_server() -> str:
    beside = Path(sys.executable).with_name("moto_server")
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if not found:
        pytest.fail("moto_server is missing: pip install -r crates/python/requirements-dev.txt")
    return found


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [moto_server(), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                pytest.fail("moto_server did not answer within 30 s")
            time.sleep(0.1)
    env = {**ENV, "AWS_ENDPOINT_URL": endpoint}
    for key, value in env.items():
        monkeypatch_module.setenv(key, value)
    monkeypatch_module.setenv("SENDLENS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/lake", method="PUT"))
    yield endpoint
    server.kill()
    server.wait()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def sendlens_cli(*args: str) -> str:
    done = subprocess.run(
        [str(sendlens_bin()), *args], capture_output=True, text=True, check=False, env=os.environ
    )
    assert done.returncode == 0, f"sendlens {' '.join(args)}: {done.stderr}"
    return done.stdout


def rows(ctx: SessionContext, sql: str) -> list[str]:
    return sorted(str(row) for row in ctx.sql(sql).to_pylist())


def test_register_reads_a_workspace_in_s3_as_a_local_one(s3, workspace):
    url = "s3://lake/notebook/ws"
    sendlens_cli("init", url)
    sendlens_cli("ingest", "--workspace", url, str(REPO / "data" / "sample"))

    remote = SessionContext(SessionConfig().with_information_schema(True))
    ws = sendlens.register(remote, url)
    assert ws.path == url + "/"
    assert ws.version is not None
    local = SessionContext(SessionConfig().with_information_schema(True))
    sendlens.register(local, workspace)

    names = [
        r["table_name"]
        for r in local.sql(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_name <> 'events'"
        ).to_pylist()
    ]
    assert "campaign_metrics" in names and len(names) > 25, names
    for name in names:
        assert rows(remote, f"SELECT * FROM {name}") == rows(local, f"SELECT * FROM {name}"), name
    sent = remote.sql("SELECT sum(messages_sent) AS n FROM campaign_metrics").to_pylist()
    assert sent[0]["n"] > 0
