"""Property: no write action is ever sent twice after a 5xx, a dropped connection or a timeout.

For EVERY action that is not a read (writes and the generic action), Hypothesis picks how the
simulator breaks the write's request - a 5xx status, a connection closed without an answer, or an
answer slower than the client's timeout - and the requests that reached the simulator's endpoint
are counted: exactly one, whatever the retry policy allows, and the call's outcome is ``unknown``.
(The simulator counts a request when it answers; a delayed one is waited for.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mimecast_siem.actions.audit import AuditTrail
from mimecast_siem.actions.catalogue import CATALOGUE
from mimecast_siem.actions.service import ActionCall, ActionService, ClientPool
from mimecast_siem.actions.spec import Scope
from mimecast_siem.actions.validation import validate_params
from mimecast_siem.mimecast import RetryPolicy
from mimecast_siem.simulator.config import ScriptedFault
from tests.actions.cases import CASES, World
from tests.actions.conftest import ActionEnv
from tests.actions.test_write_safety import path_count, with_timeout

WRITES = sorted(name for name, spec in CATALOGUE.items() if spec.scope is not Scope.READ)
TIMEOUT = 0.5
#: Generous retries: if anything re-sent a write, it would show.
RETRY = RetryPolicy(max_attempts=5, backoff_initial=0.01, backoff_max=0.02, jitter=0.0)

faults = st.one_of(
    st.tuples(st.just("status"), st.sampled_from([500, 502, 503, 504, 509])),
    st.tuples(st.just("drop"), st.just(0)),
    st.tuples(st.just("delay"), st.just(0)),
)


def test_every_write_action_is_covered() -> None:
    assert len(WRITES) == 24  # 23 writes + the generic action
    assert "generic-action" in WRITES
    assert set(WRITES) <= set(CASES)


def write_path(name: str, params: dict[str, Any]) -> str:
    """The path the action's write goes to (the last request it builds)."""
    spec = CATALOGUE[name]
    return spec.build(validate_params(name, spec.params, params))[-1].path


@pytest.mark.slow
@pytest.mark.parametrize("name", WRITES)
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(fault=faults)
async def test_no_write_is_sent_twice(name: str, fault: tuple[str, int], action_env: ActionEnv) -> None:
    kind, status = fault
    params = CASES[name].params(World(action_env.world))
    path = write_path(name, params)
    before = path_count(action_env, path)
    action_env.sim.set_faults(
        script=[ScriptedFault(path=path, count=20, status=status or 500, kind=kind, delay=TIMEOUT * 3)]  # type: ignore[arg-type]
    )
    service = ActionService(
        with_timeout(action_env.settings, TIMEOUT), audit=AuditTrail(None), clients=ClientPool(retry=RETRY)
    )
    try:
        result = await service.run(ActionCall(action=name, params=params, who="property", channel="cli"))
        if kind == "delay":
            for _ in range(200):
                if path_count(action_env, path) > before:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)
    finally:
        await service.close()
        action_env.sim.clear_faults()
    assert path_count(action_env, path) - before == 1, (name, fault)
    assert result.outcome.value == "unknown", (name, fault, result.problem)
