"""Progress of a backfill job: counters, rates and ETAs (pure), bars, log lines and the summary table."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from mimecast_siem.collector.backfill.progress import (
    BarDisplay,
    JobProgress,
    LogDisplay,
    NoDisplay,
    choose_display,
    format_rate,
    format_seconds,
    render_summary,
    summary_rows,
)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def job_with(ticks: Ticks) -> JobProgress:
    job = JobProgress(7, "acme", clock=ticks)
    job.add_stream("ttp-url", windows_total=10, windows_done=2, events_before=500)
    job.add_stream("audit", windows_total=4, windows_done=4, events_before=40)
    return job


def test_rates_and_eta_count_this_run_only() -> None:
    ticks = Ticks()
    job = job_with(ticks)
    url = job.streams["ttp-url"]
    assert url.eta(ticks.now) is None  # nothing finished in this run yet
    ticks.now += 10
    job.window_done("ttp-url", 300)
    job.window_done("ttp-url", 200)
    assert url.windows_done == 4
    assert url.events == 500
    assert url.events_per_second(ticks.now) == pytest.approx(50.0)
    # 2 windows in 10 s; 6 left -> 30 s.
    assert url.eta(ticks.now) == pytest.approx(30.0)
    assert job.windows_done == 8
    assert job.windows_total == 14
    assert job.events == 500
    # A stream done before this run started is complete with no time spent.
    audit = job.streams["audit"]
    assert audit.complete
    assert audit.eta(ticks.now) == 0.0
    assert audit.elapsed(ticks.now) == 0.0


def test_duration_and_rate_freeze_when_a_stream_completes() -> None:
    ticks = Ticks()
    job = JobProgress(1, "acme", clock=ticks)
    job.add_stream("ttp-url", windows_total=2, windows_done=0, events_before=0)
    ticks.now += 4
    job.window_done("ttp-url", 100)
    job.window_done("ttp-url", 100)
    ticks.now += 100
    p = job.streams["ttp-url"]
    assert p.elapsed(ticks.now) == pytest.approx(4.0)
    assert p.events_per_second(ticks.now) == pytest.approx(50.0)


def test_failures_are_counted_per_stream() -> None:
    job = job_with(Ticks())
    job.window_failed("ttp-url")
    job.window_failed("ttp-url")
    assert job.streams["ttp-url"].failures == 2
    assert job.streams["audit"].failures == 0


@given(st.floats(min_value=0, max_value=10**7, allow_nan=False))
def test_format_seconds_reads_back(seconds: float) -> None:
    text = format_seconds(seconds)
    parts = [int(p) for p in text.split(":")]
    total = parts[0] * 3600 + parts[1] * 60 + parts[2] if len(parts) == 3 else parts[0] * 60 + parts[1]
    assert total == round(seconds)


def test_formats() -> None:
    assert format_seconds(None) == "-"
    assert format_seconds(65) == "1:05"
    assert format_seconds(3725) == "1:02:05"
    assert format_rate(12.345) == "12.3"
    assert format_rate(12345.6) == "12,346"


def test_summary_rows_and_plain_table() -> None:
    ticks = Ticks()
    job = job_with(ticks)
    ticks.now += 20
    job.window_done("ttp-url", 1000, 1200)
    job.window_failed("ttp-url")
    rows = summary_rows(job, ticks.now)
    assert rows[0] == ("STREAM", "WINDOWS", "EVENTS", "DEAD-LETTERED", "DURATION", "EVENTS/S", "FAILURES")
    assert rows[1] == ("ttp-url", "3/10", "1,000", "1,200", "0:20", "50.0", "1")
    assert rows[2] == ("audit", "4/4", "0", "0", "0:00", "0.0", "0")
    assert job.dead_lettered == 1200
    out = io.StringIO()
    render_summary(job, out, terminal=False, now=ticks.now)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == list(rows[0])
    assert lines[1].split() == list(rows[1])
    assert "\x1b[" not in out.getvalue()


def test_summary_as_a_rich_table_on_a_terminal() -> None:
    ticks = Ticks()
    job = job_with(ticks)
    out = io.StringIO()
    render_summary(job, out, terminal=True, now=ticks.now)
    text = out.getvalue()
    assert "Backfill job 7 (acme)" in text
    assert "┏" in text
    assert "ttp-url" in text
    assert "2/10" in text


async def test_log_display_writes_a_line_per_stream_periodically(caplog: pytest.LogCaptureFixture) -> None:
    ticks = Ticks()
    job = job_with(ticks)
    display = LogDisplay(interval=0.05)
    with caplog.at_level(logging.INFO, logger="mimecast_siem.collector"):
        display.start(job)
        await asyncio.sleep(0.3)
        ticks.now += 5
        job.window_done("ttp-url", 250)
        display.update(job)
        await display.close()
    lines = [r.getMessage() for r in caplog.records]
    url = [line for line in lines if "stream ttp-url" in line]
    audit = [line for line in lines if "stream audit" in line]
    assert len(url) >= 3  # periodic, not only at the end
    assert (
        url[0]
        == "Backfill job 7 of tenant acme, stream ttp-url: 2/10 windows, 0 events in this run, 0.0 events/s, ETA -."
    )
    assert url[-1] == (
        "Backfill job 7 of tenant acme, stream ttp-url: 3/10 windows, 250 events in this run, 50.0 events/s, ETA 0:35."
    )
    # A finished stream is reported once while the job runs, and again in the final report.
    assert len(audit) == 2
    record = next(r for r in caplog.records if "stream ttp-url" in r.getMessage())
    assert record.__dict__["windows_total"] == 10


async def test_bar_display_draws_a_bar_per_stream() -> None:
    ticks = Ticks()
    job = job_with(ticks)
    out = io.StringIO()
    display = BarDisplay(Console(file=out, force_terminal=True, width=120))
    display.start(job)
    ticks.now += 10
    job.window_done("ttp-url", 4321)
    display.update(job)
    await display.close()
    text = out.getvalue()
    assert "ttp-url" in text
    assert "audit" in text
    assert "3/10" in text
    assert "4/4" in text
    assert "4,321 events" in text
    assert "432 ev/s" in text
    assert "ETA 1:10" in text  # 7 windows left at one per 10 s


def test_choose_display() -> None:
    display, terminal = choose_display("auto", io.StringIO())
    assert isinstance(display, LogDisplay)
    assert not terminal
    display, terminal = choose_display("bar", io.StringIO())
    assert isinstance(display, BarDisplay)
    assert terminal
    display, terminal = choose_display("none", io.StringIO())
    assert isinstance(display, NoDisplay)
    assert not terminal
