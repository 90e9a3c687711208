#!/usr/bin/env python3
"""Incremental benchmark: a small batch into a big workspace against the same
batch into an empty one.

Generates a big stream (`--events`, 30 days from 2026-09-01) and measures two
kinds of small batch (about `--new` records each):

- "new campaigns": a stream of its own, one later day (other campaigns, new
  transactional messages);
- "late events": the last hourly files of the big stream itself, held back
  from the big workspace, so they carry opens, clicks and sends of campaigns
  the workspace already holds (the refresh must read their earlier events).

For each, a big workspace is ingested once (with its facts); then each round
copies it and times `sendlens ingest` of the batch into the copy and into a
new empty workspace, each as its own process: the whole command,
de-duplication lookup and facts refresh included. Wall time and peak RSS
(wait4) for both sides, and the ratio (goal: at most 3x).

Usage: python3 bench/incremental.py [--events 1000000] [--new 5000]
       [--repeat 3] [--sendlens target/release/sendlens] [--keep DIR]
"""

import gzip
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (arguments, markdown_table, remove_work_folder, run_measured,  # noqa: E402
                    sendlens_binary, work_folder)


def records(path):
    with gzip.open(path, "rt") as f:
        return sum(1 for line in f if line.strip())


def files_under(root):
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)


def link_tree(files, root, to):
    for f in files:
        dest = os.path.join(to, os.path.relpath(f, root))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.link(f, dest)


def prepare(sendlens, work, events, new):
    """The inputs and big workspaces of both kinds of batch: {kind: (base, batch)}."""
    big, later = os.path.join(work, "big"), os.path.join(work, "new")
    for out, count, seed, start in [(big, events, 1, "2026-09-01"), (later, new, 2, "2026-10-01")]:
        if not os.path.exists(out):
            subprocess.check_call(
                [sendlens, "generate", "--out", out, "--events", str(count), "--seed", str(seed),
                 "--days", "30" if out == big else "1", "--start", start,
                 "--records-per-file", "5000"],
                stdout=subprocess.DEVNULL)
    # The last hourly files of the big stream, about `new` records.
    files = files_under(big)
    tail, held = [], 0
    while held < new and files:
        tail.insert(0, files.pop())
        held += records(tail[0])
    head_dir, tail_dir = os.path.join(work, "big-head"), os.path.join(work, "big-tail")
    if not os.path.exists(tail_dir):
        link_tree(files, big, head_dir)
        link_tree(tail, big, tail_dir)
    kinds = {}
    for kind, source, batch in [("new campaigns", big, later), ("late events", head_dir, tail_dir)]:
        base = os.path.join(work, "base-" + kind.split()[0])
        if not os.path.exists(base):
            subprocess.check_call([sendlens, "init", base], stdout=subprocess.DEVNULL)
            secs, mb, _ = run_measured([sendlens, "-w", base, "ingest", "-q", source])
            print(f"big workspace for {kind}: ingested with facts in {secs:.2f} s, {mb:.0f} MB")
        kinds[kind] = (base, batch)
    return kinds


def main():
    ap = arguments(__doc__)
    ap.add_argument("--new", type=int, default=5_000)
    args = ap.parse_args()
    sendlens = sendlens_binary(args.sendlens)
    work = work_folder(args, "sendlens-incremental-")
    kinds = prepare(sendlens, work, args.events, args.new)
    rows = []
    for kind, (base, batch) in kinds.items():
        best = {"big": None, "empty": None}
        for round_ in range(args.repeat):
            for side in best:
                ws = os.path.join(work, f"ws-{side}")
                shutil.rmtree(ws, ignore_errors=True)
                if side == "big":
                    shutil.copytree(base, ws, symlinks=True)
                else:
                    subprocess.check_call([sendlens, "init", ws], stdout=subprocess.DEVNULL)
                secs, mb, out = run_measured([sendlens, "-w", ws, "ingest", "--json", batch])
                stored = out.split('"stored":')[1].split(",")[0] if '"stored":' in out else "?"
                print(f"{kind}, round {round_ + 1}: {stored} records into the {side} workspace: "
                      f"{secs:.2f} s, {mb:.0f} MB")
                if best[side] is None or secs < best[side][0]:
                    best[side] = (secs, mb)
        rows.append((kind, best["big"], best["empty"]))
    markdown_table(
        [f"batch of ~{args.new:,}", f"into {args.events:,} events", "into an empty workspace", "ratio"],
        [[kind, f"{big_s:.2f} s, {big_mb:.0f} MB", f"{empty_s:.2f} s, {empty_mb:.0f} MB",
          f"{big_s / empty_s:.1f}x (goal <= 3x)"]
         for kind, (big_s, big_mb), (empty_s, empty_mb) in rows])
    remove_work_folder(args, work)


if __name__ == "__main__":
    main()
