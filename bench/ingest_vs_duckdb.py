#!/usr/bin/env python3
"""Ingest benchmark: sendlens against DuckDB on the same generated files.

Generates a synthetic Pinpoint stream (gzip JSON lines, Firehose layout),
ingests it with `sendlens ingest --no-refresh` into a new workspace (then
times `sendlens refresh`, the materialized message facts that a plain ingest
also builds, separately), then has DuckDB read
the same files (read_ndjson_objects), flatten the fields the metrics need,
drop duplicate records, keep the raw record, and write zstd Parquet. Each
side runs as its own process; wall time and peak RSS (from wait4) are
reported for both, with the ratio.

Usage: python3 bench/ingest_vs_duckdb.py [--events 1000000] [--threads 2]
       [--repeat 3] [--sendlens target/release/sendlens] [--keep DIR]
"""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (arguments, ensure_duckdb, remove_work_folder, run_measured,  # noqa: E402
                    work_folder)

DUCKDB_SQL = r"""
SET threads = {threads};
SET preserve_insertion_order = false;
COPY (
  WITH src AS (
    SELECT json AS raw FROM read_ndjson_objects('{input}/**/*.gz', ignore_errors = true)
  ),
  fields AS (
    SELECT raw, json_extract_string(raw, [
      '$.event_type', '$.arrival_timestamp', '$.event_timestamp', '$.application.app_id',
      '$.client.client_id', '$.attributes.campaign_id', '$.attributes.campaign_activity_id',
      '$.attributes.treatment_id', '$.attributes.journey_id', '$.attributes.campaign_send_status',
      '$.attributes.delivery_type', '$.facets.email_channel.mail_event.mail.message_id',
      '$.attributes.message_id', '$.facets.email_channel.mail_event.mail.destination[0]',
      '$.facets.email_channel.mail_event.click.link',
      '$.facets.email_channel.mail_event.open.user_agent',
      '$.facets.email_channel.mail_event.bounce.bounce_type',
      '$.attributes.record_status', '$.attributes.iso_country_code',
      '$.attributes.number_of_message_parts', '$.metrics.price_in_millicents_usd'
    ]) AS f
    FROM src
  )
  SELECT DISTINCT ON (md5(raw))
    f[1] AS event_type,
    make_timestamp(TRY_CAST(f[2] AS BIGINT) * 1000) AS occurred_at,
    make_timestamp(TRY_CAST(f[3] AS BIGINT) * 1000) AS sent_at,
    CAST(make_timestamp(TRY_CAST(f[2] AS BIGINT) * 1000) AS DATE) AS event_date,
    f[4] AS app_id, f[5] AS endpoint_id, f[6] AS campaign_id, f[7] AS run_id,
    f[8] AS treatment_id, f[9] AS journey_id, f[10] AS send_status, f[11] AS delivery_type,
    COALESCE(f[12], f[13]) AS message_key, f[14] AS address, f[15] AS link,
    f[16] AS user_agent, f[17] AS bounce_type, f[18] AS record_status,
    f[19] AS iso_country_code, TRY_CAST(f[20] AS INTEGER) AS message_parts,
    TRY_CAST(f[21] AS DOUBLE) AS price_millicents,
    raw
  FROM fields
  WHERE f[1] IS NOT NULL
) TO '{output}' (FORMAT parquet, COMPRESSION zstd);
SELECT COUNT(*) FROM read_parquet('{output}');
"""


def main():
    ap = arguments(__doc__)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    ensure_duckdb()

    work = work_folder(args, "sendlens-bench-")
    data = os.path.join(work, "input")
    if not os.path.isdir(data):
        subprocess.check_call([args.sendlens, "generate", "--out", data, "--events",
                               str(args.events), "--seed", "42", "--days", "30",
                               "--records-per-file", "20000"], stdout=subprocess.DEVNULL)
    input_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data) for f in fs)

    # Alternate the two, several rounds, and keep each side's best run: the
    # machine's speed drifts by tens of percent between minutes.
    s_runs, d_runs = [], []
    for _ in range(args.repeat):
        ws = os.path.join(work, "ws")
        shutil.rmtree(ws, ignore_errors=True)
        subprocess.check_call([args.sendlens, "init", ws], stdout=subprocess.DEVNULL)
        secs, rss, out = run_measured([args.sendlens, "--workspace", ws, "ingest", "--json",
                                       "--no-refresh", "--threads", str(args.threads), data])
        summary = json.loads(out)
        r_secs, r_rss, _ = run_measured([args.sendlens, "--workspace", ws, "refresh"])
        s_runs.append((secs, rss, r_secs, r_rss))

        out_parquet = os.path.join(work, "duckdb.parquet")
        sql = DUCKDB_SQL.format(threads=args.threads, input=data, output=out_parquet)
        secs, rss, d_out = run_measured([sys.executable, "-c",
                                         "import duckdb,sys; c=duckdb.connect(); "
                                         "r=[c.sql(s) for s in sys.argv[1].split(';') if s.strip()]; "
                                         "print(r[-1].fetchall()[0][0])", sql])
        d_rows = int(d_out.strip().splitlines()[-1])
        d_runs.append((secs, rss))
    s_secs, s_rss, r_secs, r_rss = min(s_runs)
    d_secs, d_rss = min(d_runs)
    print("runs (seconds): sendlens " + ", ".join(f"{t:.2f}" for t, *_ in s_runs)
          + "; duckdb " + ", ".join(f"{t:.2f}" for t, _ in d_runs))

    records = summary["records"]
    s_rate = records / s_secs
    d_rate = records / d_secs
    print(f"input: {records} records, {input_bytes / 1e6:.1f} MB gzip, "
          f"{summary['bytes'] / 1e6:.1f} MB JSON, {args.threads} threads")
    print(f"{'':10} {'seconds':>8} {'events/s':>12} {'peak RSS MB':>12} {'rows stored':>12}")
    print(f"{'sendlens':10} {s_secs:8.2f} {s_rate:12.0f} {s_rss:12.0f} {summary['stored']:12d}")
    print(f"{'duckdb':10} {d_secs:8.2f} {d_rate:12.0f} {d_rss:12.0f} {d_rows:12d}")
    print(f"ratio (sendlens events/s / duckdb events/s): {s_rate / d_rate:.2f}x; "
          f"peak memory ratio: {s_rss / d_rss:.2f}")
    t_rate = records / (s_secs + r_secs)
    print(f"then `sendlens refresh` (materialized message facts, which `ingest` runs unless "
          f"--no-refresh): {r_secs:.2f} s, peak RSS {r_rss:.0f} MB; ingest + refresh "
          f"{t_rate:.0f} events/s, {t_rate / d_rate:.2f}x DuckDB")
    remove_work_folder(args, work)


if __name__ == "__main__":
    main()
