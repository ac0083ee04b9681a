"""Schema migrations: from empty, re-run, upgrade, atomic failure, too-new schema, concurrent opens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, inspect, select, text

from mimecast_siem.checkpoints import MIGRATIONS, Migration, SchemaTooNew, StateStore
from mimecast_siem.checkpoints import schema as schema_module
from mimecast_siem.checkpoints.migrations import check_sequence

from .processes import run_together


@pytest.fixture
def engine(state_url: str) -> Iterator[Engine]:
    """A plain engine on the same database, to look at it from outside the store."""
    eng = create_engine(state_url)
    yield eng
    eng.dispose()


def _versions(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(schema_module.schema_version.c.version, schema_module.schema_version.c.description))
        return sorted((int(v), d) for v, d in rows)


async def test_migrates_an_empty_database_to_the_latest_version(state_url: str, engine: Engine) -> None:
    store = await StateStore.open(state_url)
    await store.close()
    assert store.schema is not None
    assert store.schema.from_version == 0
    assert store.schema.applied == tuple(m.version for m in MIGRATIONS)
    assert _versions(engine) == [(m.version, m.description) for m in MIGRATIONS]
    assert set(inspect(engine).get_table_names()) == set(schema_module.metadata.tables)


async def test_reopening_applies_nothing(state_url: str, engine: Engine) -> None:
    await (await StateStore.open(state_url)).close()
    again = await StateStore.open(state_url)
    await again.close()
    assert again.schema is not None
    assert again.schema.applied == ()
    assert again.schema.from_version == again.schema.to_version == MIGRATIONS[-1].version
    assert len(_versions(engine)) == len(MIGRATIONS)


async def test_migrated_database_matches_the_schema_module(state_url: str, engine: Engine) -> None:
    await (await StateStore.open(state_url)).close()
    inspector = inspect(engine)
    for name, table in schema_module.metadata.tables.items():
        columns = {c["name"]: c for c in inspector.get_columns(name)}
        assert set(columns) == {c.name for c in table.columns}, name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, f"{name}.{column.name}"
        assert inspector.get_pk_constraint(name)["constrained_columns"] == [c.name for c in table.primary_key], name
        indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes(name)}
        assert {tuple(c.name for c in ix.columns) for ix in table.indexes} <= indexed, name


async def test_upgrades_an_older_database_step_by_step(state_url: str, engine: Engine) -> None:
    old = await StateStore.open(state_url, migrations=MIGRATIONS[:1])
    await old.close()
    assert _versions(engine) == [(1, MIGRATIONS[0].description)]
    assert "backfill_jobs" not in inspect(engine).get_table_names()
    new = await StateStore.open(state_url)
    await new.close()
    assert new.schema is not None
    assert new.schema.from_version == 1
    assert new.schema.applied == tuple(m.version for m in MIGRATIONS[1:])
    assert "backfill_jobs" in inspect(engine).get_table_names()


def _create_then_fail(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))
    raise RuntimeError("step failed half-way")


async def test_a_failing_step_leaves_the_database_at_its_old_version(state_url: str, engine: Engine) -> None:
    await (await StateStore.open(state_url, migrations=MIGRATIONS[:1])).close()
    broken = (*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "fails", _create_then_fail))
    with pytest.raises(RuntimeError, match="step failed half-way"):
        await StateStore.open(state_url, migrations=broken)
    # all-or-nothing: not even the good steps 2..n of that run were kept
    assert _versions(engine) == [(1, MIGRATIONS[0].description)]
    tables = set(inspect(engine).get_table_names())
    assert "half_done" not in tables
    assert "backfill_jobs" not in tables


async def test_refuses_a_database_from_a_newer_release(state_url: str) -> None:
    await (await StateStore.open(state_url)).close()
    with pytest.raises(SchemaTooNew, match=f"schema version {MIGRATIONS[-1].version}, newer than this release"):
        await StateStore.open(state_url, migrations=MIGRATIONS[:1])


def test_migration_versions_must_run_without_gaps() -> None:
    check_sequence(MIGRATIONS)
    with pytest.raises(ValueError, match="expected 2"):
        check_sequence((MIGRATIONS[0], MIGRATIONS[2]))


def test_concurrent_opens_by_several_processes_migrate_once(state_url: str, engine: Engine, tmp_path: Path) -> None:
    outputs = run_together("open", state_url, 4, tmp_path / "go")
    applied = [out.split() for out in outputs]
    # exactly one process applied the steps; the others waited and found the schema current
    assert sorted(applied, key=len) == [[]] * 3 + [[str(m.version) for m in MIGRATIONS]]
    assert len(_versions(engine)) == len(MIGRATIONS)


async def test_keying_seen_ids_by_time_keeps_every_row(state_url: str, engine: Engine) -> None:
    """Migration 6 re-creates ``seen_ids`` keyed by (tenant, stream, event_time, event_id): the rows of
    a database at version 5 are all there afterwards, found by id with and without a time range."""
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    old = await StateStore.open(state_url, migrations=MIGRATIONS[:5])
    rows = [(f"{i:032x}", t0 + timedelta(seconds=i)) for i in range(1_100)]
    await old.commit_window("acme", "ttp-url", t0 + timedelta(hours=1), owner=None, seen=rows)
    await old.commit_window("other", "ttp-url", t0 + timedelta(hours=1), owner=None, seen=rows[:3])
    await old.close()
    assert inspect(engine).get_pk_constraint("seen_ids")["constrained_columns"] == ["tenant", "stream", "event_id"]
    new = await StateStore.open(state_url)
    try:
        assert new.schema is not None
        assert new.schema.applied == (6,)
        ids = [event_id for event_id, _ in rows]
        assert await new.seen_ids("acme", "ttp-url", ids) == set(ids)
        assert await new.seen_ids("acme", "ttp-url", ids, between=(rows[10][1], rows[19][1])) == set(ids[10:20])
        assert await new.seen_ids("other", "ttp-url", ids) == set(ids[:3])
        assert await new.prune_seen(t0 + timedelta(seconds=1_000)) == 1_003
    finally:
        await new.close()
    assert inspect(engine).get_pk_constraint("seen_ids")["constrained_columns"] == [
        "tenant",
        "stream",
        "event_time",
        "event_id",
    ]
    assert "seen_ids_v1" not in inspect(engine).get_table_names()
