"""Pinpoint's analytics API, answered by ``sendlens serve``.

Scripts that called Pinpoint through the AWS SDKs keep working with the
endpoint pointed at sendlens: the real ``boto3`` client and the real ``aws``
command parse the answers, and the values equal the KPI table functions of
the embedded engine (the ``sendlens`` binary). Off loopback, requests must
be signed with the server's key pair (AWS Signature Version 4)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import boto3
import botocore
import pytest
from botocore.exceptions import ClientError

from conftest import run, sendlens_bin

START = datetime(2026, 9, 1, tzinfo=timezone.utc)
END = datetime(2026, 9, 8, 23, 59, 59, tzinfo=timezone.utc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workspace: Path, *args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([str(sendlens_bin()), "--workspace", str(workspace), "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening on http://" not in line:
        proc.kill()
        pytest.fail(f"serve did not start: {line}{proc.stderr.read()}")
    port = line.strip().rstrip("/").rsplit(":", 1)[1]
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server(workspace: Path):
    proc, url = start(workspace, "--bind", f"127.0.0.1:{free_port()}")
    yield url
    proc.kill()
    proc.wait()


def rows(workspace: Path, sql: str) -> list[dict]:
    out = run("sql", "--workspace", workspace, "--format", "ndjson", "-c", sql)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def ids(workspace: Path) -> dict:
    top = rows(workspace, "SELECT campaign_id, app_id FROM message_facts WHERE campaign_id IS NOT NULL "
                          "GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1")[0]
    journey = rows(workspace, "SELECT journey_id, app_id FROM message_facts WHERE journey_id IS NOT NULL "
                              "GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1")[0]
    return {"app": top["app_id"], "campaign": top["campaign_id"],
            "journey": journey["journey_id"], "journey_app": journey["app_id"]}


def client(url: str, key: str = "AKIDSENDLENS", secret: str = "secret", **config):
    return boto3.client("pinpoint", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}, **config))


def kpi_rows(function: str, kpi: str, id_: str, workspace: Path) -> list[tuple]:
    """The table function's rows with a value, as (group values..., value)."""
    out = rows(workspace, f"SELECT * FROM {function}('{kpi}', '{id_}', DATE '2026-09-01', DATE '2026-09-08', 'UTC')")
    return [tuple(str(v) for k, v in r.items() if k != "Value") + (r["Value"],) for r in out if "Value" in r]


def answered(result: dict) -> list[tuple]:
    """A KpiResult's rows as (group values..., value)."""
    return [tuple(g["Value"] for g in r["GroupedBys"]) + (float(r["Values"][0]["Value"]),)
            for r in result["KpiResult"]["Rows"]]


def test_boto3_reads_the_campaign_kpis_as_the_table_function_gives_them(server: str, ids: dict, workspace: Path):
    pinpoint = client(server)
    answered_rows = 0
    for kpi in ["successful-delivery-rate-grouped-by-date", "email-open-rate", "successful-delivery-rate",
                "unique-deliveries-grouped-by-campaign-activity", "sms-spend"]:
        got = pinpoint.get_campaign_date_range_kpi(
            ApplicationId=ids["app"], CampaignId=ids["campaign"], KpiName=kpi,
            StartTime=START, EndTime=END)["CampaignDateRangeKpiResponse"]
        assert got["KpiName"] == kpi and got["CampaignId"] == ids["campaign"]
        assert got["StartTime"] == START and isinstance(got["EndTime"], datetime)
        expected = kpi_rows("campaign_kpi", kpi, ids["campaign"], workspace)
        assert answered(got) == expected, kpi
        answered_rows += len(expected)
    # Rates over nothing (an SMS campaign's email open rate) have no row.
    assert answered_rows >= 4


def test_boto3_reads_application_and_journey_kpis(server: str, ids: dict, workspace: Path):
    pinpoint = client(server)
    kpi = "unique-deliveries-grouped-by-campaign"
    got = pinpoint.get_application_date_range_kpi(
        ApplicationId=ids["app"], KpiName=kpi, StartTime=START, EndTime=END)["ApplicationDateRangeKpiResponse"]
    assert answered(got) == kpi_rows("application_kpi", kpi, ids["app"], workspace)
    kpi = "journey-emails-delivered"
    got = pinpoint.get_journey_date_range_kpi(
        ApplicationId=ids["journey_app"], JourneyId=ids["journey"], KpiName=kpi,
        StartTime=START, EndTime=END)["JourneyDateRangeKpiResponse"]
    assert answered(got) == kpi_rows("journey_kpi", kpi, ids["journey"], workspace)


