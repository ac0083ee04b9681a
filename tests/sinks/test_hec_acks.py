"""Indexer acknowledgement: delivered means acknowledged; ids are recorded once; lost acks are re-sent."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from mimecast_siem.sinks.base import SinkContext, SinkPermanentError, SinkTransientError
from mimecast_siem.sinks.hec import HecSink
from tests.sinks.builders import batch, make_event
from tests.sinks.conftest import ACK_TOKEN, HEC_TOKEN
from tests.sinks.hec_helpers import hec_sink
from tests.sinks.hec_receiver import HecReceiver, HecToken, run_hec_receiver

FAST = {"ack_poll_interval": "50ms", "ack_timeout": "5s"}


def ack_sink(context: SinkContext, url: str, **options: Any) -> HecSink:
    return hec_sink(context, url, token=ACK_TOKEN, ack=True, **{**FAST, **options})


async def test_send_returns_after_every_request_is_acknowledged(context: SinkContext) -> None:
    receiver = HecReceiver([HecToken(ACK_TOKEN, ack=True)], ack_after_polls=2)
    async with run_hec_receiver(receiver):
        sink = ack_sink(context, receiver.url, batch_max_events=4)
        events = batch(10)
        result = await sink.send(events)
        await sink.close()
    # With delayed acks, events are only indexed when acknowledged: all are, exactly once.
    assert result.accepted == 10
    assert sorted(e.event["event"]["id"] for e in receiver.events) == sorted(e.event_id for e in events)
    channels = {r.channel for r in receiver.requests}
    assert channels == {sink.channel}
    assert receiver.ack_queries, "the sink never polled /services/collector/ack"
    assert {0, 1, 2} <= {i for q in receiver.ack_queries for i in q}


async def test_acknowledged_ids_are_not_polled_again(context: SinkContext) -> None:
    receiver = HecReceiver([HecToken(ACK_TOKEN, ack=True)], ack_after_polls=1)
    async with run_hec_receiver(receiver):
        sink = ack_sink(context, receiver.url, batch_max_events=1)
        await sink.send(batch(3))
        await sink.close()
    seen_true: set[int] = set()
    # HEC forgets an id once it said true, so asking again would read "false" and cause a resend.
    for answer in receiver.ack_answers:
        assert not (set(answer) & seen_true)
        seen_true |= {i for i, ok in answer.items() if ok}
    assert seen_true == {0, 1, 2}
    assert len(receiver.ack_answers) >= 2
    assert len(receiver.events) == 3


async def test_lost_ack_times_out_and_the_retry_sends_only_the_unacknowledged_part(context: SinkContext) -> None:
    receiver = HecReceiver([HecToken(ACK_TOKEN, ack=True)])
    async with run_hec_receiver(receiver):
        sink = ack_sink(context, receiver.url, batch_max_events=5, ack_timeout="500ms")
        events = batch(15)
        receiver.lose_next_acks = 1  # the first request is never indexed nor acknowledged
        with pytest.raises(SinkTransientError) as caught:
            await sink.send(events)
        assert "not acknowledged" in str(caught.value)
        posts_before = sum(1 for r in receiver.requests if r.path.endswith("/event"))
        result = await sink.send(events)  # the router's retry of the same batch
        posts_after = sum(1 for r in receiver.requests if r.path.endswith("/event"))
        await sink.close()
    assert result.accepted == 15
    assert posts_after - posts_before == 1  # only the lost request went again
    assert Counter(e.event["event"]["id"] for e in receiver.events) == Counter(e.event_id for e in events)


async def test_ack_on_but_token_without_ack_is_a_clear_config_error(hec: HecReceiver, context: SinkContext) -> None:
    sink = hec_sink(context, hec.url, token=HEC_TOKEN, ack=True, **FAST)
    with pytest.raises(SinkPermanentError) as caught:
        await sink.send(batch(1))
    await sink.close()
    assert "ack: false" in str(caught.value)


async def test_token_requiring_a_channel_with_ack_off_tells_to_turn_ack_on(
    hec: HecReceiver, context: SinkContext
) -> None:
    sink = hec_sink(context, hec.url, token=ACK_TOKEN)
    with pytest.raises(SinkPermanentError) as caught:
        await sink.send(batch(1))
    await sink.close()
    assert "HEC code 10" in str(caught.value)
    assert "ack: true" in str(caught.value)


async def test_partial_batch_with_acks_resends_the_unconfirmed_part(context: SinkContext) -> None:
    receiver = HecReceiver([HecToken(ACK_TOKEN, ack=True)])
    async with run_hec_receiver(receiver):
        sink = ack_sink(context, receiver.url, fmt="raw", format_options={"metadata": False})
        good = batch(4)
        bad = make_event("ttp-url", {}, event_id="blank")
        result = await sink.send([*good[:2], bad, *good[2:]])
        await sink.close()
    assert [r.event.event_id for r in result.rejected] == ["blank"]
    subjects = Counter(e.event["subject"] for e in receiver.events)
    # A 400 carries no ackId, so the two events before the bad one are sent again: at least once.
    assert set(subjects) == {f"message {i}" for i in range(4)}
    assert subjects["message 0"] == 2
    assert subjects["message 3"] == 1


async def test_transient_failure_keeps_what_was_already_acknowledged(context: SinkContext) -> None:
    receiver = HecReceiver([HecToken(ACK_TOKEN, ack=True)])
    async with run_hec_receiver(receiver):
        sink = ack_sink(context, receiver.url, batch_max_events=5)
        events = batch(10)
        original = receiver._handle_event
        calls = 0

        async def fail_second(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            if calls == 2:
                receiver.fail_next(1)
            return await original(*args, **kwargs)  # type: ignore[arg-type]

        receiver._handle_event = fail_second  # type: ignore[method-assign]
        with pytest.raises(SinkTransientError):
            await sink.send(events)
        result = await sink.send(events)
        await sink.close()
    assert result.accepted == 10
    assert Counter(e.event["event"]["id"] for e in receiver.events) == Counter(e.event_id for e in events)
