"""Progress of a backfill job: counters (pure), a progress bar per stream, log lines, a summary table.

:class:`JobProgress` holds a few counters per stream - never windows or events - so a job of any
length costs the same memory. Rates and ETAs are computed from it on demand:

* events/s = events delivered in this run / seconds since this run started;
* ETA = windows still pending / windows finished per second in this run (``None`` until the first
  window of this run finishes).

Displays:

* :class:`BarDisplay` - rich progress bars on a terminal (windows done / total, events, events/s, ETA);
* :class:`LogDisplay` - one plain log line per stream every ``interval`` seconds (not a terminal);
* :func:`summary_rows` / :func:`render_summary` - the final table (per stream: windows, events,
  duration, events/s, failures).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # rich is imported when bars or a table are drawn (start-up without a terminal: issue 16)
    from rich.console import Console
    from rich.progress import TaskID

log = logging.getLogger("mimecast_siem.collector")

SUMMARY_HEADER = ("STREAM", "WINDOWS", "EVENTS", "DEAD-LETTERED", "DURATION", "EVENTS/S", "FAILURES")


@dataclass(slots=True)
class StreamProgress:
    """Counters of one stream of a job.

    Attributes:
        stream: stream name.
        windows_total: windows of this stream in the job.
        windows_done: windows delivered so far (including earlier runs).
        done_at_start: windows that were already done when this run started.
        events: events delivered in this run (including the dead-lettered ones: the sinks took them
            off the pipeline, but into the dead-letter file, not the SIEM).
        dead_lettered: events of this run a sink refused permanently (in the dead-letter file).
        events_before: events delivered by earlier runs.
        failures: failed window attempts in this run (each was retried or failed the job).
        started: monotonic time this run started.
        finished: monotonic time the stream's last window finished in this run, if it did.
    """

    stream: str
    windows_total: int
    windows_done: int = 0
    done_at_start: int = 0
    events: int = 0
    events_before: int = 0
    dead_lettered: int = 0
    failures: int = 0
    started: float = 0.0
    finished: float | None = None

    @property
    def complete(self) -> bool:
        """True when every window of the stream is done."""
        return self.windows_done >= self.windows_total

    def elapsed(self, now: float) -> float:
        """Seconds this run has worked on the stream (frozen once it completed)."""
        end = self.finished if self.finished is not None else now
        return max(end - self.started, 0.0)

    def events_per_second(self, now: float) -> float:
        """Events delivered per second in this run."""
        elapsed = self.elapsed(now)
        return self.events / elapsed if elapsed > 0 else 0.0

    def eta(self, now: float) -> float | None:
        """Seconds until the stream is done at this run's pace; ``None`` while unknown, 0 when complete."""
        remaining = self.windows_total - self.windows_done
        if remaining <= 0:
            return 0.0
        done_now = self.windows_done - self.done_at_start
        elapsed = self.elapsed(now)
        if done_now <= 0 or elapsed <= 0:
            return None
        return remaining * elapsed / done_now


@dataclass(slots=True)
class JobProgress:
    """Counters of every stream of one backfill job (what the displays show).

    Args:
        job_id: the job.
        tenant: its tenant.
        clock: monotonic seconds (injected in tests).
    """

    job_id: int
    tenant: str
    clock: Callable[[], float] = time.monotonic
    streams: dict[str, StreamProgress] = field(default_factory=dict)

    def add_stream(self, stream: str, windows_total: int, windows_done: int, events_before: int) -> None:
        """Register a stream with what earlier runs already did."""
        self.streams[stream] = StreamProgress(
            stream=stream,
            windows_total=windows_total,
            windows_done=windows_done,
            done_at_start=windows_done,
            events_before=events_before,
            started=self.clock(),
            finished=self.clock() if windows_done >= windows_total else None,
        )

    def window_done(self, stream: str, events: int, dead_lettered: int = 0) -> None:
        """A window of ``stream`` was delivered and recorded (``dead_lettered`` of its events went to the dead letters)."""
        progress = self.streams[stream]
        progress.windows_done += 1
        progress.events += events
        progress.dead_lettered += dead_lettered
        if progress.complete and progress.finished is None:
            progress.finished = self.clock()

    def window_failed(self, stream: str) -> None:
        """An attempt at a window of ``stream`` failed."""
        self.streams[stream].failures += 1

    @property
    def windows_total(self) -> int:
        """Windows over all streams."""
        return sum(p.windows_total for p in self.streams.values())

    @property
    def windows_done(self) -> int:
        """Windows done over all streams (including earlier runs)."""
        return sum(p.windows_done for p in self.streams.values())

    @property
    def events(self) -> int:
        """Events delivered in this run over all streams."""
        return sum(p.events for p in self.streams.values())

    @property
    def dead_lettered(self) -> int:
        """Events of this run a sink refused permanently, over all streams."""
        return sum(p.dead_lettered for p in self.streams.values())


