"""``mimecast-siem backfill`` / ``backfill list`` / ``backfill cancel`` in-process, against a simulator process."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.cli import build_parser, main
from mimecast_siem.collector.backfill.commands import backfill_command
from tests.collector.helpers import daemon_config, delivered_ids, expected_ids
from tests.collector.processes import ground_truth, sim_get, write_config

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def simulator_process(simulator_process_factory: Any) -> Any:
    """A small world whose late records arrive within 20 s (the ranges here end minutes ago)."""
    return simulator_process_factory("--seed", "1234", "--history", "15m", "--late-max-delay", "20s")


def _config(sim: Any, tmp_path: Path) -> Path:
    raw = daemon_config(sim.url, "client-1", "secret-1", tmp_path, streams=("ttp-url", "audit", "held-messages"))
    return write_config(tmp_path / "config.yaml", raw)


def _requests(sim: Any) -> int:
    return int(sim_get(sim.url, "/_sim/stats")["requests_total"])


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _range(minutes_back: int, minutes_end: int) -> tuple[str, str]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return _iso(now - timedelta(minutes=minutes_back)), _iso(now - timedelta(minutes=minutes_end))


def test_bad_input_exits_2_before_any_request(
    simulator_process: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_config(simulator_process, tmp_path))
    now = datetime.now(UTC).replace(microsecond=0)
    cases = [
        (["--stream", "ttp-url", "--since", "2026-10-02", "--until", "2026-10-01"], "is not after --since"),
        (["--stream", "ttp-url", "--since", _iso(now), "--until", _iso(now + timedelta(days=2))], "in the future"),
        (
            ["--stream", "audit", "--since", _iso(now - timedelta(days=90)), "--until", _iso(now - timedelta(days=80))],
            "too far back for stream audit",
        ),
        (["--stream", "held-messages", "--since", "2026-10-01", "--until", "2026-10-02"], "snapshot stream"),
        (["--stream", "hold-summary", "--since", "2026-10-01", "--until", "2026-10-02"], "gauge stream"),
        (["--stream", "nope", "--since", "2026-10-01", "--until", "2026-10-02"], "--stream 'nope' is unknown"),
        (["--stream", "ttp-url", "--since", "7d", "--until", "2026-10-02"], "not an absolute date or time"),
        (["--stream", "ttp-url", "--since", "2026-10-01", "--until", "2026-10-02", "--sink", "x"], "--sink 'x'"),
        (["--stream", "ttp-url", "--since", "2026-10-01", "--until", "2026-10-02", "--window", "0s"], "at least 1s"),
    ]
    for flags, fragment in cases:
        code = main(["backfill", "--config", config, "--tenant", "acme", *flags])
        err = capsys.readouterr().err
        assert code == 2, (flags, err)
        assert fragment in err, (flags, err)
        assert err.startswith("error: the backfill request has 1 problem:"), err
    code = main(["backfill", "--config", config, "--tenant", "globex", "--stream", "ttp-url", "--since", "2026-10-01",
                 "--until", "2026-10-02"])  # fmt: skip
    assert code == 2
    assert "--tenant 'globex' is not configured; configured tenants: acme" in capsys.readouterr().err
    assert main(["backfill", "--config", config, "--stream", "ttp-url", "--since", "2026-10-01"]) == 2
    assert "--tenant is required" in capsys.readouterr().err
    # Nothing was asked of Mimecast, not even a token; and no job was created.
    assert _requests(simulator_process) == 0
    assert main(["backfill", "list", "--config", config]) == 0
    assert "No backfill jobs yet." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["backfill", "list", "--since", "2026-10-01"], "'backfill list' does not take --since"),
        (["backfill", "cancel"], "'backfill cancel' needs a JOB_ID"),
        (["backfill", "cancel", "3", "--queue"], "'backfill cancel' does not take --queue"),
        (["backfill", "--status", "done"], "--status filters 'backfill list'"),
    ],
)
def test_flags_of_another_action_are_refused(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_the_helm_job_arguments_parse() -> None:
    """helm/mimecast-siem/templates/backfill-job.yaml renders these (values quoted as strings)."""
    parser = build_parser()
    args = parser.parse_args(
        ["backfill", "--tenant", "acme", "--stream", "ttp-url", "--stream", "audit", "--since", "2026-10-01",
         "--until", "2026-11-01", "--sink", "splunk", "--sink", "archive", "--concurrency", "4"]
    )  # fmt: skip
    assert args.handler is backfill_command
    assert (args.tenant, args.streams, args.since, args.until) == (
        "acme",
        ["ttp-url", "audit"],
        "2026-10-01",
        "2026-11-01",
    )
    assert (args.sinks, args.concurrency, args.action) == (["splunk", "archive"], 4, None)
    args = parser.parse_args(
        ["backfill", "--tenant", "acme", "--all-streams", "--since", "2026-10-01", "--until", "2026-11-01",
         "--concurrency", "2"]
    )  # fmt: skip
    assert args.all_streams
    assert args.streams == []


def test_run_resume_list_and_cancel(simulator_process: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulator_process
    config = str(_config(sim, tmp_path))
    since, until = _range(10, 4)
    run = ["backfill", "--config", config, "--tenant", "acme", "--stream", "ttp-url", "--since", since,
           "--until", until, "--window", "2m", "--concurrency", "2", "--progress", "log", "--progress-interval", "0.2s"]  # fmt: skip
    assert main(run) == 0
    captured = capsys.readouterr()
    # Plain periodic log lines (not a terminal) and the final summary table.
    assert "Backfill job 1 of tenant acme, stream ttp-url: 3/3 windows" in captured.err
    assert "events/s, ETA" in captured.err
    lines = captured.out.splitlines()
    assert lines[0].split() == ["STREAM", "WINDOWS", "EVENTS", "DEAD-LETTERED", "DURATION", "EVENTS/S", "FAILURES"]
    assert lines[1].split()[:2] == ["ttp-url", "3/3"]
    assert "Backfill job 1 is done: 3 of 3 windows" in captured.out
    start = datetime.fromisoformat(since.replace("Z", "+00:00"))
    end = datetime.fromisoformat(until.replace("Z", "+00:00"))
    truth = expected_ids("ttp-url", ground_truth(sim.url, "ttp-url", start, end))
    delivered = delivered_ids(tmp_path / "out", "ttp-url")
    assert set(delivered) == truth
    assert max(delivered.values()) == 1

    # The same command again: the job is done; nothing is fetched or sent again.
    before = _requests(sim)
    assert main(run) == 0
    assert "Backfill job 1 is already done" in capsys.readouterr().out
    assert _requests(sim) == before
    assert sum(delivered_ids(tmp_path / "out", "ttp-url").values()) == len(truth)

    # --queue only creates the job, for a daemon to pick up.
    queue = ["backfill", "--config", config, "--tenant", "acme", "--stream", "audit", "--since", since,
             "--until", until, "--queue"]  # fmt: skip
    assert main(queue) == 0
    assert "Backfill job 2 is queued (0 of 1 windows done)" in capsys.readouterr().out
    assert _requests(sim) == before

    assert main(["backfill", "list", "--config", config]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["ID", "TENANT", "STATUS", "STREAMS"]
    assert out[1].split()[:4] == ["2", "acme", "queued", "audit"]
    assert out[2].split()[:4] == ["1", "acme", "done", "ttp-url"]
    assert "3/3 (100%)" in out[2]

    assert main(["backfill", "cancel", "2", "--config", config]) == 0
    assert "Backfill job 2 cancelled at 0 of 1 windows." in capsys.readouterr().out
    assert main(["backfill", "cancel", "2", "--config", config]) == 0
    assert "already cancelled" in capsys.readouterr().out
    assert main(["backfill", "cancel", "1", "--config", config]) == 1
    assert "backfill job 1 is done; there is nothing to cancel" in capsys.readouterr().err
    assert main(["backfill", "cancel", "99", "--config", config]) == 2
    assert "there is no backfill job 99" in capsys.readouterr().err
    assert main(["backfill", "cancel", "abc", "--config", config]) == 2
    assert "JOB_ID 'abc' is not a job id" in capsys.readouterr().err
    assert main(["backfill", "list", "--status", "cancelled", "--config", config]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[1].split()[:3] == ["2", "acme", "cancelled"]


def test_progress_bars_and_summary_table_when_forced(
    simulator_process: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_config(simulator_process, tmp_path))
    since, until = _range(9, 5)
    code = main(["backfill", "--config", config, "--tenant", "acme", "--stream", "ttp-url", "--since", since,
                 "--until", until, "--window", "1m", "--progress", "bar"])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    assert "ttp-url" in captured.err
    assert "4/4" in captured.err
    assert "windows" in captured.err
    assert "ev/s" in captured.err
    assert "ETA" in captured.err
    assert "\x1b[" in captured.err  # drawn for a terminal
    # The rich summary table, with its box drawing.
    out = ANSI.sub("", captured.out)
    assert "Backfill job 1 (acme)" in out
    assert "┃ STREAM  ┃ WINDOWS ┃ EVENTS ┃" in out
    assert "│ ttp-url │     4/4 │" in out
    assert "Backfill job 1 is done: 4 of 4 windows" in out


def test_dead_lettered_events_get_their_own_column_and_exit_code(
    simulator_process: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every event refused by the sink: the run says so, exits 3 and points at ``dead-letters list``."""
    raw = daemon_config(simulator_process.url, "client-1", "secret-1", tmp_path, streams=("ttp-url",))
    # A syslog sink whose message ceiling no event fits, with oversize events dead-lettered (UDP to a
    # port nobody listens on: nothing is sent, every event goes to the dead-letter file).
    raw["sinks"] = [
        {"name": "tiny", "type": "syslog", "host": "127.0.0.1", "port": 9, "transport": "udp",
         "max_message_bytes": 480, "oversize": "dead-letter"}
    ]  # fmt: skip
    config = str(write_config(tmp_path / "config.yaml", raw))
    since, until = _range(8, 4)
    code = main(["backfill", "--config", config, "--tenant", "acme", "--stream", "ttp-url", "--since", since,
                 "--until", until, "--window", "2m", "--progress", "none"])  # fmt: skip
    captured = capsys.readouterr()
    start = datetime.fromisoformat(since.replace("Z", "+00:00"))
    end = datetime.fromisoformat(until.replace("Z", "+00:00"))
    truth = len(ground_truth(simulator_process.url, "ttp-url", start, end))
    assert truth > 0
    assert code == 3, captured
    lines = captured.out.splitlines()
    assert lines[0].split() == ["STREAM", "WINDOWS", "EVENTS", "DEAD-LETTERED", "DURATION", "EVENTS/S", "FAILURES"]
    row = lines[1].split()
    assert row[:2] == ["ttp-url", "2/2"]
    assert row[2] == row[3] == f"{truth:,}"
    assert f"error: {truth:,} events of backfill job 1 were dead-lettered" in captured.err
    assert "'mimecast-siem dead-letters list'" in captured.err
    assert main(["dead-letters", "list", "--config", config]) == 0
    assert "tiny" in capsys.readouterr().out
