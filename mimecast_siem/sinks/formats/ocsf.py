"""The ``ocsf`` format: Open Cybersecurity Schema Framework events (docs/sinks.md, section "OCSF").

Mapping (shared/docs/sinks.md section 5.1), built from the original Mimecast record (``event.raw``,
whose shape the Mimecast API fixes) so it does not depend on the details of the ECS document:

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

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field

from mimecast_siem.events import Event
from mimecast_siem.sinks.formats.base import Record

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

# Observable type ids (OCSF observable.type_id).
OBS_IP = 2
OBS_EMAIL = 5
OBS_URL = 6
OBS_FILE_NAME = 7
OBS_HASH = 8
OBSERVABLE_TYPES = {OBS_IP: "IP Address", OBS_EMAIL: "Email Address", OBS_URL: "URL String"}
OBSERVABLE_TYPES |= {OBS_FILE_NAME: "File Name", OBS_HASH: "Hash"}

DIRECTIONS = {"inbound": 1, "outbound": 2, "internal": 3}
DIRECTION_NAMES = {0: "Unknown", 1: "Inbound", 2: "Outbound", 3: "Internal", 99: "Other"}

# Security Control profile: (action_id, action, disposition_id, disposition).
_ALLOWED = (1, "Allowed", 1, "Allowed")
_DENIED = (2, "Denied", 2, "Blocked")
_QUARANTINED = (2, "Denied", 3, "Quarantined")
_OBSERVED = (3, "Observed", 15, "Detected")


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
        mapper = _MAPPERS.get(event.stream, _map_base_event)
        mapped = mapper(event, raw)
        activity = _base_record(event, raw, mapped, raw_data=self.options.raw_data)
        records: list[Record] = [activity]
        if self.options.findings and mapped.finding is not None:
            records.append(_finding_record(event, mapped, activity))
        return records


# --- mapping results -----------------------------------------------------------------------------


class _Mapped:
    """What a stream mapper decided: class, activity, class attributes, severity, leftovers."""

    __slots__ = ("activity_id", "activity_name", "attributes", "class_uid", "control", "finding", "mapped_keys")

    def __init__(
        self,
        class_uid: int,
        activity_id: int,
        attributes: dict[str, Any],
        *,
        mapped_keys: set[str],
        control: tuple[int, str, int, str] | None = None,
        finding: _FindingSpec | None = None,
        activity_name: str | None = None,
    ) -> None:
        self.class_uid = class_uid
        self.activity_id = activity_id
        self.activity_name = activity_name
        self.attributes = attributes
        self.mapped_keys = mapped_keys
        self.control = control
        self.finding = finding


class _FindingSpec:
    __slots__ = ("attacks", "evidence", "title", "types")

    def __init__(self, title: str, types: list[str], attacks: list[dict[str, Any]], evidence: dict[str, Any]) -> None:
        self.title = title
        self.types = types
        self.attacks = attacks
        self.evidence = evidence


# --- small, defensive readers --------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A non-empty string, or None (records carry numbers, nulls and 'N/A' in odd places)."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _address(value: Any) -> str | None:
    """An email address from a string or a Mimecast ``{emailAddress, displayableName}`` object."""
    if isinstance(value, dict):
        return _text(value.get("emailAddress"))
    text = _text(value)
    if text and text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip() or None
    return text


def _strings(value: Any) -> list[str]:
    """The non-empty strings of a list (records sometimes carry a scalar or null instead)."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str) and v.strip()]


def _lower(value: Any) -> str:
    return (_text(value) or "").lower()


def _observable(name: str, type_id: int, value: Any) -> dict[str, Any] | None:
    text = _text(value)
    if text is None:
        return None
    return {"name": name, "type_id": type_id, "type": OBSERVABLE_TYPES[type_id], "value": text}


def _unmapped_observable(field: str, type_id: int, raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """An observable of a record field that lands under ``unmapped``, valued exactly as it is there.

    The observable's ``name`` must resolve to its ``value`` in the OCSF record, so the value is the
    record's own text (not a cleaned copy); a ``{emailAddress, ...}`` object points at its address.
    """
    value = raw.get(field)
    name = f"unmapped.{field}"
    if isinstance(value, dict):
        value, name = value.get("emailAddress"), f"{name}.emailAddress"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value)
    if not text.strip():
        return None
    return {"name": name, "type_id": type_id, "type": OBSERVABLE_TYPES[type_id], "value": text}


def url_object(url: str, categories: list[str] | None = None) -> dict[str, Any]:
    """OCSF ``url`` object from a URL string; parsing is best effort (Mimecast URLs can be odd)."""
    obj: dict[str, Any] = {"url_string": url}
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is not None:
        if parts.scheme:
            obj["scheme"] = parts.scheme
        if parts.hostname:
            obj["hostname"] = parts.hostname
        if parts.path:
            obj["path"] = parts.path
        if parts.query:
            obj["query_string"] = parts.query
        if port is not None:
            obj["port"] = port
    if categories:
        obj["categories"] = categories
    return obj