def format_seconds(seconds: float | None) -> str:
    """``1:02:03`` / ``2:03`` / ``0:05``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_rate(value: float) -> str:
    """Events per second: ``1,234`` (``12.5`` below 100)."""
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def progress_line(job: JobProgress, p: StreamProgress, now: float) -> str:
    """One sentence about one stream (the log display's line)."""
    return (
        f"Backfill job {job.job_id} of tenant {job.tenant}, stream {p.stream}: {p.windows_done}/{p.windows_total} "
        f"windows, {p.events:,} events in this run, {format_rate(p.events_per_second(now))} events/s, "
        f"ETA {format_seconds(p.eta(now))}."
    )


def summary_rows(job: JobProgress, now: float) -> list[tuple[str, ...]]:
    """The summary table's rows (header first): windows, events, dead-lettered, duration, events/s, failures."""
    rows: list[tuple[str, ...]] = [SUMMARY_HEADER]
    for p in job.streams.values():
        rows.append(
            (
                p.stream,
                f"{p.windows_done}/{p.windows_total}",
                f"{p.events:,}",
                f"{p.dead_lettered:,}",
                format_seconds(p.elapsed(now)),
                format_rate(p.events_per_second(now)),
                str(p.failures),
            )
        )
    return rows


def render_summary(job: JobProgress, out: IO[str], *, terminal: bool, now: float | None = None) -> None:
    """Write the summary table: a rich table on a terminal, aligned plain text otherwise."""
    rows = summary_rows(job, job.clock() if now is None else now)
    if terminal:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"Backfill job {job.job_id} ({job.tenant})", title_justify="left")
        for i, name in enumerate(rows[0]):
            table.add_column(name, justify="left" if i == 0 else "right")
        for row in rows[1:]:
            table.add_row(*row)
        Console(file=out, force_terminal=True).print(table)
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        out.write("  ".join(cells).rstrip() + "\n")
    out.flush()


class ProgressDisplay(Protocol):
    """Shows a job's progress while it runs."""

    def start(self, job: JobProgress) -> None:
        """Begin showing ``job``."""
        ...

    def update(self, job: JobProgress) -> None:
        """Counters changed."""
        ...

    async def close(self) -> None:
        """Stop showing (a final update is drawn)."""
        ...


class NoDisplay:
    """Shows nothing (daemon jobs log their windows; tests)."""

    def start(self, job: JobProgress) -> None:
        """Nothing to show."""

    def update(self, job: JobProgress) -> None:
        """Nothing to show."""

    async def close(self) -> None:
        """Nothing to stop."""


class BarDisplay:
    """A rich progress bar per stream: windows done / total, events, events/s, ETA.

    Args:
        console: where to draw (a terminal; tests pass ``Console(force_terminal=True, file=...)``).
    """

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console = console
        self._progress = Progress(
            TextColumn("[bold]{task.description}", justify="left"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("windows"),
            TextColumn("{task.fields[events]} events"),
            TextColumn("{task.fields[rate]} ev/s"),
            TextColumn("ETA {task.fields[eta]}"),
            console=console,
            auto_refresh=True,
            refresh_per_second=4,
            # Log lines written while the bars are up are printed above them.
            redirect_stderr=True,
            redirect_stdout=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def start(self, job: JobProgress) -> None:
        """Create one bar per stream and start drawing."""
        for p in job.streams.values():
            self._tasks[p.stream] = self._progress.add_task(
                p.stream, total=p.windows_total, completed=p.windows_done, events="0", rate="0", eta="-"
            )
        self._progress.start()
        self.update(job)

    def update(self, job: JobProgress) -> None:
        """Move the bars."""
        now = job.clock()
        for p in job.streams.values():
            task = self._tasks.get(p.stream)
            if task is None:
                continue
            self._progress.update(
                task,
                completed=p.windows_done,
                events=f"{p.events:,}",
                rate=format_rate(p.events_per_second(now)),
                eta=format_seconds(p.eta(now)),
            )

    async def close(self) -> None:
        """Draw the final state and stop."""
        self._progress.refresh()
        self._progress.stop()


class LogDisplay:
    """One plain log line per stream every ``interval`` seconds, and one at the end.

    Args:
        interval: seconds between reports.
        logger: where the lines go.
    """

    def __init__(self, interval: float = 10.0, logger: logging.Logger | None = None) -> None:
        self.interval = interval
        self.log = logger or log
        self._job: JobProgress | None = None
        self._timer: asyncio.Task[None] | None = None
        self._reported_complete: set[str] = set()

    def start(self, job: JobProgress) -> None:
        """Start the periodic report."""
        self._job = job
        self._timer = asyncio.get_running_loop().create_task(self._report_periodically(), name="backfill-progress")

    def update(self, job: JobProgress) -> None:
        """Counters are read at the next report."""
        self._job = job

    async def close(self) -> None:
        """Stop the timer and write the last report (every stream)."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        self.report(final=True)

    def report(self, *, final: bool = False) -> None:
        """Log one line per stream now; a completed stream is reported once (and in the final report)."""
        job = self._job
        if job is None:
            return
        now = job.clock()
        for p in job.streams.values():
            if p.complete and p.stream in self._reported_complete and not final:
                continue
            if p.complete:
                self._reported_complete.add(p.stream)
            self.log.info(
                "%s",
                progress_line(job, p, now),
                extra={
                    "job_id": job.job_id,
                    "tenant": job.tenant,
                    "stream": p.stream,
                    "windows_done": p.windows_done,
                    "windows_total": p.windows_total,
                    "events": p.events,
                },
            )

    async def _report_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.report()


def choose_display(mode: str, stream: IO[str], *, interval: float = 10.0) -> tuple[ProgressDisplay, bool]:
    """The display for ``--progress`` (``auto`` | ``bar`` | ``log`` | ``none``) writing to ``stream``.

    Returns:
        The display and whether output is a terminal (the summary is drawn as a rich table then).
    """
    terminal = mode == "bar" or (mode == "auto" and _isatty(stream))
    if mode == "none":
        return NoDisplay(), False
    if terminal:
        from rich.console import Console

        return BarDisplay(Console(file=stream, force_terminal=True)), True
    return LogDisplay(interval), False


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
