"""Page tokens: opaque, signed, bound to stream, app and filters."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mimecast_siem.simulator.pagetoken import PageCursor, PageTokenCodec, PageTokenError, filter_digest

CODEC = PageTokenCodec(b"k" * 32)


def _cursor(**changes: object) -> PageCursor:
    values: dict[str, object] = {
        "stream": "ttp-url", "client_id": "c1", "digest": filter_digest({"from": "x"}), "lo": 10, "hi": 20,
        "cutoff": 21.5, "descending": True, "after": (15, 7),
    }  # fmt: skip
    values.update(changes)
    return PageCursor(**values)  # type: ignore[arg-type]


@given(
    lo=st.integers(0, 2**40), span=st.integers(0, 2**30), after_uid=st.integers(0, 2**50), descending=st.booleans(),
    has_after=st.booleans(),
)  # fmt: skip
def test_round_trip(lo: int, span: int, after_uid: int, descending: bool, has_after: bool) -> None:
    cursor = _cursor(lo=lo, hi=lo + span, descending=descending, after=(lo, after_uid) if has_after else None)
    token = CODEC.encode(cursor)
    assert CODEC.decode(token, stream="ttp-url", client_id="c1", digest=cursor.digest) == cursor


def test_filter_digest_ignores_key_order() -> None:
    assert filter_digest({"a": 1, "b": [1, 2]}) == filter_digest({"b": [1, 2], "a": 1})
    assert filter_digest({"a": 1}) != filter_digest({"a": 2})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stream": "audit"}, "another endpoint"),
        ({"client_id": "c2"}, "another application"),
        ({"digest": filter_digest({"from": "y"})}, "different filters"),
    ],
)
def test_token_is_bound(kwargs: dict[str, str], message: str) -> None:
    cursor = _cursor()
    token = CODEC.encode(cursor)
    expected = {"stream": "ttp-url", "client_id": "c1", "digest": cursor.digest, **kwargs}
    with pytest.raises(PageTokenError, match=message):
        CODEC.decode(token, **expected)


@pytest.mark.parametrize("token", ["", "!!!", "abc", 42, None, "x" * 5000])
def test_garbage_is_refused(token: object) -> None:
    with pytest.raises(PageTokenError):
        CODEC.decode(token, stream="ttp-url", client_id="c1", digest="d")


def test_tampering_is_detected() -> None:
    cursor = _cursor()
    raw = bytearray(base64.urlsafe_b64decode(CODEC.encode(cursor) + "=="))
    raw[-3] ^= 1
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(PageTokenError):
        CODEC.decode(forged, stream="ttp-url", client_id="c1", digest=cursor.digest)
    other = PageTokenCodec(b"z" * 32).encode(cursor)
    with pytest.raises(PageTokenError):
        CODEC.decode(other, stream="ttp-url", client_id="c1", digest=cursor.digest)
