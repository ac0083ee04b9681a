"""What a sink already delivered of a batch, kept across the router's retries of that same batch.

The router re-sends a batch after a transient failure. A sink that sends a batch in several requests
(elasticsearch, hec, sentinel, kafka, s3) remembers which records went through and which events it
refused, so the retry sends only the rest and an event is never counted twice::

    key, progress = self._progress.take(events)
    try:
        ...  # send what is not in progress.done, add to it as requests succeed
    except SinkTransientError:
        self._progress.keep(key, progress)
        raise
    return progress.result(events)
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from mimecast_siem.events import Event
from mimecast_siem.sinks.base import Rejection, SendResult

#: How many interrupted batches a sink remembers (the router retries one batch at a time per sink).
PROGRESS_MEMORY = 256

K = TypeVar("K", bound=Hashable)


@dataclass(slots=True)
class BatchProgress(Generic[K]):
    """The part of one batch the destination took: ``done`` records (by the sink's own key) and refusals."""

    done: set[K] = field(default_factory=set)
    rejected: dict[int, str] = field(default_factory=dict)  # event index -> reason
    bytes_sent: int = 0

    def result(self, events: Sequence[Event]) -> SendResult:
        """The send's result: every event not refused is accepted."""
        rejections = [Rejection(events[i], reason) for i, reason in sorted(self.rejected.items())]
        return SendResult(accepted=len(events) - len(rejections), rejected=rejections, bytes_sent=self.bytes_sent)


def batch_key(events: Sequence[Event]) -> str:
    """The identity of a batch: its event ids in order and their count."""
    digest = hashlib.sha256()
    for event in events:
        digest.update(event.event_id.encode())
        digest.update(b"\x1f")
    digest.update(str(len(events)).encode())
    return digest.hexdigest()


class ProgressMemory(Generic[K]):
    """The progress of the last ``size`` interrupted batches, by batch key (oldest forgotten first)."""

    def __init__(self, size: int = PROGRESS_MEMORY) -> None:
        self._size = size
        self._kept: OrderedDict[str, BatchProgress[K]] = OrderedDict()

    def take(self, events: Sequence[Event]) -> tuple[str, BatchProgress[K]]:
        """The batch's key and what an earlier attempt delivered of it (forgotten here until kept again)."""
        key = batch_key(events)
        return key, self._kept.pop(key, None) or BatchProgress()

    def keep(self, key: str, progress: BatchProgress[K]) -> None:
        """Remember an interrupted attempt for the router's retry of the same batch."""
        self._kept[key] = progress
        while len(self._kept) > self._size:
            self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)
