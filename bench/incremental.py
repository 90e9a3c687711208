#!/usr/bin/env python3
"""Incremental benchmark: a small batch into a big workspace against the same
batch into an empty one.

Generates a big stream (`--events`, 30 days from 2026-09-01) and a small one
(`--new` records, one later day), ingests the big one into a workspace (with
its facts), then, each round, copies that workspace and times `sendlens
ingest` of the small stream into the copy and into a new empty workspace,
each as its own process: the whole command, de-duplication lookup and facts
refresh included. Wall time and peak RSS (wait4) for both, and the ratio
(goal: at most 3x).

Usage: python3 bench/incremental.py [--events 1000000] [--new 5000]
       [--repeat 3] [--sendlens target/release/sendlens] [--keep DIR]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest_vs_duckdb import run_measured  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=5_000)
    ap.add_argument("--sendlens", default="target/release/sendlens")
    ap.add_argument("--keep", help="work folder to keep (default: a temp folder)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best of each side counts")
    args = ap.parse_args()
    sendlens = os.path.abspath(args.sendlens)
    if not os.path.exists(sendlens):
        subprocess.check_call(["cargo", "build", "--release"])
    work = args.keep or tempfile.mkdtemp(prefix="sendlens-incremental-")
    os.makedirs(work, exist_ok=True)
    big_input, new_input = os.path.join(work, "big"), os.path.join(work, "new")
    base = os.path.join(work, "base")
    if not os.path.exists(base):
        for out, events, seed, days, start in [
            (big_input, args.events, 1, 30, "2026-09-01"),
            (new_input, args.new, 2, 1, "2026-10-01"),
        ]:
            subprocess.check_call(
                [sendlens, "generate", "--out", out, "--events", str(events), "--seed", str(seed),
                 "--days", str(days), "--start", start, "--records-per-file", "5000"],
                stdout=subprocess.DEVNULL)
        subprocess.check_call([sendlens, "init", base], stdout=subprocess.DEVNULL)
        secs, mb, _ = run_measured([sendlens, "-w", base, "ingest", "-q", big_input])
        print(f"base workspace: {args.events:,} events ingested with facts in {secs:.2f} s, {mb:.0f} MB")
    best = {"big": None, "empty": None}
    for round_ in range(args.repeat):
        for side in best:
            ws = os.path.join(work, f"ws-{side}")
            shutil.rmtree(ws, ignore_errors=True)
            if side == "big":
                shutil.copytree(base, ws, symlinks=True)
            else:
                subprocess.check_call([sendlens, "init", ws], stdout=subprocess.DEVNULL)
            secs, mb, _ = run_measured([sendlens, "-w", ws, "ingest", "-q", new_input])
            print(f"round {round_ + 1}: {args.new:,} new records into the {side} workspace: "
                  f"{secs:.2f} s, {mb:.0f} MB")
            if best[side] is None or secs < best[side][0]:
                best[side] = (secs, mb)
    (big_s, big_mb), (empty_s, empty_mb) = best["big"], best["empty"]
    print(f"\n| batch of {args.new:,} | into {args.events:,} events | into an empty workspace | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| ingest + facts refresh | {big_s:.2f} s, {big_mb:.0f} MB | {empty_s:.2f} s, {empty_mb:.0f} MB "
          f"| {big_s / empty_s:.1f}x (goal <= 3x) |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
