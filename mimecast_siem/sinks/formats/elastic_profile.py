"""The ``elastic-integration`` ECS profile: documents shaped like Elastic's Mimecast integration writes them.

Elastic's Mimecast integration (``elastic/integrations``, package ``mimecast``) indexes each log type
in its own dataset (``mimecast.ttp_url_logs``, ``mimecast.dlp_logs`` ...) and its dashboards and
detection rules filter on ``event.dataset`` / ``data_stream.dataset`` and read the fields its ingest
pipelines set. With ``format_options: {ecs_profile: elastic-integration}`` on the ``json`` format,
:func:`elastic_integration_document` rewrites our native document for the streams both have so
those dashboards and rules work on our output unchanged:

* ``event.dataset`` and ``data_stream.{type, dataset, namespace}`` take Elastic's dataset names;
* fields Elastic's pipelines place differently are written where Elastic puts them (the table in
  docs/elastic-compat.md lists every one and why the native profile differs).

Everything else of the native document stays (extra fields do not break Elastic's dashboards), in
particular ``event.id`` (our stable dedupe id; Elastic's own ``_id`` fingerprints are not
reproducible outside its pipeline) and the original record under ``mimecast.*``. Streams Elastic
does not collect (held messages, hold summary, email queues, rejections, archive views, search logs)
keep their native dataset. Pure: the input document is never modified.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

#: ECS profiles the json format knows.
ECS_PROFILES: tuple[str, ...] = ("native", "elastic-integration")

#: Our stream → the dataset of Elastic's Mimecast integration that holds the same records.
ELASTIC_DATASETS: dict[str, str] = {
    "ttp-url": "mimecast.ttp_url_logs",
    "ttp-attachment": "mimecast.ttp_ap_logs",
    "ttp-impersonation": "mimecast.ttp_ip_logs",
    "audit": "mimecast.audit_events",
    "dlp": "mimecast.dlp_logs",
    "message-release": "mimecast.message_release_logs",
    "archive-search": "mimecast.archive_search_logs",
    "threat-intel-customer": "mimecast.threat_intel_malware_customer",
    "threat-intel-grid": "mimecast.threat_intel_malware_grid",
}
#: Elastic's one dataset for every SIEM log type (streams ``siem`` / ``siem-*``).
ELASTIC_SIEM_DATASET = "mimecast.siem_logs"


def elastic_dataset(stream: str) -> str | None:
    """Elastic's dataset for ``stream``, or ``None`` when Elastic's integration has no counterpart."""
    if stream in ELASTIC_DATASETS:
        return ELASTIC_DATASETS[stream]
    if stream == "siem" or stream.startswith("siem-"):
        return ELASTIC_SIEM_DATASET
    return None


def _section(document: dict[str, Any], key: str) -> dict[str, Any]:
    """``document[key]`` as a dict this function owns (copied), created when missing."""
    value = document.get(key)
    owned = dict(value) if isinstance(value, Mapping) else {}
    document[key] = owned
    return owned


def _mimecast(document: Mapping[str, Any]) -> Mapping[str, Any]:
    value = document.get("mimecast")
    return value if isinstance(value, Mapping) else {}


def _address(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("emailAddress")
    return value if isinstance(value, str) and value else None


def _split_user(user: dict[str, Any], email: str | None) -> None:
    """``user.email``/``name``/``domain`` the way Elastic's pipelines split an address."""
    if not email or "@" not in email:
        return
    name, _, domain = email.partition("@")
    user["email"] = email
    user["name"] = name
    user["domain"] = domain


def _record_time_as_created(document: dict[str, Any]) -> None:
    # Elastic's TTP/DLP pipelines copy the record time into event.created (ours: when we read it).
    timestamp = document.get("@timestamp")
    if isinstance(timestamp, str):
        _section(document, "event")["created"] = timestamp


def _ttp_url(document: dict[str, Any]) -> None:
    _record_time_as_created(document)


def _ttp_attachment(document: dict[str, Any]) -> None:
    _record_time_as_created(document)
    record = _mimecast(document)
    event = _section(document, "event")
    action = record.get("actionTriggered")
    if isinstance(action, str) and action:
        event["action"] = action.replace(",", "").replace(" ", "_")
    file_fields: dict[str, Any] = {}
    name = record.get("fileName")
    if isinstance(name, str) and name:
        file_fields["name"] = name
        if "." in name:
            file_fields["extension"] = name.rsplit(".", 1)[1]
    mime = record.get("fileType")
    if isinstance(mime, str) and mime:
        file_fields["mime_type"] = mime
    digest = record.get("fileHash")
    if isinstance(digest, str) and len(digest) == 64:
        file_fields["hash"] = {"sha256": digest}
    email = _section(document, "email")
    # Elastic writes one attachment object (ours: a list of attachment objects; same index mapping).
    email["attachments"] = {"file": file_fields} if file_fields else email.get("attachments")


