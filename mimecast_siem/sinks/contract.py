"""A reusable contract test suite for sinks (built-in or plugin), run against a real or strict test server.

A plugin author (or a built-in sink's tests) subclasses :class:`SinkContractSuite` in a pytest module
and provides a ``contract_target`` fixture returning a :class:`ContractTarget`: the sink's config block
pointing at a server the fixture started, and a way to read back what the server durably stored::

    from mimecast_siem.sinks.contract import ContractTarget, SinkContractSuite

    class AcmeTarget(ContractTarget):
        def sink_block(self) -> dict[str, Any]:
            return {"type": "acme", "url": self.server.url}
        async def read_back(self) -> list[str]:
            return [doc["event"]["id"] for doc in self.server.documents()]
        ...

    class TestAcmeContract(SinkContractSuite):
        @pytest.fixture
        async def contract_target(self, acme_server) -> AsyncIterator[ContractTarget]:
            yield AcmeTarget(acme_server)

The suite checks the delivery rule end to end:

* **accepted means durable**: every event ``send`` reports accepted is read back from the server;
* **partial failure**: in a batch with one event the destination refuses, the others are accepted and
  the refused one is returned with a reason (skipped when the target cannot produce such an event);
* **permanent refusal goes to the dead letters** through the router, with the server's reason;
* **outage then recovery**: while the destination is down the router keeps the batch (the caller may
  not commit); after recovery everything arrives;
* **SIGKILL between send and commit**: a child process sends and is killed before it could commit;
  the re-delivery carries the same ``event.id`` and duplicates are bounded (none when the target says
  the destination deduplicates);
* **clean shutdown flushes**: after ``close()`` every accepted event is on the server;
* **records are read-only**: sending changes no event and no record of the sink's encoder - the router
  hands the same records to every sink configured alike (``sinks/formats/shared.py``).

pytest is imported here: import this module from tests only.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from mimecast_siem.aio import wait_for
from mimecast_siem.config.models import Settings, SinkSettings
from mimecast_siem.events import Event
from mimecast_siem.sinks.base import Sink, SinkContext
from mimecast_siem.sinks.deadletter import DeadLetters, event_from_json, event_to_json
from mimecast_siem.sinks.formats import encode_event, sharing
from mimecast_siem.sinks.registry import load_sink_class
from mimecast_siem.sinks.router import RetryPolicy, Router

FAST_RETRY = RetryPolicy(initial=0.05, maximum=0.5)
BASE_TIME = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)


def contract_events(
    count: int, *, stream: str = "ttp-url", tenant: str = "acme", tag: str | None = None
) -> list[Event]:
    """``count`` distinct TTP-URL-like events with ids unique to this call (``tag`` prefixes them)."""
    tag = tag or uuid.uuid4().hex[:12]
    events = []
    for i in range(count):
        when = BASE_TIME + timedelta(seconds=i)
        event_id = f"{tag}{i:06d}"
        message_id = f"<{tag}-{i % 7}@contract.example>"
        raw = {
            "date": when.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "url": f"https://contract.example/{tag}/{i}",
            "messageId": message_id,
            "userEmailAddress": "user@contract.example",
            "subject": f"message {i}",
            "action": "block",
            "scanResult": "malicious",
        }
        document = {
            "@timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "event": {"id": event_id, "dataset": "mimecast." + stream.replace("-", "_"), "provider": stream},
            "email": {"message_id": message_id, "subject": raw["subject"]},
            "url": {"original": raw["url"]},
            "labels": {"tenant": tenant, "stream": stream},
            "mimecast": dict(raw),
        }
        events.append(Event(event_id, tenant, stream, when, document, raw))
    return events


class ContractTarget(abc.ABC):
    """A sink type plus its test server, as the contract suite sees them."""

    #: True when the destination drops a re-delivered event by its id (ES ``create``, S3 keys ...).
    deduplicates: bool = False
    #: Seconds the suite waits for a delivery through an outage after recovery.
    recovery_timeout: float = 60.0

    @abc.abstractmethod
    def sink_block(self) -> dict[str, Any]:
        """The sink's config block without ``name`` (``type``, ``format``, options ...)."""

    @abc.abstractmethod
    async def read_back(self) -> list[str]:
        """Event ids the server durably holds, one entry per stored copy (duplicates included)."""

    def refused_event(self, like: Event) -> Event | None:
        """An event the destination refuses permanently (None: the destination refuses nothing per event)."""
        return None

    async def outage(self) -> None:
        """Make the destination unreachable (stop the server); the default skips the outage test."""
        pytest.skip("this target cannot simulate an outage")

    async def recover(self) -> None:  # noqa: B027 - optional hook
        """Bring the destination back (same address) after :meth:`outage`."""


