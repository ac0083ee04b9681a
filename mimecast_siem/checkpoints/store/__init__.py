"""The state store: the async face of the checkpoint database, one part per concern over the same tables.

Every public method is a coroutine that runs one transaction on a private single worker thread
(:class:`StoreCore`). The parts - checkpoints (and snapshots), seen ids, leases, backfill jobs, the
action audit, dead letters and idempotency keys - each live in their own module and call the small
synchronous SQL modules of the room (:mod:`..checkpointing`, :mod:`..leasing`, :mod:`..backfill` ...).
:class:`StateStore` composes them: one object, one engine, one thread.
"""

from __future__ import annotations

from .audit import AuditPart
from .backfill_jobs import BackfillJobsPart
from .checkpoints import CheckpointsPart
from .core import StoreCore
from .dead_letters import DeadLettersPart
from .idempotency import IdempotencyPart
from .leases import LeasesPart
from .seen import SeenIdsPart


class StateStore(
    CheckpointsPart,
    SeenIdsPart,
    LeasesPart,
    BackfillJobsPart,
    AuditPart,
    DeadLettersPart,
    IdempotencyPart,
    StoreCore,
):
    """Checkpoints, leases, seen ids, snapshots, backfill progress, the action audit, dead letters and
    idempotency keys.

    Create with :meth:`open` (which migrates the schema), use from any asyncio task, :meth:`close`
    at the end (or ``async with``).
    """


__all__ = [
    "AuditPart",
    "BackfillJobsPart",
    "CheckpointsPart",
    "DeadLettersPart",
    "IdempotencyPart",
    "LeasesPart",
    "SeenIdsPart",
    "StateStore",
    "StoreCore",
]
