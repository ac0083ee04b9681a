"""Daemon and backfill configurations for the benchmarks (plain dicts, written as YAML)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The time-windowed log streams (every stream the simulator generates at a rate).
LOG_STREAMS: tuple[str, ...] = ("ttp-url", "ttp-attachment", "ttp-impersonation", "audit")


@dataclass(frozen=True, slots=True)
class TenantApp:
    """One tenant and the simulator app it reads."""

    name: str
    client_id: str
    client_secret: str


def simulator_apps(count: int) -> list[TenantApp]:
    """The apps ``--apps N`` creates (``client-i`` / ``secret-i``) as tenants ``t1..tN``."""
    return [TenantApp(f"t{i}", f"client-{i}", f"secret-{i}") for i in range(1, count + 1)]


def rate_flags(rates: Mapping[str, float]) -> list[str]:
    """``--rate stream=N`` flags of the simulator."""
    flags: list[str] = []
    for stream, rate in rates.items():
        flags += ["--rate", f"{stream}={rate:g}"]
    return flags


def catch_up_stream(
    *,
    start_from: str,
    max_window: str = "2m",
    concurrency: int = 2,
    page_size: int = 500,
    poll_interval: str = "5s",
    lag: str = "10s",
    overlap: str = "1m",
) -> dict[str, Any]:
    """Stream settings of a stream that starts ``start_from`` back and catches up."""
    return {
        "start_from": start_from,
        "max_window": max_window,
        "concurrency": concurrency,
        "page_size": page_size,
        "poll_interval": poll_interval,
        "lag": lag,
        "overlap": overlap,
    }


def daemon_config(
    workdir: Path,
    sim_url: str,
    tenants: Sequence[TenantApp],
    *,
    streams: Sequence[str] = LOG_STREAMS,
    stream_settings: Mapping[str, Any],
    sinks: Sequence[Mapping[str, Any]] | None = None,
    max_concurrency: int = 4,
    max_requests_per_second: float | None = None,
    server: bool = True,
    state_url: str | None = None,
) -> dict[str, Any]:
    """A daemon config: ``tenants`` reading the simulator, ``streams`` with ``stream_settings``, a file sink."""
    rate_limit: dict[str, Any] = {"max_concurrency": max_concurrency}
    if max_requests_per_second is not None:
        rate_limit["max_requests_per_second"] = max_requests_per_second
    raw: dict[str, Any] = {
        "data_dir": str(workdir / "data"),
        "tenants": [
            {
                "name": t.name,
                "base_url": sim_url,
                "client_id": t.client_id,
                "client_secret": t.client_secret,
                "streams": list(streams),
                "rate_limit": rate_limit,
            }
            for t in tenants
        ],
        "streams": {s: dict(stream_settings) for s in streams},
        "sinks": list(sinks) if sinks is not None else [{"name": "out", "type": "file", "path": str(workdir / "out")}],
        "server": {"enabled": server, "host": "127.0.0.1", "port": 0},
        "state": {"lease_ttl": "30s"},
        "actions": {"enabled": False},
        "daemon": {"shutdown_grace": "20s", "stream_backoff_max": "5s"},
        "logging": {"level": "INFO", "format": "json"},
    }
    if state_url is not None:
        raw["state"]["url"] = state_url
    return raw
