"""Structured logging: JSON lines and console format, per-task context, configuration errors."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from mimecast_siem.observability import (
    bind_context,
    clear_context,
    configure_logging,
    current_context,
    redactor,
    reset_logging,
    unbind_context,
)

log = logging.getLogger("mimecast_siem.tests")


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    redactor().clear()
    clear_context()
    yield
    reset_logging()
    root.setLevel(level)
    redactor().clear()
    clear_context()


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_json_line_has_the_documented_fields() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    before = datetime.now(UTC)
    log.info("Window delivered: %d events.", 42, extra={"sink": "splunk", "pages": 3})
    (line,) = json_lines(out)
    assert line["level"] == "info"
    assert line["logger"] == "mimecast_siem.tests"
    assert line["msg"] == "Window delivered: 42 events."
    assert line["sink"] == "splunk"
    assert line["pages"] == 3
    assert line["ts"].endswith("Z")
    ts = datetime.fromisoformat(line["ts"].replace("Z", "+00:00"))
    assert abs((ts - before).total_seconds()) < 60


def test_level_filters_lines() -> None:
    out = io.StringIO()
    configure_logging("WARNING", "json", stream=out)
    log.info("Not shown.")
    log.warning("Shown.")
    assert [line["msg"] for line in json_lines(out)] == ["Shown."]


def test_exception_is_one_field_of_one_line() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("Poll failed.")
    (line,) = json_lines(out)
    assert line["msg"] == "Poll failed."
    assert "Traceback (most recent call last)" in line["exc"]
    assert "RuntimeError: boom" in line["exc"]
    assert len(out.getvalue().splitlines()) == 1


def test_values_json_cannot_encode_become_text() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)

    class Window:
        def __str__(self) -> str:
            return "[10:00, 11:00)"

    when = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    log.info("Planned.", extra={"window": Window(), "at": when, "ids": {1, 2}})
    (line,) = json_lines(out)
    assert line["window"] == "[10:00, 11:00)"
    assert line["at"] == "2026-11-25T10:00:00+00:00"
    assert sorted(line["ids"]) == [1, 2]


def test_bad_format_arguments_do_not_lose_the_line() -> None:
    out = io.StringIO()
    handler = configure_logging("INFO", "json", stream=out)
    # Handed to our handler directly: pytest's own capture handler would raise on this record.
    record = log.makeRecord(log.name, logging.INFO, __file__, 1, "Expected %d things.", ("not-a-number",), None)
    handler.handle(record)
    (line,) = json_lines(out)
    assert "log arguments did not format" in line["msg"]


def test_console_format_for_people() -> None:
    out = io.StringIO()
    configure_logging("DEBUG", "console", stream=out)
    with bind_context(tenant="acme"):
        log.debug("Fetched a page.", extra={"records": 500, "note": "two words"})
    text = out.getvalue()
    assert " DEBUG " in text
    assert 'mimecast_siem.tests  Fetched a page.  tenant=acme records=500 note="two words"' in text
    assert "\x1b[" not in text  # no colour codes when not a terminal


def test_auto_format_is_json_off_a_terminal_and_console_on_one() -> None:
    out = io.StringIO()
    configure_logging("INFO", "auto", stream=out)
    log.info("To a pipe.")
    assert json_lines(out)[0]["msg"] == "To a pipe."

    primary, secondary = os.openpty()
    with os.fdopen(secondary, "w", encoding="utf-8", buffering=1) as tty:
        configure_logging("INFO", "auto", stream=tty)
        log.info("To a terminal.")
        tty.flush()
        text = os.read(primary, 4096).decode()
    os.close(primary)
    assert "To a terminal." in text
    assert not text.lstrip().startswith("{")
    assert "\x1b[" in text  # coloured level on a terminal


def test_configuring_again_replaces_our_handler_only() -> None:
    other = logging.StreamHandler(io.StringIO())
    root = logging.getLogger()
    root.addHandler(other)
    try:
        first, second = io.StringIO(), io.StringIO()
        configure_logging("INFO", "json", stream=first)
        configure_logging("INFO", "json", stream=second)
        log.info("Once.")
        assert first.getvalue() == ""
        assert len(json_lines(second)) == 1
        assert other in root.handlers
    finally:
        root.removeHandler(other)


@pytest.mark.parametrize(("level", "fmt", "message"), [("LOUD", "json", "log level"), ("INFO", "xml", "log format")])
def test_bad_level_or_format_is_refused_naming_the_allowed_values(level: str, fmt: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as exc:
        configure_logging(level, fmt, stream=io.StringIO())
    assert "DEBUG, INFO, WARNING, ERROR" in str(exc.value) or "auto, json, console" in str(exc.value)


# --- context ---------------------------------------------------------------------------------------


def test_bind_unbind_and_scoped_binding() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    bind_context(tenant="acme")
    with bind_context(stream="ttp-url"):
        log.info("Inside.")
        assert current_context() == {"tenant": "acme", "stream": "ttp-url"}
    log.info("After the block.")
    unbind_context("tenant")
    log.info("Unbound.")
    inside, after, unbound = json_lines(out)
    assert (inside["tenant"], inside["stream"]) == ("acme", "ttp-url")
    assert after["tenant"] == "acme"
    assert "stream" not in after
    assert "tenant" not in unbound


def test_explicit_extra_wins_over_bound_context() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    with bind_context(stream="ttp-url"):
        log.info("Override.", extra={"stream": "audit"})
        log.info("Reserved.", extra={"level_name": "x", "count": 1})
    first, second = json_lines(out)
    assert first["stream"] == "audit"
    assert second["stream"] == "ttp-url"
    assert second["level"] == "info"


async def test_context_is_per_asyncio_task() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    bind_context(run="r1")
    both_bound = asyncio.Event()
    ready = 0

    async def stream_task(tenant: str, stream: str) -> None:
        nonlocal ready
        bind_context(tenant=tenant, stream=stream)
        ready += 1
        if ready == 2:
            both_bound.set()
        await asyncio.wait_for(both_bound.wait(), timeout=10)
        log.info("Polled.")

    await asyncio.gather(stream_task("acme", "ttp-url"), stream_task("globex", "audit"))
    log.info("Supervisor line.")
    lines = json_lines(out)
    polled = sorted((line["tenant"], line["stream"], line["run"]) for line in lines if line["msg"] == "Polled.")
    assert polled == [("acme", "ttp-url", "r1"), ("globex", "audit", "r1")]
    supervisor = next(line for line in lines if line["msg"] == "Supervisor line.")
    assert "tenant" not in supervisor
    assert supervisor["run"] == "r1"


def test_default_stream_follows_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("INFO", "json")
    first.close()  # a harness closed the stderr it had when logging was configured
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    log.info("Still written.")
    assert json_lines(second)[0]["msg"] == "Still written."
