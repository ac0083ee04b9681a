"""``mimecast-siem backfill``: re-pull a date range into the sinks; ``backfill list``; ``backfill cancel JOB_ID``.

Registered by ``collector/commands.py`` (it imports this module's :func:`register` when present)::

    mimecast-siem backfill --tenant acme --stream ttp-url --since 2026-10-01 --until 2026-11-01
    mimecast-siem backfill --tenant acme --all-streams --since 2026-10-01 --until 2026-11-01 --sink splunk --queue
    mimecast-siem backfill list [--tenant acme] [--status running]
    mimecast-siem backfill cancel 7

Every flag is checked (``backfill_plan.plan_backfill``) before the state store is opened or a
request is made; bad input exits 2. Re-running the same command resumes the same job (the job is
keyed by tenant, streams, range and sinks). Exit codes: 0 done (or cancelled, or queued), 1 the job
failed or could not run, 2 bad input, 3 done but some events were dead-lettered (a sink refused
them permanently: ``mimecast-siem dead-letters list``), 130 interrupted (the job is queued again;
re-run to continue).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mimecast_siem import __version__
from mimecast_siem.aio import wait_for
from mimecast_siem.checkpoints import (
    BackfillJob,
    BackfillJobBusy,
    BackfillJobNotFound,
    BackfillStatus,
    InvalidBackfillTransition,
    StateStore,
    StateStoreError,
)
from mimecast_siem.collector.backfill import BackfillOutcome, BackfillRunner, SinkSelection
from mimecast_siem.collector.backfill.plan import (
    BackfillInputError,
    BackfillPlan,
    BackfillRequest,
    backfillable_streams,
    plan_backfill,
    target_sinks,
)
from mimecast_siem.collector.backfill.progress import choose_display, format_seconds, render_summary
from mimecast_siem.collector.daemon import PortUnavailable
from mimecast_siem.config import (
    Settings,
    add_config_arguments,
    print_problems,
    settings_from_args,
)
from mimecast_siem.errors import ConfigError
from mimecast_siem.mimecast import MimecastClient
from mimecast_siem.observability.metrics import metrics
from mimecast_siem.sinks import Router, SinkContext, build_sinks
from mimecast_siem.sinks.deadletter_store import dead_letter_store
from mimecast_siem.times import format_duration, parse_duration

log = logging.getLogger("mimecast_siem.collector")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
#: The job ran to its end but a sink refused some events permanently (they are in the dead-letter file).
EXIT_DEAD_LETTERED = 3
EXIT_INTERRUPTED = 130

PROGRESS_MODES = ("auto", "bar", "log", "none")
#: How often a command waiting for another runner's job looks at it (seconds).
FOLLOW_POLL = 1.0

_EXAMPLES = """\
examples:
  mimecast-siem backfill --tenant acme --stream ttp-url --since 2026-10-01 --until 2026-11-01
  mimecast-siem backfill --tenant acme --all-streams --since 2026-10-01 --until 2026-11-01 --sink splunk
  mimecast-siem backfill --tenant acme --stream audit --since 2026-10-01 --until 2026-10-08 --queue
  mimecast-siem backfill list
  mimecast-siem backfill cancel 7

