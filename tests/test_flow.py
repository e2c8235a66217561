"""The mining flow written once (``leadminer.flow``): the ack / retry / dead-letter policy,
outages, stop, progress, and the flow over the in-memory ports."""

from __future__ import annotations

import asyncio
import logging

import pytest

from leadminer.contracts import RawMessage
from leadminer.flow import MiningFlow, MiningOptions, StageWorker, deliver
from leadminer.flow.consumer import Outage
from leadminer.flow.memory import ListSource, memory_services, mine_in_memory
from leadminer.queues import InProcessQueue
from leadminer.storage import StoreUnavailable


def message(n: int, sender: str = "ann@example.com", to: str = "me@example.org") -> RawMessage:
    data = (
        f"From: Ann <{sender}>\r\nTo: {to}\r\nSubject: note {n}\r\nMessage-ID: <m{n}@example.com>\r\n"
        f"Date: Mon, 1 Jul 2024 10:{n % 60:02d}:00 +0000\r\n\r\nhello {n}\r\n"
    ).encode()
    return RawMessage("", "INBOX", str(n), data)


# the policy ------------------------------------------------------------------------------------
async def test_a_handler_that_returns_is_acked_and_one_that_raises_is_retried_then_dead():
    queue = InProcessQueue("extract", max_attempts=3)
    await queue.send({"n": 1})
    calls = 0

    async def failing(_body):
        nonlocal calls
        calls += 1
        raise ValueError("nope")

    while deliveries := await queue.receive(1):
        assert await deliver(queue, deliveries[0], failing) is False
    assert calls == 3 and len(queue) == 0
    [dead] = await queue.dead.receive(1)
    assert dead.body == {"n": 1} and dead.error == "ValueError: nope" and dead.failed_attempts == 3

    await queue.send({"n": 2})
    [delivery] = await queue.receive(1)

    async def fine(_body):
        return None

    assert await deliver(queue, delivery, fine) is True and len(queue) == 0


async def test_an_unreachable_store_is_waited_out_without_counting_attempts(caplog):
    queue = InProcessQueue("clean", max_attempts=2)
    await queue.send({"n": 1})
    [delivery] = await queue.receive(1)
    outcomes = [StoreUnavailable("connection refused")] * 4

    async def flaky(_body):
        if outcomes:
            raise outcomes.pop()

    with caplog.at_level(logging.WARNING, logger="leadminer.flow"):
        assert await deliver(queue, delivery, flaky, outage=Outage(first=0.001, longest=0.004)) is True
    assert delivery.attempts == 1 and len(queue) == 0 and len(queue.dead) == 0
    lines = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in line for line in lines) == 1  # said once, not once per try
    assert sum("reachable again" in line for line in lines) == 1


async def test_a_stop_during_an_outage_leaves_the_delivery_unacked():
    queue = InProcessQueue("clean")
    await queue.send({"n": 1})
    [delivery] = await queue.receive(1)

    async def down(_body):
        raise StoreUnavailable("gone")

    assert await deliver(queue, delivery, down, stop=lambda: True) is False
    assert len(queue) == 1 and len(queue.dead) == 0  # in flight: redelivered by the queue later


# the flow ------------------------------------------------------------------------------------------
async def test_in_memory_mining_finds_the_contacts():
    persons = await mine_in_memory([message(n, sender=f"p{n % 3}@example.com") for n in range(9)], ["me@example.org"])
    assert {p.email for p in persons} == {"p0@example.com", "p1@example.com", "p2@example.com"}  # not the user


async def test_progress_grows_and_the_stop_ends_the_mining_and_drops_its_work():
    async with memory_services() as services:
        flow, worker = MiningFlow(services), StageWorker(MiningFlow(services), batch=16)
        mining_id = await flow.start(user_id="u", source="memory", identities=["me@example.org"])
        seen = []

        async def on_batch(progress):
            seen.append((progress.fetched, progress.stage))
            if len(seen) == 2:
                assert await flow.stop(mining_id) is True

        assert await flow.fetch(mining_id, ListSource([message(n) for n in range(50)]), batch_size=10, on_batch=on_batch) is False
        assert seen == [(10, "fetch"), (20, "fetch")]  # the fetch stopped after the stop
        assert await flow.progress(mining_id) is None
        await worker.drain()  # the queued batches of a stopped mining do nothing
        mining = await services.main.mining(mining_id)
        assert mining["status"] == "canceled" and mining["stats"]["error"] == "stopped by the user"
        assert await services.temp.mining_ids() == [] and await services.main.persons("u") == []


