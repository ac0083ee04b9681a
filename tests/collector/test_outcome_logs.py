"""The daemon's window outcome names dead-lettered events (a WARNING with the count), not just "delivered"."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.simulator import LateArrivals
from tests.collector.harness import running_supervisor
from tests.collector.helpers import daemon_settings


async def test_a_window_whose_events_were_dead_lettered_says_so(
    simulator_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await simulator_factory(rates={"ttp-url": 5.0}, late=LateArrivals(fraction=0.0))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    # A sink no event fits, refusing every event permanently into the dead-letter file.
    sinks = [
        {"name": "out", "type": "syslog", "host": "127.0.0.1", "port": 9, "transport": "udp",
         "max_message_bytes": 480, "oversize": "dead-letter"}
    ]  # fmt: skip
    settings = daemon_settings(
        sim.url,
        sim.client_id,
        sim.client_secret,
        tmp_path,
        streams=("ttp-url",),
        stream_overrides={"start_from": start.isoformat()},
        sinks=sinks,
    )
    caplog.set_level(logging.INFO, logger="mimecast_siem")
    async with running_supervisor(settings) as h:
        await h.wait_checkpoint("ttp-url", datetime.now(UTC) - timedelta(seconds=4), timeout=30)
    outcomes = [r for r in caplog.records if "was committed" in r.getMessage() and "ttp-url" in r.getMessage()]
    assert outcomes
    dead = [r for r in outcomes if getattr(r, "dead_lettered", 0)]
    assert dead, [r.getMessage() for r in outcomes]
    for record in dead:
        assert record.levelno == logging.WARNING
        text = record.getMessage()
        assert f"{getattr(record, 'dead_lettered', 0)} of them were dead-lettered" in text
        assert "dead-letters list" in text
