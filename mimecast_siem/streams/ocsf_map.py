"""OCSF mapping tools for the streams' OCSF mappers (the ``ocsf`` format assembles the records).

A stream's OCSF mapper (``StreamSpec.ocsf``, written in the stream's module) reads the original
Mimecast record and returns an :class:`OcsfMapping`: the class and activity, the class attributes,
the Security Control profile attributes, the record keys it mapped (the rest goes to ``unmapped``)
and, for a malicious verdict, a :class:`FindingSpec`. Streams without a mapper are Base Events
(:func:`map_base_event`). The record assembly (metadata, severity names, findings) stays in
``sinks/formats/ocsf.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from mimecast_siem.events import Event
from mimecast_siem.streams.normalise import (
    SUBTECHNIQUE_PHISHING_ATTACHMENT,
    SUBTECHNIQUE_PHISHING_LINK,
    TACTIC_DEFENSE_EVASION,
    TACTIC_INITIAL_ACCESS,
    TECHNIQUE_IMPERSONATION,
    TECHNIQUE_PHISHING,
    url_parts,
)

# Observable type ids (OCSF observable.type_id).
OBS_IP = 2


OBS_EMAIL = 5


OBS_URL = 6


OBS_FILE_NAME = 7


OBS_HASH = 8


OBSERVABLE_TYPES = {OBS_IP: "IP Address", OBS_EMAIL: "Email Address", OBS_URL: "URL String"}
OBSERVABLE_TYPES |= {OBS_FILE_NAME: "File Name", OBS_HASH: "Hash"}


DIRECTIONS = {"inbound": 1, "outbound": 2, "internal": 3}


def attack(technique: Mapping[str, str], tactic: Mapping[str, str]) -> dict[str, Any]:
    """An OCSF ``attacks[]`` entry from the MITRE ATT&CK constants of ``streams/normalise.py``."""
    return {
        "technique": {"uid": technique["id"], "name": technique["name"]},
        "tactic": {"uid": tactic["id"], "name": tactic["name"]},
    }


#: The attacks the streams' findings name (the same techniques as their ECS ``threat.*``).
ATTACK_PHISHING = attack(TECHNIQUE_PHISHING, TACTIC_INITIAL_ACCESS)
ATTACK_PHISHING_LINK = attack(SUBTECHNIQUE_PHISHING_LINK, TACTIC_INITIAL_ACCESS)
ATTACK_PHISHING_ATTACHMENT = attack(SUBTECHNIQUE_PHISHING_ATTACHMENT, TACTIC_INITIAL_ACCESS)
ATTACK_IMPERSONATION = attack(TECHNIQUE_IMPERSONATION, TACTIC_DEFENSE_EVASION)


DIRECTION_NAMES = {0: "Unknown", 1: "Inbound", 2: "Outbound", 3: "Internal", 99: "Other"}


# Security Control profile: (action_id, action, disposition_id, disposition).
ALLOWED = (1, "Allowed", 1, "Allowed")


DENIED = (2, "Denied", 2, "Blocked")


QUARANTINED = (2, "Denied", 3, "Quarantined")


OBSERVED = (3, "Observed", 15, "Detected")


class OcsfMapping:
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
        finding: FindingSpec | None = None,
        activity_name: str | None = None,
    ) -> None:
        self.class_uid = class_uid
        self.activity_id = activity_id
        self.activity_name = activity_name
        self.attributes = attributes
        self.mapped_keys = mapped_keys
        self.control = control
        self.finding = finding


class FindingSpec:
    """The Detection Finding (2004) a mapper asks for: title, types, MITRE attacks, evidence."""

    __slots__ = ("attacks", "evidence", "title", "types")

    def __init__(self, title: str, types: list[str], attacks: list[dict[str, Any]], evidence: dict[str, Any]) -> None:
        self.title = title
        self.types = types
        self.attacks = attacks
        self.evidence = evidence


def text_of(value: Any) -> str | None:
    """A non-empty string, or None (records carry numbers, nulls and 'N/A' in odd places)."""
    if type(value) is str:  # the common case (str() of a str is the str itself)
        return value.strip() or None
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def address(value: Any) -> str | None:
    """An email address from a string or a Mimecast ``{emailAddress, displayableName}`` object."""
    if type(value) is str:  # the common case, as below without the text_of() call
        stripped = value.strip()
        if not stripped:
            return None
        if stripped[0] == "<" and stripped[-1] == ">":
            return stripped[1:-1].strip() or None
        return stripped
    if isinstance(value, dict):
        return text_of(value.get("emailAddress"))
    text = text_of(value)
    if text and text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip() or None
    return text


def strings(value: Any) -> list[str]:
    """The non-empty strings of a list (records sometimes carry a scalar or null instead)."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str) and v.strip()]


def lower(value: Any) -> str:
    """The value as lower-case text ("" when absent)."""
    if type(value) is str:  # the common case: text_of's stripping ("" for a blank string)
        return value.strip().lower()
    return (text_of(value) or "").lower()


def observable(name: str, type_id: int, value: Any) -> dict[str, Any] | None:
    """An OCSF observable pointing at ``name`` with the value as text, or None when empty."""
    text = value.strip() if type(value) is str else text_of(value)
    if not text:
        return None
    return {"name": name, "type_id": type_id, "type": OBSERVABLE_TYPES[type_id], "value": text}