def build_sink(block: dict[str, Any], data_dir: Path, name: str = "contract") -> tuple[Sink, SinkSettings]:
    """Construct the sink of ``block`` (not started)."""
    sink_settings = SinkSettings.model_validate({"name": name, **block})
    cls = load_sink_class(sink_settings.type)
    sink: Sink = cls(sink_settings, SinkContext(data_dir=data_dir, instance_id="contract", version="0"))
    return sink, sink_settings


def _settings(block: dict[str, Any], name: str = "contract") -> Settings:
    return Settings.model_validate(
        {
            "tenants": [{"name": "acme", "client_id": "cid", "client_secret": "not-a-secret"}],
            "sinks": [{"name": name, **block}],
            "routes": [],
        }
    )


def router_for(block: dict[str, Any], data_dir: Path) -> tuple[Router, DeadLetters]:
    """A router with the one sink of ``block`` (named ``contract``) and a dead-letter file in ``data_dir``."""
    settings = _settings(block)
    sink, _ = build_sink(block, data_dir)
    dead = DeadLetters(data_dir / "dead-letters.ndjson")
    return Router(settings, {"contract": sink}, dead, retry=FAST_RETRY), dead


def _mine(ids: Sequence[str], events: Sequence[Event]) -> Counter[str]:
    wanted = {e.event_id for e in events}
    return Counter(i for i in ids if i in wanted)


