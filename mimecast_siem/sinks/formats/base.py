"""The encoder contract shared by every sink.

An encoder turns one :class:`~mimecast_siem.events.Event` into one or more *records*: a ``dict``
(a JSON object: formats ``json``, ``raw``, ``ocsf``) or a ``str`` (one line of text: ``cef``,
``leef``). OCSF may return two records for one event (the activity plus a Detection Finding).

Transports decide how a record travels: the file and stdout sinks write a dict as one JSON line and a
str as one line; syslog puts a str (or the compact JSON of a dict) in MSG; HEC puts either in the
envelope's ``event`` field.
"""

from __future__ import annotations

from typing import Any, Protocol

from mimecast_siem.events import Event

Record = dict[str, Any] | str


class Encoder(Protocol):
    """Stateless, pure: same event in, same records out."""

    name: str

    def encode(self, event: Event) -> list[Record]:
        """Return the records for ``event`` (at least one)."""
        ...
