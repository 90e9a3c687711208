"""What the benchmarks here share: their command line, their work folder,
a measured run of a process, DuckDB installed on demand, and the Markdown
table of results that docs/benchmarks.md takes."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time


def arguments(doc, events=1_000_000, repeat=3):
    """The options every benchmark takes; the caller adds its own."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--events", type=int, default=events)
    ap.add_argument("--sendlens", default="target/release/sendlens")
    ap.add_argument("--keep", help="work folder to keep and reuse (default: a temp folder)")
    ap.add_argument("--repeat", type=int, default=repeat, help="rounds; the best of each side counts")
    return ap


def sendlens_binary(path):
    """The sendlens binary at `path`, built in release mode if missing."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        subprocess.check_call(["cargo", "build", "--release"])
    return path


def work_folder(args, prefix):
    """The folder a run works in: --keep's, or a new temporary one."""
    work = args.keep or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(work, exist_ok=True)
    return work


def remove_work_folder(args, work):
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def run_measured(cmd, **kw):
    """Run cmd; return (seconds, peak RSS in MB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.stderr.write(err.decode(errors="replace"))
        raise SystemExit(f"command failed: {' '.join(map(str, cmd))}")
    return seconds, usage.ru_maxrss / 1024.0, out.decode()


def ensure_duckdb():
    try:
        import duckdb  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "duckdb"])


def markdown_table(header, rows):
    """Print a Markdown table: `header` names the columns, each row a list
    of cells already formatted."""
    print("\n| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
