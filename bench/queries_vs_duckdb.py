#!/usr/bin/env python3
"""Query benchmark: sendlens's metric views against hand-written DuckDB SQL.

Generates a synthetic Pinpoint stream (default ~5M events), ingests it into a
sendlens workspace, and loads the same rows (the workspace's Parquet files)
into an in-memory DuckDB table. Then, in one run, it times:

  1. `campaign_metrics` for every campaign;
  2. one campaign's 3-day `campaign_dashboard` + `campaign_daily`;

on both sides (DuckDB twice: on an in-memory table, and reading the Parquet
files at query time), best of N runs each, and prints the seconds and the ratio
(sendlens / DuckDB: below 1 means sendlens is faster). sendlens times are
measured inside one `sendlens sql --timing` process (planning + execution of
each statement), DuckDB times around `execute().fetchall()`. The headline
numbers of both sides are compared, so the two queries are known to agree.

Then the all-campaign metrics as a whole process, as a scheduled job runs them:
`sendlens sql -c "SELECT * FROM campaign_metrics"` against a Python process
that opens a DuckDB database file holding the same events and runs the same
query (wall time from start to exit and peak RSS, best of N). Python's own
start-up and `import duckdb` are measured apart and shown, so the DuckDB
process can also be read without them.

Usage: python3 bench/queries_vs_duckdb.py [--events 5000000] [--repeat 5]
       [--sendlens target/release/sendlens] [--keep DIR]
"""

import csv
import io
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (arguments, ensure_duckdb, remove_work_folder, run_measured,  # noqa: E402
                    work_folder)

# The message sets of the metric catalog, written out for DuckDB.
SETS = """
  CASE
    WHEN event_type = '_email.send' THEN 1
    WHEN event_type = '_email.delivered' THEN 2
    WHEN event_type = '_email.hardbounce' THEN 4
    WHEN event_type = '_email.softbounce' THEN 8
    WHEN event_type = '_email.open' THEN 16
    WHEN event_type = '_email.click' THEN 32
    WHEN event_type = '_email.complaint' THEN 64
    WHEN event_type = '_email.unsubscribe' THEN 128
    WHEN event_type = '_SMS.BUFFERED' THEN 1
    WHEN event_type = '_SMS.SUCCESS' THEN 3
    WHEN event_type = '_SMS.FAILURE' THEN 1025
    WHEN event_type = '_campaign.send' AND channel NOT IN ('email', 'sms') AND send_status = 'SUCCESS' THEN 3
    WHEN event_type = '_campaign.opened_notification' THEN 16
    ELSE 0 END"""

DELIVERED = ("((channel = 'email' AND sets & 4 = 0) OR (channel = 'sms' AND sets & 2 <> 0) "
             "OR channel NOT IN ('email', 'sms'))")


