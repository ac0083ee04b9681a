"""Real database faults for atomicity tests: triggers that make one statement fail inside a commit."""

from __future__ import annotations

from sqlalchemy import create_engine, text

_SQLITE = """
CREATE TRIGGER poison_snapshot BEFORE INSERT ON snapshots
WHEN NEW.item_id = 'poison'
BEGIN SELECT RAISE(ABORT, 'poisoned snapshot item'); END
"""

_POSTGRES = [
    """
    CREATE FUNCTION poison_snapshot() RETURNS trigger AS $$
    BEGIN
        IF NEW.item_id = 'poison' THEN RAISE EXCEPTION 'poisoned snapshot item'; END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER poison_snapshot BEFORE INSERT ON snapshots FOR EACH ROW EXECUTE FUNCTION poison_snapshot()",
]


def install_poison_trigger(url: str) -> None:
    """Make inserting a snapshot item with id ``poison`` fail with a database error."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            statements = [_SQLITE] if engine.dialect.name == "sqlite" else _POSTGRES
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()
