"""Start-up stays cheap: the CLI imports a room only when its command is asked for (issue 16).

Judged by which modules a fresh interpreter imports (``python -X importtime``, or ``sys.modules`` at the
end of a command run in a subprocess), not by timing: the heavy ones (the daemon, the action API,
SQLAlchemy, aiohttp) cost ~1.3 CPU s together and ``--version``, ``config schema`` and ``simulate
--help`` need none of them; a backfill loads the data path (the Mimecast client, the sinks) only when
its job has windows to run, never the daemon or the action API, and not even the state store
(SQLAlchemy) when its job is already done.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem import __version__
from mimecast_siem.cli import ROOMS, build_parser, main
from tests.collector.helpers import daemon_config
from tests.collector.processes import write_config

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("sqlalchemy", "aiohttp", "mimecast_siem.collector.daemon", "mimecast_siem.actions.http", "rich")


def _imported(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mimecast_siem", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    return modules


def test_version_imports_nothing_but_the_package() -> None:
    modules = _imported("--version")
    ours = {m for m in modules if m.startswith("mimecast_siem")}
    assert ours <= {"mimecast_siem", "mimecast_siem.cli", "mimecast_siem.errors", "mimecast_siem.__main__"}, ours
    assert not {"pydantic", "asyncio", *HEAVY} & modules


@pytest.mark.parametrize(
    "args",
    # The schema lists every sink type's options (loading the HTTP sinks' classes imports aiohttp);
    # the simulator is an aiohttp server. Neither needs the daemon, the action API or the database.
    [("config", "schema"), ("simulate", "--help")],
)
def test_light_commands_import_no_daemon_actions_or_database(args: tuple[str, ...]) -> None:
    modules = _imported(*args)
    unneeded = set(HEAVY) - {"aiohttp"}
    assert not unneeded & modules, sorted(unneeded & modules)


def test_version_answers_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"mimecast-siem {__version__}"


def test_help_still_lists_every_room_and_a_command_builds_only_its_own() -> None:
    everything = build_parser().format_help()
    for commands, _ in ROOMS:
        for command in commands - {"checkpoints"}:
            assert command in everything, command
    config_only = build_parser("config").format_help()
    assert "config" in config_only
    assert "serve-actions" not in config_only


def test_an_unknown_command_gets_argparse_s_full_list(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# What a backfill never needs: the daemon (aiohttp's server, the supervisor), the action service, the
# simulator, and rich unless bars or a table are drawn (--progress none here).
NOT_FOR_BACKFILL = (
    "mimecast_siem.collector.daemon",
    "mimecast_siem.collector.supervisor",
    "mimecast_siem.actions",
    "mimecast_siem.simulator",
    "aiohttp.web",
    "rich",
)
# What this configuration (a SQLite store, one file sink writing JSON without a queue, a log stream)
# never uses.
NOT_CONFIGURED = (
    "sqlalchemy.dialects.postgresql",
    "mimecast_siem.collector.siem",  # the SIEM streams' batch files
    "mimecast_siem.collector.siem_files",
    "mimecast_siem.sinks.queueing",  # durable sink queues
    "mimecast_siem.sinks.queue",
    "mimecast_siem.sinks.formats.cef",
    "mimecast_siem.sinks.formats.leef",
    "mimecast_siem.sinks.formats.ocsf",
    "mimecast_siem.sinks.hec",
    "mimecast_siem.sinks.syslog",
)
# What a backfill needs only when its job has windows to run: the Mimecast client, the data path, the
# sinks' router and the metrics.
DATA_PATH = (
    "aiohttp",
    "mimecast_siem.mimecast",
    "mimecast_siem.collector.pipeline",
    "mimecast_siem.collector.backfill.runner",
    "mimecast_siem.collector.backfill.foreground",
    "mimecast_siem.sinks.router",
    "prometheus_client",
)
_RUN_AND_LIST_MODULES = """
import json, sys
from mimecast_siem.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump(sorted(sys.modules), f)
sys.exit(code)
"""


def _modules_after(tmp_path: Path, *args: str) -> tuple[int, set[str], str]:
    """Run ``mimecast-siem ARGS`` in a fresh interpreter; its exit code, ``sys.modules`` at the end, its
    output (stdout, then stderr)."""
    listing = tmp_path / f"modules-{len(list(tmp_path.glob('modules-*')))}.json"
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, str(listing), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    modules = set(json.loads(listing.read_text())) if listing.exists() else set()
    return proc.returncode, modules, proc.stdout + proc.stderr


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Those of ``names`` (packages included: ``rich`` matches ``rich.console``) that were imported."""
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_version_loads_no_database_pydantic_or_asyncio(tmp_path: Path) -> None:
    code, modules, output = _modules_after(tmp_path, "--version")
    assert code == 0, output
    assert not _loaded(modules, ("sqlalchemy", "pydantic", "asyncio", "aiohttp", "mimecast_siem.config")), output


