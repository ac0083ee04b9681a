"""The action catalogue: every action of the Cyware "Mimecast 2.0.0" catalogue as one ActionSpec."""

from __future__ import annotations

from mimecast_siem.actions.catalogue import address_alteration, directory, logs_account, messages, policies, threats
from mimecast_siem.actions.spec import ActionSpec


def _index(*groups: tuple[ActionSpec, ...]) -> dict[str, ActionSpec]:
    out: dict[str, ActionSpec] = {}
    for group in groups:
        for spec in group:
            if spec.name in out:
                raise ValueError(f"duplicate action name {spec.name}")
            out[spec.name] = spec
    return dict(sorted(out.items()))


#: Every action, keyed by its kebab-case name.
CATALOGUE: dict[str, ActionSpec] = _index(
    directory.SPECS,
    address_alteration.SPECS,
    policies.SPECS,
    threats.SPECS,
    messages.SPECS,
    logs_account.SPECS,
)

__all__ = ["CATALOGUE"]
