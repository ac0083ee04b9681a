"""Graceful shutdown: leases outlive the grace's last commit; a window the grace cannot save is logged as abandoned."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.simulator import LateArrivals
from tests.collector.harness import running_supervisor
from tests.collector.helpers import daemon_settings

pytestmark = pytest.mark.slow


def _settings(sim: Any, tmp_path: Path, grace: str) -> Any:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    return daemon_settings(
        sim.url,
        sim.client_id,
        sim.client_secret,
        tmp_path,
        streams=("ttp-url",),
        stream_overrides={"start_from": start.isoformat()},
        state={"lease_ttl": "3s"},
        daemon={"shutdown_grace": grace, "stream_backoff_max": "1s"},
    )


async def test_a_window_delivered_after_the_lease_ttl_is_still_committed(
    simulator_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Grace (12 s) well past the lease TTL (3 s): the delivery that finishes after 6 s still commits."""
    sim = await simulator_factory(rates={"ttp-url": 5.0}, late=LateArrivals(fraction=0.0))
    caplog.set_level(logging.INFO, logger="mimecast_siem")
    async with running_supervisor(_settings(sim, tmp_path, "12s")) as h:
        h.sink.failing = True  # the receiver is down: the first window's delivery is being retried
        await h.wait_for(lambda: _true(h.sink.refused >= 1), 30, "a refused delivery")
        assert await h.checkpoint("ttp-url") is None
        h.supervisor.stop()
        await asyncio.sleep(6)  # twice the lease TTL: without renewal the lease has expired now
        h.sink.failing = False
        await asyncio.wait_for(h.runner, timeout=20)
        committed = await h.checkpoint("ttp-url")
        leases = await h.store.list_leases()
    assert committed is not None
    text = caplog.text
    assert "another instance polls it now" not in text
    assert "abandoned" not in text
    assert all(row.owner is None or row.owner != "test-owner" for row in leases)  # released at the end


async def test_a_window_the_grace_cannot_save_is_logged_as_abandoned(
    simulator_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await simulator_factory(rates={"ttp-url": 5.0}, late=LateArrivals(fraction=0.0))
    caplog.set_level(logging.INFO, logger="mimecast_siem")
    async with running_supervisor(_settings(sim, tmp_path, "2s")) as h:
        h.sink.failing = True
        await h.wait_for(lambda: _true(h.sink.refused >= 1), 30, "a refused delivery")
        h.supervisor.stop()
        await asyncio.wait_for(h.runner, timeout=20)
        assert await h.checkpoint("ttp-url") is None
    abandoned = [r for r in caplog.records if getattr(r, "abandoned", False)]
    assert len(abandoned) == 1, caplog.text
    message = abandoned[0].getMessage()
    assert "of stream ttp-url of tenant acme was abandoned at shutdown" in message
    assert message.startswith("Window [")
    assert "another instance polls it now" not in caplog.text


async def _true(value: bool) -> bool:
    return value