Re-running the same command (same tenant, streams, range and sinks) resumes the job: windows already
delivered are not sent again. Ctrl-C stops after the windows in flight and queues the job again.
"""


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``backfill`` (with its ``list`` and ``cancel`` actions) to ``sub``."""
    parser = sub.add_parser(
        "backfill",
        help="Re-pull a date range into the sinks (resumable); list or cancel backfill jobs.",
        description="Re-pull [--since, --until) of log streams through the daemon's data path into the sinks, "
        "window by window, resumable after a crash or Ctrl-C; the daemon's live checkpoints are never touched. "
        "'backfill list' shows jobs; 'backfill cancel JOB_ID' stops one.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser)
    parser.add_argument(
        "action",
        nargs="?",
        choices=("list", "cancel"),
        metavar="{list,cancel}",
        help="list: show backfill jobs; cancel JOB_ID: stop a job. Without an action: run a backfill.",
    )
    parser.add_argument("job_id", nargs="?", metavar="JOB_ID", help="The job to cancel (see 'backfill list').")
    run = parser.add_argument_group("run a backfill")
    run.add_argument("--tenant", help="Tenant name as configured (also filters 'backfill list').")
    run.add_argument(
        "--stream",
        action="append",
        default=[],
        dest="streams",
        metavar="STREAM",
        help=f"Log stream to re-pull (repeatable): {', '.join(backfillable_streams())}.",
    )
    run.add_argument(
        "--all-streams", action="store_true", help="Every enabled log stream of the tenant (snapshot/gauge skipped)."
    )
    run.add_argument("--since", metavar="TIME", help="Start, inclusive: 2026-10-01 or 2026-10-01T06:00:00Z (UTC).")
    run.add_argument("--until", metavar="TIME", help="End, exclusive; not in the future.")
    run.add_argument(
        "--sink",
        action="append",
        default=[],
        dest="sinks",
        metavar="NAME",
        help="Deliver to these sinks only (repeatable; of those the routes select). Default: the routes.",
    )
    run.add_argument(
        "--concurrency", type=int, default=None, metavar="N", help="Windows at once (default backfill.concurrency)."
    )
    run.add_argument("--window", default=None, metavar="DURATION", help="Window size (default backfill.window, 1h).")
    run.add_argument(
        "--queue",
        action="store_true",
        help="Create (or re-queue) the job and exit; a running daemon ('mimecast-siem run') picks it up.",
    )
    run.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default="auto",
        help="bar: progress bars; log: a log line per stream periodically; auto: bars on a terminal (default).",
    )
    run.add_argument(
        "--progress-interval",
        default="10s",
        metavar="DURATION",
        help="Seconds between progress log lines when not drawing bars (default 10s).",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="Serve /metrics (backfill_* and the rest) on server.host:PORT while the run lasts (0 = a free port).",
    )
    run.add_argument(
        "--metrics-file",
        default=None,
        metavar="PATH",
        help="Write the run's metrics there at the end (Prometheus text format, e.g. for node_exporter's textfile "
        "collector).",
    )
    listing = parser.add_argument_group("list")
    listing.add_argument(
        "--status", choices=[s.value for s in BackfillStatus], default=None, help="Only jobs with this status."
    )
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="At most N jobs, newest first (50).")
    listing.add_argument(
        "--output",
        "-o",
        choices=("text", "json"),
        default="text",
        help="'backfill list' output: text (a table) or json (a stable document, docs/operations.md).",
    )
    parser.set_defaults(handler=backfill_command)


async def backfill_command(args: argparse.Namespace) -> int:
    """Dispatch ``backfill`` / ``backfill list`` / ``backfill cancel``."""
    problem = _check_action_flags(args)
    if problem is not None:
        _err(f"error: {problem}")
        return EXIT_BAD_INPUT
    settings = settings_from_args(args)
    try:
        if args.action == "list":
            return await backfill_list(settings, args)
        if args.action == "cancel":
            return await backfill_cancel(settings, args.job_id)
        return await backfill_run(settings, args)
    except ConfigError as exc:
        print_problems(exc, sys.stderr)
        return EXIT_BAD_INPUT
    except StateStoreError as exc:
        _err(f"error: the state store is not usable: {exc}")
        return EXIT_FAILURE


def _check_action_flags(args: argparse.Namespace) -> str | None:
    """Flags that do not belong to the chosen action (before the configuration is even read)."""
    run_flags = {
        "--stream": bool(args.streams),
        "--all-streams": args.all_streams,
        "--since": args.since is not None,
        "--until": args.until is not None,
        "--sink": bool(args.sinks),
        "--concurrency": args.concurrency is not None,
        "--window": args.window is not None,
        "--queue": args.queue,
        "--metrics-port": args.metrics_port is not None,
        "--metrics-file": args.metrics_file is not None,
    }
    if args.action != "list" and args.output != "text":
        return "--output applies to 'backfill list' only"
    if args.action in ("list", "cancel"):
        given = [flag for flag, present in run_flags.items() if present]
        if given:
            return f"'backfill {args.action}' does not take {', '.join(given)}"
    if args.action == "cancel" and args.job_id is None:
        return "'backfill cancel' needs a JOB_ID (see 'mimecast-siem backfill list')"
    if args.action != "cancel" and args.job_id is not None:
        return f"unexpected argument {args.job_id!r}; only 'backfill cancel' takes a JOB_ID"
    if args.action is None and args.status is not None:
        return "--status filters 'backfill list'; it does not apply to a run"
    return None


