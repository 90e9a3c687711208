#!/usr/bin/env python3
"""S3 ingest benchmark: the same generated files ingested from a local
S3-compatible server and from local disk, in one run.

Generates a synthetic Pinpoint stream (gzip JSON lines, Firehose layout),
starts `moto_server` on a free loopback port (installs `moto[server]` with
pip if it is missing), uploads the files with boto3, then times
`sendlens ingest --no-refresh` of `s3://bench/pinpoint/` and of the local
folder, each into a new local workspace, and of `s3://bench/pinpoint/` into
a new workspace in the same server, each as its own process. Wall time,
events/s and peak RSS (wait4) for both sides, and the ratio.

moto is a Python server: its GETs are slower than a real S3 endpoint's, so
this measures what sendlens adds on top of a server, not S3's throughput.

Usage: python3 bench/s3_ingest.py [--events 1000000] [--repeat 3]
       [--sendlens target/release/sendlens] [--keep DIR]
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (arguments, markdown_table, remove_work_folder, run_measured,  # noqa: E402
                    sendlens_binary, work_folder)

KEY = "sendlens-bench"


def ensure_moto():
    if shutil.which("moto_server") is None:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "moto[server]>=5.1,<6"])
    import boto3  # noqa: F401  (moto depends on it)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server():
    port = free_port()
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


def main():
    args = arguments(__doc__).parse_args()
    ensure_moto()
    import boto3

    sendlens = sendlens_binary(args.sendlens)
    work = work_folder(args, "sendlens-s3-")
    data = os.path.join(work, "in")
    if not os.path.exists(data):
        subprocess.check_call([sendlens, "generate", "--out", data, "--events", str(args.events),
                               "--seed", "1", "--days", "30"], stdout=subprocess.DEVNULL)
    server, port = start_server()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ALLOW_HTTP="true",
               AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=KEY, AWS_REGION="us-east-1",
               SENDLENS_CACHE_DIR=os.path.join(work, "cache"))
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY,
                          aws_secret_access_key=KEY, region_name="us-east-1")
        s3.create_bucket(Bucket="bench")
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(data) for f in fs)
        for f in files:
            s3.upload_file(f, "bench", "pinpoint/" + os.path.relpath(f, data))
        size = sum(os.path.getsize(f) for f in files)
        print(f"{len(files)} files, {size / 1e6:.1f} MB gzip, uploaded to {endpoint}")
        best = {}
        for round_ in range(args.repeat):
            local_ws = os.path.join(work, "ws")
            sides = [
                ("S3 (moto, loopback)", "s3://bench/pinpoint/", local_ws),
                ("local disk", data, local_ws),
                ("S3 into a workspace in S3", "s3://bench/pinpoint/", f"s3://bench/ws-{round_}"),
            ]
            for side, source, ws in sides:
                shutil.rmtree(local_ws, ignore_errors=True)
                subprocess.check_call([sendlens, "init", ws], stdout=subprocess.DEVNULL, env=env)
                secs, mb, out = run_measured(
                    [sendlens, "-w", ws, "ingest", "--json", "--no-refresh", source], env=env)
                summary = json.loads(out)
                rate = summary["records"] / secs
                print(f"round {round_ + 1}, {side}: {summary['records']} records in {secs:.2f} s "
                      f"({rate:,.0f} events/s), {mb:.0f} MB")
                if side not in best or secs < best[side][0]:
                    best[side] = (secs, mb, rate)
    finally:
        server.kill()
        server.wait()
    (_, _, s3_rate), (_, _, disk_rate), (_, _, lake_rate) = best.values()
    markdown_table(["source", "time", "events/s", "peak memory"],
                   [[side, f"{secs:.2f} s", f"{rate:,.0f}", f"{mb:.0f} MB"]
                    for side, (secs, mb, rate) in best.items()])
    print(f"\nS3 ingest runs at {s3_rate / disk_rate:.2f}x the events/s of local disk; "
          f"into a workspace in S3 at {lake_rate / disk_rate:.2f}x")
    remove_work_folder(args, work)


if __name__ == "__main__":
    main()
