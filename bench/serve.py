#!/usr/bin/env python3
"""Campaign pages under load: `sendlens serve` on a 1 M-event workspace.

Generates a synthetic Pinpoint stream (default 1 M events over 30 days),
ingests it (with the materialized facts), starts `sendlens serve` on
loopback, then, in one run:

  1. one client asks for the biggest campaign's page (3 days from its first
     send), each time computed (an ignored parameter makes each URI new):
     the server's own time per page (its `Server-Timing` header) and the
     client's wall time, median and p95; then the same URI again, answered
     from what the server kept; then the first page of each of the other
     19 campaigns, whose rows the server reads from the files (it keeps a
     campaign's rows in memory for later pages);
  2. N concurrent clients (default 50; threads, each with a keep-alive
     connection) ask for a mix of pages for a fixed time: the 20 biggest
     campaigns, each over 3, 7 and 30 days, and the campaign list (what a
     team looking at its campaigns asks for; the server keeps each answer
     for the table version it was computed from, so most are kept ones);
     requests per second and the p50, p95 and p99 latency;
  3. the same clients, each request a range not asked for before (a random
     campaign of the 20, a random first day and length): every page is
     computed, none is kept.

The goals are the issue's: under 100 ms of server time for a campaign page,
and a p95 under 500 ms with 50 clients. The in-process comparison with
DuckDB of the same dashboard and daily series is bench/queries_vs_duckdb.py.

Usage: python3 bench/serve.py [--events 1000000] [--clients 50]
       [--seconds 20] [--sendlens target/release/sendlens] [--keep DIR]
"""

import csv
import datetime
import http.client
import io
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import arguments, remove_work_folder, sendlens_binary, work_folder  # noqa: E402


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def fetch(conn, path):
    """(status, server ms, wall ms) of one GET on a kept-alive connection."""
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    wall = (time.perf_counter() - started) * 1000
    timing = response.getheader("server-timing", "app;dur=nan")
    return response.status, float(timing.split("dur=")[1]), wall


def main():
    ap = arguments(__doc__, repeat=50)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    sendlens = sendlens_binary(args.sendlens)
    work = work_folder(args, "sendlens-serve-")
    data, ws = os.path.join(work, "input"), os.path.join(work, "ws")
    if not os.path.isdir(ws):
        subprocess.check_call([sendlens, "generate", "--out", data, "--events", str(args.events),
                               "--seed", "42", "--days", "30", "--records-per-file", "20000"],
                              stdout=subprocess.DEVNULL)
        subprocess.check_call([sendlens, "init", ws], stdout=subprocess.DEVNULL)
        subprocess.check_call([sendlens, "-w", ws, "ingest", "-q", data], stdout=subprocess.DEVNULL)
    out = subprocess.check_output([sendlens, "-w", ws, "sql", "--format", "csv", "-c",
                                   "SELECT campaign_id, CAST(CAST(first_sent_at AS DATE) AS VARCHAR) AS day "
                                   "FROM campaign_metrics ORDER BY messages_sent DESC, campaign_id LIMIT 20"],
                                  text=True)
    campaigns = [(r["campaign_id"], datetime.date.fromisoformat(r["day"]))
                 for r in csv.DictReader(io.StringIO(out))]
    events = subprocess.check_output([sendlens, "-w", ws, "sql", "--format", "csv", "-c",
                                      "SELECT count(*) AS n FROM events"], text=True).split()[-1]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sendlens, "-w", ws, "serve", "--bind", f"127.0.0.1:{port}"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        server.stdout.readline()

        def page(campaign, days):
            cid, first = campaign
            return f"/campaigns/{cid}?from={first}&to={first + datetime.timedelta(days=days - 1)}&tz=UTC"

        # 1. One client, the biggest campaign's 3-day page.
        conn = http.client.HTTPConnection("127.0.0.1", port)
        path = page(campaigns[0], 3)
        fetch(conn, path)  # the first request opens the session
        # A parameter the page ignores makes each request a new one, computed.
        single = [fetch(conn, f"{path}&n={i}") for i in range(args.repeat)]
        assert all(s == 200 for s, _, _ in single)
        server_ms = [t for _, t, _ in single]
        wall_ms = [w for _, _, w in single]
        kept_ms = [fetch(conn, path)[1] for _ in range(args.repeat)]
        # The first page of each other campaign: its rows are read from the
        # files (later pages of it read them from memory).
        first_ms = [fetch(conn, page(c, 3))[1] for c in campaigns[1:]]
        list_ms = [fetch(conn, f"/?n={i}")[1] for i in range(10)]

        # 2. and 3. Concurrent clients: a mix of pages, then pages never
        # asked for before.
        paths = [page(c, d) for c in campaigns for d in (3, 7, 30)] + ["/"]

        def cold_path(rng):
            cid, first = rng.choice(campaigns)
            start = first + datetime.timedelta(days=rng.randrange(-20, 10))
            end = start + datetime.timedelta(days=rng.randrange(0, 30))
            return f"/campaigns/{cid}?from={start}&to={end}&tz=UTC&n={rng.random()}"

        def load(choose):
            latencies, failures, lock = [], [0], threading.Lock()
            deadline = time.perf_counter() + args.seconds

            def client(seed):
                rng = random.Random(seed)
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                mine, bad = [], 0
                while time.perf_counter() < deadline:
                    status, _, wall = fetch(c, choose(rng))
                    mine.append(wall)
                    bad += status != 200
                with lock:
                    latencies.extend(mine)
                    failures[0] += bad

            started = time.perf_counter()
            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return latencies, failures[0], time.perf_counter() - started

        mixed = load(lambda rng: rng.choice(paths))
        cold = load(cold_path)
    finally:
        server.kill()
        server.wait()

    print(f"workspace: {events} events, {len(campaigns)} biggest campaigns")
    print(f"one client, the biggest campaign's 3-day page, {args.repeat} times:")
    print(f"  server time: median {statistics.median(server_ms):.1f} ms, p95 {percentile(server_ms, 95):.1f} ms "
          f"(goal < 100 ms)")
    print(f"  wall time:   median {statistics.median(wall_ms):.1f} ms, p95 {percentile(wall_ms, 95):.1f} ms")
    print(f"  the same page again (kept for the table version): median "
          f"{statistics.median(kept_ms):.2f} ms server time")
    print(f"  campaign list: median {statistics.median(list_ms):.1f} ms server time")
    print(f"the first page of each of the {len(first_ms)} other campaigns: server time median "
          f"{statistics.median(first_ms):.1f} ms, max {max(first_ms):.1f} ms")
    for name, (latencies, failures, elapsed) in [(f"a mix of {len(paths)} pages", mixed),
                                                 ("pages never asked for before", cold)]:
        print(f"{args.clients} concurrent clients for {elapsed:.1f} s, {name}: "
              f"{len(latencies)} requests ({len(latencies) / elapsed:.1f}/s), {failures} failed")
        print(f"  latency: p50 {percentile(latencies, 50):.0f} ms, p95 {percentile(latencies, 95):.0f} ms "
              f"(goal < 500 ms), p99 {percentile(latencies, 99):.0f} ms")
    remove_work_folder(args, work)


if __name__ == "__main__":
    main()
