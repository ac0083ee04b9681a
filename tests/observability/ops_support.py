"""Helpers of the operations tests: HTTP probes of a daemon, Prometheus text parsing, a private PostgreSQL.

The private PostgreSQL server is for tests that stop and restart it (readiness during an outage);
the session server of ``tests/fixtures/postgres.py`` is shared and must stay up.
"""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.postgres import (
    PostgresServer,
    _run_as,
    _server_user,
    _start,
    _stop,
    find_postgres_bin,
)


def http_get(url: str, timeout: float = 10.0, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``url``: ``(status, body)``; HTTP errors are answers too."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_json(url: str, timeout: float = 10.0) -> tuple[int, Any]:
    status, body = http_get(url, timeout)
    return status, orjson.loads(body)


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, *, alive: Callable[[], bool] | None = None
) -> None:
    """Poll ``condition`` every 0.2 s; fail after ``timeout`` or as soon as ``alive()`` turns false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if alive is not None and not alive():
            raise AssertionError(f"the process died while waiting for {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass(frozen=True)
class Sample:
    """One Prometheus sample: full name (with ``_total``, ``_bucket`` ...), labels, value."""

    name: str
    labels: dict[str, str]
    value: float


def parse_samples(text: str) -> list[Sample]:
    """Every sample of a ``/metrics`` answer."""
    return [
        Sample(s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


class Scrape:
    """A parsed ``/metrics`` answer with lookups by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = parse_samples(text)

    def names(self) -> set[str]:
        return {s.name for s in self.samples}

    def select(self, name: str, **labels: str) -> list[Sample]:
        return [s for s in self.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the matching samples (0 when none: a counter never incremented is absent)."""
        return sum(s.value for s in self.select(name, **labels))

    def one(self, name: str, **labels: str) -> float:
        """The value of exactly one matching sample."""
        found = self.select(name, **labels)
        assert len(found) == 1, f"expected one {name}{labels}, found {found}"
        return found[0].value


# --- a private PostgreSQL server that tests may stop and start ------------------------------------


@dataclass
class PrivatePostgres:
    server: PostgresServer
    user: str | None
    bin_dir: Any

    def url(self, database: str = "postgres") -> str:
        return self.server.url(database)

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: connections are cut, new ones refused."""
        done = _run_as(
            self.user,
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.server.data_dir), "-m", "fast", "-w", "-t", "30", "stop"],
            timeout=40,
        )
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        """Start the stopped server again on the same port and data directory."""
        options = (
            f"-p {self.server.port} -k {self.server.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c TimeZone=UTC"
        )
        log = self.server.data_dir.parent / "server.log"
        done = _run_as(
            self.user,
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.server.data_dir), "-o", options, "-l", str(log), "-w",
             "-t", "60", "start"],
            timeout=70,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr + (log.read_text()[-2000:] if log.exists() else "")


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of its own (initdb, start; stopped and removed at exit)."""
    bin_dir = find_postgres_bin()
    user = _server_user()
    server = _start(bin_dir, user)
    try:
        yield PrivatePostgres(server, user, bin_dir)
    finally:
        _stop(bin_dir, user, server)