def _ttp_impersonation(document: dict[str, Any]) -> None:
    _record_time_as_created(document)
    record = _mimecast(document)
    results = record.get("impersonationResults")
    if isinstance(results, list):
        similar = next(
            (r.get("similarDomain") for r in results if isinstance(r, Mapping) and r.get("similarDomain")), None
        )
        if isinstance(similar, str):
            _section(document, "source")["domain"] = similar


def _bone_case(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _audit(document: dict[str, Any]) -> None:
    record = _mimecast(document)
    audit_type = record.get("auditType")
    if isinstance(audit_type, str) and audit_type:
        _section(document, "event")["action"] = _bone_case(audit_type)
    user = record.get("user")
    if isinstance(user, str) and "@" in user:
        _split_user(_section(document, "user"), user)


def _dlp(document: dict[str, Any]) -> None:
    _record_time_as_created(document)


def _message_release(document: dict[str, Any]) -> None:
    record = _mimecast(document)
    event = _section(document, "event")
    status = record.get("status")
    if isinstance(status, str) and status:
        event["action"] = status
    event["type"] = ["info"]
    if record.get("rejectReason"):
        event["reason"] = record["rejectReason"]
    else:
        event.pop("reason", None)
    score = record.get("spamScore")
    if isinstance(score, int | float) and not isinstance(score, bool):
        event["risk_score"] = float(score)
    email = _section(document, "email")
    senders = [a for a in (_address(record.get("fromEnv")), _address(record.get("fromHdr"))) if a]
    if senders:
        email["from"] = {"address": list(dict.fromkeys(senders))}
    email.pop("sender", None)
    # Elastic's user.* is the mailbox owner (recipient inbound, sender outbound), not the operator.
    direction = str(record.get("route") or "").lower()
    recipients = email.get("to", {}).get("address") if isinstance(email.get("to"), Mapping) else None
    user: dict[str, Any] = {}
    if direction == "outbound" and senders:
        user["email"] = senders
    elif direction == "inbound" and recipients:
        user["email"] = list(recipients)
    if user:
        document["user"] = user
    else:
        document.pop("user", None)


def _archive_search(document: dict[str, Any]) -> None:
    record = _mimecast(document)
    details = {
        target: record.get(source)
        for source, target in (
            ("searchText", "text"),
            ("description", "description"),
            ("source", "source"),
            ("searchPath", "path"),
            ("searchReason", "reason"),
        )
        if record.get(source) not in (None, "")
    }
    mimecast = _section(document, "mimecast")
    if details:
        mimecast["search_details"] = details
    event = _section(document, "event")
    event["category"] = ["api"]
    event["type"] = ["admin"]
    email = record.get("emailAddr")
    if isinstance(email, str):
        _split_user(_section(document, "user"), email)


def _threat_intel(document: dict[str, Any]) -> None:
    record = _mimecast(document)
    created = record.get("created")
    # Elastic stamps a feed entry with its creation time (ours: the time of this version).
    if isinstance(created, str) and created:
        document["@timestamp"] = created


_REWRITES: dict[str, Callable[[dict[str, Any]], None]] = {
    "ttp-url": _ttp_url,
    "ttp-attachment": _ttp_attachment,
    "ttp-impersonation": _ttp_impersonation,
    "audit": _audit,
    "dlp": _dlp,
    "message-release": _message_release,
    "archive-search": _archive_search,
    "threat-intel-customer": _threat_intel,
    "threat-intel-grid": _threat_intel,
}


def elastic_integration_document(
    document: Mapping[str, Any], stream: str, *, namespace: str = "default"
) -> dict[str, Any]:
    """``document`` (native profile) as Elastic's Mimecast integration would index it; a new dict.

    Streams Elastic does not collect come back unchanged apart from ``data_stream`` (their native
    dataset), so one index template can hold every stream.
    """
    out = copy.deepcopy(dict(document))
    dataset = elastic_dataset(stream)
    event = _section(out, "event")
    if dataset is not None:
        event["dataset"] = dataset
        event["module"] = "mimecast"
        rewrite = _REWRITES.get(stream)
        if rewrite is not None:
            rewrite(out)
    out["data_stream"] = {
        "type": "logs",
        "dataset": event.get("dataset") or f"mimecast.{stream}",
        "namespace": namespace,
    }
    return out
