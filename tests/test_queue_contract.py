"""Contract tests of the queue adapters (``leadminer.queues.Queue``). Every adapter
must pass them: parametrise ``make_queue`` with a new adapter to add it.

The Redis tests use the real server at ``LEADMINER_REDIS_URL`` (default
127.0.0.1:6379), one fresh stream per test, deleted afterwards; they skip when
it is unreachable.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from leadminer.queues import InProcessQueue, Queue, drain
from leadminer_runner.redis_queue import DEFAULT_REDIS_URL, RedisStreamQueue, redacted

IDLE_MS = 50  # claim_idle_ms of the tests that simulate a crashed consumer
MakeQueue = Callable[..., Queue]


def redis_factory(client: redis.Redis) -> tuple[MakeQueue, Callable[[], None]]:
    """Queues on one fresh stream: each call is another consumer (another runner) of it."""
    name = f"test-{uuid.uuid4().hex}"

    def make(consumer: str | None = None, **options) -> RedisStreamQueue:
        return RedisStreamQueue(name, client, consumer=consumer or uuid.uuid4().hex, **options)

    def cleanup() -> None:
        queue = make()
        client.delete(queue.key, queue.dead_key)

    return make, cleanup


@pytest.fixture(params=["in_process", "redis"])
def make_queue(request) -> Iterator[MakeQueue]:
    """``make_queue(consumer=None, **options)``: a consumer of this test's queue. In
    process there is one consumer only (the queue itself); options it does not know
    (``claim_idle_ms``) are ignored."""
    if request.param == "in_process":
        queues: list[InProcessQueue] = []

        def make(consumer: str | None = None, max_attempts: int = 3, **_redis_options) -> InProcessQueue:
            if not queues:
                queues.append(InProcessQueue("contract", max_attempts=max_attempts))
            return queues[0]

        yield make
    else:
        make, cleanup = redis_factory(request.getfixturevalue("redis_client"))
        yield make
        cleanup()


@pytest.fixture
def make_redis_queue(redis_client) -> Iterator[MakeQueue]:
    make, cleanup = redis_factory(redis_client)
    yield make
    cleanup()


def bodies(deliveries) -> list:
    return [d.body for d in deliveries]


def test_fifo_send_receive_ack(make_queue):
    queue = make_queue()
    for n in range(5):
        queue.send(n)
    assert len(queue) == 5
    first = queue.receive(3)
    assert bodies(first) == [0, 1, 2] and [d.attempts for d in first] == [1, 1, 1]
    for delivery in first:
        queue.ack(delivery)
    rest = queue.receive(10)
    assert bodies(rest) == [3, 4]
    assert len(queue) == 2  # received but not acked: still counted
    for delivery in rest:
        queue.ack(delivery)
    assert queue.receive(10) == [] and len(queue) == 0


def test_retry_counts_attempts_then_dead_letters_with_the_last_error(make_queue):
    queue = make_queue(max_attempts=3)
    queue.send({"mining": "m1"})
    attempts = []
    while batch := queue.receive():
        attempts.append(batch[0].attempts)
        queue.retry(batch[0], f"OSError: try {batch[0].attempts}")
    assert attempts == [1, 2, 3]
    assert queue.dead_letters == [({"mining": "m1"}, "OSError: try 3")]
    assert len(queue) == 0


def test_drain_acks_successes_and_dead_letters_failures(make_queue):
    queue = make_queue(max_attempts=2)
    queue.send("good")
    queue.send("bad")
    seen = []

    def handler(body):
        seen.append(body)
        if body == "bad":
            raise ValueError("nope")

    assert drain(queue, handler) == 1
    assert seen == ["good", "bad", "bad"]
    assert queue.dead_letters == [("bad", "ValueError: nope")]
    assert isinstance(queue.last_exception, ValueError)
    assert len(queue) == 0


def test_competing_consumers_never_get_the_same_entry(make_queue):
    consumers = [make_queue("a"), make_queue("b")]
    for n in range(20):
        consumers[0].send(n)
    got: list[list[int]] = [[], []]
    turn = 0
    while batch := consumers[turn % 2].receive(3):
        got[turn % 2] += bodies(batch)
        for delivery in batch:
            consumers[turn % 2].ack(delivery)
        turn += 1
    assert sorted(got[0] + got[1]) == list(range(20))  # each entry once, to one consumer
    assert not set(got[0]) & set(got[1])


BODIES = [
    {"mining": "m1", "nested": {"list": [1, "two", None, [3.5, True, False]], "empty": {}}, "n": -(2**53)},
    ["Zoë Ångström <zoe@exämple.org>", "日本語の件名", "emoji ✉️📬", "", "quote \" and \\ and \n"],
    "just a string",
    0,
    None,
]


def test_bodies_round_trip(make_queue):
    queue = make_queue()
    for body in BODIES:
        queue.send(body)
    deliveries = queue.receive(len(BODIES))
    assert bodies(deliveries) == BODIES


def test_unacked_entry_is_claimed_by_another_consumer_after_the_idle_time(make_redis_queue):
    crashed, survivor = make_redis_queue("a", claim_idle_ms=IDLE_MS), make_redis_queue("b", claim_idle_ms=IDLE_MS)
    crashed.send("mining-1")
    assert [(d.body, d.attempts) for d in crashed.receive()] == [("mining-1", 1)]  # ... and "a" dies
    assert survivor.receive() == []  # not idle long enough yet
    time.sleep(IDLE_MS * 2 / 1000)
    (delivery,) = survivor.receive()
    assert (delivery.body, delivery.attempts) == ("mining-1", 2)  # the crash counts as an attempt
    survivor.ack(delivery)
    time.sleep(IDLE_MS * 2 / 1000)
    assert crashed.receive() == [] and len(survivor) == 0


def test_message_that_kills_every_consumer_ends_in_dead_letters(make_redis_queue):
    consumers = [make_redis_queue(f"c{n}", claim_idle_ms=IDLE_MS, max_attempts=2) for n in range(3)]
    consumers[0].send("poison")
    consumers[0].receive()  # dies
    time.sleep(IDLE_MS * 2 / 1000)
    consumers[1].receive()  # dies too
    time.sleep(IDLE_MS * 2 / 1000)
    assert consumers[2].receive() == []  # not delivered a third time
    [(body, error)] = consumers[2].dead_letters
    assert body == "poison" and error.startswith("not acked after 2 deliveries")
    assert len(consumers[2]) == 0


def test_late_retry_of_an_entry_another_consumer_finished_adds_nothing(make_redis_queue):
    slow, other = make_redis_queue("slow", claim_idle_ms=IDLE_MS), make_redis_queue("other", claim_idle_ms=IDLE_MS)
    slow.send("m")
    (late,) = slow.receive()
    time.sleep(IDLE_MS * 2 / 1000)
    (claimed,) = other.receive()
    other.ack(claimed)
    slow.retry(late, "TimeoutError: too slow")
    assert len(slow) == 0 and slow.dead_letters == [] and other.receive() == []


@pytest.mark.parametrize("body", [object(), b"bytes", (1, 2), {1: "int key"}, float("nan"), {"a": {1, 2}}])
def test_redis_refuses_bodies_that_are_not_json_data_at_send(make_redis_queue, body):
    queue = make_redis_queue()
    with pytest.raises(TypeError, match="queue 'test-"):
        queue.send(body)
    assert len(queue) == 0


def test_blocking_receive_waits_for_a_new_entry(make_redis_queue):
    queue = make_redis_queue(block_ms=IDLE_MS)
    started = time.monotonic()
    assert queue.receive() == []
    assert time.monotonic() - started >= IDLE_MS / 1000 * 0.9


def test_a_deleted_stream_gets_its_group_back(make_redis_queue, redis_client):
    queue = make_redis_queue()
    queue.send("before")
    redis_client.delete(queue.key)  # FLUSHALL, an operator: the group goes with the stream
    queue.send("after")
    assert bodies(queue.receive(5)) == ["after"]


def test_redacted_urls_never_show_the_password():
    assert redacted("redis://:s3cret@cache:6380/1") == "redis://:***@cache:6380/1"
    assert redacted("rediss://miner:s3cret@cache/0?password=again&ssl_cert_reqs=none") == (
        "rediss://miner:***@cache/0?password=***&ssl_cert_reqs=none"
    )
    assert redacted(DEFAULT_REDIS_URL) == DEFAULT_REDIS_URL
