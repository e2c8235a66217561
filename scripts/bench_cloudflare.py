#!/usr/bin/env python3
"""The Cloudflare mode's local stack next to the embedded mode on the same mailbox.

    .venv/bin/python scripts/bench_cloudflare.py [--messages 1000] [--batch 500]

Builds a Maildir of ``--messages`` corpus messages (lkml, spamassassin, newsletters,
quagga-enron-train), mines it with ``leadminer mine`` (embedded) and with ``scripts/cf mine``
(Miniflare Queues/R2/D1 + the Python Workers under Node's Pyodide 314), checks the two
exports are equal, and prints messages/s of each and the time of each Worker batch (per
queue: the wall time of the batch in Python, an upper bound of its CPU time: the Pyodide
isolate is single-threaded, and its D1/R2 calls are counted too). Stack start-up is excluded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from corpora import extract_corpus  # noqa: E402

CORPORA = (("lkml", "*"), ("spamassassin", "*"), ("newsletters", "*.eml"), ("quagga-enron-train", "*.txt"))


def mailbox(folder: Path, count: int) -> Path:
    box = folder / "box" / "cur"
    box.mkdir(parents=True)
    files = [p for name, pattern in CORPORA for p in sorted(extract_corpus(name).rglob(pattern)) if p.is_file()]
    for index, path in enumerate(files[:count]):
        shutil.copy(path, box / f"{index:06d}.eml")
    return box.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        box = mailbox(folder, args.messages)
        leadminer = [sys.executable, "-m", "leadminer_runner.cli"]
        started = time.perf_counter()
        subprocess.run([*leadminer, "mine", str(box), "--db", str(folder / "e.db"), "--quiet"], check=False, capture_output=True)
        embedded_s = time.perf_counter() - started
        subprocess.run([*leadminer, "export", "--db", str(folder / "e.db"), "--format", "json", "-o", str(folder / "e.json")], check=True, capture_output=True)
        done = subprocess.run([str(ROOT / "scripts" / "cf"), "mine", str(box), "--out", str(folder / "cf.json")],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode:
            sys.exit(done.stderr[-3000:])
        report = json.loads(done.stdout.strip().splitlines()[-1])
        equal = json.loads((folder / "cf.json").read_text()) == json.loads((folder / "e.json").read_text())
        fetched = report["fetched"]
        print(f"mailbox: {fetched} messages from {', '.join(n for n, _ in CORPORA)}; exports equal: {equal}")
        print(f"embedded:   {embedded_s:7.2f} s  {fetched / embedded_s:8.1f} msg/s (process start included)")
        print(f"cloudflare: {report['seconds']:7.2f} s  {report['msg_per_s']:8.1f} msg/s (local stack, start-up excluded)")
        for queue, times in sorted(report["batch_ms"].items()):
            wall, cpu = [t[0] for t in times], [t[1] for t in times]
            print(f"  {queue:22} {len(times):3d} batches  wall max {max(wall):6d} ms  CPU max {max(cpu):6d} ms  "
                  f"CPU total {sum(cpu):6d} ms")


if __name__ == "__main__":
    main()
