"""A sink whose answers are scripted, to drive the router through failures (router unit tests only)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from mimecast_siem.events import Event
from mimecast_siem.sinks.base import Rejection, SendResult, SinkHealth, SinkPermanentError, SinkTransientError


class ScriptedOptions(BaseModel):
    model_config = ConfigDict(extra="allow")


Step = str | Callable[[Sequence[Event]], SendResult]


class ScriptedSink:
    """Plays ``script`` one step per ``send``: "ok", "transient", "permanent", "bug", "slow", or a callable.

    After the script runs out every send succeeds. Accepted events are recorded in ``received``.
    """

    options_model: ClassVar[type[BaseModel]] = ScriptedOptions

    def __init__(self, name: str, script: Sequence[Step] = (), *, start_failures: int = 0) -> None:
        self.name = name
        self.script: deque[Step] = deque(script)
        self.received: list[Event] = []
        self.calls = 0
        self.batch_sizes: list[int] = []
        self.starts = 0
        self.start_failures = start_failures
        self.closed = False
        self.release = asyncio.Event()

    async def start(self) -> None:
        self.starts += 1
        if self.start_failures > 0:
            self.start_failures -= 1
            raise SinkTransientError(f"{self.name} is not reachable yet")

    async def healthcheck(self) -> SinkHealth:
        return SinkHealth(True, "scripted")

    async def send(self, events: Sequence[Event]) -> SendResult:
        self.calls += 1
        self.batch_sizes.append(len(events))
        step: Any = self.script.popleft() if self.script else "ok"
        if callable(step):
            result: SendResult = step(events)
            rejected = {id(r.event) for r in result.rejected}
            self.received.extend(e for e in events if id(e) not in rejected)
            return result
        if step == "transient":
            raise SinkTransientError(f"{self.name} is busy")
        if step == "permanent":
            raise SinkPermanentError(f"{self.name} refuses the token")
        if step == "bug":
            raise KeyError("a bug in a plugin")
        if step == "slow":
            await self.release.wait()
        self.received.extend(events)
        return SendResult(accepted=len(events), bytes_sent=100 * len(events))

    async def close(self) -> None:
        self.closed = True


def reject_every_other(events: Sequence[Event]) -> SendResult:
    """A scripted step refusing the odd-numbered events of a batch."""
    rejected = [Rejection(e, "HEC code 6: Invalid data format") for i, e in enumerate(events) if i % 2]
    return SendResult(accepted=len(events) - len(rejected), rejected=rejected)
