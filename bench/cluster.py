#!/usr/bin/env python3
"""Scale-out benchmark: the same queries embedded, on one executor and on two.

Generates a stream (`--events`, default 5 M), ingests it twice: with the
materialized facts (what dashboards read) and with `--no-refresh` (every
metric computed from the events, as on a table too big for one host's
facts). Then starts `sendlens cluster scheduler` and one, then two,
`sendlens cluster executor` processes on loopback, and times each query
as a whole `sendlens sql` process: embedded, `--cluster` with one executor,
with two. Prints seconds per query (best of `--repeat`), the ratios, and the
events per second one executor computes the metrics from raw events at,
which docs/scale-out.md's capacity estimate is derived from.

and each executor's peak memory.

Usage: python3 bench/cluster.py [--events 5000000] [--repeat 3]
       [--tasks 2] [--sendlens target/release/sendlens] [--keep DIR]
"""

import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (arguments, markdown_table, remove_work_folder, run_measured,  # noqa: E402
                    sendlens_binary, work_folder)


def free_port(pair=False):
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


def wait_listening(port, proc):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a cluster process exited early ({proc.args})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port} after 60 s")


class Cluster:
    """A scheduler and `executors` executors, each its own process."""

    def __init__(self, sendlens, executors, tasks, work):
        self.procs = []
        port = free_port()
        self.url = f"df://127.0.0.1:{port}"
        self.start([sendlens, "cluster", "scheduler", "--bind", f"127.0.0.1:{port}"], port)
        for i in range(executors):
            own = free_port(pair=True)
            spill = os.path.join(work, f"executor{i}")
            os.makedirs(spill, exist_ok=True)
            self.start([sendlens, "cluster", "executor", "--scheduler", f"127.0.0.1:{port}",
                        "--bind", f"127.0.0.1:{own}", "--concurrent-tasks", str(tasks),
                        "--work-dir", spill], own)
        time.sleep(2)  # the executors' first heartbeats register them

    def start(self, cmd, port):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        wait_listening(port, proc)

    def peak_mb(self):
        """Peak resident memory of each executor so far (VmHWM), in MB."""
        peaks = []
        for proc in self.procs[1:]:
            with open(f"/proc/{proc.pid}/status") as f:
                kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
            peaks.append(kb / 1024)
        return peaks

    def stop(self):
        for proc in self.procs:
            proc.kill()
            proc.wait()


def main():
    ap = arguments(__doc__, events=5_000_000)
    ap.add_argument("--tasks", type=int, default=2, help="concurrent tasks per executor")
    args = ap.parse_args()
    sendlens = sendlens_binary(args.sendlens)
    work = work_folder(args, "sendlens-cluster-")
    data = os.path.join(work, "input")
    if not os.path.exists(data):
        subprocess.check_call([sendlens, "generate", "--out", data, "--events", str(args.events),
                               "--seed", "5", "--days", "30", "--start", "2026-09-01"],
                              stdout=subprocess.DEVNULL)
    workspaces = {}
    for kind, extra in [("facts", []), ("events", ["--no-refresh"])]:
        ws = os.path.join(work, f"ws-{kind}")
        if not os.path.exists(ws):
            subprocess.check_call([sendlens, "init", ws], stdout=subprocess.DEVNULL)
            subprocess.check_call([sendlens, "-w", ws, "ingest", *extra, data],
                                  stdout=subprocess.DEVNULL)
        workspaces[kind] = ws

    def campaign(ws):
        out = subprocess.check_output(
            [sendlens, "-w", ws, "sql", "--format", "csv", "-c",
             "SELECT campaign_id FROM campaign_metrics ORDER BY messages_sent DESC LIMIT 1"],
            text=True)
        return out.splitlines()[1].strip()

    top = campaign(workspaces["facts"])
    queries = [
        ("all-campaign metrics, from the facts", "facts",
         "SELECT * FROM campaign_metrics"),
        ("one campaign's 3-day dashboard", "facts",
         f"SELECT * FROM campaign_dashboard('{top}', '2026-09-10', '2026-09-12')"),
        ("all-campaign metrics, from the events", "events",
         "SELECT * FROM campaign_metrics"),
    ]
    setups = [("embedded", None), ("1 executor", 1), ("2 executors", 2)]
    times, peaks = {}, {}
    for label, executors in setups:
        cluster = Cluster(sendlens, executors, args.tasks, work) if executors else None
        try:
            for name, kind, sql in queries:
                cmd = [sendlens, "-w", workspaces[kind], "sql", "--format", "csv", "-c", sql]
                if cluster:
                    cmd[4:4] = ["--cluster", cluster.url]
                runs = [run_measured(cmd)[0] for _ in range(args.repeat)]
                times[(label, name)] = min(runs)
                print(f"{label:12} {name}: " + ", ".join(f"{t:.2f}" for t in runs) + " s",
                      flush=True)
            if cluster:
                peaks[label] = cluster.peak_mb()
        finally:
            if cluster:
                cluster.stop()

    rows = []
    for name, _, _ in queries:
        e, one, two = (times[(label, name)] for label, _ in setups)
        rows.append([name, f"{e:.2f}", f"{one:.2f}", f"{two:.2f}", f"{one / two:.2f}x"])
    markdown_table(["query (whole process, s)", "embedded", "1 executor", "2 executors",
                    "2 vs 1 executor"], rows)
    raw = times[("1 executor", "all-campaign metrics, from the events")]
    print(f"\none executor ({args.tasks} tasks) computes the metrics from raw events at "
          f"{args.events / raw:,.0f} events/s ({args.events:,} events in {raw:.2f} s)")
    for label, mb in peaks.items():
        print(f"{label}: executor peak RSS " + ", ".join(f"{m:.0f} MB" for m in mb))
    remove_work_folder(args, work)


if __name__ == "__main__":
    main()
