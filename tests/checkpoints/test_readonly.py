"""A done backfill job read without SQLAlchemy: the same job the store returns, or "ask the store"."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.checkpoints import MIGRATIONS, BackfillStatus, StateStore, find_done_backfill_job
from mimecast_siem.checkpoints.readonly import SCHEMA_VERSION, sqlite_file

SINCE = datetime(2026, 10, 1, 6, 30, 15, 123456, tzinfo=UTC)
UNTIL = SINCE + timedelta(hours=2, minutes=30)
HOUR = timedelta(hours=1)
STREAMS = ["ttp-url", "ttp-attachment"]


def test_schema_version_is_the_last_migration_s() -> None:
    assert MIGRATIONS[-1].version == SCHEMA_VERSION


async def _finish(store: StateStore, job_id: int, events: int) -> None:
    for window in await store.backfill_windows(job_id):
        await store.mark_window_done(job_id, window.stream, window.start, events)


async def test_a_done_job_reads_as_the_store_returns_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    async with await StateStore.open(url) as store:
        first = await store.create_backfill_job("acme", STREAMS, SINCE, UNTIL, HOUR, ["hec", "file"])
        other = await store.create_backfill_job("acme", ["audit"], SINCE, UNTIL, timedelta(minutes=7), [])
        await _finish(store, first.id, 1234)
        await _finish(store, other.id, 0)
        expected = [await store.get_backfill_job(first.id), await store.get_backfill_job(other.id)]
    assert [job.status for job in expected] == [BackfillStatus.DONE, BackfillStatus.DONE]

    # The job's key ignores stream and sink order and the window, as create_backfill_job's does.
    read = [
        find_done_backfill_job(url, "acme", list(reversed(STREAMS)), SINCE, UNTIL, 2 * HOUR, ["file", "hec"]),
        find_done_backfill_job(url, "acme", ["audit"], SINCE, UNTIL, timedelta(minutes=7)),
    ]
    assert read == expected
    assert read[0] is not None
    assert read[0].since.tzinfo is UTC
    assert read[0].streams == ("ttp-attachment", "ttp-url")
    assert read[0].events == 1234 * 6
    async with await StateStore.open(url) as store:  # and the store still answers the same
        again = await store.create_backfill_job("acme", STREAMS, SINCE, UNTIL, HOUR, ["hec", "file"])
    assert again == expected[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]  # no -wal or -shm left behind


async def test_a_job_that_is_not_done_is_left_to_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    span = UNTIL - SINCE
    ranges = [(SINCE + i * span, UNTIL + i * span) for i in range(4)]
    async with await StateStore.open(url) as store:
        jobs = [await store.create_backfill_job("acme", STREAMS, since, until, HOUR) for since, until in ranges]
        await store.start_backfill_job(jobs[1].id, "runner-1", timedelta(seconds=30))
        await store.cancel_backfill_job(jobs[2].id)
        await store.start_backfill_job(jobs[3].id, "runner-2", timedelta(seconds=30))
        await store.fail_backfill_job(jobs[3].id, "boom")
        statuses = [(await store.get_backfill_job(job.id)).status for job in jobs]
    assert statuses == [BackfillStatus.QUEUED, BackfillStatus.RUNNING, BackfillStatus.CANCELLED, BackfillStatus.FAILED]
    for since, until in ranges:
        assert find_done_backfill_job(url, "acme", STREAMS, since, until, HOUR) is None
    assert find_done_backfill_job(url, "other", STREAMS, *ranges[0], HOUR) is None  # no such job


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("sqlite:///state.db", "state.db"),
        ("sqlite:////var/lib/m/state.db", "/var/lib/m/state.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///state.db?mode=memory", None),
        ("sqlite:///st%61te.db", None),
        ("sqlite+pysqlite:///state.db", None),
        ("postgresql+psycopg://u:p@db/state", None),
    ],
)
def test_only_a_plain_sqlite_file_url_is_read(url: str, file: str | None) -> None:
    assert sqlite_file(url) == (None if file is None else Path(file))


def test_a_missing_file_is_left_to_the_store_and_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    assert find_done_backfill_job(url, "acme", STREAMS, SINCE, UNTIL, HOUR) is None
    assert list(tmp_path.iterdir()) == []


async def _done_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    async with await StateStore.open(url) as store:
        job = await store.create_backfill_job("acme", STREAMS, SINCE, UNTIL, HOUR)
        await _finish(store, job.id, 5)
    assert find_done_backfill_job(url, "acme", STREAMS, SINCE, UNTIL, HOUR) is not None
    return url


@pytest.mark.parametrize("version", [SCHEMA_VERSION - 1, SCHEMA_VERSION + 1])
async def test_a_file_at_another_schema_version_is_left_to_the_store(tmp_path: Path, version: int) -> None:
    url = await _done_store(tmp_path)
    with sqlite3.connect(tmp_path / "state.db") as conn:
        if version < SCHEMA_VERSION:
            conn.execute("DELETE FROM schema_version WHERE version > ?", (version,))
        else:
            conn.execute(
                "INSERT INTO schema_version VALUES (?, 'from a newer release', '2026-12-07 00:00:00.000000')",
                (version,),
            )
    conn.close()
    assert find_done_backfill_job(url, "acme", STREAMS, SINCE, UNTIL, HOUR) is None


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE backfill_jobs SET since = 'not a time'",
        "UPDATE backfill_jobs SET streams = '{not json'",
        "UPDATE backfill_jobs SET status = 'exploded'",
        "DROP TABLE backfill_windows; DROP TABLE backfill_jobs",
    ],
)
async def test_a_row_it_cannot_read_is_left_to_the_store(tmp_path: Path, damage: str) -> None:
    url = await _done_store(tmp_path)
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.executescript(damage)
    conn.close()
    assert find_done_backfill_job(url, "acme", STREAMS, SINCE, UNTIL, HOUR) is None


def test_a_file_that_is_not_a_database_is_left_to_the_store(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not a SQLite file" * 100)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    assert find_done_backfill_job(url, "acme", STREAMS, SINCE, UNTIL, HOUR) is None


@pytest.mark.parametrize(
    "args",
    [
        ("", STREAMS, SINCE, UNTIL, HOUR, ()),
        ("acme", [], SINCE, UNTIL, HOUR, ()),
        ("acme", "ttp-url", SINCE, UNTIL, HOUR, ()),
        ("acme", STREAMS, SINCE, UNTIL, HOUR, ("",)),
        ("acme", STREAMS, SINCE.replace(tzinfo=None), UNTIL, HOUR, ()),
        ("acme", STREAMS, UNTIL, SINCE, HOUR, ()),
        ("acme", STREAMS, SINCE, UNTIL, timedelta(seconds=1.5), ()),
        ("acme", STREAMS, SINCE, UNTIL, timedelta(0), ()),
        ("acme", STREAMS, SINCE, SINCE + timedelta(days=30), timedelta(seconds=1), ()),
    ],
)
async def test_bad_arguments_fail_as_create_backfill_job_fails(tmp_path: Path, args: tuple[Any, ...]) -> None:
    url = await _done_store(tmp_path)
    with pytest.raises(ValueError) as from_store:  # noqa: PT011 - the message is compared below
        async with await StateStore.open(url) as store:
            await store.create_backfill_job(*args)
    with pytest.raises(ValueError) as read:  # noqa: PT011
        find_done_backfill_job(url, *args)
    assert str(read.value) == str(from_store.value)


_NO_SQLALCHEMY = """
import json, sys
from datetime import UTC, datetime, timedelta
from mimecast_siem.checkpoints import find_done_backfill_job
since = datetime.fromisoformat(sys.argv[2])
job = find_done_backfill_job(sys.argv[1], "acme", ["ttp-url", "ttp-attachment"], since, since + timedelta(hours=2, minutes=30), timedelta(hours=1))
json.dump({"found": job is not None, "modules": sorted(sys.modules)}, sys.stdout)
"""


async def test_it_imports_no_sqlalchemy(tmp_path: Path) -> None:
    url = await _done_store(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", _NO_SQLALCHEMY, url, SINCE.isoformat()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["found"]
    assert not [m for m in result["modules"] if m == "sqlalchemy" or m.startswith("sqlalchemy.")]
