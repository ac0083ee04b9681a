"""The strict HEC receiver itself answers as sinks.md section 1 documents (so sink tests can trust it)."""

from __future__ import annotations

import gzip
from typing import Any

import aiohttp
import orjson
import pytest

from tests.sinks.conftest import ACK_TOKEN, HEC_TOKEN
from tests.sinks.hec_receiver import HecReceiver, HecToken, run_hec_receiver

CHANNEL = "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"


async def post(url: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.post(url + path, data=body, headers=headers or {}) as response,
    ):
        raw = await response.read()
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = {}
        return response.status, parsed


def auth(token: str = HEC_TOKEN, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Splunk {token}", **extra}


EVENT = "/services/collector/event"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, 2),
        ({"Authorization": HEC_TOKEN}, 401, 3),
        ({"Authorization": f"Bearer {HEC_TOKEN}"}, 401, 3),
        ({"Authorization": "Splunk nope"}, 403, 4),
        ({"Authorization": "Splunk disabled-token"}, 403, 1),
    ],
)
async def test_token_checks(hec: HecReceiver, headers: dict[str, str], status: int, code: int) -> None:
    got_status, body = await post(hec.url, EVENT, b'{"event":"x"}', headers)
    assert (got_status, body["code"]) == (status, code)
    assert hec.events == []


async def test_concatenated_objects_with_whitespace_are_indexed(hec: HecReceiver) -> None:
    status, body = await post(
        hec.url, EVENT, b'{"event":"a"}\n {"event":{"b":1},"index":"security"}\t{"event":"c"}', auth()
    )
    assert (status, body["code"]) == (200, 0)
    assert hec.event_values() == ["a", {"b": 1}, "c"]
    assert [e.index for e in hec.events] == ["main", "security", "main"]


@pytest.mark.parametrize(
    ("body", "code", "number", "indexed"),
    [
        (b'[{"event":"a"}]', 6, 0, 0),
        (b'{"event":"a"},{"event":"b"}', 6, 1, 1),
        (b'{"event":"a"}{"time":1}', 12, 1, 1),
        (b'{"event":"a"}{"event":"b"}{"event":""}', 13, 2, 2),
        (b'{"event":{}}', 13, 0, 0),
        (b'{"event":"a","fields":{"x":{"nested":1}}}', 15, 0, 0),
        (b'{"event":"a","fields":{"x":["ok","list"]}}{"event":"b","fields":{"y":[1]}}', 15, 1, 1),
        (b'{"event":"a","index":"forbidden"}', 7, 0, 0),
        (b'{"event":"a","time":"yesterday"}', 6, 0, 0),
    ],
)
async def test_bad_events_give_their_code_and_number(
    hec: HecReceiver, body: bytes, code: int, number: int, indexed: int
) -> None:
    status, reply = await post(hec.url, EVENT, body, auth())
    assert status == 400
    assert reply["code"] == code
    assert reply["invalid-event-number"] == number
    assert len(hec.events) == indexed


async def test_empty_body_is_no_data(hec: HecReceiver) -> None:
    status, reply = await post(hec.url, EVENT, b"  \n", auth())
    assert (status, reply["code"]) == (400, 5)


async def test_gzip_bodies_are_decoded_strictly(hec: HecReceiver) -> None:
    data = gzip.compress(b'{"event":"zipped"}')
    status, _ = await post(hec.url, EVENT, data, auth(**{"Content-Encoding": "gzip"}))
    assert status == 200
    assert hec.event_values() == ["zipped"]
    assert hec.requests[-1].gzip
    status, reply = await post(hec.url, EVENT, b"not gzip", auth(**{"Content-Encoding": "gzip"}))
    assert (status, reply["code"]) == (400, 6)
    # gzip content without the header is garbage to HEC.
    status, reply = await post(hec.url, EVENT, data, auth())
    assert (status, reply["code"]) == (400, 6)


async def test_size_cap_gives_413() -> None:
    receiver = HecReceiver([HecToken(HEC_TOKEN)], max_content_length=100)
    async with run_hec_receiver(receiver):
        status, _ = await post(receiver.url, EVENT, b'{"event":"' + b"x" * 200 + b'"}', auth())
        assert status == 413
        assert receiver.events == []


async def test_fault_injection_answers_before_indexing(hec: HecReceiver) -> None:
    hec.fail_next(2, status=503, code=9)
    for _ in range(2):
        status, reply = await post(hec.url, EVENT, b'{"event":"a"}', auth())
        assert (status, reply["code"]) == (503, 9)
    assert hec.events == []
    assert (await post(hec.url, EVENT, b'{"event":"a"}', auth()))[0] == 200


async def test_channels_and_acks_answer_true_once_then_forget(hec: HecReceiver) -> None:
    status, reply = await post(hec.url, EVENT, b'{"event":"a"}', auth(ACK_TOKEN))
    assert (status, reply["code"]) == (400, 10)
    status, reply = await post(
        hec.url, EVENT, b'{"event":"a"}', auth(ACK_TOKEN, **{"X-Splunk-Request-Channel": "nope"})
    )
    assert (status, reply["code"]) == (400, 11)
    headers = auth(ACK_TOKEN, **{"X-Splunk-Request-Channel": CHANNEL})
    ids = [(await post(hec.url, EVENT, b'{"event":"a"}', headers))[1]["ackId"] for _ in range(3)]
    assert ids == [0, 1, 2]
    ack = f"/services/collector/ack?channel={CHANNEL}"
    first = await post(hec.url, ack, b'{"acks":[0,1,2,9]}', auth(ACK_TOKEN))
    assert first == (200, {"acks": {"0": True, "1": True, "2": True, "9": False}})
    again = await post(hec.url, ack, b'{"acks":[0,1]}', auth(ACK_TOKEN))
    assert again == (200, {"acks": {"0": False, "1": False}})


async def test_ack_on_a_token_without_ack_is_code_14(hec: HecReceiver) -> None:
    status, reply = await post(hec.url, f"/services/collector/ack?channel={CHANNEL}", b'{"acks":[0]}', auth())
    assert (status, reply["code"]) == (400, 14)


async def test_health_codes(hec: HecReceiver) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(hec.url + "/services/collector/health") as response:
            assert (response.status, (await response.json())["code"]) == (200, 17)
        hec.health_code = 18
        async with session.get(hec.url + "/services/collector/health") as response:
            assert (response.status, (await response.json())["code"]) == (503, 18)
