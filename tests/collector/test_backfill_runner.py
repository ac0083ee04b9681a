"""The backfill runner against the simulator: real state store, real client, real router and file sinks."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from mimecast_siem.checkpoints import BackfillStatus, StateStore, WindowStatus
from mimecast_siem.collector.backfill.progress import JobProgress
from mimecast_siem.simulator import ScriptedFault
from tests.collector.helpers import delivered_ids, expected_ids
from tests.collector.test_backfill_support import backfill_settings, open_parts, whole_minute_ago

RATES = {"ttp-url": 8.0, "ttp-attachment": 2.0, "ttp-impersonation": 2.0, "audit": 1.0}


async def test_backfill_delivers_exactly_the_ground_truth_and_leaves_live_state_alone(
    simulator_factory: Any, tmp_path: Path
) -> None:
    sim = await simulator_factory(rates=RATES)
    streams = ("ttp-url", "ttp-impersonation", "audit")
    since, until = whole_minute_ago(12), whole_minute_ago(4)
    settings = backfill_settings(sim, tmp_path, streams=streams)
    async with open_parts(settings) as parts:
        job = await parts.job(streams, since, until, timedelta(minutes=1))
        outcome = await parts.run(job, concurrency=3)
        assert outcome.result == "done"
        assert outcome.job.status is BackfillStatus.DONE
        assert outcome.job.windows_done == outcome.job.windows_total == 8 * len(streams)
        # The live daemon's state is untouched: no checkpoint, no seen id.
        assert await parts.store.list_checkpoints() == []
        total = 0
        for stream in streams:
            truth = sim.ground_truth(stream, since, until)
            assert truth, f"the simulator served nothing for {stream}"
            expected = expected_ids(stream, truth)
            delivered = delivered_ids(tmp_path / "out", stream)
            assert set(delivered) == expected, f"{stream}: missing or extra events"
            assert max(delivered.values()) == 1, f"{stream}: an event was delivered twice"
            assert await parts.store.seen_ids("acme", stream, list(expected)) == set()
            total += len(expected)
            windows = parts.metrics.backfill_windows.labels(tenant="acme", stream=stream)._value.get()
            assert windows == 8
        assert outcome.job.events == total


async def test_a_graceful_stop_then_a_rerun_sends_nothing_twice(simulator_factory: Any, tmp_path: Path) -> None:
    sim = await simulator_factory(rates=RATES)
    since, until = whole_minute_ago(14), whole_minute_ago(4)
    settings = backfill_settings(sim, tmp_path, streams=("ttp-url",))

    class StopAfter:
        """A display that asks the runner to stop once three windows are recorded."""

        def __init__(self) -> None:
            self.runner: Any = None

        def start(self, job: JobProgress) -> None:
            pass

        def update(self, job: JobProgress) -> None:
            if job.windows_done >= 3:
                self.runner.stop()

        async def close(self) -> None:
            pass

    async with open_parts(settings) as parts:
        job = await parts.job(["ttp-url"], since, until, timedelta(minutes=1))
        display = StopAfter()
        runner = parts.runner(job, concurrency=2, display=display)
        display.runner = runner
        first = await runner.run()
        assert first.result == "interrupted"
        assert first.job.status is BackfillStatus.QUEUED  # released for whoever runs it next
        assert 3 <= first.job.windows_done < first.job.windows_total
        done_first = {w.start for w in await parts.store.backfill_windows(job.id, status=WindowStatus.DONE)}
        sent_first = sum(delivered_ids(tmp_path / "out", "ttp-url").values())
        assert sent_first == first.job.events  # in-flight windows finished and were recorded

        again = await parts.job(["ttp-url"], since, until, timedelta(minutes=1))
        assert again.id == job.id
        second = await parts.run(again, concurrency=2)
        assert second.result == "done"
        # The second run worked only on the windows the first one had not finished.
        assert runner.progress.streams["ttp-url"].windows_done == first.job.windows_done
        assert len(done_first) == first.job.windows_done
    delivered = delivered_ids(tmp_path / "out", "ttp-url")
    assert set(delivered) == expected_ids("ttp-url", sim.ground_truth("ttp-url", since, until))
    assert max(delivered.values()) == 1


async def test_cancel_from_another_process_stops_after_the_windows_in_flight(
    simulator_factory: Any, tmp_path: Path
) -> None:
    sim = await simulator_factory(rates=RATES)
    since, until = whole_minute_ago(14), whole_minute_ago(2)
    settings = backfill_settings(sim, tmp_path, streams=("ttp-url",))
    cancelled_at: list[int] = []

    async with open_parts(settings) as parts:
        other = await StateStore.open(settings.state_url())  # what `backfill cancel` opens
        try:
            job = await parts.job(["ttp-url"], since, until, timedelta(minutes=1))

            class CancelAfter:
                def start(self, job: JobProgress) -> None:
                    pass

                def update(self, progress: JobProgress) -> None:
                    if progress.windows_done == 2 and not cancelled_at:
                        cancelled_at.append(progress.windows_done)
                        pending.append(asyncio.ensure_future(other.cancel_backfill_job(job.id)))

                async def close(self) -> None:
                    pass

            pending: list[asyncio.Future[Any]] = []
            outcome = await parts.run(job, concurrency=2, display=CancelAfter())
            await asyncio.gather(*pending)
        finally:
            await other.close()
        assert outcome.result == "cancelled"
        assert outcome.job.status is BackfillStatus.CANCELLED
        # It stopped early: at most the windows in flight at the cancel were finished after it.
        assert 2 <= outcome.job.windows_done <= 2 + 2 + 1
        assert outcome.job.windows_done < outcome.job.windows_total
        pending_windows = await parts.store.backfill_windows(job.id, status=WindowStatus.PENDING)
        assert len(pending_windows) == outcome.job.windows_total - outcome.job.windows_done
        assert sum(delivered_ids(tmp_path / "out", "ttp-url").values()) == outcome.job.events


async def test_a_window_that_keeps_failing_fails_the_job_and_a_rerun_finishes_it(
    simulator_factory: Any, tmp_path: Path
) -> None:
    sim = await simulator_factory(rates=RATES)
    since, until = whole_minute_ago(10), whole_minute_ago(4)
    settings = backfill_settings(sim, tmp_path, streams=("ttp-impersonation",))
    async with open_parts(settings) as parts:
        job = await parts.job(["ttp-impersonation"], since, until, timedelta(minutes=1))
        # Two windows are answered normally, then Mimecast rejects every request (a permanent error).
        path = "/api/ttp/impersonation/get-logs"

        class BreakAfterTwo:
            def start(self, job: JobProgress) -> None:
                pass

            def update(self, progress: JobProgress) -> None:
                if progress.windows_done == 2:
                    sim.set_faults(script=[ScriptedFault(path, count=50, status=400)])

            async def close(self) -> None:
                pass

        first_two = parts.runner(job, concurrency=1, display=BreakAfterTwo())
        outcome = await first_two.run()
        assert outcome.result == "failed"
        assert outcome.job.status is BackfillStatus.FAILED
        assert outcome.error is not None
        assert "ttp-impersonation" in outcome.error
        assert outcome.job.windows_done == 2
        assert first_two.progress.streams["ttp-impersonation"].failures >= 1

        sim.clear_faults()
        requeued = await parts.store.create_backfill_job("acme", ["ttp-impersonation"], since, until, job.window)
        assert requeued.id == job.id
        assert requeued.status is BackfillStatus.QUEUED
        rerun = await parts.job(["ttp-impersonation"], since, until, timedelta(minutes=1))
        second = await parts.run(rerun, concurrency=2)
        assert second.result == "done"
    delivered = delivered_ids(tmp_path / "out", "ttp-impersonation")
    assert set(delivered) == expected_ids("ttp-impersonation", sim.ground_truth("ttp-impersonation", since, until))
    assert max(delivered.values()) == 1


async def test_a_job_for_a_named_sink_delivers_to_that_sink_only(simulator_factory: Any, tmp_path: Path) -> None:
    sim = await simulator_factory(rates=RATES)
    since, until = whole_minute_ago(8), whole_minute_ago(5)
    settings = backfill_settings(sim, tmp_path, streams=("ttp-attachment",), sinks=2)
    async with open_parts(settings) as parts:
        job = await parts.job(["ttp-attachment"], since, until, timedelta(minutes=1), sinks=["out2"])
        assert (await parts.run(job)).result == "done"
    expected = expected_ids("ttp-attachment", sim.ground_truth("ttp-attachment", since, until))
    assert expected
    assert set(delivered_ids(tmp_path / "out2", "ttp-attachment")) == expected
    assert not delivered_ids(tmp_path / "out", "ttp-attachment")


async def test_refused_credentials_fail_the_job_without_leaking_the_secret(
    simulator_factory: Any, tmp_path: Path, caplog: Any
) -> None:
    sim = await simulator_factory(rates=RATES)
    since, until = whole_minute_ago(6), whole_minute_ago(4)
    settings = backfill_settings(sim, tmp_path, streams=("audit",))
    secret = "not-the-secret-7f3a9c"
    settings.tenants[0].client_secret = SecretStr(secret)
    async with open_parts(settings) as parts:
        job = await parts.job(["audit"], since, until, timedelta(minutes=1))
        outcome = await parts.run(job, concurrency=1, window_attempts=2)
        assert outcome.result == "failed"
        stored = await parts.store.get_backfill_job(job.id)
    assert stored.status is BackfillStatus.FAILED
    assert stored.error
    assert "AuthError" in stored.error
    assert secret not in stored.error
    assert secret not in caplog.text
    assert sim.stats().count(path="/api/audit/get-audit-events") == 0
