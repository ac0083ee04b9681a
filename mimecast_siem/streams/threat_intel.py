"""Normaliser of the threat-intel feeds: one STIX ``indicator`` object → one ECS ``threat.indicator`` event.

The feed (``/api/ttp/threat-intel/get-feed``, ``feedType`` ``malware_customer`` or ``malware_grid``)
answers STIX bundles (mimecast-api.md 4.12); the collector hands each ``indicator`` object of a
bundle to this normaliser. The object is parsed and validated with the ``stix2`` library (STIX 2.0
or 2.1, by its ``spec_version``), and its pattern is read with ``stix2-patterns`` (the library
``stix2`` validates patterns with), so hashes and other observables come from a real pattern parser
rather than a regular expression.

Versions: an indicator is republished with the same ``id`` and a later ``modified`` when Mimecast
revises it. ``event.id`` hashes the feed, the id and ``modified``, so each version is one event and
an overlap re-read of the same version is dropped as a duplicate.

An object the library refuses (a malformed hash, a missing required property) is still delivered,
read from the raw dict and tagged ``mimecast_siem_stix_invalid``: a feed entry is never dropped
silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from mimecast_siem.events import Event, stable_event_id
from mimecast_siem.streams import elastic_map as elastic
from mimecast_siem.streams import facts
from mimecast_siem.streams.normalise import (
    ECS_VERSION,
    NormaliseContext,
    finish_event,
    iso,
    number,
    parse_time,
    record_time,
    text,
)
from mimecast_siem.streams.spec import StreamSpec

TAG_STIX_INVALID = "mimecast_siem_stix_invalid"

#: ``feedType`` of each threat-intel stream.
FEED_TYPES: dict[str, str] = {"threat-intel-customer": "malware_customer", "threat-intel-grid": "malware_grid"}
_FEED_NAMES = {"malware_customer": "Mimecast Malware Customer", "malware_grid": "Mimecast Malware Grid"}
_DATASETS = {
    "threat-intel-customer": "mimecast.threat_intel_customer",
    "threat-intel-grid": "mimecast.threat_intel_grid",
}

#: STIX hash algorithm names → ECS ``hash.*`` keys.
_HASHES = {"md5": "md5", "sha-1": "sha1", "sha1": "sha1", "sha-256": "sha256", "sha256": "sha256",
           "sha-384": "sha384", "sha-512": "sha512", "sha512": "sha512", "ssdeep": "ssdeep", "tlsh": "tlsh"}  # fmt: skip


def threat_intel_event_id(stream: str) -> Callable[[Mapping[str, Any]], str]:
    """The ``event.id`` function of a feed stream: a hash of the feed, the indicator id and its version."""

    def event_id(record: Mapping[str, Any]) -> str:
        return stable_event_id(stream, record.get("id"), record.get("modified"))

    return event_id


def _unquote(value: str) -> str:
    """A STIX pattern string literal's text (``'a\\'b'`` → ``a'b``)."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        value = value[1:-1]
    return value.replace("\\'", "'").replace("\\\\", "\\")


def pattern_observables(pattern: str, spec_version: str) -> dict[str, list[tuple[list[Any], str, str]]]:
    """``{object type: [(property path, operator, value)]}`` of a STIX pattern, by ``stix2-patterns``.

    Raises:
        ValueError: the pattern does not parse.
    """
    if spec_version == "2.0":
        from stix2patterns.v20.pattern import Pattern
    else:
        from stix2patterns.v21.pattern import Pattern
    try:
        comparisons = Pattern(pattern).inspect().comparisons
    except Exception as exc:  # the parser raises its own ParseException and antlr errors
        raise ValueError(f"the STIX pattern does not parse: {exc}") from None
    return {
        str(kind): [(list(path), str(op), _unquote(str(value))) for path, op, value in entries]
        for kind, entries in comparisons.items()
    }