async def _read_until(target: ContractTarget, events: Sequence[Event], wait: float = 15.0) -> Counter[str]:
    """Read back until every event is there (some servers make writes visible a moment later)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        found = _mine(await target.read_back(), events)
        if len(found) == len(events) or loop.time() > deadline:
            return found
        await asyncio.sleep(0.2)


class SinkContractSuite:
    """The contract tests; subclass as ``Test<Sink>Contract`` and provide the ``contract_target`` fixture.

    The tests are coroutines marked for pytest-asyncio, so they also run in its strict mode.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def test_accepted_means_durable(self, contract_target: ContractTarget, tmp_path: Path) -> None:
        sink, _ = build_sink(contract_target.sink_block(), tmp_path)
        events = contract_events(25)
        await sink.start()
        try:
            result = await sink.send(events)
        finally:
            await sink.close()
        assert result.accepted == len(events), result.rejected
        assert not result.rejected
        found = await _read_until(contract_target, events)
        assert set(found) == {e.event_id for e in events}

    async def test_partial_failure_rejects_only_the_bad_event(
        self, contract_target: ContractTarget, tmp_path: Path
    ) -> None:
        events = contract_events(6)
        bad = contract_target.refused_event(events[0])
        if bad is None:
            pytest.skip("the destination refuses no single event")
        batch = [*events[:3], bad, *events[3:]]
        sink, _ = build_sink(contract_target.sink_block(), tmp_path)
        await sink.start()
        try:
            result = await sink.send(batch)
        finally:
            await sink.close()
        assert result.accepted == len(events)
        assert [r.event.event_id for r in result.rejected] == [bad.event_id]
        assert result.rejected[0].reason.strip()
        found = await _read_until(contract_target, events)
        assert set(found) == {e.event_id for e in events}
        assert bad.event_id not in set(await contract_target.read_back())

    async def test_permanent_refusal_goes_to_dead_letters(
        self, contract_target: ContractTarget, tmp_path: Path
    ) -> None:
        events = contract_events(4)
        bad = contract_target.refused_event(events[0])
        if bad is None:
            pytest.skip("the destination refuses no single event")
        router, dead = router_for(contract_target.sink_block(), tmp_path)
        await router.start()
        try:
            report = await wait_for(router.deliver("acme", "ttp-url", [*events, bad]), 60)
        finally:
            await router.close()
        assert report.dead_lettered == 1
        letters = dead.list()
        assert [(d.event_id, d.sink) for d in letters] == [(bad.event_id, "contract")]
        assert letters[0].reason.strip()

    async def test_outage_then_recovery(self, contract_target: ContractTarget, tmp_path: Path) -> None:
        events = contract_events(10)
        await contract_target.outage()
        router, _ = router_for(contract_target.sink_block(), tmp_path)
        try:
            delivery = asyncio.create_task(router.deliver("acme", "ttp-url", events))
            await asyncio.sleep(1.5)
            assert not delivery.done(), "the router reported delivery while the destination was down"
            await contract_target.recover()
            report = await wait_for(delivery, contract_target.recovery_timeout)
        finally:
            await contract_target.recover()
            await router.close()
        assert report.dead_lettered == 0
        found = await _read_until(contract_target, events)
        assert set(found) == {e.event_id for e in events}

    async def test_sigkill_between_send_and_commit_redelivers_bounded(
        self, contract_target: ContractTarget, tmp_path: Path
    ) -> None:
        events = contract_events(20)
        block = contract_target.sink_block()
        config = tmp_path / "sink.json"
        config.write_text(json.dumps(block))
        batch_file = tmp_path / "events.ndjson"
        batch_file.write_bytes(b"".join(orjson.dumps(event_to_json(e)) + b"\n" for e in events))
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from mimecast_siem.sinks.contract import child_main; child_main()",
            str(config),
            str(batch_file),
            str(tmp_path / "child"),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert child.stdout is not None
            line = await wait_for(child.stdout.readline(), 60)
            assert line.startswith(b"SENT"), line
        finally:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGKILL)
            await child.wait()
        # The checkpoint never moved: the restarted process sends the same batch again.
        sink, _ = build_sink(block, tmp_path)
        await sink.start()
        try:
            result = await sink.send(events)
        finally:
            await sink.close()
        assert result.accepted == len(events)
        found = await _read_until(contract_target, events)
        assert set(found) == {e.event_id for e in events}
        assert max(found.values()) <= (1 if contract_target.deduplicates else 2), found.most_common(3)

    async def test_send_changes_no_event_and_no_shared_record(
        self, contract_target: ContractTarget, tmp_path: Path
    ) -> None:
        sink, _ = build_sink(contract_target.sink_block(), tmp_path)
        events = contract_events(12)
        before = [orjson.dumps(event_to_json(e)) for e in events]
        encoder = getattr(sink, "encoder", None)
        await sink.start()
        try:
            # Inside a sharing scope the sink gets exactly the records encoded here (as a second sink of
            # the same configuration would): a change the sink makes to one shows in the snapshot.
            with sharing():
                shared = [encode_event(encoder, e) for e in events] if encoder is not None else []
                records_before = [orjson.dumps(r, default=str) for records in shared for r in records]
                result = await sink.send(events)
                records_after = [orjson.dumps(r, default=str) for records in shared for r in records]
        finally:
            await sink.close()
        assert result.accepted == len(events), result.rejected
        assert [orjson.dumps(event_to_json(e)) for e in events] == before, "the sink changed an event"
        assert records_after == records_before, "the sink changed a record it shares with other sinks"

    async def test_clean_shutdown_flushes(self, contract_target: ContractTarget, tmp_path: Path) -> None:
        events = contract_events(30)
        router, _ = router_for(contract_target.sink_block(), tmp_path)
        await router.start()
        report = await wait_for(router.deliver("acme", "ttp-url", events), 60)
        await router.close()
        assert report.dead_lettered == 0
        found = await _read_until(contract_target, events, wait=5)
        assert set(found) == {e.event_id for e in events}


def child_main() -> None:
    """Child of the SIGKILL test: send the batch, say ``SENT``, then wait (the commit never comes)."""
    config, batch_file, data_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    data_dir.mkdir(parents=True, exist_ok=True)
    block = json.loads(Path(config).read_text())
    events = [event_from_json(orjson.loads(line)) for line in Path(batch_file).read_bytes().splitlines() if line]

    async def run() -> None:
        sink, _ = build_sink(block, data_dir)
        await sink.start()
        result = await sink.send(events)
        sys.stdout.write(f"SENT {result.accepted}\n")
        sys.stdout.flush()
        await asyncio.sleep(3600)

    asyncio.run(run())