def _direction(route: Any) -> int:
    return DIRECTIONS.get(_lower(route), 0)


def _control_for(action: Any) -> tuple[int, str, int, str] | None:
    """Security Control attributes for a Mimecast action word (allow, warn, block, hold, bounce ...)."""
    word = _lower(action)
    if not word or word in ("n/a", "none"):
        return None
    if word in ("allow", "allowed", "permit", "release", "released"):
        return _ALLOWED
    if word in ("hold", "held", "quarantine", "quarantined"):
        return _QUARANTINED
    if any(w in word for w in ("block", "bounce", "reject", "delete", "deny")):
        return _DENIED
    if "warn" in word:
        return (3, "Observed", 99, "Warned")
    return _OBSERVED


def _severity(malicious: bool, suspicious: bool = False) -> int:
    if malicious:
        return 4
    if suspicious:
        return 3
    return 1


# --- per-stream mappers --------------------------------------------------------------------------

_PHISHING_LINK = {
    "technique": {"uid": "T1566.002", "name": "Spearphishing Link"},
    "tactic": {"uid": "TA0001", "name": "Initial Access"},
}
_PHISHING_ATTACHMENT = {
    "technique": {"uid": "T1566.001", "name": "Spearphishing Attachment"},
    "tactic": {"uid": "TA0001", "name": "Initial Access"},
}
_PHISHING = {"technique": {"uid": "T1566", "name": "Phishing"}, "tactic": {"uid": "TA0001", "name": "Initial Access"}}
_IMPERSONATION = {
    "technique": {"uid": "T1656", "name": "Impersonation"},
    "tactic": {"uid": "TA0005", "name": "Defense Evasion"},
}


def _map_ttp_url(event: Event, raw: dict[str, Any]) -> _Mapped:
    url = _text(raw.get("url")) or ""
    category = _text(raw.get("category"))
    url_obj = url_object(url, [category] if category else None)
    verdict = _lower(raw.get("scanResult"))
    action = _lower(raw.get("action"))
    malicious = verdict == "malicious"
    attributes: dict[str, Any] = {
        "email_uid": _text(raw.get("messageId")) or event.event_id,
        "url": url_obj,
    }
    policy = _text(raw.get("ttpDefinition"))
    if policy:
        attributes["policy"] = {"name": policy}
    attributes["severity_id"] = _severity(malicious, action in ("warn", "block"))
    attributes["observables"] = [
        o
        for o in (
            _observable("url.url_string", OBS_URL, url),
            _unmapped_observable("userEmailAddress", OBS_EMAIL, raw),
            _unmapped_observable("fromUserEmailAddress", OBS_EMAIL, raw),
            _unmapped_observable("sendingIp", OBS_IP, raw),
        )
        if o is not None
    ]
    finding = None
    if malicious or action == "block":
        finding = _FindingSpec(
            title="Mimecast URL Protect: malicious URL",
            types=[category] if category else ["Malicious URL"],
            attacks=[_PHISHING_LINK],
            evidence=_with_user({"url": url_obj}, raw.get("userEmailAddress")),
        )
    return _Mapped(
        4012,
        3,
        attributes,
        mapped_keys={"url", "category", "messageId", "ttpDefinition", "action", "scanResult"},
        control=_control_for(action),
        finding=finding,
    )


def _map_ttp_attachment(event: Event, raw: dict[str, Any]) -> _Mapped:
    file_obj: dict[str, Any] = {"name": _text(raw.get("fileName")) or "", "type_id": 1, "type": "Regular File"}
    mime = _text(raw.get("fileType"))
    if mime:
        file_obj["mime_type"] = mime
    digest = _text(raw.get("fileHash"))
    if digest:
        file_obj["hashes"] = [{"algorithm_id": 3, "algorithm": "SHA-256", "value": digest}]
    verdict = _lower(raw.get("result"))
    malicious = verdict == "malicious"
    attributes: dict[str, Any] = {"email_uid": _text(raw.get("messageId")) or event.event_id, "file": file_obj}
    policy = _text(raw.get("definition"))
    if policy:
        attributes["policy"] = {"name": policy}
    attributes["severity_id"] = _severity(malicious, verdict in ("unknown", "timeout"))
    attributes["observables"] = [
        o
        for o in (
            _observable("file.name", OBS_FILE_NAME, raw.get("fileName")),
            _observable("file.hashes[0].value", OBS_HASH, digest),
            _unmapped_observable("senderAddress", OBS_EMAIL, raw),
            _unmapped_observable("recipientAddress", OBS_EMAIL, raw),
        )
        if o is not None
    ]
    control = _control_for(raw.get("actionTriggered"))
    if control is None and malicious:
        control = _OBSERVED
    finding = None
    if malicious:
        finding = _FindingSpec(
            title="Mimecast Attachment Protect: malicious attachment",
            types=["Malicious Attachment"],
            attacks=[_PHISHING_ATTACHMENT],
            evidence=_with_user({"file": file_obj}, raw.get("recipientAddress")),
        )
    return _Mapped(
        4011,
        3,
        attributes,
        mapped_keys={"fileName", "fileType", "fileHash", "messageId", "definition", "result"},
        control=control,
        finding=finding,
    )