def stix_labels(value: Any) -> list[str]:
    """The labels of an indicator: a list of non-empty strings (one string counts as one label)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [label for label in value if isinstance(label, str) and label.strip()]


def validate_stix(record: Mapping[str, Any]) -> str | None:
    """``None`` when ``stix2`` accepts the object, else why not (one line)."""
    import stix2
    import stix2.exceptions

    try:
        stix2.parse(dict(record), allow_custom=True)
    except (stix2.exceptions.STIXError, ValueError, TypeError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    except Exception as exc:  # the validator itself fails on some hostile objects (an empty pattern)
        return f"stix2 could not check the object ({type(exc).__name__})"
    return None


def indicator_fields(observables: Mapping[str, list[tuple[list[Any], str, str]]]) -> tuple[str | None, dict[str, Any]]:
    """ECS ``threat.indicator.type`` and its observable fields from a pattern's comparisons (``=`` only)."""
    fields: dict[str, Any] = {}
    kinds: list[str] = []
    for kind, entries in observables.items():
        for path, op, value in entries:
            if op != "=" or not value:
                continue
            head = str(path[0]) if path else ""
            if kind == "file" and head == "hashes" and len(path) > 1:
                key = _HASHES.get(str(path[1]).lower())
                if key:
                    fields.setdefault("file", {}).setdefault("hash", {})[key] = value.lower()
                    kinds.append("file")
            elif kind == "file" and head == "name":
                fields.setdefault("file", {})["name"] = value
                kinds.append("file")
            elif kind == "url" and head == "value":
                fields["url"] = {"full": value, "original": value}
                kinds.append("url")
            elif kind == "domain-name" and head == "value":
                fields["url"] = {**fields.get("url", {}), "domain": value}
                kinds.append("domain-name")
            elif kind in ("ipv4-addr", "ipv6-addr") and head == "value":
                fields["ip"] = value
                kinds.append(kind)
            elif kind == "email-addr" and head == "value":
                fields["email"] = {"address": value}
                kinds.append("email-addr")
    return (kinds[0] if kinds else None), fields


def confidence_label(value: Any) -> str | None:
    """ECS ``threat.indicator.confidence`` from a STIX 0-100 confidence (STIX 2.1 High/Medium/Low scale)."""
    score = number(value)
    if score is None or not 0 <= score <= 100:
        return None
    if score == 0:
        return "None"
    if score < 30:
        return "Low"
    if score < 70:
        return "Medium"
    return "High"


def _hashes(fields: Mapping[str, Any]) -> list[str]:
    file_fields = fields.get("file")
    if not isinstance(file_fields, Mapping):
        return []
    hashes = file_fields.get("hash")
    return [str(v) for v in hashes.values()] if isinstance(hashes, Mapping) else []


def _indicator_fields(
    feed_type: str,
    record: Mapping[str, Any],
    *,
    indicator_type: str | None,
    observed: dict[str, Any],
    first_seen: datetime | None,
    modified: datetime | None,
) -> dict[str, Any]:
    """ECS ``threat.*`` and ``related.hash`` without empty values (written out, in build_event()'s order).

    The observable fields (:func:`indicator_fields`) never hold empty values: only comparisons with a
    value become fields.
    """
    indicator: dict[str, Any] = {}
    if indicator_type is not None:
        indicator["type"] = indicator_type
    name = text(record.get("name"))
    if name is not None:
        indicator["name"] = name
    description = text(record.get("description"))
    if description is not None:
        indicator["description"] = description
    indicator["provider"] = "Mimecast"
    confidence = confidence_label(record.get("confidence"))
    if confidence is not None:
        indicator["confidence"] = confidence
    if first_seen is not None:
        indicator["first_seen"] = iso(first_seen)
    if modified is not None:
        indicator["modified_at"] = iso(modified)
    indicator.update(observed)
    feed = {"name": _FEED_NAMES[feed_type], "description": f"Mimecast threat-intel feed {feed_type}"}
    fields: dict[str, Any] = {"threat": {"feed": feed, "indicator": indicator}}
    hashes = _hashes(observed)
    if hashes:
        fields["related"] = {"hash": hashes}
    return fields


def threat_intel_normaliser(stream: str) -> Callable[[Mapping[str, Any], NormaliseContext], Event]:
    """The normaliser of one feed stream (``threat-intel-customer`` or ``threat-intel-grid``)."""
    feed_type = FEED_TYPES[stream]
    dataset = _DATASETS[stream]
    event_id_of = threat_intel_event_id(stream)

    def normalise(record: Mapping[str, Any], ctx: NormaliseContext) -> Event:
        """A STIX ``indicator`` object of the feed → ECS enrichment event."""
        # The document is written out in build_event()'s order and closed by finish_event() (issue 16).
        when, parsed = record_time(record, "modified", ctx)
        tags: list[str] = []
        problem = validate_stix(record)
        pattern = text(record.get("pattern"))
        spec_version = text(record.get("spec_version")) or "2.0"
        indicator_type: str | None = None
        observed: dict[str, Any] = {}
        if pattern is not None:
            try:
                indicator_type, observed = indicator_fields(pattern_observables(pattern, spec_version))
            except ValueError as exc:
                problem = problem or str(exc)
        if problem is not None:
            tags.append(TAG_STIX_INVALID)
        first_seen = parse_time(record.get("valid_from")) or parse_time(record.get("created"))
        modified = parse_time(record.get("modified"))
        tags.extend(stix_labels(record.get("labels")))
        mimecast = dict(record)
        if problem is not None:
            mimecast["stix_problem"] = problem
        fields = _indicator_fields(
            feed_type,
            record,
            indicator_type=indicator_type,
            observed=observed,
            first_seen=first_seen,
            modified=modified,
        )
        event_id = event_id_of(record)
        event: dict[str, Any] = {
            "id": event_id,
            "module": "mimecast",
            "dataset": dataset,
            "provider": stream,
            "created": iso(ctx.observed_at),
            "kind": "enrichment",
            "category": ["threat"],
            "type": ["indicator"],
            "severity": 5,
        }
        reference = text(record.get("id"))
        if reference is not None:
            event["reference"] = reference
        document: dict[str, Any] = {"@timestamp": iso(when), "ecs": {"version": ECS_VERSION}, "event": event}
        document.update(fields)
        return finish_event(document, record, ctx, stream, event_id, when, parsed, mimecast, "log", tags)

    normalise.__name__ = f"normalise_{stream.replace('-', '_')}"
    return normalise