# --- run -----------------------------------------------------------------------------------------


async def backfill_run(settings: Settings, args: argparse.Namespace) -> int:
    """``mimecast-siem backfill --tenant T --stream S ... --since X --until Y``."""
    if not args.tenant:
        _err("error: --tenant is required to run a backfill (configured tenants: "
             f"{', '.join(t.name for t in settings.tenants)})")  # fmt: skip
        return EXIT_BAD_INPUT
    try:
        interval = parse_duration(args.progress_interval).total_seconds()
    except ValueError:
        _err(f"error: --progress-interval {args.progress_interval!r} is not a duration; use e.g. 10s, 1m")
        return EXIT_BAD_INPUT
    request = BackfillRequest(
        tenant=args.tenant,
        streams=tuple(args.streams),
        all_streams=bool(args.all_streams),
        since=args.since or "",
        until=args.until or "",
        sinks=tuple(args.sinks),
        concurrency=args.concurrency,
        window=args.window,
    )
    try:
        plan = plan_backfill(settings, request, datetime.now(UTC))
    except BackfillInputError as exc:
        count = len(exc.problems)
        _err(f"error: the backfill request has {count} problem{'s' if count != 1 else ''}:")
        for problem in exc.problems:
            _err(f"  - {problem}")
        return EXIT_BAD_INPUT
    for note in plan.notes:
        _err(f"note: {note}")
    async with await StateStore.open(settings.state_url()) as store:
        try:
            job = await store.create_backfill_job(
                plan.tenant, plan.streams, plan.since, plan.until, plan.window, plan.sinks
            )
        except ValueError as exc:
            _err(f"error: {exc}")
            return EXIT_BAD_INPUT
        if job.window != plan.window:
            _err(
                f"note: backfill job {job.id} was created with {format_duration(job.window)} windows; resuming it "
                f"with those (not {format_duration(plan.window)})."
            )
        if job.status is BackfillStatus.DONE:
            _out(
                f"Backfill job {job.id} is already done: {job.windows_done} windows, {job.events:,} events. Nothing "
                "was sent again (to deliver the range again, change the range or the sinks)."
            )
            return EXIT_OK
        if args.queue:
            if job.status is BackfillStatus.RUNNING:
                _out(
                    f"Backfill job {job.id} is already running ({job.owner or 'another runner'}; {job.windows_done} of "
                    f"{job.windows_total} windows done). Follow it with 'mimecast-siem backfill list'."
                )
            else:
                _out(
                    f"Backfill job {job.id} is queued ({job.windows_done} of {job.windows_total} windows done); a "
                    "running daemon ('mimecast-siem run') picks it up. Follow it with 'mimecast-siem backfill list'."
                )
            return EXIT_OK
        foreground = Foreground(settings, store, plan, job, progress=args.progress, interval=interval)
        with serve_metrics(settings.server.host, args.metrics_port) as bound:
            if bound is not None:
                _err(f"Serving this backfill's metrics on http://{settings.server.host}:{bound}/metrics.")
            try:
                return await foreground.run()
            finally:
                if args.metrics_file:
                    write_metrics_file(Path(args.metrics_file))