def duckdb_metrics(scope, picked, targets_in_range, group):
    """Hand-written DuckDB SQL of the seed-page metrics and the main extras."""
    g = f"{group}, " if group else ""
    gb = f"GROUP BY {group}" if group else ""
    on = f"ON c.{group} = t.{group}" if group else "ON true"
    return f"""
WITH ev AS (
  SELECT campaign_id, message_key, channel, run_id, treatment_id, endpoint_id, sent_at, occurred_at, {SETS} AS s
  FROM events WHERE message_key IS NOT NULL AND {scope}),
mf AS (
  SELECT campaign_id, message_key, max(channel) AS channel, max(run_id) AS run_id,
    max(treatment_id) AS treatment_id, max(endpoint_id) AS endpoint_id, min(sent_at) AS sent_at,
    bit_or(s) AS sets, count(*) FILTER (WHERE s & 16 <> 0) AS opens,
    count(*) FILTER (WHERE s & 32 <> 0) AS clicks,
    min(occurred_at) FILTER (WHERE s & 16 <> 0) AS first_open_at
  FROM ev GROUP BY campaign_id, message_key),
m AS (SELECT * FROM mf WHERE sets & 1 <> 0 AND {picked}),
c AS (
  SELECT {g}count(*) AS messages_sent,
    count(*) FILTER (WHERE {DELIVERED}) AS messages_delivered,
    coalesce(sum(clicks), 0) AS links_clicked,
    count(*) FILTER (WHERE channel = 'email') AS email_sent,
    count(*) FILTER (WHERE channel = 'email' AND sets & 4 = 0) AS email_delivered,
    count(*) FILTER (WHERE sets & 4 <> 0) AS hard_bounces,
    count(*) FILTER (WHERE channel = 'email' AND sets & 16 <> 0) AS unique_opens,
    coalesce(sum(opens) FILTER (WHERE channel = 'email'), 0) AS total_email_opened,
    count(*) FILTER (WHERE sets & 32 <> 0) AS unique_clicks,
    median(epoch(first_open_at) - epoch(sent_at)) FILTER (WHERE channel = 'email') AS time_to_open_median
  FROM m {gb}),
sends AS (SELECT campaign_id, run_id, treatment_id, endpoint_id, occurred_at FROM events
          WHERE event_type = '_campaign.send' AND campaign_id IS NOT NULL AND {scope}),
tb AS (
  SELECT campaign_id, run_id, treatment_id, endpoint_id FROM sends WHERE {targets_in_range}
  UNION ALL
  SELECT m.campaign_id, m.run_id, m.treatment_id, m.endpoint_id FROM m
  WHERE m.campaign_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM sends s WHERE s.campaign_id = m.campaign_id AND s.run_id IS NOT DISTINCT FROM m.run_id)),
t AS (SELECT {g}sum(n) AS endpoints_targeted FROM (
        SELECT campaign_id, run_id, treatment_id, count(DISTINCT endpoint_id) AS n FROM tb GROUP BY ALL) {gb})
SELECT {('coalesce(c.' + group + ', t.' + group + ') AS ' + group + ', ') if group else ''}
  coalesce(c.messages_sent, 0) AS messages_sent, coalesce(c.messages_delivered, 0) AS messages_delivered,
  coalesce(c.links_clicked, 0) AS links_clicked, coalesce(t.endpoints_targeted, 0) AS endpoints_targeted,
  c.messages_delivered / nullif(t.endpoints_targeted, 0) AS delivery_rate,
  c.unique_opens / nullif(c.email_delivered, 0) AS email_open_rate,
  c.hard_bounces / nullif(c.email_sent, 0) AS bounce_rate,
  c.unique_clicks / nullif(c.messages_delivered, 0) AS click_through_rate,
  c.total_email_opened, c.time_to_open_median
FROM c FULL JOIN t {on}
"""


def duckdb_daily(campaign, start, end):
    return f"""
WITH sm AS (
  SELECT message_key FROM events WHERE campaign_id = '{campaign}' AND message_key IS NOT NULL
  GROUP BY message_key HAVING bit_or({SETS}) & 1 <> 0),
ev AS (SELECT e.*, {SETS.replace('event_type', 'e.event_type').replace('channel', 'e.channel').replace('send_status', 'e.send_status')} AS s
       FROM events e JOIN sm ON e.message_key = sm.message_key
       WHERE e.campaign_id = '{campaign}' AND CAST(e.occurred_at AS DATE) BETWEEN DATE '{start}' AND DATE '{end}'),
days AS (SELECT CAST(d AS DATE) AS day FROM range(DATE '{start}', DATE '{end}' + INTERVAL 1 DAY, INTERVAL 1 DAY) r(d)),
s AS (SELECT CAST(occurred_at AS DATE) AS day,
        count(DISTINCT endpoint_id) FILTER (WHERE s & 2 <> 0) AS endpoint_deliveries,
        count(*) FILTER (WHERE s & 16 <> 0 AND channel = 'email') AS total_email_opened,
        count(*) FILTER (WHERE s & 32 <> 0) AS links_clicked
      FROM ev GROUP BY 1)
SELECT days.day, coalesce(s.endpoint_deliveries, 0) AS endpoint_deliveries,
       coalesce(s.total_email_opened, 0) AS total_email_opened, coalesce(s.links_clicked, 0) AS links_clicked
FROM days LEFT JOIN s ON days.day = s.day ORDER BY 1
"""


def sendlens_sql(binary, ws, statements, repeat):
    """Run statements `repeat` times in one process; best seconds per statement and the last results."""
    cmd = [binary, "--workspace", ws, "sql", "--timing", "--format", "json"]
    for _ in range(repeat):
        for s in statements:
            cmd += ["-c", s]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    # `Time: 12.345 ms`, one line per statement.
    times = [float(l.split()[1]) / (1000.0 if l.split()[2] == "ms" else 1.0)
             for l in proc.stderr.splitlines() if l.startswith("Time:")]
    best = [min(times[i::len(statements)]) for i in range(len(statements))]
    first = times[:len(statements)]
    # One JSON array per statement and line; an empty line is an empty result.
    docs = [json.loads(l) if l.strip() else [] for l in proc.stdout.split("\n")[:len(statements) * repeat]]
    return best, first, docs[-len(statements):]


