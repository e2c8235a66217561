#!/usr/bin/env python3
"""Whole-process benchmark of ``leadminer mine`` on a folder of .eml files, as a user runs it.

    .venv/bin/python scripts/bench_whole.py [--copies 8] [--big] [--keep] [--leadminer PATH]

Builds a folder of ``--copies`` copies of the SpamAssassin corpus (3,250
messages each; 8 copies = 26,000 files) with distinct Message-IDs (rewritten per copy, In-Reply-To / References too;
a message without one gets one; addresses are left as they are), then in the same run:

1. parses every message with the stdlib (``email.message_from_bytes``, compat32,
   and ``getaddresses`` of From/To/Cc/Reply-To) in this process: the reference rate;
2. runs ``leadminer mine FOLDER --db … --quiet --json`` as a subprocess (start-up
   included) and measures its wall time and peak RSS (the sum over the process
   and its children, sampled every 20 ms, and the largest single process), and
   peak PSS summed over them (forked workers share their parent's pages: RSS
   counts those in every process, PSS once).

``--big`` adds a second mailbox of ``--big-copies`` copies (62 = 201,500 files)
to show that peak RSS stays flat from 20 k to 200 k messages. ``--leadminer``
runs another checkout's command (e.g. the "before" worktree) on the same folder,
for a side-by-side ratio.
"""

from __future__ import annotations

import argparse
import email
import email.utils
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from corpora import extract_corpus  # noqa: E402

_MSG_ID = re.compile(rb"<([^<>@\s]+)@")
_HAS_ID = re.compile(rb"^message-id:", re.I | re.M)
_ID_HEADER = re.compile(rb"^(?:message-id|in-reply-to|references):.*(?:\r?\n[ \t].*)*", re.I | re.M)
"""Message-ID, In-Reply-To and References, with their folded lines: the only headers rewritten
(addresses stay the same in every copy, as in a mailbox that holds the same people's mail)."""


def build_folder(folder: Path, copies: int) -> int:
    """``copies`` copies of the SpamAssassin corpus, each message under a distinct Message-ID."""
    source = extract_corpus("spamassassin")
    messages = [p.read_bytes() for p in sorted(source.rglob("*.eml"))]
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for copy in range(copies):
        tag = f"c{copy}-".encode()
        sub = folder / f"copy{copy:03d}"
        sub.mkdir()
        for n, data in enumerate(messages):
            crlf = b"\r\n\r\n" in data[:65536] and b"\n\n" not in data[:65536]
            head, sep, body = data.partition(b"\r\n\r\n" if crlf else b"\n\n")
            head = _ID_HEADER.sub(lambda h: _MSG_ID.sub(lambda m: b"<" + tag + m.group(1) + b"@", h.group(0)), head)
            if not _HAS_ID.search(head):
                head = b"Message-ID: <bench-" + tag + str(n).encode() + b"@localhost>" + (b"\r\n" if crlf else b"\n") + head
            (sub / f"{n:05d}.eml").write_bytes(head + sep + body)
            count += 1
    return count


def stdlib_rate(folder: Path) -> tuple[int, float]:
    """Messages per second of the stdlib's compat32 parser + getaddresses over the folder."""
    files = sorted(folder.rglob("*.eml"))
    start = time.perf_counter()
    for path in files:
        msg = email.message_from_bytes(path.read_bytes())
        email.utils.getaddresses([v for h in ("from", "to", "cc", "reply-to") for v in msg.get_all(h, [])])
    return len(files), len(files) / (time.perf_counter() - start)


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return pids


def _proc_kb(pid: int, file: str, field: str) -> int:
    """The ``field:`` line of ``/proc/PID/FILE``, in kB (0 once the process is gone)."""
    try:
        with open(f"/proc/{pid}/{file}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_kb(pid: int) -> int:
    return _proc_kb(pid, "status", "VmRSS")


def _pss_kb(pid: int) -> int:
    """Proportional set size: a page shared by n processes (a forked worker's copy-on-write
    pages) counts 1/n in each, so the sum over a process and its workers counts it once."""
    return _proc_kb(pid, "smaps_rollup", "Pss")


def run_mine(command: list[str], folder: Path, db: Path) -> dict:
    """Run ``command mine FOLDER`` (a subprocess, start-up included); wall time, peak RSS
    (sampled every 20 ms) and peak PSS (every 200 ms: reading it costs more), summary."""
    start = time.perf_counter()
    proc = subprocess.Popen([*command, "mine", str(folder), "--db", str(db), "--quiet", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    peak_sum = peak_one = peak_pss = 0
    samples = 0
    while proc.poll() is None:
        pids = _tree(proc.pid)
        sizes = [_rss_kb(p) for p in pids]
        peak_sum, peak_one = max(peak_sum, sum(sizes)), max(peak_one, max(sizes, default=0))
        if samples % 10 == 0:
            peak_pss = max(peak_pss, sum(_pss_kb(p) for p in pids))
        samples += 1
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode not in (0, 1):  # 1: some messages failed (listed in the summary)
        raise SystemExit(f"leadminer mine failed ({proc.returncode}): {err.decode()[-2000:]}")
    summary = json.loads(out)
    return {"seconds": seconds, "rss_sum_mb": peak_sum / 1024, "rss_max_mb": peak_one / 1024,
            "pss_sum_mb": peak_pss / 1024, "summary": summary}  # fmt: skip


def report(label: str, files: int, stdlib: float, result: dict) -> None:
    s = result["summary"]
    rate = s["fetched"] / result["seconds"]
    print(f"{label}: {files:,} files, {s['fetched']:,} read, {s['extracted']:,} mined, {s['failed']} failed, "
          f"{s['persons']:,} persons, {s['signatures']:,} signatures")  # fmt: skip
    print(f"  stdlib parse        {stdlib:7,.0f} msg/s")
    print(f"  leadminer mine      {rate:7,.0f} msg/s  ({result['seconds']:.1f} s wall, start-up included) "
          f"= {rate / stdlib:.2f} × the stdlib parse")  # fmt: skip
    print(f"  peak RSS            {result['rss_sum_mb']:7,.0f} MB (process + workers), "
          f"{result['rss_max_mb']:,.0f} MB largest process")  # fmt: skip
    print(f"  peak PSS            {result['pss_sum_mb']:7,.0f} MB (process + workers, shared pages counted once)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--big", action="store_true", help="also mine a ~200 k-message folder (RSS flatness)")
    parser.add_argument("--big-copies", type=int, default=62)
    parser.add_argument("--leadminer", action="append", default=[],
                        help="path of another `leadminer` command to run side by side (e.g. a 'before' worktree's)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="leadminer-whole-"))
    commands = [[str(ROOT / ".venv" / "bin" / "leadminer")], *([c] for c in args.leadminer)]
    try:
        sizes = [args.copies] + ([args.big_copies] if args.big else [])
        for copies in sizes:
            folder = work / f"mail-{copies}"
            files = build_folder(folder, copies)
            _, stdlib = stdlib_rate(folder)  # files are now in the page cache for every run alike
            for i, command in enumerate(commands):
                result = run_mine(command, folder, work / f"run-{copies}-{i}.db")
                report(f"{command[0]} ({copies} copies)", files, stdlib, result)
            _, stdlib_after = stdlib_rate(folder)
            print(f"  (stdlib parse again after the runs: {stdlib_after:,.0f} msg/s — machine load drift)")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
