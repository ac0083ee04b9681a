"""docs/streams.md, rendered from the registry (``scripts/gen_stream_docs.py`` writes it)."""

from __future__ import annotations

import json

from mimecast_siem.streams.registry import CATALOGUE
from mimecast_siem.streams.spec import StreamSpec

_INTRO = """# Streams

<!-- Generated from the stream registry (mimecast_siem/streams/) by scripts/gen_stream_docs.py; do not edit. -->

Every stream is declared once, as a `StreamSpec` in its family's module under
`mimecast_siem/streams/` (docs/internals.md, "Adding a stream"). Config keys (`streams.<name>`),
the collector, the output formats, the demo and this page read that registry.

Kinds: `log` - time-windowed event logs, checkpointed; `snapshot` - a state list diffed against
the previous poll (an event when an item enters and when it leaves); `gauge` - one sample event per
poll that also sets a Prometheus gauge.
"""


def _code(value: str | None) -> str:
    return f"`{value}`" if value else "-"


def _records(spec: StreamSpec) -> str:
    return f"`data[0].{spec.record_key}`" if spec.record_key else "`data[]`"


def _window(spec: StreamSpec) -> str:
    if spec.window_fields is None:
        return "none"
    text = f"`{spec.window_fields[0]}`/`{spec.window_fields[1]}`"
    if spec.oldest_first:
        text += ", `oldestFirst`"
    if spec.max_history is not None:
        text += f" ({spec.max_history.days} days max)"
    return text


def _identity(spec: StreamSpec) -> str:
    if spec.id_fields:
        return ", ".join(spec.id_fields)
    return "tenant + poll time" if spec.kind == "gauge" else "-"


def render_stream_reference() -> str:
    """The text of docs/streams.md."""
    out = [_INTRO]
    out.append("## What each stream holds\n")
    out.append("| stream | kind | default | what it holds |")
    out.append("|---|---|---|---|")
    for spec in CATALOGUE.values():
        default = "yes" if spec.enabled_by_default else "no"
        out.append(f"| `{spec.name}` | {spec.kind} | {default} | {spec.title} |")
    out.append("\n`default`: polled for a tenant that does not list its `streams`.\n")
    out.append("## How each stream is fetched\n")
    out.append("| stream | endpoint | records | time field | window filters | event id from |")
    out.append("|---|---|---|---|---|---|")
    for spec in CATALOGUE.values():
        endpoint = _code(spec.path)
        if spec.static_filters:
            endpoint += " (" + ", ".join(f"`{k}: {json.dumps(v)}`" for k, v in spec.static_filters.items()) + ")"
        time_field = _code(spec.time_field) if spec.kind != "gauge" else "poll time"
        out.append(
            f"| `{spec.name}` | {endpoint} | {_records(spec)} | {time_field} | {_window(spec)} | {_identity(spec)} |"
        )
    out.append("\n## What the outputs say\n")
    out.append("| stream | ECS `event.dataset` | HEC sourcetype | OCSF class | CEF/LEEF facts |")
    out.append("|---|---|---|---|---|")
    for spec in CATALOGUE.values():
        ocsf = f"{spec.ocsf_class}" + ("" if spec.ocsf is not None else " (Base Event)")
        facts = "own reader" if spec.facts is not None else "generic"
        out.append(f"| `{spec.name}` | `{spec.dataset}` | `{spec.sourcetype}` | {ocsf} | {facts} |")
    out.append("")
    return "\n".join(out)