def best_process(cmd, repeat):
    """Best wall time and the largest peak RSS over `repeat` runs of cmd."""
    runs = [run_measured(cmd)[:2] for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


DUCKDB_PROCESS = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET threads = 2")
rows = con.execute(sys.argv[2]).fetchall()
print(len(rows))
"""


def duckdb_process(db, sql, repeat):
    """Best wall time and peak RSS of a Python process running sql on a DuckDB file."""
    return best_process([sys.executable, "-c", DUCKDB_PROCESS, db, sql], repeat)


def best_duckdb(con, sql, repeat):
    best, rows = None, None
    for _ in range(repeat):
        t = time.perf_counter()
        cur = con.execute(sql)
        rows = cur.fetchall()
        cols = [d[0] for d in cur.description]
        secs = time.perf_counter() - t
        best = secs if best is None else min(best, secs)
    return best, [dict(zip(cols, r)) for r in rows]


def main():
    args = arguments(__doc__, events=5_000_000, repeat=5).parse_args()
    ensure_duckdb()
    import duckdb

    work = work_folder(args, "sendlens-qbench-")
    data = os.path.join(work, "input")
    ws = os.path.join(work, "ws")
    if not os.path.isdir(data):
        subprocess.check_call([args.sendlens, "generate", "--out", data, "--events", str(args.events),
                               "--seed", "42", "--days", "30", "--records-per-file", "20000"],
                              stdout=subprocess.DEVNULL)
    if not os.path.isdir(ws):
        subprocess.check_call([args.sendlens, "init", ws], stdout=subprocess.DEVNULL)
        subprocess.check_call([args.sendlens, "--workspace", ws, "ingest", "--quiet", data])

    # The campaign with the most sends, and three days from its first send.
    out = subprocess.run([args.sendlens, "--workspace", ws, "sql", "--format", "csv", "-c",
                          "SELECT campaign_id, CAST(CAST(first_sent_at AS DATE) AS VARCHAR) AS d, "
                          "CAST(CAST(first_sent_at AS DATE) + INTERVAL '2 days' AS VARCHAR) AS e "
                          "FROM campaign_metrics ORDER BY messages_sent DESC LIMIT 1"],
                         capture_output=True, text=True, check=True).stdout
    pick = list(csv.DictReader(io.StringIO(out)))[0]
    campaign, start, end = pick["campaign_id"], pick["d"], pick["e"][:10]


    # All-campaign metrics as a whole process: start, open, answer, exit. Run
    # first, while this process is small: a child's peak RSS counts the
    # parent's pages it starts with.
    db = os.path.join(work, "events.duckdb")
    if os.path.exists(db):
        os.remove(db)
    subprocess.check_call([sys.executable, "-c", f"""import duckdb
con = duckdb.connect({db!r})
con.execute(\"\"\"CREATE TABLE events AS SELECT event_date, campaign_id, event_type, occurred_at, sent_at,
    channel, app_id, endpoint_id, run_id, treatment_id, journey_id, send_status, message_key, user_agent
    FROM read_parquet('{ws}/events/**/*.parquet', hive_partitioning = true)\"\"\")
con.close()"""])
    p_s, p_s_rss = best_process([args.sendlens, "--workspace", ws, "sql", "--format", "csv", "-c",
                                 "SELECT * FROM campaign_metrics"], args.repeat)
    p_d, p_d_rss = duckdb_process(db, duckdb_metrics("campaign_id IS NOT NULL", "true", "true", "campaign_id"),
                                  args.repeat)
    p_py, _ = best_process([sys.executable, "-c", "import duckdb"], args.repeat)

    con = duckdb.connect()
    con.execute("SET threads = 2")
    t = time.perf_counter()
    con.execute(f"""CREATE TABLE events AS SELECT event_date, campaign_id, event_type, occurred_at, sent_at,
        channel, app_id, endpoint_id, run_id, treatment_id, journey_id, send_status, message_key, user_agent
        FROM read_parquet('{ws}/events/**/*.parquet', hive_partitioning = true)""")
    load = time.perf_counter() - t
    n_events = con.execute("SELECT count(*) FROM events").fetchone()[0]

    s_all_sql = "SELECT * FROM campaign_metrics"
    s_dash_sql = f"SELECT * FROM campaign_dashboard('{campaign}', '{start}', '{end}')"
    s_daily_sql = f"SELECT * FROM campaign_daily('{campaign}', '{start}', '{end}')"
    (s_all, s_dash, s_daily), s_first, (s_all_rows, s_dash_rows, s_daily_rows) = sendlens_sql(
        args.sendlens, ws, [s_all_sql, s_dash_sql, s_daily_sql], args.repeat)

    def duckdb_side(con):
        d_all, d_all_rows = best_duckdb(con, duckdb_metrics("campaign_id IS NOT NULL", "true", "true", "campaign_id"), args.repeat)
        d_dash, d_dash_rows = best_duckdb(con, duckdb_metrics(
            f"campaign_id = '{campaign}'",
            f"CAST(sent_at AS DATE) BETWEEN DATE '{start}' AND DATE '{end}'",
            f"CAST(occurred_at AS DATE) BETWEEN DATE '{start}' AND DATE '{end}'", None), args.repeat)
        d_daily, d_daily_rows = best_duckdb(con, duckdb_daily(campaign, start, end), args.repeat)
        return (d_all, d_dash, d_daily), (d_all_rows, d_dash_rows, d_daily_rows)

    (d_all, d_dash, d_daily), (d_all_rows, d_dash_rows, d_daily_rows) = duckdb_side(con)
    # DuckDB again, reading the same Parquet files at query time (as sendlens does).
    con_files = duckdb.connect()
    con_files.execute("SET threads = 2")
    con_files.execute(f"""CREATE VIEW events AS SELECT * FROM read_parquet('{ws}/events/**/*.parquet', hive_partitioning = true)""")
    (f_all, f_dash, f_daily), _ = duckdb_side(con_files)

    # The two sides must agree before their times mean anything.
    s_by = {r["campaign_id"]: r for r in s_all_rows}
    for r in d_all_rows:
        s = s_by[r["campaign_id"]]
        for k in ("messages_sent", "messages_delivered", "links_clicked", "endpoints_targeted"):
            assert int(s[k]) == int(r[k]), (r["campaign_id"], k, s[k], r[k])
    assert len(s_all_rows) == len(d_all_rows)
    for k in ("messages_sent", "messages_delivered", "links_clicked", "endpoints_targeted"):
        assert int(s_dash_rows[0][k]) == int(d_dash_rows[0][k]), (k, s_dash_rows[0][k], d_dash_rows[0][k])
    assert [int(r["endpoint_deliveries"]) for r in s_daily_rows] == [r["endpoint_deliveries"] for r in d_daily_rows]

    print(f"data: {n_events} events in the table, {len(s_all_rows)} campaigns; "
          f"dashboard campaign {campaign}, {start} to {end} "
          f"({s_dash_rows[0]['messages_sent']} messages); DuckDB load {load:.1f} s (not timed below)")
    print(f"{'query':34} {'sendlens s':>11} {'duckdb s':>9} {'ratio':>7} {'duckdb on files s':>18} {'ratio':>7}")
    rows = [("campaign_metrics, all campaigns", s_all, d_all, f_all),
            ("dashboard + daily, one campaign", s_dash + s_daily, d_dash + d_daily, f_dash + f_daily),
            ("  campaign_dashboard", s_dash, d_dash, f_dash),
            ("  campaign_daily", s_daily, d_daily, f_daily)]
    for name, s, d, f in rows:
        print(f"{name:34} {s:11.3f} {d:9.3f} {s / d:7.2f} {f:18.3f} {s / f:7.2f}")
    print(f"sendlens's first call of each in its process (plans its shape, which later calls reuse): "
          f"campaign_metrics {s_first[0]:.3f} s, campaign_dashboard {s_first[1]:.3f} s, "
          f"campaign_daily {s_first[2]:.3f} s")
    print("ratio = sendlens seconds / DuckDB seconds (below 1: sendlens faster); best of "
          f"{args.repeat} runs each. 'duckdb' queries an in-memory table loaded from the "
          "workspace's Parquet files; 'duckdb on files' reads those files at query time.")


    print()
    print(f"{'whole process':34} {'sendlens s':>11} {'duckdb s':>9} {'ratio':>7} "
          f"{'duckdb - python s':>18} {'ratio':>7} {'peak MB':>8} {'duckdb MB':>9}")
    print(f"{'campaign_metrics, all campaigns':34} {p_s:11.3f} {p_d:9.3f} {p_s / p_d:7.2f} "
          f"{p_d - p_py:18.3f} {p_s / (p_d - p_py):7.2f} {p_s_rss:8.0f} {p_d_rss:9.0f}")
    print(f"whole process: from start to exit, best of {args.repeat}; DuckDB as a Python process on a "
          f"database file of the same events ('duckdb - python': without the {p_py:.3f} s that "
          "Python's start-up and `import duckdb` take alone).")
    remove_work_folder(args, work)


if __name__ == "__main__":
    main()
