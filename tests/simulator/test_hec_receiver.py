"""The demo's HEC receiver: answers like HEC for what the sink sends, and goes down and up on one port."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import aiohttp
import pytest

from mimecast_siem.simulator.hec_receiver import DemoHecReceiver

EVENT = "/services/collector/event"


async def _post(url: str, body: bytes, **headers: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.post(url + EVENT, data=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_it_keeps_what_it_accepted_refuses_bad_tokens_and_data_and_restarts_on_its_port(tmp_path: Path) -> None:
    receiver = DemoHecReceiver("tok-1", tmp_path / "hec" / "events.ndjson")
    await receiver.start()
    try:
        url, port = receiver.url, receiver.port
        envelopes = b'{"time":1,"event":{"event":{"id":"a"}}}\n{"time":2,"event":{"event":{"id":"b"}}}'
        assert await _post(
            url, gzip.compress(envelopes), Authorization="Splunk tok-1", **{"Content-Encoding": "gzip"}
        ) == (
            200,
            {"text": "Success", "code": 0},
        )
        assert (await _post(url, envelopes, Authorization="Splunk nope"))[0] == 403
        assert (await _post(url, b'{"time":1}', Authorization="Splunk tok-1"))[1]["code"] == 6
        assert (await _post(url, b"{not json", Authorization="Splunk tok-1"))[1]["code"] == 6
        await receiver.stop()
        assert not receiver.up
        with pytest.raises(aiohttp.ClientConnectionError):
            await _post(url, envelopes, Authorization="Splunk tok-1")
        await receiver.start()
        assert receiver.port == port
        assert (await _post(url, envelopes, Authorization="Splunk tok-1"))[0] == 200
    finally:
        await receiver.stop()
    assert receiver.ids == {"a": 2, "b": 2}
    lines = (tmp_path / "hec" / "events.ndjson").read_text().splitlines()
    assert [json.loads(line)["event"]["event"]["id"] for line in lines] == ["a", "b", "a", "b"]
