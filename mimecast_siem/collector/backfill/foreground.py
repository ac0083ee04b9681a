"""Running one backfill job in the foreground: claim it (or follow whoever runs it), run it, summarise.

``commands.backfill_run`` imports this module only once the state store has a job that needs running:
it brings in the data path (the Mimecast client and aiohttp, the sinks and their router, the runner,
prometheus for ``--metrics-port``/``--metrics-file``), which ``backfill list``, ``backfill cancel``
and a job already done or queued never load (start-up, issue 16).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from mimecast_siem import __version__
from mimecast_siem.aio import wait_for
from mimecast_siem.checkpoints import (
    BackfillJob,
    BackfillJobBusy,
    BackfillStatus,
    InvalidBackfillTransition,
    StateStore,
)
from mimecast_siem.collector.backfill.console import (
    EXIT_DEAD_LETTERED,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
)
from mimecast_siem.collector.backfill.console import err as _err
from mimecast_siem.collector.backfill.console import out as _out
from mimecast_siem.collector.backfill.plan import BackfillPlan, target_sinks
from mimecast_siem.collector.backfill.progress import choose_display, render_summary
from mimecast_siem.collector.backfill.runner import BackfillOutcome, BackfillRunner, SinkSelection
from mimecast_siem.collector.ports import PortUnavailable
from mimecast_siem.config import Settings
from mimecast_siem.mimecast import MimecastClient
from mimecast_siem.observability.metrics import metrics
from mimecast_siem.sinks import Router, SinkContext, build_sinks
from mimecast_siem.sinks.deadletter_store import dead_letter_store
from mimecast_siem.times import format_duration

log = logging.getLogger("mimecast_siem.collector")

#: How often a command waiting for another runner's job looks at it (seconds).
FOLLOW_POLL = 1.0


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


__all__ = ["FOLLOW_POLL", "Foreground", "serve_metrics", "write_metrics_file"]
