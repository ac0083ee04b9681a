"""The shared kernel between collector and sinks: stable ids and address canonicalisation."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.events import Event, canonical_ip, stable_event_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" 10.0.0.1 ", "10.0.0.1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("10.0.0.256", None),
        ("IP: 8.8.8.8", None),
        ("", None),
    ],
)
def test_canonical_ip(text: str, expected: str | None) -> None:
    assert canonical_ip(text) == expected


def test_stable_event_id_depends_on_stream_and_fields_only() -> None:
    first = stable_event_id("ttp-url", "2026-11-25T10:00:00+0000", "https://a.test/")
    assert first == stable_event_id("ttp-url", "2026-11-25T10:00:00+0000", "https://a.test/")
    assert first != stable_event_id("ttp-attachment", "2026-11-25T10:00:00+0000", "https://a.test/")
    assert first != stable_event_id("ttp-url", "2026-11-25T10:00:01+0000", "https://a.test/")
    assert len(first) == 32


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(stream=st.text(max_size=20), parts=st.lists(_json, max_size=9))
def test_stable_event_id_is_the_sha256_of_the_stream_and_each_values_json(stream: str, parts: list[object]) -> None:
    # The definition the ids persisted in state stores and SIEMs were made with: it must never change.
    digest = hashlib.sha256(stream.encode())
    for part in parts:
        digest.update(b"\x1f")
        digest.update(orjson.dumps(part, option=orjson.OPT_SORT_KEYS))
    assert stable_event_id(stream, *parts) == digest.hexdigest()[:32]


def test_stable_event_id_of_a_known_record_is_pinned() -> None:
    parts = ("2026-11-25T10:00:00+0000", "<m@x>", "u@x.example", None, "https://x.example/", "User Click", "allow")
    assert stable_event_id("ttp-url", *parts) == _piecewise("ttp-url", *parts)
    assert stable_event_id("ttp-url", *parts) == "be46eeded1903856f32163c6d7b85abe"


def _piecewise(stream: str, *parts: object) -> str:
    digest = hashlib.sha256(stream.encode())
    for part in parts:
        digest.update(b"\x1f" + orjson.dumps(part, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()[:32]


def test_an_event_is_frozen_and_built_like_its_fields_say() -> None:
    when = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    event = Event("id", "acme", "ttp-url", when, {"a": 1}, {"b": 2})
    assert (event.kind, event.extra) == ("log", {})
    assert Event("id", "acme", "ttp-url", when, {}, {}).extra is not Event("id", "acme", "ttp-url", when, {}, {}).extra
    full = Event(
        event_id="id", tenant="acme", stream="s", timestamp=when, document={}, raw={}, kind="gauge", extra={"x": 1}
    )
    assert (full.kind, full.extra) == ("gauge", {"x": 1})
    assert event == Event("id", "acme", "ttp-url", when, {"a": 1}, {"b": 2})
    assert dataclasses.replace(event, kind="snapshot").kind == "snapshot"
    assert pickle.loads(pickle.dumps(event)) == event
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.tenant = "other"  # type: ignore[misc]