@contextlib.contextmanager
def serve_metrics(host: str, port: int | None) -> Iterator[int | None]:
    """Serve the process metrics on ``host:port`` in a thread while the block runs; yield the bound port.

    Raises:
        PortUnavailable: the port cannot be bound (one line and exit 2 from the CLI).
    """
    if port is None:
        yield None
        return
    from prometheus_client import start_http_server

    try:
        server, thread = start_http_server(port, addr=host, registry=metrics().registry)
    except OSError as exc:
        raise PortUnavailable(host, port, exc, key="--metrics-port") from None
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write_metrics_file(path: Path) -> None:
    """Write the process metrics to ``path`` atomically (Prometheus text format)."""
    from prometheus_client import generate_latest

    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(generate_latest(metrics().registry))
        tmp.replace(path)
    except OSError as exc:
        _err(f"warning: could not write --metrics-file {path}: {exc.strerror or exc}")


class Foreground:
    """One ``backfill`` command run: claim the job (or wait for whoever runs it), run it, summarise.

    Args:
        settings: the configuration.
        store: the open state store.
        plan: the validated request.
        job: the job the request names.
        progress: ``--progress`` mode.
        interval: seconds between progress log lines.
    """

    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        plan: BackfillPlan,
        job: BackfillJob,
        *,
        progress: str = "auto",
        interval: float = 10.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.plan = plan
        self.job = job
        self.progress = progress
        self.interval = interval
        self.owner = f"backfill-{socket.gethostname()}-{os.getpid()}"
        self.runner: BackfillRunner | None = None
        self.terminal = False
        self.signals = 0
        self.interrupted = asyncio.Event()

    async def run(self) -> int:
        """Claim and run the job; return the exit code."""
        with self._signal_handlers():
            claimed = await self._claim()
            if claimed is None:
                return self._report_followed()
            self.job = claimed
            outcome = await self._run_claimed()
        return self._report(outcome)

    async def _claim(self) -> BackfillJob | None:
        """The job claimed by us; ``None`` when it finished (or we were interrupted) while another runner had it."""
        ttl = self.settings.state.lease_ttl
        waiting_since: float | None = None
        last_report = 0.0
        while not self.interrupted.is_set():
            try:
                return await self.store.start_backfill_job(self.job.id, self.owner, ttl)
            except InvalidBackfillTransition:
                self.job = await self.store.get_backfill_job(self.job.id)
                if self.job.status in (BackfillStatus.DONE, BackfillStatus.CANCELLED):
                    return None
                raise
            except BackfillJobBusy as exc:
                now = time.monotonic()
                self.job = await self.store.get_backfill_job(self.job.id)
                if waiting_since is None:
                    waiting_since = now
                    _err(
                        f"{exc} This command waits: it takes the job over if that runner stops renewing its lease "
                        f"(within {format_duration(ttl)}), and ends when the job ends."
                    )
                if now - last_report >= self.interval:
                    last_report = now
                    _err(
                        f"Backfill job {self.job.id} ({self.job.owner or 'another runner'}): {self.job.windows_done}/"
                        f"{self.job.windows_total} windows, {self.job.events:,} events."
                    )
            with contextlib.suppress(TimeoutError):
                await wait_for(self.interrupted.wait(), seconds=FOLLOW_POLL)
        return None

    async def _run_claimed(self) -> BackfillOutcome:
        settings = self.settings
        plan = self.plan
        targets = sorted(
            {s for stream in plan.streams for s in target_sinks(settings, plan.tenant, stream, plan.sinks)}
        )
        # Only the sinks this job delivers to are built and started (not every configured SIEM).
        scoped = settings.model_copy(update={"sinks": [s for s in settings.sinks if s.name in targets]})
        sinks = build_sinks(scoped, SinkContext(settings.data_dir, f"{socket.gethostname()}-backfill", __version__))
        router = Router(scoped, sinks, dead_letter_store(settings, self.store))
        display, terminal = choose_display(self.progress, sys.stderr, interval=self.interval)
        self.terminal = terminal
        await router.start()
        try:
            async with MimecastClient(settings.tenant(plan.tenant)) as client:
                self.runner = BackfillRunner(
                    self.job,
                    store=self.store,
                    settings=settings,
                    client=client,
                    router=SinkSelection(router, plan.sinks),
                    owner=self.owner,
                    concurrency=plan.concurrency,
                    display=display,
                    lease_ttl=settings.state.lease_ttl,
                    backoff_max=settings.daemon.stream_backoff_max,
                    window_log_level=logging.DEBUG if terminal else logging.INFO,
                )
                if self.interrupted.is_set():
                    self.runner.stop()
                try:
                    return await self.runner.run()
                except BaseException:
                    # Whatever broke (the state store went away...), do not leave the job claimed.
                    with contextlib.suppress(Exception):
                        await self.store.release_backfill_job(self.job.id, self.owner)
                    raise
        finally:
            await router.close()

    def _report(self, outcome: BackfillOutcome) -> int:
        job = outcome.job
        if self.runner is not None:
            # A rich table where a person reads stdout; plain columns when it is redirected (auto).
            table = self.progress == "bar" or (self.terminal and sys.stdout.isatty())
            render_summary(self.runner.progress, sys.stdout, terminal=table)
        total = f"{job.windows_done} of {job.windows_total} windows, {job.events:,} events in all runs"
        dead = self.runner.progress.dead_lettered if self.runner is not None else 0
        if dead and outcome.result in ("done", "cancelled"):
            what = "is done" if outcome.result == "done" else "was cancelled"
            _out(f"Backfill job {job.id} {what}: {total}.")
            _err(
                f"error: {dead:,} events of backfill job {job.id} were dead-lettered (a sink refused them "
                f"permanently) and did not reach the SIEM; see 'mimecast-siem dead-letters list', fix the cause, "
                "then 'mimecast-siem dead-letters replay'."
            )
            return EXIT_DEAD_LETTERED
        if outcome.result == "done":
            _out(f"Backfill job {job.id} is done: {total}.")
            return EXIT_OK
        if outcome.result == "cancelled":
            _out(f"Backfill job {job.id} was cancelled: {total}.")
            return EXIT_OK
        if dead:
            _err(f"{dead:,} events of this run were dead-lettered; see 'mimecast-siem dead-letters list'.")
        if outcome.result == "failed":
            _err(f"error: backfill job {job.id} failed: {outcome.error}")
            _out(f"Backfill job {job.id} failed after {total}; re-run the same command to retry the rest.")
            return EXIT_FAILURE
        if outcome.result == "lease_lost":
            _err(f"error: backfill job {job.id} was taken over by {job.owner or 'another runner'}; this run stopped.")
            return EXIT_FAILURE
        _out(
            f"Backfill job {job.id} interrupted: {total}. It is queued again: re-run the same command to continue "
            f"(or 'mimecast-siem backfill cancel {job.id}')."
        )
        return EXIT_INTERRUPTED

    def _report_followed(self) -> int:
        job = self.job
        total = f"{job.windows_done} of {job.windows_total} windows, {job.events:,} events"
        if self.interrupted.is_set() and not job.finished:
            _out(f"Stopped waiting; backfill job {job.id} goes on under {job.owner or 'another runner'} ({total}).")
            return EXIT_INTERRUPTED
        if job.status is BackfillStatus.DONE:
            _out(f"Backfill job {job.id} is done: {total}.")
            return EXIT_OK
        _out(f"Backfill job {job.id} is {job.status.value}: {total}.")
        return EXIT_OK if job.status is BackfillStatus.CANCELLED else EXIT_FAILURE

    @contextlib.contextmanager
    def _signal_handlers(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
                continue
            installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        self.signals += 1
        self.interrupted.set()
        if self.runner is None:
            return
        if self.signals == 1:
            log.warning("Received %s; stopping after the windows in flight (send it again to stop at once).", sig.name)
            self.runner.stop()
        else:
            log.warning("Received %s again; abandoning the windows in flight (they are re-sent next run).", sig.name)
            self.runner.abort()


# --- list / cancel ------------------------------------------------------------------------------------


async def backfill_list(settings: Settings, args: argparse.Namespace) -> int:
    """``mimecast-siem backfill list [--tenant T] [--status S] [--limit N]``."""
    if args.limit < 1:
        _err(f"error: --limit {args.limit} must be at least 1")
        return EXIT_BAD_INPUT
    status = BackfillStatus(args.status) if args.status else None
    async with await StateStore.open(settings.state_url()) as store:
        jobs = await store.list_backfill_jobs(status=status, tenant=args.tenant, limit=args.limit)
    if args.output == "json":
        _out(json.dumps({"jobs": [job_document(job) for job in jobs]}, indent=2))
        return EXIT_OK
    if not jobs:
        _out("No backfill jobs" + (" match." if status or args.tenant else " yet."))
        return EXIT_OK
    for line in job_table(jobs, datetime.now(UTC)):
        _out(line)
    return EXIT_OK


def job_document(job: BackfillJob) -> dict[str, Any]:
    """One job of ``backfill list --output json`` (pure; the shape is documented in docs/operations.md)."""
    return {
        "id": job.id,
        "tenant": job.tenant,
        "status": job.status.value,
        "streams": list(job.streams),
        "sinks": list(job.sinks),
        "since": _iso(job.since),
        "until": _iso(job.until),
        "window_seconds": int(job.window.total_seconds()),
        "windows_done": job.windows_done,
        "windows_total": job.windows_total,
        "events": job.events,
        "owner": job.owner if job.status is BackfillStatus.RUNNING else None,
        "updated_at": _iso(job.updated_at),
        "error": job.error,
    }


def job_table(jobs: list[BackfillJob], now: datetime) -> list[str]:
    """``backfill list`` lines (pure)."""
    header = ("ID", "TENANT", "STATUS", "STREAMS", "SINCE", "UNTIL", "WINDOW", "PROGRESS", "EVENTS", "OWNER", "UPDATED")
    rows: list[tuple[str, ...]] = [header]
    for job in jobs:
        percent = 100.0 * job.windows_done / job.windows_total if job.windows_total else 100.0
        rows.append(
            (
                str(job.id),
                job.tenant,
                job.status.value,
                ",".join(job.streams),
                _iso(job.since),
                _iso(job.until),
                format_duration(job.window),
                f"{job.windows_done}/{job.windows_total} ({percent:.0f}%)",
                f"{job.events:,}",
                (job.owner or "-") if job.status is BackfillStatus.RUNNING else "-",
                format_seconds(max((now - job.updated_at).total_seconds(), 0.0)) + " ago",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    errors = [
        f"  job {job.id} failed: {job.error}" for job in jobs if job.status is BackfillStatus.FAILED and job.error
    ]
    return lines + errors


async def backfill_cancel(settings: Settings, job_text: str) -> int:
    """``mimecast-siem backfill cancel JOB_ID``."""
    try:
        job_id = int(job_text)
    except ValueError:
        _err(f"error: JOB_ID {job_text!r} is not a job id (a number; see 'mimecast-siem backfill list')")
        return EXIT_BAD_INPUT
    async with await StateStore.open(settings.state_url()) as store:
        try:
            before = await store.get_backfill_job(job_id)
        except BackfillJobNotFound:
            _err(f"error: there is no backfill job {job_id} (see 'mimecast-siem backfill list')")
            return EXIT_BAD_INPUT
        if before.status is BackfillStatus.CANCELLED:
            _out(f"Backfill job {job_id} is already cancelled.")
            return EXIT_OK
        try:
            job = await store.cancel_backfill_job(job_id)
        except InvalidBackfillTransition:
            job = await store.get_backfill_job(job_id)
            _err(f"error: backfill job {job_id} is {job.status.value}; there is nothing to cancel")
            return EXIT_FAILURE
    running = before.status is BackfillStatus.RUNNING and before.owner
    runner = f" Its runner ({before.owner}) stops after the windows in flight." if running else ""
    _out(f"Backfill job {job_id} cancelled at {job.windows_done} of {job.windows_total} windows.{runner}")
    return EXIT_OK


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


__all__ = [
    "Foreground",
    "backfill_cancel",
    "backfill_command",
    "backfill_list",
    "backfill_run",
    "job_document",
    "job_table",
    "register",
]
