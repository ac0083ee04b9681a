"""Every generated log stream's record generator, keyed by the stream's name.

The rated streams use a builder ``(rng, ts, date, profile) -> record`` (``records.py``,
``log_records.py``); the release log is derived from the held queue (``release_log_record``); the
threat-intel feeds are :class:`ThreatFeed` objects. The stream registry's completeness test reads
this mapping to check that every registered log stream can be simulated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mimecast_siem.simulator.log_records import ALL_BUILDERS
from mimecast_siem.simulator.records import release_log_record
from mimecast_siem.simulator.threat_feed_store import ThreatFeed

#: Stream name → what generates its records.
GENERATORS: dict[str, Callable[..., Any]] = {
    **ALL_BUILDERS,
    "message-release": release_log_record,
    "threat-intel-customer": ThreatFeed,
    "threat-intel-grid": ThreatFeed,
}
