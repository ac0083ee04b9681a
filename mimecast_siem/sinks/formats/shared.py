"""Encoding shared between the sinks of one delivery: each event is encoded once per encoder.

:func:`~mimecast_siem.sinks.formats.get_encoder` returns one encoder instance per distinct
configuration (format and options), so sinks configured alike hold the same encoder. When the router
delivers one set of events to two or more such sinks, it opens a :func:`sharing` scope around the
delivery; inside it :func:`encode_event` encodes an event once per encoder and hands the same records
to every sink, and :func:`record_json` serialises a JSON record once and hands the same bytes to every
sink that writes it as compact JSON.

Shared records are read-only: a sink (or transport) never mutates a record, a record's nested values,
or the event it came from - every built-in sink builds its own envelope around the record instead
(``tests/sinks``: the contract suite checks it for every sink type).

The scope lives in a context variable: the router sets it before it starts the per-sink tasks (each
task copies the context), so only the sinks of that one ``deliver`` call see it, and it disappears
with them. Outside a scope (one sink, a queue's drainer, tests) both functions encode every time.
Keys are object identities: the events of a delivery (and the records kept here) stay alive while the
scope exists, so an identity is never reused within it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats.base import Encoder, Record

_SCOPE: ContextVar[dict[Any, Any] | None] = ContextVar("mimecast_siem_shared_encoding", default=None)


@contextmanager
def sharing() -> Iterator[None]:
    """Share encoded records and JSON bytes among the tasks started inside this block."""
    token = _SCOPE.set({})
    try:
        yield
    finally:
        _SCOPE.reset(token)


def encode_event(encoder: Encoder, event: Event) -> list[Record]:
    """``encoder.encode(event)``, computed once per encoder and event inside a :func:`sharing` scope.

    The list and its records are shared: read them, never change them. An encoder that raises is
    asked again by the next sink (and raises again: encoders are pure).
    """
    memo = _SCOPE.get()
    if memo is None:
        return encoder.encode(event)
    key = (id(encoder), id(event))
    records: list[Record] | None = memo.get(key)
    if records is None:
        records = memo[key] = encoder.encode(event)
    return records


def record_json(record: dict[str, Any]) -> bytes:
    """Compact JSON of a record (``default=str``; keys that are not strings only when needed).

    Inside a :func:`sharing` scope the bytes are computed once per record and shared, as an exact-size
    copy: orjson's result keeps its 4-32 KB working buffer, which a delivery holding hundreds of
    records must not.
    """
    memo = _SCOPE.get()
    if memo is None:
        return _dumps(record)
    key = id(record)
    hit = memo.get(key)
    if hit is None:
        # The record is kept with its bytes so that its identity cannot be reused within the scope.
        hit = memo[key] = (record, bytes(memoryview(_dumps(record))))
    data: bytes = hit[1]
    return data


def _dumps(record: dict[str, Any]) -> bytes:
    try:
        # Documents have string keys; OPT_NON_STR_KEYS makes orjson markedly slower, so it is only
        # the fallback for the odd record that needs it (the output is the same for string keys).
        return orjson.dumps(record, default=str)
    except TypeError:
        return orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS)


def record_value(record: Record) -> Any:
    """What an envelope (HEC, Sentinel) embeds for ``record``: the record itself, or inside a
    :func:`sharing` scope its shared JSON bytes as an ``orjson.Fragment`` (the same output)."""
    if isinstance(record, str) or _SCOPE.get() is None:
        return record
    return orjson.Fragment(record_json(record))
