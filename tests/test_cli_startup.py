"""Start-up stays cheap: the CLI imports a room only when its command is asked for (issue 16).

Judged by which modules a fresh interpreter imports (``python -X importtime``), not by timing: the
heavy ones (the daemon, the action API, SQLAlchemy, aiohttp) cost ~1.3 CPU s together and
``--version``, ``config schema`` and ``simulate --help`` need none of them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mimecast_siem import __version__
from mimecast_siem.cli import ROOMS, build_parser, main

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
