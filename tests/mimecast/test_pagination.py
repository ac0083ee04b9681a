"""The pagination state machine (quirk 6: next on the final empty page; repeated tokens; no leaks)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.errors import PermanentError
from mimecast_siem.mimecast import PageCursor, PaginationLoopError
from mimecast_siem.mimecast.pagination import StopReason

ENDPOINT = "/api/ttp/url/get-logs"


def test_first_page_has_no_token_then_follows_next() -> None:
    cursor = PageCursor(ENDPOINT)
    assert cursor.token is None
    cursor.advance("t1", 500)
    assert cursor.token == "t1"
    cursor.advance("t2", 500)
    assert cursor.token == "t2"
    assert not cursor.finished
    cursor.advance(None, 3)
    assert cursor.finished
    assert cursor.stop_reason is StopReason.NO_NEXT
    assert cursor.pages == 3


def test_stops_on_empty_page_even_with_next() -> None:
    """The Elastic mock's final page: ``next`` present and ``data: []``."""
    cursor = PageCursor(ENDPOINT)
    cursor.advance("t1", 10)
    cursor.advance("String", 0)
    assert cursor.finished
    assert cursor.stop_reason is StopReason.EMPTY_PAGE
    assert cursor.token is None


@pytest.mark.parametrize("empty_next", [None, ""])
def test_missing_or_empty_next_stops(empty_next: str | None) -> None:
    cursor = PageCursor(ENDPOINT)
    cursor.advance(empty_next, 7)
    assert cursor.stop_reason is StopReason.NO_NEXT


def test_same_token_twice_in_a_row_raises_naming_the_endpoint() -> None:
    cursor = PageCursor(ENDPOINT)
    cursor.advance("t1", 5)
    with pytest.raises(PaginationLoopError) as info:
        cursor.advance("t1", 5)
    assert isinstance(info.value, PermanentError)
    assert ENDPOINT in str(info.value)
    assert info.value.endpoint == ENDPOINT
    assert cursor.finished


def test_token_cycle_raises() -> None:
    cursor = PageCursor(ENDPOINT)
    cursor.advance("a", 5)
    cursor.advance("b", 5)
    cursor.advance("c", 5)
    with pytest.raises(PaginationLoopError):
        cursor.advance("a", 5)


def test_advancing_a_finished_walk_is_a_programming_error() -> None:
    cursor = PageCursor(ENDPOINT)
    cursor.advance(None, 0)
    with pytest.raises(RuntimeError, match="already finished"):
        cursor.advance("x", 1)


def test_each_walk_starts_clean() -> None:
    first = PageCursor(ENDPOINT)
    first.advance("t1", 5)
    second = PageCursor(ENDPOINT)
    assert second.token is None
    second.advance("t1", 5)  # the same token in another walk is not a loop
    assert second.token == "t1"


# --- property: the walk over any server-side page sequence ------------------------------------

page = st.tuples(st.one_of(st.none(), st.text(alphabet="abcde", min_size=1, max_size=2)), st.integers(0, 3))


@settings(deadline=None)  # CI machines are shared; timing is not what these test
@given(st.lists(page, min_size=1, max_size=30))
def test_walk_follows_tokens_and_stops_exactly_where_it_should(pages: list[tuple[str | None, int]]) -> None:
    """Model: the server answers request i with pages[i]; compare the cursor with a direct reading of the rules."""
    cursor = PageCursor(ENDPOINT)
    sent: list[str | None] = []
    raised = False
    for next_token, count in pages:
        sent.append(cursor.token)
        try:
            cursor.advance(next_token, count)
        except PaginationLoopError:
            raised = True
            break
        if cursor.finished:
            break

    # Expected behaviour, derived independently from the rules.
    expected_tokens: list[str | None] = [None]
    expected_raise = False
    expected_requests = len(pages)  # the server's script may run out before the walk ends
    for i, (next_token, count) in enumerate(pages):
        if not next_token or count == 0:
            expected_requests = i + 1
            break
        if next_token in expected_tokens:
            expected_raise = True
            expected_requests = i + 1
            break
        expected_tokens.append(next_token)

    assert raised == expected_raise
    assert len(sent) == expected_requests
    assert sent == expected_tokens[: len(sent)]
    # Never sends a token twice, never sends a token after the walk ends.
    tokens = [t for t in sent if t is not None]
    assert len(tokens) == len(set(tokens))
    if cursor.finished:
        assert cursor.token is None
