"""Contract tests of the queue adapters (the async ``leadminer.queues.Queue`` port). Every
adapter must pass them: parametrise ``make_queue`` with a new adapter to add it.

The Redis tests use the session's Redis (runner/leadminer_runner/local_servers.py starts a throw-away one, or
yours at ``LEADMINER_REDIS_URL``), one fresh stream per test, deleted afterwards; the
outage tests start Redis servers of their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aredis

from leadminer_runner import local_servers as servers
from leadminer.flow import deliver
from leadminer.flow.consumer import Outage
from leadminer.queues import InProcessQueue, Queue
from leadminer.settings import DEFAULT_REDIS_URL
from leadminer.storage import StoreUnavailable
from leadminer_runner.redis_queue import RedisStreamQueue, redacted, redis_client

IDLE_MS = 50  # claim_idle_ms of the tests that simulate a crashed consumer
MakeQueue = Callable[..., Queue]


async def size(queue) -> int:
    return len(queue) if isinstance(queue, InProcessQueue) else await queue.size()


@pytest.fixture
async def async_redis(redis_url) -> AsyncIterator[aredis.Redis]:
    client = aredis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=5)
    yield client
    await client.aclose()


def redis_factory(client: aredis.Redis) -> tuple[MakeQueue, list[str]]:
    """Queues on one fresh stream: each call is another consumer (another runner) of it."""
    name = f"test-{uuid.uuid4().hex}"

    def make(consumer: str | None = None, **options) -> RedisStreamQueue:
        return RedisStreamQueue(name, client, consumer=consumer or uuid.uuid4().hex, **options)

    return make, [f"leadminer:{name}", f"leadminer:{name}:dead"]


@pytest.fixture(params=["in_process", "redis"])
async def make_queue(request) -> AsyncIterator[MakeQueue]:
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
        client = aredis.Redis.from_url(request.getfixturevalue("redis_url"), socket_connect_timeout=1, socket_timeout=5)
        make, keys = redis_factory(client)
        yield make
        await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def make_redis_queue(async_redis) -> AsyncIterator[MakeQueue]:
    make, keys = redis_factory(async_redis)
    yield make
    await async_redis.delete(*keys)


def bodies(deliveries) -> list:
    return [d.body for d in deliveries]


async def test_fifo_send_receive_ack(make_queue):
    queue = make_queue()
    for n in range(5):
        await queue.send(n)
    assert await size(queue) == 5
    first = await queue.receive(3)
    assert bodies(first) == [0, 1, 2] and [d.attempts for d in first] == [1, 1, 1]
    for delivery in first:
        await queue.ack(delivery)
    rest = await queue.receive(10)
    assert bodies(rest) == [3, 4]
    assert await size(queue) == 2  # received but not acked: still counted
    for delivery in rest:
        await queue.ack(delivery)
    assert await queue.receive(10) == [] and await size(queue) == 0


async def test_retry_counts_attempts_then_dead_letters_with_the_last_error(make_queue):
    queue = make_queue(max_attempts=3)
    await queue.send({"mining": "m1"})
    attempts = []
    while batch := await queue.receive():
        attempts.append(batch[0].attempts)
        await queue.retry(batch[0], f"OSError: try {batch[0].attempts}")
    assert attempts == [1, 2, 3]
    [dead] = await queue.dead.receive(5)
    assert (dead.body, dead.error, dead.failed_attempts, dead.attempts) == ({"mining": "m1"}, "OSError: try 3", 3, 1)
    assert await size(queue) == 0


async def test_deliver_acks_successes_and_dead_letters_failures(make_queue):
    queue = make_queue(max_attempts=2)
    await queue.send("good")
    await queue.send("bad")
    seen = []

    async def handler(body):
        seen.append(body)
        if body == "bad":
            raise ValueError("nope")

    handled = 0
    while batch := await queue.receive(5):
        for delivery in batch:
            handled += await deliver(queue, delivery, handler)
    assert handled == 1 and seen == ["good", "bad", "bad"]
    assert [(d.body, d.error) for d in await queue.dead.receive(5)] == [("bad", "ValueError: nope")]
    assert await size(queue) == 0


async def test_competing_consumers_never_get_the_same_entry(make_queue):
    consumers = [make_queue("a"), make_queue("b")]
    for n in range(20):
        await consumers[0].send(n)
    got: list[list[int]] = [[], []]
    turn = 0
    while batch := await consumers[turn % 2].receive(3):
        got[turn % 2] += bodies(batch)
        for delivery in batch:
            await consumers[turn % 2].ack(delivery)
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


async def test_bodies_round_trip(make_queue):
    queue = make_queue()
    for body in BODIES:
        await queue.send(body)
    assert bodies(await queue.receive(len(BODIES))) == BODIES


@pytest.mark.parametrize("body", [object(), b"bytes", (1, 2), {1: "int key"}, float("nan"), {"a": {1, 2}}])
async def test_bodies_that_are_not_json_data_are_refused_at_send(make_queue, body):
    queue = make_queue()
    with pytest.raises(TypeError, match="queue '"):
        await queue.send(body)
    assert await size(queue) == 0


async def test_unacked_entry_is_claimed_by_another_consumer_after_the_idle_time(make_redis_queue, caplog):
    crashed, survivor = make_redis_queue("a", claim_idle_ms=IDLE_MS), make_redis_queue("b", claim_idle_ms=IDLE_MS)
    await crashed.send("mining-1")
    assert [(d.body, d.attempts) for d in await crashed.receive()] == [("mining-1", 1)]  # ... and "a" dies
    with caplog.at_level(logging.WARNING, logger="leadminer_runner.redis_queue"):
        assert await survivor.receive() == []  # not idle long enough yet: said once
        assert await survivor.receive() == []
    waiting = [r.getMessage() for r in caplog.records if "is held by a" in r.getMessage()]
    assert len(waiting) == 1 and "LEADMINER_CLAIM_IDLE_SECONDS" in waiting[0]
    await asyncio.sleep(IDLE_MS * 2 / 1000)
    (delivery,) = await survivor.receive()
    assert (delivery.body, delivery.attempts) == ("mining-1", 2)  # the crash counts as an attempt
    await survivor.ack(delivery)
    await asyncio.sleep(IDLE_MS * 2 / 1000)
    assert await crashed.receive() == [] and await survivor.size() == 0


async def test_message_that_kills_every_consumer_ends_in_dead_letters(make_redis_queue):
    consumers = [make_redis_queue(f"c{n}", claim_idle_ms=IDLE_MS, max_attempts=2) for n in range(3)]
    await consumers[0].send("poison")
    await consumers[0].receive()  # dies
    await asyncio.sleep(IDLE_MS * 2 / 1000)
    await consumers[1].receive()  # dies too
    await asyncio.sleep(IDLE_MS * 2 / 1000)
    assert await consumers[2].receive() == []  # not delivered a third time
    [dead] = await consumers[2].dead.receive(5)
    assert dead.body == "poison" and dead.error.startswith("not acked after 2 deliveries")
    assert await consumers[2].size() == 0


async def test_late_retry_of_an_entry_another_consumer_finished_adds_nothing(make_redis_queue):
    slow, other = make_redis_queue("slow", claim_idle_ms=IDLE_MS), make_redis_queue("other", claim_idle_ms=IDLE_MS)
    await slow.send("m")
    (late,) = await slow.receive()
    await asyncio.sleep(IDLE_MS * 2 / 1000)
    (claimed,) = await other.receive()
    await other.ack(claimed)
    await slow.retry(late, "TimeoutError: too slow")
    assert await slow.size() == 0 and await slow.dead.receive(5) == [] and await other.receive() == []


async def test_blocking_receive_waits_for_a_new_entry(make_redis_queue):
    queue = make_redis_queue(block_ms=IDLE_MS)
    started = time.monotonic()
    assert await queue.receive() == []
    assert time.monotonic() - started >= IDLE_MS / 1000 * 0.9


async def test_a_deleted_stream_gets_its_group_back(make_redis_queue, async_redis):
    queue = make_redis_queue()
    await queue.send("before")
    await async_redis.delete(queue.key)  # FLUSHALL, an operator: the group goes with the stream
    await queue.send("after")
    assert bodies(await queue.receive(5)) == ["after"]


def test_redacted_urls_never_show_the_password():
    assert redacted("redis://:s3cret@cache:6380/1") == "redis://:***@cache:6380/1"
    assert redacted("rediss://miner:s3cret@cache/0?password=again&ssl_cert_reqs=none") == (
        "rediss://miner:***@cache/0?password=***&ssl_cert_reqs=none"
    )
    assert redacted(DEFAULT_REDIS_URL) == DEFAULT_REDIS_URL


# outages: a Redis of this test's own, stopped and started again on the same port ----------------
@pytest.fixture
def own_redis(request):
    server = servers.start_redis(persistent=getattr(request, "param", False))
    yield server
    server.stop()


async def test_a_consumer_rides_out_a_redis_restart(own_redis, caplog):
    client = redis_client(own_redis.url, socket_connect_timeout=0.5, socket_timeout=2)
    queue = RedisStreamQueue("outage", client, consumer="w1")
    await queue.send("before")
    own_redis.stop(keep_data=True)
    with pytest.raises(StoreUnavailable, match="unreachable"):
        await queue.receive()
    outage = Outage(first=0.01, longest=0.05)
    with caplog.at_level(logging.WARNING, logger="leadminer.flow"):
        for _ in range(3):  # what a worker does meanwhile: waits, logging once
            try:
                await queue.receive()
            except StoreUnavailable as exc:
                await outage.wait(exc)
        # started again without its data: the stream and the group are made again
        own_redis.process = servers.start_redis(port=own_redis.port, base_dir=own_redis.base_dir).process
        await queue.send("after")
        assert bodies(await queue.receive(5)) == ["after"]
        outage.over()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in line for line in lines) == 1 and sum("reachable again" in line for line in lines) == 1
    await client.aclose()


@pytest.mark.parametrize("own_redis", [True], indirect=True)
async def test_an_unacked_message_survives_a_restart_of_a_persistent_redis(own_redis):
    client = aredis.Redis(port=own_redis.port, socket_connect_timeout=0.5, socket_timeout=2)
    crashed = RedisStreamQueue("durable", client, consumer="w1", claim_idle_ms=IDLE_MS)
    await crashed.send({"mining_id": "m", "batch": 0})
    assert len(await crashed.receive()) == 1  # taken, not acked, then Redis restarts
    restarted = servers.restart_redis(own_redis, persistent=True)
    own_redis.process = restarted.process  # stopped by the fixture
    await asyncio.sleep(IDLE_MS * 2 / 1000)
    survivor = RedisStreamQueue("durable", client, consumer="w2", claim_idle_ms=IDLE_MS)
    (delivery,) = await survivor.receive()
    assert delivery.body == {"mining_id": "m", "batch": 0} and delivery.attempts == 2
    await survivor.ack(delivery)
    assert await survivor.size() == 0
    await client.aclose()


async def test_a_retry_delivers_the_body_as_sent_under_a_new_id(make_queue):
    queue = make_queue()
    await queue.send({"mining_id": "m", "batch": 1})
    (first,) = await queue.receive()
    first.body["batch"] = 99  # a handler that changed its body, then failed
    await queue.retry(first, "ValueError: x")
    (second,) = await queue.receive()
    assert second.body == {"mining_id": "m", "batch": 1} and second.id != first.id and second.attempts == 2
    await queue.ack(first)  # a late ack of the old delivery acks nothing
    assert await size(queue) == 1
    await queue.ack(second)
    assert await size(queue) == 0


async def test_renew_keeps_a_delivery_and_counts_no_attempt(make_queue):
    holder, other = make_queue("holder", claim_idle_ms=600), make_queue("other", claim_idle_ms=600)
    await holder.send("long job")
    (delivery,) = await holder.receive()
    for _ in range(8):  # 1.6 s in all, more than two claim periods: renewed every 0.2 s
        await asyncio.sleep(0.2)
        assert await holder.renew(delivery) is True
        if other is not holder:
            assert await other.receive() == []  # never taken over while renewed
    await holder.ack(delivery)
    assert await holder.renew(delivery) is False  # acked: no longer held
    assert await size(holder) == 0


async def test_renew_fails_once_another_consumer_took_the_delivery_over(make_redis_queue):
    holder, other = make_redis_queue("holder", claim_idle_ms=IDLE_MS), make_redis_queue("other", claim_idle_ms=IDLE_MS)
    await holder.send("job")
    (late,) = await holder.receive()
    await asyncio.sleep(IDLE_MS * 2 / 1000)
    (claimed,) = await other.receive()  # the holder hung past the claim time
    assert claimed.attempts == 2
    assert await holder.renew(late) is False  # it does not take the delivery back
    assert await other.renew(claimed) is True
    await other.ack(claimed)


async def test_deliver_renews_a_delivery_whose_handler_outlasts_the_claim_time(make_redis_queue):
    holder, other = make_redis_queue("holder", claim_idle_ms=600), make_redis_queue("other", claim_idle_ms=600)
    await holder.send("big folder")
    (delivery,) = await holder.receive()
    stolen = []

    async def thief() -> None:  # another worker, polling all along
        while True:
            stolen.extend(await other.receive())
            await asyncio.sleep(0.05)

    polling = asyncio.create_task(thief())
    try:
        assert await deliver(holder, delivery, lambda _body: asyncio.sleep(2.0)) is True  # over three claim periods
    finally:
        polling.cancel()
    assert stolen == [] and await holder.size() == 0


async def test_a_delivery_gives_an_outage_up_after_the_limit_and_stays_unacked(make_queue, caplog):
    queue = make_queue("waiter", claim_idle_ms=IDLE_MS)
    await queue.send("job")
    (delivery,) = await queue.receive()
    calls = 0

    async def store_down(_body):
        nonlocal calls
        calls += 1
        raise StoreUnavailable("PostgreSQL at db:5432 is unreachable")

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="leadminer.flow"):
        handled = await deliver(queue, delivery, store_down, outage=Outage(first=0.01, longest=0.05), outage_limit=0.3)
    assert handled is False and 0.3 <= time.monotonic() - started < 2 and calls > 2
    assert await size(queue) == 1 and await queue.dead.receive(5) == []  # neither acked nor retried
    assert any("gave delivery" in r.getMessage() and "LEADMINER_OUTAGE_LIMIT_SECONDS" in r.getMessage() for r in caplog.records)
    if isinstance(queue, RedisStreamQueue):  # no longer renewed: taken over after the claim time, one attempt more
        await asyncio.sleep(IDLE_MS * 2 / 1000)
        (again,) = await make_queue("other", claim_idle_ms=IDLE_MS).receive()
        assert again.body == "job" and again.attempts == 2


async def test_waiting_since_is_the_send_time_of_the_oldest_message_not_received(make_queue):
    queue = make_queue()
    assert await queue.waiting_since() is None
    before = time.time()
    await queue.send("first")
    await asyncio.sleep(0.05)
    await queue.send("second")
    first_sent = await queue.waiting_since()
    assert before - 1 <= first_sent <= time.time() + 1  # the server's clock, for Redis
    (first,) = await queue.receive()
    second_sent = await queue.waiting_since()
    assert second_sent >= first_sent + 0.04  # received messages do not count, even unacked
    (second,) = await queue.receive()
    assert await queue.waiting_since() is None
    await queue.retry(second, "ValueError: x")  # sent again: waits from now
    assert await queue.waiting_since() >= second_sent
    for delivery in [first, *await queue.receive()]:
        await queue.ack(delivery)