def test_a_backfill_loads_the_data_path_only_for_a_job_with_windows_to_run(
    simulator_process: Any, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "config.yaml",
        daemon_config(simulator_process.url, "client-1", "secret-1", tmp_path, streams=("ttp-url",)),
    )
    # Two days before the simulator's history: every window is asked for and found empty.
    until = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
    run = ["backfill", "--config", str(config), "--tenant", "acme", "--stream", "ttp-url", "--progress", "none"]
    run += ["--since", _iso(until - timedelta(minutes=5)), "--until", _iso(until), "--window", "1m"]

    code, modules, output = _modules_after(tmp_path, *run)
    assert code == 0, output
    assert "Backfill job 1 is done: 5 of 5 windows, 0 events" in output
    assert not _loaded(modules, NOT_FOR_BACKFILL + NOT_CONFIGURED), output
    assert _loaded(modules, DATA_PATH) == sorted(DATA_PATH)  # the probe sees what a run loads

    # The same command again: the job is done; its row is read with sqlite3, nothing else is opened -
    # not even the state store (SQLAlchemy). With another --window it is the same job (noted).
    code, modules, output = _modules_after(tmp_path, *run)
    assert code == 0, output
    assert "Backfill job 1 is already done: 5 windows, 0 events" in output
    assert "was created with" not in output
    assert not _loaded(modules, NOT_FOR_BACKFILL + NOT_CONFIGURED + DATA_PATH + ("sqlalchemy",)), output
    code, modules, output = _modules_after(tmp_path, *run[:-1], "2m")
    assert code == 0, output
    assert "note: backfill job 1 was created with 1m windows; resuming it with those (not 2m)." in output
    assert "Backfill job 1 is already done: 5 windows, 0 events" in output
    assert not _loaded(modules, NOT_FOR_BACKFILL + NOT_CONFIGURED + DATA_PATH + ("sqlalchemy",)), output

    code, modules, output = _modules_after(tmp_path, "backfill", "list", "--config", str(config), "-o", "json")
    assert code == 0, output
    document, _ = json.JSONDecoder().raw_decode(output)
    assert [job["status"] for job in document["jobs"]] == ["done"]
    assert not _loaded(modules, NOT_FOR_BACKFILL + NOT_CONFIGURED + DATA_PATH), output


_DEFAULT_TLS_AFTER = """
import sys
from mimecast_siem.cli import main
main(["config", "schema"])  # loads the HTTP sinks' classes: aiohttp
from aiohttp import connector
from mimecast_siem.net import lazy_ca_context_class
print("DEFAULT-TLS", isinstance(connector._SSL_CONTEXT_VERIFIED, lazy_ca_context_class()), file=sys.stderr)
"""


def test_the_cli_defers_aiohttp_s_default_tls_contexts() -> None:
    """Every command but --version: aiohttp's import-time CA stores are loaded on first use (net.py)."""
    proc = subprocess.run(
        [sys.executable, "-c", _DEFAULT_TLS_AFTER], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "DEFAULT-TLS True" in proc.stderr


_MOUNT_DISABLED_API = """
import json, sys
from types import SimpleNamespace
from mimecast_siem.cli import _configure_daemon_app
settings = SimpleNamespace(actions=SimpleNamespace(enabled=False))
assert _configure_daemon_app(None, SimpleNamespace(settings=settings)) is None
json.dump(sorted(sys.modules), sys.stdout)
"""


def test_a_daemon_without_the_action_api_never_loads_the_actions() -> None:
    """``run`` hands the daemon the action API's mount; with ``actions.enabled: false`` it must stay a
    few lines (the 50 actions' specs, models and handlers cost ~0.09 CPU s and ~2.6 MB)."""
    proc = subprocess.run(
        [sys.executable, "-c", _MOUNT_DISABLED_API], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    modules = set(json.loads(proc.stdout))
    heavy = ("mimecast_siem.actions.catalogue", "mimecast_siem.actions.service", "mimecast_siem.actions.http")
    assert not _loaded(modules, heavy)


_IMPORT_THE_DAEMON = """
import json, sys
from mimecast_siem.collector.daemon import Daemon
json.dump(sorted(sys.modules), sys.stdout)
"""


def test_the_daemon_s_code_loads_no_siem_or_queue_machinery_until_configured() -> None:
    """The SIEM streams' batch files and the durable sink queues are imported by the first SIEM poll and
    the first sink with a queue (start-up CPU and the daemon's RSS, issue 16)."""
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_THE_DAEMON], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    modules = set(json.loads(proc.stdout))
    assert _loaded(modules, ("mimecast_siem.collector.supervisor", "mimecast_siem.sinks.router"))  # the probe works
    lazy = ("mimecast_siem.collector.siem", "mimecast_siem.sinks.queueing", "mimecast_siem.sinks.queue")
    assert not _loaded(modules, lazy)