async def test_a_redelivered_batch_and_a_duplicate_stage_message_double_nothing():
    async with memory_services() as services:
        flow, worker = MiningFlow(services), StageWorker(MiningFlow(services), batch=16)
        mining_id = await flow.start(user_id="u", source="memory", identities=["me@example.org"])
        messages = [message(n, sender=f"p{n % 4}@example.com") for n in range(30)]
        await flow.fetch(mining_id, ListSource(messages), batch_size=10)
        for batch in range(3):  # every batch delivered twice
            await services.queues["extract"].send({"mining_id": mining_id, "batch": batch})
        await services.queues["signature"].send({"mining_id": mining_id})  # early and duplicated
        await worker.drain()
        summary = await flow.summary(mining_id)
        assert summary is not None and summary.extracted == 30 and summary.persons == 4
        reference = {p.email: p.occurrence for p in await mine_in_memory(messages, ["me@example.org"], user_id="u")}
        assert {p.email: p.occurrence for p in await services.main.persons("u")} == reference


async def test_a_failing_fetch_ends_the_mining_with_the_reason():
    class Broken:
        label = "broken"

        def count(self, _state):
            return None

        def iter_messages(self, mining_id, _state):
            yield message(1)
            raise OSError("disk gone")

    async with memory_services() as services:
        flow = MiningFlow(services)
        mining_id = await flow.start(user_id="u", source="broken")
        with pytest.raises(OSError):
            await flow.fetch(mining_id, Broken())
        mining = await services.main.mining(mining_id)
        assert mining["status"] == "failed" and mining["stats"]["error"] == "fetch: OSError: disk gone"


async def test_an_interrupted_fetch_ends_the_mining_as_interrupted():
    class Endless:
        label = "endless"

        def count(self, _state):
            return None

        def iter_messages(self, mining_id, _state):
            n = 0
            while True:
                n += 1
                yield message(n)

    async with memory_services() as services:
        flow = MiningFlow(services)
        mining_id = await flow.start(user_id="u", source="endless")
        task = asyncio.create_task(flow.fetch(mining_id, Endless(), batch_size=5, on_batch=lambda _p: asyncio.sleep(0.01)))
        await asyncio.sleep(0.1)
        task.cancel()  # what asyncio.run does on Ctrl-C, and the CLI on SIGTERM
        with pytest.raises(asyncio.CancelledError):
            await task
        mining = await services.main.mining(mining_id)
        assert mining["status"] == "interrupted" and mining["stats"]["error"] == "interrupted by the user"


class Opener:
    """A SourceOpener over named lists of messages."""

    def __init__(self, **sources: list[RawMessage]):
        self.sources = sources

    async def open(self, user_id: str, spec: dict):
        if spec["name"] not in self.sources:
            raise FileNotFoundError(f"no upload named {spec['name']}")
        return ListSource(self.sources[spec["name"]], label=spec["name"])


async def test_a_queued_fetch_is_read_by_a_worker_once_whatever_the_deliveries():
    messages = [message(n, sender=f"p{n % 3}@example.com") for n in range(12)]
    async with memory_services(sources=Opener(box=messages)) as services:
        flow = MiningFlow(services)
        mining_id = await flow.start(user_id="u", source="box", identities=["me@example.org"])
        await flow.enqueue_fetch(mining_id, {"name": "box"})
        await flow.enqueue_fetch(mining_id, {"name": "box"})  # delivered twice
        await StageWorker(flow, batch=16).drain()
        summary = await flow.summary(mining_id)
        assert summary is not None and summary.fetched == 12 and summary.extracted == 12 and summary.persons == 3


