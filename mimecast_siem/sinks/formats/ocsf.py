"""The ``ocsf`` format: Open Cybersecurity Schema Framework events (docs/sinks.md, section "OCSF").

Mapping (shared/docs/sinks.md section 5.1), built from the original Mimecast record (``event.raw``,
whose shape the Mimecast API fixes) so it does not depend on the details of the ECS document. Each
stream's mapper is ``StreamSpec.ocsf`` in its module under ``mimecast_siem/streams/`` (tools in
``streams/ocsf_map.py``); this module assembles the records:

==================  ======================================  ============================================
stream              class                                   Detection Finding (2004) when
==================  ======================================  ============================================
ttp-url             Email URL Activity 4012, Scan (3)       ``scanResult`` malicious or ``action`` block
ttp-attachment      Email File Activity 4011, Scan (3)      ``result`` malicious
ttp-impersonation   Email Activity 4009, Scan (3)           ``taggedMalicious`` or ``action`` block/bounce
held-messages       Email Activity 4009, Receive (2) when   never (a hold is not a verdict)
                    a message enters hold, Other (99)
                    "Left Hold" when it leaves
others (gauges,     Base Event 0, Other (99)                never
audit, plugins)
==================  ======================================  ============================================

Every record carries the required base attributes (``activity_id``, ``category_uid``, ``class_uid``,
``type_uid`` = class_uid x 100 + activity_id, ``severity_id``, ``time`` in epoch ms, ``metadata`` with
``product`` and ``version``), the Security Control profile attributes where Mimecast took an action
(``action_id``, ``disposition_id``, ``policy``), ``observables`` for the addresses, URLs, IPs, file
names and hashes, and every record field that has no OCSF home under ``unmapped``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats.base import Record
from mimecast_siem.streams import CATALOGUE, OcsfMapping, map_base_event
from mimecast_siem.streams.ocsf_map import OBS_EMAIL, OBS_FILE_NAME, OBS_HASH, OBS_IP, OBS_URL, observable, text_of

#: OCSF schema version the records follow (validated in the tests against the official export of
#: this version, shipped by the ``ocsf-json-schema`` package). 1.4.0 is the first with ``is_alert``,
#: the ``Observed`` security-control action (3) and ``policy`` in the Security Control profile.
OCSF_VERSION = "1.4.0"

PRODUCT = {"name": "Mimecast Email Security", "vendor_name": "Mimecast"}

SEVERITY_NAMES = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal"}

CATEGORY_NAMES = {0: "Uncategorized", 2: "Findings", 4: "Network Activity"}

CLASS_NAMES = {
    0: "Base Event",
    2004: "Detection Finding",
    4009: "Email Activity",
    4011: "Email File Activity",
    4012: "Email URL Activity",
}

ACTIVITY_NAMES = {
    4009: {1: "Send", 2: "Receive", 3: "Scan", 4: "Trace", 5: "MTA Relay"},
    4011: {1: "Send", 2: "Receive", 3: "Scan"},
    4012: {1: "Send", 2: "Receive", 3: "Scan"},
    2004: {1: "Create", 2: "Update", 3: "Close"},
    0: {},
}


class OcsfOptions(BaseModel):
    """Options of the ``ocsf`` format."""

    model_config = ConfigDict(extra="forbid")

    findings: bool = Field(default=True, description="Also emit a Detection Finding (2004) for malicious verdicts.")
    raw_data: bool = Field(default=False, description="Put the original record (JSON text) in raw_data.")


class OcsfEncoder:
    """Encode an event as one OCSF activity record, plus a Detection Finding for malicious verdicts."""

    name = "ocsf"

    def __init__(self, options: OcsfOptions | None = None) -> None:
        self.options = options or OcsfOptions()

    def encode(self, event: Event) -> list[Record]:
        """Return ``[activity]`` or ``[activity, finding]``."""
        raw = event.raw if isinstance(event.raw, dict) else {}
        spec = CATALOGUE.get(event.stream)
        mapper = spec.ocsf if spec is not None and spec.ocsf is not None else map_base_event
        mapped = mapper(event, raw)
        activity = _base_record(event, raw, mapped, raw_data=self.options.raw_data)
        records: list[Record] = [activity]
        if self.options.findings and mapped.finding is not None:
            records.append(_finding_record(event, mapped, activity))
        return records


# --- mapping results -----------------------------------------------------------------------------


# --- small, defensive readers --------------------------------------------------------------------


# --- per-stream mappers --------------------------------------------------------------------------


# --- record assembly -----------------------------------------------------------------------------


def _time_ms(event: Event) -> int:
    return int(event.timestamp.timestamp() * 1000)


def _original_time(raw: dict[str, Any]) -> str | None:
    for key in ("date", "eventTime", "dateReceived", "timestamp"):
        found = text_of(raw.get(key))
        if found:
            return found
    return None


def _classify(record: dict[str, Any], class_uid: int, activity_id: int, activity_name: str | None) -> None:
    category_uid = class_uid // 1000
    record["category_uid"] = category_uid
    record["category_name"] = CATEGORY_NAMES.get(category_uid, "Other")
    record["class_uid"] = class_uid
    record["class_name"] = CLASS_NAMES[class_uid]
    record["activity_id"] = activity_id
    name = activity_name or ACTIVITY_NAMES[class_uid].get(activity_id, "Other")
    record["activity_name"] = name
    record["type_uid"] = class_uid * 100 + activity_id
    record["type_name"] = f"{CLASS_NAMES[class_uid]}: {name}"


@lru_cache(maxsize=256, typed=True)
def _classification(class_uid: int, activity_id: int, activity_name: str | None) -> dict[str, Any]:
    """The classification attributes :func:`_classify` writes (a few per stream): memoised, copied per
    record. ``typed``: a class 1 and a class ``True`` are written differently, so are not the same key."""
    head: dict[str, Any] = {}
    _classify(head, class_uid, activity_id, activity_name)
    return head


#: The status attributes of every activity record, after its ``time``.
_ACTIVITY_STATUS: dict[str, Any] = {"timezone_offset": 0, "status_id": 1, "status": "Success"}


def _metadata(event: Event, raw: dict[str, Any], *, profiles: list[str]) -> dict[str, Any]:
    stream = event.stream
    metadata: dict[str, Any] = {
        "version": OCSF_VERSION,
        "product": {**PRODUCT, "feature": {"name": stream}},
        "log_name": stream,
        "log_provider": "mimecast-siem",
        "uid": event.event_id,
        "tenant_uid": event.tenant,
    }
    original = _original_time(raw)
    if original:
        metadata["original_time"] = original
    if profiles:
        metadata["profiles"] = profiles
    return metadata


def _base_record(event: Event, raw: dict[str, Any], mapped: OcsfMapping, *, raw_data: bool) -> dict[str, Any]:
    record = _classification(mapped.class_uid, mapped.activity_id, mapped.activity_name).copy()
    attributes = dict(mapped.attributes)
    severity_id = int(attributes.pop("severity_id", 1))
    record["severity_id"] = severity_id
    record["severity"] = SEVERITY_NAMES[severity_id]
    record["time"] = _time_ms(event)
    record.update(_ACTIVITY_STATUS)
    profiles: list[str] = []
    if mapped.control is not None or "policy" in attributes:
        profiles.append("security_control")
    if mapped.control is not None:
        action_id, action, disposition_id, disposition = mapped.control
        record.update(action_id=action_id, action=action, disposition_id=disposition_id, disposition=disposition)
    if mapped.finding is not None:
        record["is_alert"] = True
    record["metadata"] = _metadata(event, raw, profiles=profiles)
    record.update(attributes)
    if not record.get("observables"):
        record.pop("observables", None)
    # The record without its mapped keys, in its own order: a copy less a few keys (C) rather than a
    # comprehension over every key.
    unmapped = dict(raw)
    for key in mapped.mapped_keys:
        unmapped.pop(key, None)
    unmapped.update(record.pop("unmapped_extra", {}))
    if unmapped:
        record["unmapped"] = unmapped
    if raw_data:
        record["raw_data"] = orjson.dumps(raw, default=str).decode()
    return record


def _finding_record(event: Event, mapped: OcsfMapping, activity: dict[str, Any]) -> dict[str, Any]:
    spec = mapped.finding
    assert spec is not None
    record = _classification(2004, 1, None).copy()
    record["severity_id"] = 4
    record["severity"] = SEVERITY_NAMES[4]
    record["time"] = activity["time"]
    record["timezone_offset"] = 0
    record["status_id"] = 1
    record["status"] = "New"
    record["is_alert"] = True
    record["confidence_id"] = 3
    record["confidence"] = "High"
    metadata = dict(activity["metadata"])
    # The activity and its finding share a correlation id: the event id SIEMs dedupe on.
    metadata["correlation_uid"] = event.event_id
    metadata["uid"] = f"{event.event_id}-finding"
    record["metadata"] = metadata
    for key in ("action_id", "action", "disposition_id", "disposition", "policy"):
        if key in activity:
            record[key] = activity[key]
    analytic: dict[str, Any] = {"type_id": 1, "type": "Rule"}
    policy = activity.get("policy")
    analytic["name"] = policy["name"] if isinstance(policy, dict) and "name" in policy else spec.title
    record["finding_info"] = {
        "uid": event.event_id,
        "title": spec.title,
        "types": spec.types,
        "analytic": analytic,
        "attacks": spec.attacks,
        "created_time": activity["time"],
        "product_uid": "mimecast-siem",
    }
    if spec.evidence:
        record["evidences"] = [spec.evidence]
        observables = _evidence_observables(spec.evidence)
        if observables:
            record["observables"] = observables
    return record


def _evidence_observables(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """Observables of a finding, pointing into its own evidence (not into the activity record)."""
    # Written out (per finding): the candidates in this order, each kept when it has a value.
    found: list[dict[str, Any] | None] = []
    url = evidence.get("url")
    if isinstance(url, dict):
        found.append(observable("evidences[0].url.url_string", OBS_URL, url.get("url_string")))
    file = evidence.get("file")
    if isinstance(file, dict):
        found.append(observable("evidences[0].file.name", OBS_FILE_NAME, file.get("name")))
        hashes = file.get("hashes")
        if isinstance(hashes, list) and hashes and isinstance(hashes[0], dict):
            found.append(observable("evidences[0].file.hashes[0].value", OBS_HASH, hashes[0].get("value")))
    user = evidence.get("user")
    if isinstance(user, dict):
        found.append(observable("evidences[0].user.email_addr", OBS_EMAIL, user.get("email_addr")))
    endpoint = evidence.get("src_endpoint")
    if isinstance(endpoint, dict):
        found.append(observable("evidences[0].src_endpoint.ip", OBS_IP, endpoint.get("ip")))
    return [o for o in found if o is not None]
