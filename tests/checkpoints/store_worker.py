"""A separate process that uses the state store; driven by the multi-process tests.

Modes:

* ``counter``: wait for the go file, then ``--rounds`` times: take the lease of one key, read the
  checkpoint, commit it one second further (fenced by the lease), release. Prints the number of
  increments it made. If two processes ever held the lease at once, increments get lost and the
  final checkpoint falls short of the sum of all increments.
* ``race``: wait for the go file, try once to acquire each of ``--keys`` keys; print the keys won.
* ``claim``: wait for the go file, claim queued backfill jobs until none is left; print their ids.
* ``create``: wait for the go file, create the same backfill job; print its id.
* ``open``: wait for the go file, open the store (migrating it), print the versions it applied.
* ``hold``: acquire ``--keys`` keys with ``--ttl``, print ``held <epoch,...>``, then renew every
  ttl/4 forever (the test SIGKILLs it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mimecast_siem.checkpoints import StateStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TENANT = "acme"


def _wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"go file {path} never appeared")
        time.sleep(0.005)


async def counter(store: StateStore, owner: str, rounds: int) -> int:
    made = 0
    for _ in range(rounds):
        if not await store.acquire(TENANT, "counter", owner, timedelta(seconds=30)):
            await asyncio.sleep(0)
            continue
        current = await store.get_checkpoint(TENANT, "counter") or T0
        await store.commit_window(TENANT, "counter", current + timedelta(seconds=1), owner=owner)
        made += 1
        await store.release(owner, [(TENANT, "counter")])
    return made


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["counter", "race", "hold", "open", "claim", "create"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--go", type=Path)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--keys", type=int, default=1)
    parser.add_argument("--ttl", type=float, default=30.0)
    args = parser.parse_args()
    owner = f"worker-{os.getpid()}"
    keys = [(TENANT, f"stream-{i}") for i in range(args.keys)]
    if args.mode == "open":
        if args.go is not None:
            _wait_for(args.go, 60)
        opened = await StateStore.open(args.url)
        assert opened.schema is not None
        print(" ".join(str(v) for v in opened.schema.applied), flush=True)
        await opened.close()
        return 0
    store = await StateStore.open(args.url)
    try:
        if args.mode == "hold":
            ttl = timedelta(seconds=args.ttl)
            leases = [await store.acquire_lease(t, s, owner, ttl) for t, s in keys]
            if any(lease is None for lease in leases):
                print("refused", flush=True)
                return 1
            print("held " + ",".join(str(lease.epoch) for lease in leases if lease), flush=True)
            while True:
                await asyncio.sleep(args.ttl / 4)
                await store.renew(owner, keys, ttl)
        if args.go is not None:
            _wait_for(args.go, 60)
        if args.mode == "counter":
            print(await counter(store, owner, args.rounds), flush=True)
        elif args.mode == "create":
            created = await store.create_backfill_job(
                TENANT, ["ttp-url", "ttp-attachment"], T0, T0 + timedelta(days=2), timedelta(minutes=30)
            )
            print(created.id, flush=True)
        elif args.mode == "claim":
            claimed = []
            while claimed_job := await store.next_queued_backfill_job(owner, timedelta(seconds=args.ttl)):
                claimed.append(str(claimed_job.id))
            print(" ".join(claimed), flush=True)
        else:
            won = [f"{s}" for t, s in keys if await store.acquire(t, s, owner, timedelta(seconds=args.ttl))]
            print(" ".join(won), flush=True)
    finally:
        await store.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