normalise_threat_intel_customer = threat_intel_normaliser("threat-intel-customer")
normalise_threat_intel_grid = threat_intel_normaliser("threat-intel-grid")
threat_intel_customer_event_id = threat_intel_event_id("threat-intel-customer")
threat_intel_grid_event_id = threat_intel_event_id("threat-intel-grid")


# --- CEF/LEEF facts -------------------------------------------------------------------------------


def threat_intel_facts(look: facts.Lookup) -> facts.EventFacts:
    """CEF/LEEF facts of a feed indicator."""
    kind = look.text(doc=("threat.indicator.type",))
    return facts.EventFacts(
        look.event.stream,
        look.event.event_id,
        look.event.tenant,
        look.event.timestamp,
        "Threat-intel indicator",
        event_class=f"{look.event.stream}:{facts.class_token(kind, 'indicator')}",
        action="indicator",
        severity=facts.doc_severity(look, default=5),
        url=look.text(doc=("threat.indicator.url.full",)),
        file_name=look.text(doc=("threat.indicator.file.name",)),
        file_hash=look.text(
            doc=(
                "threat.indicator.file.hash.sha256",
                "threat.indicator.file.hash.sha1",
                "threat.indicator.file.hash.md5",
            )
        ),
        category=look.text(raw=("labels",)),
        record_id=look.text(raw=("id",)),
        extras=facts.extras(
            ("feed", look.text(doc=("threat.feed.name",))),
            ("modified", look.text(raw=("modified",))),
            ("confidence", look.text(doc=("threat.indicator.confidence",))),
        ),
    )


# --- Elastic's integration (the json format's elastic-integration profile; docs/elastic-compat.md) --


def elastic_threat_intel(document: dict[str, Any]) -> None:
    """Elastic's ``threat_intel_malware_*`` placements: stamped with the indicator's creation time."""
    record = elastic.mimecast_record(document)
    created = record.get("created")
    # Elastic stamps a feed entry with its creation time (ours: the time of this version).
    if isinstance(created, str) and created:
        document["@timestamp"] = created


# --- the declarations -----------------------------------------------------------------------------
# OCSF: 1.4 has no event class for a threat-intel indicator feed (an indicator is neither an activity
# nor a finding about this tenant), so the feeds are Base Events (0) with the STIX object unmapped.


def _feed_spec(stream: str, title: str) -> StreamSpec:
    return StreamSpec(
        name=stream,
        kind="log",
        path="/api/ttp/threat-intel/get-feed",
        normalise=threat_intel_normaliser(stream),
        dataset=_DATASETS[stream],
        title=title,
        sourcetype=f"mimecast:threat:intel:{FEED_TYPES[stream].removeprefix('malware_')}",
        facts=threat_intel_facts,
        elastic_dataset="mimecast.threat_intel_" + FEED_TYPES[stream],
        elastic=elastic_threat_intel,
        paging="feed-token",
        time_field="modified",
        window_fields=("start", "end"),
        static_filters=MappingProxyType({"feedType": FEED_TYPES[stream], "fileType": "stix"}),
        id_fields=("id", "modified"),
        event_id_of=threat_intel_event_id(stream),
    )


#: The streams of this family, in registry order (``streams/registry.py``).
STREAMS: tuple[StreamSpec, ...] = (
    _feed_spec(
        "threat-intel-customer", "Threat-intel feed (malware_customer): file indicators seen in this account, as STIX."
    ),
    _feed_spec(
        "threat-intel-grid", "Threat-intel feed (malware_grid): file indicators seen across Mimecast's grid, as STIX."
    ),
)
