#!/usr/bin/env python3
"""Queue throughput: send, then receive + ack (through ``drain``) of small bodies,
RedisStreamQueue and InProcessQueue side by side in one run.

    .venv/bin/python scripts/bench_queues.py [--count 10000] [--repeat 3]

Redis is the server at ``LEADMINER_REDIS_URL`` (default 127.0.0.1:6379), on a
fresh stream deleted afterwards. Every Redis call is one round trip (no
pipelining across messages), as a runner does it: ``send`` is one XADD,
``receive(16)`` an XAUTOCLAIM and an XREADGROUP, ``ack`` one MULTI (XACK + XDEL).
Reports the best of ``--repeat`` runs in messages/s.
"""

from __future__ import annotations

import argparse
import time
import uuid

from leadminer.queues import InProcessQueue, Queue, drain
from leadminer_runner.redis_queue import RedisStreamQueue, client_from_env, redacted, redis_url


def run_once(queue: Queue, count: int) -> tuple[float, float]:
    """Seconds to send ``count`` bodies, then to receive and ack them all."""
    mining = uuid.uuid4().hex
    start = time.perf_counter()
    for n in range(count):
        queue.send({"mining": mining, "n": n})
    sent = time.perf_counter()
    handled = drain(queue, lambda _body: None)
    done = time.perf_counter()
    assert handled == count and len(queue) == 0
    return sent - start, done - sent


def best(queue: Queue, count: int, repeat: int) -> tuple[float, float]:
    runs = [run_once(queue, count) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    client = client_from_env(socket_connect_timeout=2)
    info = client.info("server")
    redis_queue = RedisStreamQueue(f"bench-{uuid.uuid4().hex}", client)
    queues: list[tuple[str, Queue]] = [("InProcessQueue", InProcessQueue("bench")), ("RedisStreamQueue", redis_queue)]
    print(f"{args.count} messages, best of {args.repeat}; Redis {info['redis_version']} at {redacted(redis_url())}")
    print(f"{'queue':<18} {'send msg/s':>12} {'receive+ack msg/s':>18} {'send+receive+ack msg/s':>23}")
    try:
        for label, queue in queues:
            send_s, consume_s = best(queue, args.count, args.repeat)
            print(
                f"{label:<18} {args.count / send_s:>12,.0f} {args.count / consume_s:>18,.0f}"
                f" {args.count / (send_s + consume_s):>23,.0f}"
            )
    finally:
        client.delete(redis_queue.key, redis_queue.dead_key)


if __name__ == "__main__":
    main()