def test_pages_of_a_kpi_follow_next_token(server: str, ids: dict, workspace: Path):
    pinpoint = client(server)
    kpi = "unique-deliveries-grouped-by-date"
    pages, token = [], None
    while True:
        extra = {"NextToken": token} if token else {}
        got = pinpoint.get_campaign_date_range_kpi(
            ApplicationId=ids["app"], CampaignId=ids["campaign"], KpiName=kpi,
            StartTime=START, EndTime=END, PageSize="1", **extra)["CampaignDateRangeKpiResponse"]
        pages.append(answered(got))
        token = got.get("NextToken")
        if not token:
            break
    assert all(len(p) == 1 for p in pages)
    assert [r for p in pages for r in p] == kpi_rows("campaign_kpi", kpi, ids["campaign"], workspace)
    assert len(pages) > 1


def test_boto3_reads_the_campaign_activities_from_the_runs(server: str, ids: dict, workspace: Path):
    items = client(server).get_campaign_activities(
        ApplicationId=ids["app"], CampaignId=ids["campaign"])["ActivitiesResponse"]["Item"]
    runs = rows(workspace, f"SELECT run_id, endpoints_targeted, messages_sent FROM campaign_runs('{ids['campaign']}')")
    assert [(i["Id"], i["TotalEndpointCount"], i["SuccessfulEndpointCount"]) for i in items] == \
        [(r["run_id"], r["endpoints_targeted"], r["messages_sent"]) for r in runs]
    assert all(i["CampaignId"] == ids["campaign"] and i["Start"] and i["End"] for i in items)


def test_sdk_callers_get_the_exceptions_they_handle(server: str, ids: dict):
    pinpoint = client(server)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_campaign_date_range_kpi(ApplicationId="no-such-app", CampaignId=ids["campaign"],
                                             KpiName="email-open-rate", StartTime=START, EndTime=END)
    with pytest.raises(pinpoint.exceptions.BadRequestException) as bad:
        pinpoint.get_campaign_date_range_kpi(ApplicationId=ids["app"], CampaignId=ids["campaign"],
                                             KpiName="open-rate", StartTime=START, EndTime=END)
    assert "email-open-rate" in bad.value.response["Error"]["Message"]


def test_the_aws_command_parses_the_answer(server: str, ids: dict, workspace: Path):
    aws = Path(os.environ.get("VIRTUAL_ENV", Path(boto3.__file__).parents[3])) / "bin" / "aws"
    if not aws.exists():
        aws = "aws"
    out = subprocess.run(
        [str(aws), "pinpoint", "get-campaign-date-range-kpi", "--endpoint-url", server,
         "--application-id", ids["app"], "--campaign-id", ids["campaign"],
         "--kpi-name", "successful-delivery-rate-grouped-by-date",
         "--start-time", "2026-09-01T00:00:00Z", "--end-time", "2026-09-08T23:59:59Z", "--output", "json"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_DEFAULT_REGION": "us-east-1"})
    got = json.loads(out.stdout)["CampaignDateRangeKpiResponse"]
    assert answered(got) == kpi_rows("campaign_kpi", "successful-delivery-rate-grouped-by-date",
                                     ids["campaign"], workspace)


def test_off_loopback_only_requests_signed_with_the_servers_key_pass(workspace: Path, ids: dict):
    port = free_port()
    proc, _ = start(workspace, "--bind", f"0.0.0.0:{port}", "--auth-token", "page-token",
                    "--api-access-key-id", "AKIDSENDLENS", "--api-secret-access-key", "right-secret")
    url = f"http://127.0.0.1:{port}"
    try:
        call = dict(ApplicationId=ids["app"], CampaignId=ids["campaign"], KpiName="email-open-rate",
                    StartTime=START, EndTime=END)
        got = client(url, secret="right-secret").get_campaign_date_range_kpi(**call)
        assert got["CampaignDateRangeKpiResponse"]["KpiName"] == "email-open-rate"
        for pinpoint in [client(url, secret="wrong-secret"), client(url, key="AKIDOTHER", secret="right-secret"),
                         client(url, signature_version=botocore.UNSIGNED)]:
            with pytest.raises(ClientError) as refused:
                pinpoint.get_campaign_date_range_kpi(**call)
            assert refused.value.response["Error"]["Code"] == "ForbiddenException"
    finally:
        proc.kill()
        proc.wait()
