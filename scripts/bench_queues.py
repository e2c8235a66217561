#!/usr/bin/env python3
"""Queue throughput: send, then receive + ack of small bodies, RedisStreamQueue and
InProcessQueue side by side in one run (asyncio).

    .venv/bin/python scripts/bench_queues.py [--count 10000] [--repeat 3] [--tasks 4] [--before DIR]

Redis is the server at ``LEADMINER_REDIS_URL`` (default 127.0.0.1:6379), on a
fresh stream deleted afterwards. Every Redis call is one round trip (no
pipelining across messages), as a runner does it: ``send`` is one XADD,
``receive(16)`` an XAUTOCLAIM and an XREADGROUP, ``ack`` one MULTI (XACK + XDEL).
One task sends then consumes (receive 16, ack each), like a single worker; the
``×N tasks`` row runs ``--tasks`` senders, then as many consumers, concurrently
on one connection pool (what asyncio buys a runner).

``--before DIR`` first runs ``DIR/scripts/bench_queues.py`` (another checkout,
e.g. the synchronous queues before the port became async) with that checkout's
code first on the path, so both sets of figures come from one run.
Reports the best of ``--repeat`` runs in messages/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from leadminer.queues import InProcessQueue, Queue
import redis.asyncio as aredis

from leadminer_runner.redis_queue import RedisStreamQueue, redacted, redis_url


async def consume(queue: Queue) -> int:
    """Receive and ack until the queue is empty."""
    handled = 0
    while batch := await queue.receive(16):
        for delivery in batch:
            await queue.ack(delivery)
        handled += len(batch)
    return handled


async def run_once(queue: Queue, count: int, tasks: int) -> tuple[float, float]:
    """Seconds to send ``count`` bodies, then to receive and ack them all, with ``tasks`` tasks."""
    mining = uuid.uuid4().hex

    async def send(part: range) -> None:
        for n in part:
            await queue.send({"mining": mining, "n": n})

    start = time.perf_counter()
    await asyncio.gather(*(send(range(t, count, tasks)) for t in range(tasks)))
    sent = time.perf_counter()
    handled = sum(await asyncio.gather(*(consume(queue) for _ in range(tasks))))
    done = time.perf_counter()
    assert handled == count, (handled, count)
    return sent - start, done - sent


async def best(queue: Queue, count: int, repeat: int, tasks: int = 1) -> tuple[float, float]:
    runs = [await run_once(queue, count, tasks) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def run_before(directory: Path, count: int, repeat: int) -> None:
    """The same benchmark from another checkout, its code first on the path."""
    path = os.pathsep.join(str(directory / part) for part in ("shared", "runner"))
    env = {**os.environ, "PYTHONPATH": path + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, str(directory / "scripts" / "bench_queues.py"), "--count", str(count)]
    print(f"before ({directory}):", flush=True)
    subprocess.run([*command, "--repeat", str(repeat)], env=env, check=True)
    print("after (this checkout):")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=4, help="concurrent tasks of the last row")
    parser.add_argument("--before", type=Path, help="a checkout to benchmark first (e.g. /work/wt-before)")
    args = parser.parse_args()
    if args.before:
        run_before(args.before, args.count, args.repeat)
    client = aredis.Redis.from_url(redis_url(), socket_connect_timeout=2)
    info = await client.info("server")
    redis_queue = RedisStreamQueue(f"bench-{uuid.uuid4().hex}", client)
    rows: list[tuple[str, Queue, int]] = [
        ("InProcessQueue", InProcessQueue("bench"), 1),
        ("RedisStreamQueue", redis_queue, 1),
        (f"RedisStreamQueue ×{args.tasks} tasks", redis_queue, args.tasks),
    ]
    print(f"{args.count} messages, best of {args.repeat}; Redis {info['redis_version']} at {redacted(redis_url())}")
    print(f"{'queue':<28} {'send msg/s':>12} {'receive+ack msg/s':>18} {'send+receive+ack msg/s':>23}")
    try:
        for label, queue, tasks in rows:
            send_s, consume_s = await best(queue, args.count, args.repeat, tasks)
            print(
                f"{label:<28} {args.count / send_s:>12,.0f} {args.count / consume_s:>18,.0f}"
                f" {args.count / (send_s + consume_s):>23,.0f}"
            )
    finally:
        await client.delete(redis_queue.key, redis_queue.dead.key)
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
