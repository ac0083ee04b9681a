"""Builders shared by the collector tests: settings for a simulator, sink output readers, expected ids,
and a pass-through client that tests put between a stream and the real client."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson

from mimecast_siem.checkpoints import StateStore
from mimecast_siem.collector import LeaseTerm, StreamContext, StreamTask
from mimecast_siem.collector.pipeline import PageSource
from mimecast_siem.config.models import Settings
from mimecast_siem.mimecast import ApiResponse, MimecastClient, Page, Priority, parse_mimecast_time, reset_limiters
from mimecast_siem.sinks import DeadLetters, Router, SinkContext, build_sinks
from mimecast_siem.streams import CATALOGUE, NormaliseContext
from mimecast_siem.times import utc_now

C = TypeVar("C", bound=PageSource)

LOG_STREAMS = ("ttp-url", "ttp-attachment", "ttp-impersonation", "audit")


class RecordingClient:
    """The real client; remembers the window of every walk (the ``fields`` of its item: ``from``/``to``,
    or a stream's own names). A subclass changes what one walk does (waits, failures, counting) by
    overriding :meth:`walk`."""

    def __init__(self, inner: MimecastClient, fields: tuple[str, str] = ("from", "to")) -> None:
        self.inner = inner
        self.fields = fields
        self.ranges: list[tuple[datetime, datetime]] = []

    async def pages(
        self,
        path: str,
        item: Mapping[str, Any] | None = None,
        page_size: int = 500,
        record_key: str | None = None,
        *,
        priority: Priority = Priority.LIVE,
        max_wait: float | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Page]:
        assert item is not None
        first, last = self.fields
        self.ranges.append((parse_mimecast_time(item[first]), parse_mimecast_time(item[last])))
        inner = self.inner.pages(path, item, page_size, record_key, priority=priority, max_wait=max_wait, meta=meta)
        async for page in self.walk(inner):
            yield page

    def walk(self, pages: AsyncIterator[Page]) -> AsyncIterator[Page]:
        """One walk's pages (not started yet: nothing is fetched before the first is asked for)."""
        return pages

    async def request(
        self,
        path: str,
        data: Sequence[Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        *,
        priority: Priority = Priority.LIVE,
        max_wait: float | None = None,
    ) -> ApiResponse:
        return await self.inner.request(path, data, meta, priority=priority, max_wait=max_wait)


def fast_stream_settings(**overrides: Any) -> dict[str, Any]:
    """Stream settings that make a daemon turn quickly in tests."""
    base: dict[str, Any] = {
        "poll_interval": "1s",
        "lag": "2s",
        "overlap": "20s",
        "max_window": "2m",
        "start_from": "5m",
        "concurrency": 2,
    }
    base.update(overrides)
    return base


def daemon_settings(*args: Any, **kwargs: Any) -> Settings:
    """Validated :func:`daemon_config`."""
    return Settings.model_validate(daemon_config(*args, **kwargs))


def daemon_config(
    sim_url: str,
    client_id: str,
    client_secret: str,
    tmp: Path,
    *,
    streams: Sequence[str] = LOG_STREAMS,
    stream_overrides: Mapping[str, Any] | None = None,
    state_url: str | None = None,
    out: Path | None = None,
    instance_id: str | None = None,
    **top: Any,
) -> dict[str, Any]:
    """Raw configuration of a daemon reading the simulator into a file sink under ``tmp``."""
    raw: dict[str, Any] = {
        "data_dir": str(tmp / "data"),
        "tenants": [
            {
                "name": "acme",
                "base_url": sim_url,
                "client_id": client_id,
                "client_secret": client_secret,
                "streams": list(streams),
            }
        ],
        "streams": {s: fast_stream_settings(**(stream_overrides or {})) for s in streams},
        "sinks": [{"name": "out", "type": "file", "path": str(out or tmp / "out")}],
        "server": {"enabled": False, "port": 0},
        "state": {"lease_ttl": "3s"},
        "daemon": {"shutdown_grace": "10s", "stream_backoff_max": "1s", "instance_id": instance_id},
    }
    if state_url is not None:
        raw["state"]["url"] = state_url
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


def read_documents(out: Path, tenant: str = "acme", stream: str | None = None) -> list[dict[str, Any]]:
    """Every JSON document the file sink wrote (``.ndjson`` and rotated ``.gz`` files)."""
    docs: list[dict[str, Any]] = []
    folder = out / tenant
    if not folder.exists():
        return docs
    for path in sorted(folder.iterdir()):
        name = path.name
        if stream is not None and not name.startswith(stream + "."):
            continue
        if name.endswith(".gz"):
            data = gzip.decompress(path.read_bytes())
        elif ".ndjson" in name:
            data = path.read_bytes()
        else:
            continue
        for line in data.splitlines():
            if line.strip():
                try:
                    docs.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    # A SIGKILL can leave a torn last line; it was never reported delivered.
                    continue
    return docs


def delivered_ids(out: Path, stream: str, tenant: str = "acme") -> Counter[str]:
    """How often each ``event.id`` of ``stream`` was written."""
    return Counter(d["event"]["id"] for d in read_documents(out, tenant, stream))


def expected_ids(stream: str, records: Iterable[Mapping[str, Any]], tenant: str = "acme") -> set[str]:
    """Event ids our normaliser gives the simulator's ground-truth records."""
    spec = CATALOGUE[stream]
    ctx = NormaliseContext(tenant=tenant, observed_at=datetime.now(UTC))
    return {spec.normalise(r, ctx).event_id for r in records}


@contextlib.asynccontextmanager
async def leased_task(
    settings: Settings,
    tmp_path: Path,
    stream: str,
    client_for: Callable[[MimecastClient], C],
    *,
    clock: Callable[[], datetime] = utc_now,
) -> AsyncIterator[tuple[StreamTask, C, StateStore]]:
    """A :class:`StreamTask` of the first tenant's ``stream`` that holds its lease, over a real state
    store and router (the configured sinks) and the client ``client_for`` wraps around the real one;
    ``(task, that client, store)``, all closed afterwards."""
    reset_limiters()
    store = await StateStore.open(settings.state_url())
    router = Router(
        settings, build_sinks(settings, SinkContext(tmp_path, "me", "test")), DeadLetters(settings.dead_letter_path())
    )
    await router.start()
    try:
        async with MimecastClient(settings.tenants[0]) as inner:
            tenant = settings.tenants[0].name
            lease = await store.acquire_lease(tenant, stream, "me", timedelta(minutes=5))
            assert lease is not None
            client = client_for(inner)
            ctx = StreamContext(tenant, CATALOGUE[stream], settings.stream_settings(settings.tenants[0], stream),
                                client, router)  # fmt: skip
            task = StreamTask(ctx, store, LeaseTerm("me", lease.epoch), stopping=asyncio.Event(), clock=clock)
            yield task, client, store
    finally:
        await router.close()
        await store.close()