async def test_a_queued_source_that_cannot_be_opened_fails_the_mining_with_the_reason():
    async with memory_services(sources=Opener()) as services:
        flow = MiningFlow(services)
        mining_id = await flow.start(user_id="u", source="gone")
        await flow.enqueue_fetch(mining_id, {"name": "gone"})
        await StageWorker(flow).drain()
        mining = await services.main.mining(mining_id)
        assert mining["status"] == "failed" and mining["stats"]["error"] == "fetch: FileNotFoundError: no upload named gone"


@pytest.mark.parametrize("mode", ["memory", "embedded"])
async def test_imported_contacts_go_through_clean_and_refine_in_every_mode(mode, tmp_path):
    from contextlib import AsyncExitStack

    from leadminer.imports import ImportedContact
    from leadminer_runner.services import embedded_services

    async with AsyncExitStack() as stack:
        if mode == "memory":
            services = await stack.enter_async_context(memory_services())
        else:
            services = await stack.enter_async_context(embedded_services(tmp_path / "m.db", tmp_path / "m.db.mining"))
        flow = MiningFlow(services)
        mined = await flow.start(user_id="u", source="box", identities=["me@example.org"])
        await flow.fetch(mined, ListSource([message(1, sender="ann@example.com")]))
        await StageWorker(flow).drain()
        before = await services.main.person("u", "ann@example.com")

        rows = [ImportedContact("ANN@example.com", job_title="Engineer"), ImportedContact("bob@example.net", name="Bob B"),
                ImportedContact("me@example.org", name="Me")]  # fmt: skip
        mining_id = await flow.start_import(user_id="u", name="leads.csv", contacts=rows)
        assert await services.raw.raw_batch(mining_id, 0)  # the rows wait as a raw batch, not as messages
        await StageWorker(flow).drain()
        mining = await services.main.mining(mining_id)
        assert mining["status"] == "done" and mining["stats"]["persons"] == 2 and mining["stats"]["extracted"] == 0
        ann = await services.main.person("u", "ann@example.com")
        assert ann.job_title == "Engineer" and (ann.occurrence, ann.name) == (before.occurrence, before.name)
        bob = await services.main.person("u", "bob@example.net")
        assert bob.name == "Bob B" and bob.occurrence == 0 and bob.status == "unknown"
        assert await services.main.person("u", "me@example.org") is None  # the user's own address is no contact
        assert await services.temp.mining_ids() == []  # temporary rows dropped
        with pytest.raises(ValueError):
            await flow.start_import(user_id="u", name="bad.csv", contacts=[ImportedContact("no-at-sign")])


def signed(n: int) -> RawMessage:
    data = (
        f"From: Ann Smith <ann@acme.example>\r\nTo: me@example.org\r\nSubject: quote {n}\r\n"
        f"Message-ID: <signed-{n}@acme.example>\r\nDate: Mon, 1 Jul 2024 10:0{n}:00 +0000\r\n\r\n"
        "Hello,\r\n\r\nThe quote is attached.\r\n\r\nBest regards,\r\nAnn Smith\r\nSales Director\r\n"
        "Acme Corporation\r\nPhone: +1 415 555 0100\r\n"
    ).encode()
    return RawMessage("m", "INBOX", str(n), data)


@pytest.mark.parametrize("extract_signatures", [True, False])
async def test_the_signature_stage_follows_the_options_the_mining_was_started_with(extract_signatures):
    async with memory_services() as services:
        flow, worker = MiningFlow(services), StageWorker(MiningFlow(services), batch=16)
        options = MiningOptions(extract_signatures=extract_signatures)
        mining_id = await flow.start(user_id="u", source="memory", identities=["me@example.org"], options=options)
        assert (await services.ledger.run(mining_id)).options == {"extract_signatures": extract_signatures}
        await flow.fetch(mining_id, ListSource([signed(n) for n in range(3)]))
        await worker.drain()
        assert (await services.main.mining(mining_id))["status"] == "done"
        ann = await services.main.person("u", "ann@acme.example")
        if extract_signatures:
            assert ann.job_title == "Sales Director" and ann.telephone
        else:
            assert ann.job_title is None and not ann.telephone  # the stage read nothing
