"""Sink classes that registry tests point fake entry points at."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from mimecast_siem.events import Event
from mimecast_siem.sinks.base import SendResult, SinkHealth


class NarrowOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(min_length=1)
    api_key: SecretStr | None = None
    retries: int = Field(default=3, ge=0)


class NarrowSink:
    """A sink that can only carry JSON and has a secret option."""

    options_model: ClassVar[type[BaseModel]] = NarrowOptions
    formats: ClassVar[frozenset[str]] = frozenset({"json"})

    def __init__(self, settings: Any, context: Any) -> None:
        self.name = settings.name

    async def start(self) -> None:
        return None

    async def healthcheck(self) -> SinkHealth:
        return SinkHealth(True)

    async def send(self, events: Sequence[Event]) -> SendResult:
        return SendResult(accepted=len(events))

    async def close(self) -> None:
        return None


class ExplodingSink(NarrowSink):
    """A plugin whose constructor has a bug."""

    formats: ClassVar[frozenset[str]] = frozenset({"json", "raw", "cef", "leef", "ocsf"})

    def __init__(self, settings: Any, context: Any) -> None:
        raise RuntimeError("plugin bug")


NOT_A_SINK = object()
