"""Captured API pages: the exact bytes the simulator serves, kept for CPU benchmarks.

The pages are fetched over HTTP from an in-process simulator with plain aiohttp (not our client),
walking page tokens with ``pageSize`` 500, so a benchmark can replay identical bytes through the
floor (``orjson``) and through our data path in the same process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson

from mimecast_siem.collector import CATALOGUE, FetchRange
from mimecast_siem.simulator import SimulatorConfig, run_simulator

#: Log streams with generated data (the simulator's rated streams).
LOG_STREAMS: tuple[str, ...] = ("ttp-url", "ttp-attachment", "ttp-impersonation", "audit")

PAGE_SIZE = 500
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=60)


@dataclass(slots=True)
class CapturedStream:
    """The raw pages of one stream.

    Attributes:
        stream: stream name.
        pages: response bodies, as served.
        records: records across the pages.
    """

    stream: str
    pages: list[bytes] = field(default_factory=list)
    records: int = 0

    @property
    def bytes(self) -> int:
        """Total body bytes."""
        return sum(len(p) for p in self.pages)


def bench_simulator_config(*, rate: float, history: float, seed: int = 8) -> SimulatorConfig:
    """A simulator world with ``rate`` records/s on every log stream and ``history`` seconds of data."""
    return SimulatorConfig(
        seed=seed,
        rates=dict.fromkeys(LOG_STREAMS, rate),
        history=history,
        cache_records=400_000,
    )


async def capture_pages(
    records_per_stream: int, streams: Sequence[str] = LOG_STREAMS, *, seed: int = 8
) -> dict[str, CapturedStream]:
    """Fetch at least ``records_per_stream`` records (whole pages) of each stream from a simulator."""
    rate = 50.0
    history = max(600.0, records_per_stream / rate * 1.5)
    config = bench_simulator_config(rate=rate, history=history, seed=seed)
    out: dict[str, CapturedStream] = {}
    async with run_simulator(config) as sim, aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as http:
        token = await _token(http, sim.url, sim.client_id, sim.client_secret)
        now = datetime.now(UTC).replace(microsecond=0)
        fetch = FetchRange(now - timedelta(seconds=history), now - timedelta(seconds=5))
        for stream in streams:
            out[stream] = await _walk(http, sim.url, token, stream, fetch, records_per_stream)
    return out


async def _token(http: aiohttp.ClientSession, url: str, client_id: str, secret: str) -> str:
    form = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
    async with http.post(f"{url}/oauth/token", data=form) as resp:
        resp.raise_for_status()
        body = await resp.json()
    return str(body["access_token"])


async def _walk(
    http: aiohttp.ClientSession, url: str, token: str, stream: str, fetch: FetchRange, wanted: int
) -> CapturedStream:
    spec = CATALOGUE[stream]
    item = spec.request_item(fetch)
    captured = CapturedStream(stream)
    page_token: str | None = None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while captured.records < wanted:
        pagination: dict[str, object] = {"pageSize": PAGE_SIZE}
        if page_token:
            pagination["pageToken"] = page_token
        body = orjson.dumps({"meta": {"pagination": pagination}, "data": [item] if item else []})
        async with http.post(f"{url}{spec.path}", data=body, headers=headers) as resp:
            resp.raise_for_status()
            raw = await resp.read()
        document = orjson.loads(raw)
        if document.get("fail"):
            raise RuntimeError(f"simulator refused the {stream} walk: {document['fail']}")
        count = len(_records(document, spec.record_key))
        if count == 0:
            break
        captured.pages.append(raw)
        captured.records += count
        page_token = document.get("meta", {}).get("pagination", {}).get("next")
        if not page_token:
            break
    return captured


def _records(document: dict[str, object], record_key: str | None) -> list[object]:
    data = document.get("data") or []
    if not isinstance(data, list):
        return []
    if record_key is None:
        return data
    out: list[object] = []
    for entry in data:
        if isinstance(entry, dict) and isinstance(entry.get(record_key), list):
            out.extend(entry[record_key])
    return out
