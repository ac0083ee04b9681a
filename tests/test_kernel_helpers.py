"""The one copy of each small shared helper: did_you_mean, is_loopback, within_depth."""

from __future__ import annotations

import pytest

from mimecast_siem.errors import did_you_mean
from mimecast_siem.events import within_depth
from mimecast_siem.net import is_loopback


def test_did_you_mean_suggests_the_closest_choice() -> None:
    assert did_you_mean("ttp-ulr", ["ttp-url", "audit"]) == "; did you mean 'ttp-url'?"
    assert did_you_mean("TTP_URL", ["ttp-url", "audit"]) == "; did you mean 'ttp-url'?"
    assert did_you_mean("zzz", ["ttp-url", "audit"]) == ""


@pytest.mark.parametrize(("host", "expected"), [("localhost", True), ("127.0.0.1", True), ("::1", True),
                                                ("10.0.0.5", False), ("example.com", False), ("", False), (None, False)])  # fmt: skip
def test_is_loopback(host: str | None, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_within_depth_counts_nesting_without_recursion() -> None:
    deep: list[object] = []
    for _ in range(100):
        deep = [deep]
    assert within_depth({"a": [1, {"b": 2}]}, 3)
    assert not within_depth({"a": [1, {"b": [2]}]}, 3)
    assert within_depth(deep, 101)
    assert not within_depth(deep, 64)
    assert within_depth("scalar", 0)
