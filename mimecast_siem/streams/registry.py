"""The stream registry: every stream, from its family's module, in one ordered mapping.

A stream is declared once, as a :class:`~mimecast_siem.streams.spec.StreamSpec` in its family's
module (``STREAMS`` there). This module lists the families; config (stream names), the collector
(what to poll), the formats (CEF/LEEF facts, OCSF mapping, HEC sourcetype), the generated
docs/streams.md and the demo all read :data:`CATALOGUE`. docs/internals.md ("Adding a stream") is
the recipe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from mimecast_siem.streams import archive, audit, gateway, gateway_logs, siem, threat_intel, ttp
from mimecast_siem.streams.spec import StreamSpec

#: The family modules, in the order their streams are listed (config, docs, ``--help``).
FAMILIES = (ttp, gateway, audit, gateway_logs, archive, threat_intel, siem)

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


def _build() -> Mapping[str, StreamSpec]:
    catalogue: dict[str, StreamSpec] = {}
    for family in FAMILIES:
        for spec in family.STREAMS:
            if spec.name in catalogue:
                raise RuntimeError(f"stream {spec.name!r} is declared twice (second time in {family.__name__})")
            if not _NAME.match(spec.name):
                raise RuntimeError(f"stream name {spec.name!r} is not kebab-case ({family.__name__})")
            catalogue[spec.name] = spec
    return MappingProxyType(catalogue)


#: Every stream by name, in declaration order.
CATALOGUE: Mapping[str, StreamSpec] = _build()

#: The stream names, in declaration order (the config keys under ``streams:``).
STREAM_NAMES: tuple[str, ...] = tuple(CATALOGUE)


def stream_spec(name: str) -> StreamSpec:
    """The spec of stream ``name``; ``KeyError`` naming the allowed streams otherwise."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"unknown stream {name!r}; allowed: {', '.join(CATALOGUE)}") from None
