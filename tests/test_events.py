"""The shared kernel between collector and sinks: stable ids and address canonicalisation."""

from __future__ import annotations

import pytest

from mimecast_siem.events import canonical_ip, stable_event_id


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
