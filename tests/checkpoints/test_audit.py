"""Action audit: round trip, ordering and filters, and no parameters or secrets stored."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from mimecast_siem.checkpoints import AuditRecord, StateStore

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
SECRET_TOKEN = "mcs_live_Zx9SECRETtoken0123456789"
SECRET_PARAM = "s3cr3t-password-in-generic-body"


def _record(at: datetime, action: str = "release-held-message", **overrides: object) -> AuditRecord:
    fields: dict[str, object] = {
        "at": at,
        "actor": "soar-playbook",
        "action": action,
        "tenant": "acme",
        "param_digest": _digest({"id": ["m1", "m2"], "body": SECRET_PARAM}),
        "dry_run": False,
        "outcome": "ok",
        "mimecast_status": 200,
        "duration_ms": 153,
    }
    fields.update(overrides)
    return AuditRecord(**fields)  # type: ignore[arg-type]


async def test_audit_round_trip(store: StateStore) -> None:
    written = _record(T0, error_code="err_validation_blank", outcome="refused", mimecast_status=400, dry_run=True)
    row_id = await store.record_audit(written)
    (back,) = await store.list_audit()
    assert back.id == row_id
    assert back == written  # every field, id aside
    assert back.at.tzinfo is UTC


async def test_refused_calls_without_tenant_or_status_are_recorded(store: StateStore) -> None:
    await store.record_audit(
        AuditRecord(
            at=T0,
            actor="anonymous",
            action="generic-action",
            param_digest=_digest({}),
            outcome="unauthorized",
        )
    )
    (back,) = await store.list_audit()
    assert (back.tenant, back.mimecast_status, back.error_code, back.duration_ms) == (None, None, None, 0)


async def test_list_is_newest_first_and_filters(store: StateStore) -> None:
    for i in range(5):
        await store.record_audit(_record(T0 + timedelta(minutes=i), "release-held-message" if i % 2 else "decode-url"))
    await store.record_audit(_record(T0 + timedelta(minutes=10), actor="analyst"))
    newest = await store.list_audit(limit=3)
    assert [r.at for r in newest] == [T0 + timedelta(minutes=m) for m in (10, 4, 3)]
    decoded = await store.list_audit(action="decode-url")
    assert [r.at for r in decoded] == [T0 + timedelta(minutes=m) for m in (4, 2, 0)]
    recent = await store.list_audit(since=T0 + timedelta(minutes=3))
    assert len(recent) == 3
    assert [r.actor for r in await store.list_audit(actor="analyst")] == ["analyst"]


async def test_no_parameter_or_secret_reaches_the_database(store: StateStore, state_url: str) -> None:
    await store.record_audit(_record(T0, actor="soar-playbook"))
    engine = create_engine(state_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                dump = "\n".join(
                    str(r[0]) for r in conn.execute(text("SELECT row_to_json(a)::text FROM action_audit a"))
                )
            else:
                dump = "\n".join(repr(tuple(r)) for r in conn.execute(text("SELECT * FROM action_audit")))
    finally:
        engine.dispose()
    assert "soar-playbook" in dump  # the dump is real
    assert SECRET_PARAM not in dump
    assert SECRET_TOKEN not in dump
    assert "m1" not in dump


async def test_sqlite_file_holds_no_secret_bytes(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "state.db"
    store = await StateStore.open(f"sqlite:///{path}")
    await store.record_audit(_record(T0))
    await store.close()
    raw = b"".join(p.read_bytes() for p in path.parent.glob("state.db*"))
    assert b"soar-playbook" in raw
    assert SECRET_PARAM.encode() not in raw


def _digest(params: object) -> str:
    return hashlib.sha256(repr(params).encode()).hexdigest()
