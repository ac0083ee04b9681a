"""The sink contract. Every sink (built-in or third-party) implements :class:`Sink`.

Delivery contract (DESIGN.md, "Sinks"):

* ``send(events)`` returns only when the sink has *durably accepted* every event it did not reject:
  the file sink after fsync, syslog after the bytes were written and drained to the socket, HEC
  after a 200 (or, with indexer acknowledgement on, after the ack arrived).
* Events the destination permanently refuses one by one (e.g. HEC "invalid data format") are
  returned in :attr:`SendResult.rejected` with a reason; the router writes them to the dead-letter
  file. They must never wedge the pipeline.
* A failure of the whole batch raises :class:`SinkTransientError` (the router retries the same
  batch with backoff; the checkpoint does not move) or :class:`SinkPermanentError` (configuration
  or protocol problem: the router dead-letters the batch and alerts).
* Sinks never reach back into the collector or call Mimecast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from mimecast_siem.errors import PermanentError, TransientError
from mimecast_siem.events import Event


class SinkTransientError(TransientError):
    """The whole batch failed for a reason that may pass (connection reset, 503, timeout)."""


class SinkPermanentError(PermanentError):
    """The whole batch can never be delivered as configured (bad token, TLS refused, 4xx)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """One event the destination refused permanently, with the reason it gave."""

    event: Event
    reason: str


@dataclass(slots=True)
class SendResult:
    """Outcome of one ``send``: how many were accepted, and which were refused (to dead-letter)."""

    accepted: int
    rejected: list[Rejection] = field(default_factory=list)
    bytes_sent: int = 0
    #: False when the transport gives no delivery feedback (syslog over UDP): the accepted events
    #: were *sent*, not known delivered, and are counted as such (``events_sent_total``).
    confirmed: bool = True


@dataclass(frozen=True, slots=True)
class SinkHealth:
    ok: bool
    detail: str = ""


@runtime_checkable
class Sink(Protocol):
    """What the router talks to. Construct with ``SinkType(settings, context)``."""

    #: Options model for the type-specific keys of the sink's config block.
    options_model: ClassVar[type[BaseModel]]

    name: str

    async def start(self) -> None:
        """Open connections / files. May raise SinkTransientError (router retries) or SinkPermanentError."""

    async def healthcheck(self) -> SinkHealth:
        """Cheap liveness probe of the destination (HEC /health, TCP connect ...)."""

    async def send(self, events: Sequence[Event]) -> SendResult:
        """Deliver a batch; return only once durably accepted (see module docstring)."""

    async def close(self) -> None:
        """Flush and release resources. Idempotent."""


@dataclass(frozen=True, slots=True)
class SinkContext:
    """What a sink gets besides its settings: paths and identity, nothing of the collector."""

    data_dir: Any  # pathlib.Path
    instance_id: str
    version: str


def exact_size(data: bytes) -> bytes:
    """An exact-size copy of ``data`` - for an ``orjson.dumps`` result that a batch holds until delivered.

    orjson's result keeps its whole working buffer (4-32 KB whatever the length): a batch of ~2 KB
    records held ~8 KB of RSS each (peak RSS, issue 16). The copy costs ~0.3 us.
    """
    return bytes(memoryview(data))