def _with_user(evidence: dict[str, Any], address: Any) -> dict[str, Any]:
    """Add the affected user (the clicker, the recipient) to a finding's evidence when known."""
    email = _address(address)
    if email:
        # A user object needs one of account, name or uid: the address is the name Mimecast knows.
        evidence["user"] = {"name": email, "email_addr": email}
    return evidence


def _email(raw: dict[str, Any], *, uid_key: str, sender: Any, recipient: Any) -> dict[str, Any]:
    email: dict[str, Any] = {}
    for key, value in (
        ("uid", _text(raw.get(uid_key))),
        ("message_uid", _text(raw.get("messageId"))),
        ("subject", _text(raw.get("subject"))),
        ("from", _address(sender)),
    ):
        if value is not None:
            email[key] = value
    to = _address(recipient)
    if to:
        email["to"] = [to]
    return email


def _map_ttp_impersonation(event: Event, raw: dict[str, Any]) -> _Mapped:
    email = _email(raw, uid_key="id", sender=raw.get("senderAddress"), recipient=raw.get("recipientAddress"))
    tagged = raw.get("taggedMalicious") is True or _lower(raw.get("taggedMalicious")) == "true"
    action = _lower(raw.get("action"))
    attributes: dict[str, Any] = {"email": email, "direction_id": 1, "direction": DIRECTION_NAMES[1]}
    ip = _text(raw.get("senderIpAddress"))
    if ip:
        attributes["src_endpoint"] = {"ip": ip}
    policy = _text(raw.get("definition"))
    if policy:
        attributes["policy"] = {"name": policy}
    hits = raw.get("hits")
    attributes["severity_id"] = _severity(tagged, isinstance(hits, int) and hits > 0)
    attributes["observables"] = [
        o
        for o in (
            _observable("email.from", OBS_EMAIL, email.get("from")),
            _observable("email.to", OBS_EMAIL, (email.get("to") or [None])[0]),
            _observable("src_endpoint.ip", OBS_IP, ip),
        )
        if o is not None
    ]
    finding = None
    if tagged or any(w in action for w in ("block", "bounce")):
        evidence: dict[str, Any] = {}
        if ip:
            evidence["src_endpoint"] = {"ip": ip}
        if email.get("from"):
            evidence["user"] = {"name": email["from"], "email_addr": email["from"]}
        finding = _FindingSpec(
            title="Mimecast Impersonation Protect: impersonation attempt",
            types=_strings(raw.get("identifiers")) or ["Impersonation"],
            attacks=[_PHISHING, _IMPERSONATION],
            evidence=evidence,
        )
    return _Mapped(
        4009,
        3,
        attributes,
        mapped_keys={"id", "messageId", "subject", "senderAddress", "recipientAddress", "senderIpAddress"}
        | {"definition"},
        control=_control_for(action),
        finding=finding,
    )


def hold_transition(event: Event) -> str | None:
    """``entered`` / ``left`` for held-message events, read defensively from the document and extras."""
    document = event.document if isinstance(event.document, dict) else {}
    original = document.get("mimecast")
    if isinstance(original, dict) and original.get("transition") in ("entered", "left"):
        return str(original["transition"])
    hints: list[str] = []
    for source in (event.extra, event.document.get("event") if isinstance(event.document, dict) else None):
        if isinstance(source, dict):
            for key in ("transition", "action", "type"):
                value = source.get(key)
                if isinstance(value, list):
                    hints.extend(str(v).lower() for v in value)
                elif value is not None:
                    hints.append(str(value).lower())
    for hint in hints:
        if any(w in hint for w in ("left", "leave", "release", "exit", "removed")):
            return "left"
        if any(w in hint for w in ("enter", "held", "hold")):
            return "entered"
    return None


