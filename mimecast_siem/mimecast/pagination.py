"""The pagination decision as a small state machine, with no I/O.

A walk sends page 1 without a token, then each following page with ``meta.pagination.pageToken`` set
to the previous answer's ``next``. It stops when ``next`` is missing **or** the page has no records -
the Elastic-mock quirk puts ``next`` on the final empty page (mimecast-api.md section 2.2, quirk 6).
A token that comes back a second time would loop forever, so it raises
:class:`PaginationLoopError` naming the endpoint. Each walk owns its cursor, so a token can never
leak into another walk or window (Elastic PR #12770).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from mimecast_siem.errors import PermanentError

#: Most pages one walk follows (10 million records at 500 a page). Distinct tokens that never end
#: would otherwise keep a walk - and the memory of its window - growing forever.
MAX_PAGES_PER_WALK = 20_000


class PaginationLoopError(PermanentError):
    """Mimecast handed back a page token already used in this walk; following it would never end."""


class PaginationLimitError(PermanentError):
    """Mimecast kept handing out new page tokens past :data:`MAX_PAGES_PER_WALK` pages in one walk."""


class StopReason(StrEnum):
    """Why a walk ended."""

    NO_NEXT = "no_next"  # the answer carried no next token
    EMPTY_PAGE = "empty_page"  # the answer had no records (even if it carried a next token)
    REPEATED_TOKEN = "repeated_token"  # noqa: S105 - the answer's next token was already used (walk abandoned)
    PAGE_LIMIT = "page_limit"  # the walk reached max_pages with a next token still coming (walk abandoned)


@dataclass(slots=True)
class PageCursor:
    """Where one pagination walk stands.

    Use: ``token`` is what the next request sends (``None`` for the first page); after each answer
    call :meth:`advance`; stop when :attr:`finished` is true.

    Attributes:
        endpoint: the path being walked (named in errors).
        token: the page token to send with the next request.
        pages: answers seen so far.
        stop_reason: set once the walk is finished.
        max_pages: most answers followed; one more ``next`` raises :class:`PaginationLimitError`.
    """

    endpoint: str
    token: str | None = None
    pages: int = 0
    stop_reason: StopReason | None = None
    max_pages: int = MAX_PAGES_PER_WALK
    # Digests of every token sent, not the tokens: bounded size whatever the server sends.
    _sent: set[bytes] = field(default_factory=set, repr=False)

    @property
    def finished(self) -> bool:
        return self.stop_reason is not None

    def advance(self, next_token: str | None, record_count: int) -> None:
        """Record the answer to the request that sent :attr:`token`.

        Args:
            next_token: the answer's ``meta.pagination.next`` (``None`` or ``""`` when absent).
            record_count: how many records the answer held.

        Raises:
            RuntimeError: called after the walk finished (a programming error).
            PaginationLoopError: ``next_token`` was already sent in this walk.
            PaginationLimitError: ``next_token`` would start page ``max_pages + 1``.
        """
        if self.finished:
            raise RuntimeError(f"pagination walk of {self.endpoint} already finished ({self.stop_reason})")
        if self.token is not None:
            self._sent.add(_digest(self.token))
        self.pages += 1
        if not next_token:
            self.stop_reason = StopReason.NO_NEXT
            self.token = None
            return
        if record_count == 0:
            self.stop_reason = StopReason.EMPTY_PAGE
            self.token = None
            return
        if next_token == self.token or _digest(next_token) in self._sent:
            self.token = None
            self.stop_reason = StopReason.REPEATED_TOKEN
            raise PaginationLoopError(
                f"Mimecast returned a page token for {self.endpoint} that was already used in this walk "
                f"(after page {self.pages}); stopping instead of looping forever",
                endpoint=self.endpoint,
            )
        if self.pages >= self.max_pages:
            self.token = None
            self.stop_reason = StopReason.PAGE_LIMIT
            raise PaginationLimitError(
                f"Mimecast kept paginating {self.endpoint} past {self.max_pages} pages in one walk; stopping "
                "instead of following page tokens forever. If the data is genuine, ask for a shorter time "
                "range (streams.<name>.max_window) or a larger page_size",
                endpoint=self.endpoint,
            )
        self.token = next_token


def _digest(token: str) -> bytes:
    return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()