def email_observables(email: Mapping[str, Any], ip: str | None = None) -> list[dict[str, Any]]:
    """The observables of an email object: its sender, its first recipient and, if known, the source IP."""
    found = []
    sender = observable("email.from", OBS_EMAIL, email.get("from"))
    if sender is not None:
        found.append(sender)
    recipient = observable("email.to", OBS_EMAIL, (email.get("to") or [None])[0])
    if recipient is not None:
        found.append(recipient)
    if ip is not None:
        source = observable("src_endpoint.ip", OBS_IP, ip)
        if source is not None:
            found.append(source)
    return found


def unmapped_observable(field: str, type_id: int, raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """An observable of a record field that lands under ``unmapped``, valued exactly as it is there.

    The observable's ``name`` must resolve to its ``value`` in the OCSF record, so the value is the
    record's own text (not a cleaned copy); a ``{emailAddress, ...}`` object points at its address.
    """
    value = raw.get(field)
    name = f"unmapped.{field}"
    if type(value) is str:  # the common case, as below: the text itself unless it is blank
        if not value.strip():
            return None
        return {"name": name, "type_id": type_id, "type": OBSERVABLE_TYPES[type_id], "value": value}
    if isinstance(value, dict):
        value, name = value.get("emailAddress"), f"{name}.emailAddress"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value)
    if not text.strip():
        return None
    return {"name": name, "type_id": type_id, "type": OBSERVABLE_TYPES[type_id], "value": text}


def url_object(url: str, categories: list[str] | None = None) -> dict[str, Any]:
    """OCSF ``url`` object from a URL string; parsing is best effort (Mimecast URLs can be odd).

    The parts are ``urllib.parse.urlsplit``'s (scheme, hostname, path, query, port; none when the URL
    does not split) taken from the normaliser's memoised ``url.*`` fields of the same text
    (:data:`~mimecast_siem.streams.normalise.url_parts`, which gives urlsplit's values): the URL the
    normaliser just parsed is not parsed again.
    """
    parts = url_parts(url)
    obj: dict[str, Any] = {"url_string": url}
    if "scheme" in parts:
        obj["scheme"] = parts["scheme"]
    if "domain" in parts:
        obj["hostname"] = parts["domain"]
    if "path" in parts:
        obj["path"] = parts["path"]
    if "query" in parts:
        obj["query_string"] = parts["query"]
    if "port" in parts:
        obj["port"] = parts["port"]
    if categories:
        obj["categories"] = categories
    return obj


def direction_id(route: Any) -> int:
    """OCSF direction id of a Mimecast route word (0 unknown)."""
    return DIRECTIONS.get(lower(route), 0)


def control_for(action: Any) -> tuple[int, str, int, str] | None:
    """Security Control attributes for a Mimecast action word (allow, warn, block, hold, bounce ...)."""
    return _control_for_word(lower(action))


@lru_cache(maxsize=256)
def _control_for_word(word: str) -> tuple[int, str, int, str] | None:
    # A few action words per stream: the answer is memoised (the tuples are constants).
    if not word or word in ("n/a", "none"):
        return None
    if word in ("allow", "allowed", "permit", "release", "released"):
        return ALLOWED
    if word in ("hold", "held", "quarantine", "quarantined"):
        return QUARANTINED
    if any(w in word for w in ("block", "bounce", "reject", "delete", "deny")):
        return DENIED
    if "warn" in word:
        return (3, "Observed", 99, "Warned")
    return OBSERVED


def ocsf_severity(malicious: bool, suspicious: bool = False) -> int:
    """OCSF severity id: High for malicious, Medium for suspicious, else Informational."""
    if malicious:
        return 4
    if suspicious:
        return 3
    return 1


def with_user(evidence: dict[str, Any], user_address: Any) -> dict[str, Any]:
    """Add the affected user (the clicker, the recipient) to a finding's evidence when known."""
    email = address(user_address)
    if email:
        # A user object needs one of account, name or uid: the address is the name Mimecast knows.
        evidence["user"] = {"name": email, "email_addr": email}
    return evidence


def email_object(raw: dict[str, Any], *, uid_key: str, sender: Any, recipient: Any) -> dict[str, Any]:
    """OCSF ``email`` object from a record (uid, message uid, subject, from, to)."""
    email: dict[str, Any] = {}
    # Written out (per event): each value read in this order and kept when present.
    uid = text_of(raw.get(uid_key))
    message_uid = text_of(raw.get("messageId"))
    subject = text_of(raw.get("subject"))
    from_ = address(sender)
    if uid is not None:
        email["uid"] = uid
    if message_uid is not None:
        email["message_uid"] = message_uid
    if subject is not None:
        email["subject"] = subject
    if from_ is not None:
        email["from"] = from_
    to = address(recipient)
    if to:
        email["to"] = [to]
    return email


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


def map_base_event(event: Event, raw: dict[str, Any]) -> OcsfMapping:
    """OCSF mapping of a stream without its own mapper: Base Event (0), activity Other."""
    attributes: dict[str, Any] = {"severity_id": 1}
    info = text_of(raw.get("eventInfo")) or text_of(raw.get("auditType"))
    if info:
        attributes["message"] = info
    return OcsfMapping(0, 99, attributes, mapped_keys=set(), activity_name=event.stream or "Other")


OcsfMapper = Callable[[Event, dict[str, Any]], OcsfMapping]
"""A stream's OCSF mapper: (event, its raw record) → :class:`OcsfMapping`."""