def _map_held_message(event: Event, raw: dict[str, Any]) -> _Mapped:
    email = _email(raw, uid_key="id", sender=raw.get("fromHeader") or raw.get("from"), recipient=raw.get("to"))
    size = raw.get("size")
    if isinstance(size, int) and not isinstance(size, bool):
        email["size"] = size
    direction = _direction(raw.get("route"))
    attributes: dict[str, Any] = {"email": email, "direction_id": direction, "direction": DIRECTION_NAMES[direction]}
    policy = _text(raw.get("policyInfo"))
    if policy:
        attributes["policy"] = {"name": policy}
    reason = _text(raw.get("reason"))
    if reason:
        attributes["message"] = reason
    attributes["severity_id"] = 1
    attributes["observables"] = [
        o
        for o in (
            _observable("email.from", OBS_EMAIL, email.get("from")),
            _observable("email.to", OBS_EMAIL, (email.get("to") or [None])[0]),
        )
        if o is not None
    ]
    mapped_keys = {"id", "subject", "from", "fromHeader", "to", "size", "route", "policyInfo", "reason"}
    if hold_transition(event) == "left":
        original = event.document.get("mimecast") if isinstance(event.document, dict) else None
        held_for = original.get("held_for_seconds") if isinstance(original, dict) else None
        if isinstance(held_for, int | float) and not isinstance(held_for, bool):
            # How long the message was held; OCSF has no attribute for it, so it joins unmapped.
            attributes["unmapped_extra"] = {"held_for_seconds": held_for}
        return _Mapped(4009, 99, attributes, mapped_keys=mapped_keys, activity_name="Left Hold")
    return _Mapped(4009, 2, attributes, mapped_keys=mapped_keys, control=_QUARANTINED)


def _map_base_event(event: Event, raw: dict[str, Any]) -> _Mapped:
    attributes: dict[str, Any] = {"severity_id": 1}
    info = _text(raw.get("eventInfo")) or _text(raw.get("auditType"))
    if info:
        attributes["message"] = info
    return _Mapped(0, 99, attributes, mapped_keys=set(), activity_name=event.stream or "Other")


_MAPPERS = {
    "ttp-url": _map_ttp_url,
    "ttp-attachment": _map_ttp_attachment,
    "ttp-impersonation": _map_ttp_impersonation,
    "held-messages": _map_held_message,
}


# --- record assembly -----------------------------------------------------------------------------


def _time_ms(event: Event) -> int:
    return int(event.timestamp.timestamp() * 1000)


def _original_time(raw: dict[str, Any]) -> str | None:
    for key in ("date", "eventTime", "dateReceived", "timestamp"):
        text = _text(raw.get(key))
        if text:
            return text
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


def _metadata(event: Event, raw: dict[str, Any], *, profiles: list[str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "version": OCSF_VERSION,
        "product": dict(PRODUCT, feature={"name": event.stream}),
        "log_name": event.stream,
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


def _base_record(event: Event, raw: dict[str, Any], mapped: _Mapped, *, raw_data: bool) -> dict[str, Any]:
    record: dict[str, Any] = {}
    _classify(record, mapped.class_uid, mapped.activity_id, mapped.activity_name)
    attributes = dict(mapped.attributes)
    severity_id = int(attributes.pop("severity_id", 1))
    record["severity_id"] = severity_id
    record["severity"] = SEVERITY_NAMES[severity_id]
    record["time"] = _time_ms(event)
    record["timezone_offset"] = 0
    record["status_id"] = 1
    record["status"] = "Success"
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
    unmapped = {k: v for k, v in raw.items() if k not in mapped.mapped_keys}
    unmapped.update(record.pop("unmapped_extra", {}))
    if unmapped:
        record["unmapped"] = unmapped
    if raw_data:
        record["raw_data"] = orjson.dumps(raw, default=str).decode()
    return record


def _finding_record(event: Event, mapped: _Mapped, activity: dict[str, Any]) -> dict[str, Any]:
    spec = mapped.finding
    assert spec is not None
    record: dict[str, Any] = {}
    _classify(record, 2004, 1, None)
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
    candidates: list[tuple[str, int, Any]] = []
    url = evidence.get("url")
    if isinstance(url, dict):
        candidates.append(("evidences[0].url.url_string", OBS_URL, url.get("url_string")))
    file = evidence.get("file")
    if isinstance(file, dict):
        candidates.append(("evidences[0].file.name", OBS_FILE_NAME, file.get("name")))
        hashes = file.get("hashes")
        if isinstance(hashes, list) and hashes and isinstance(hashes[0], dict):
            candidates.append(("evidences[0].file.hashes[0].value", OBS_HASH, hashes[0].get("value")))
    user = evidence.get("user")
    if isinstance(user, dict):
        candidates.append(("evidences[0].user.email_addr", OBS_EMAIL, user.get("email_addr")))
    endpoint = evidence.get("src_endpoint")
    if isinstance(endpoint, dict):
        candidates.append(("evidences[0].src_endpoint.ip", OBS_IP, endpoint.get("ip")))
    return [o for o in (_observable(name, type_id, value) for name, type_id, value in candidates) if o is not None]
