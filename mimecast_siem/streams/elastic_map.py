"""Tools for the streams' Elastic rewrites (the json format's ``elastic-integration`` profile).

Elastic's Mimecast integration (``elastic/integrations``, package ``mimecast``) indexes each log type
in its own dataset and its pipelines place some fields differently from our native documents. A
stream with a counterpart there declares, in its module, ``StreamSpec.elastic_dataset`` (Elastic's
dataset name) and, where fields differ, ``StreamSpec.elastic`` (an :data:`ElasticRewrite` that
edits the document in place, written with the helpers below). ``sinks/formats/elastic_profile.py``
applies them; docs/elastic-compat.md lists every difference and why the native profile differs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

#: Rewrites a copy of a native document (the profile owns it) into Elastic's field placements.
ElasticRewrite = Callable[[dict[str, Any]], None]

#: Elastic's one dataset for every SIEM log type (the ``siem-*`` streams).
ELASTIC_SIEM_DATASET = "mimecast.siem_logs"


def section(document: dict[str, Any], key: str) -> dict[str, Any]:
    """``document[key]`` as a dict the rewrite owns (copied), created when missing."""
    value = document.get(key)
    owned = dict(value) if isinstance(value, Mapping) else {}
    document[key] = owned
    return owned


def mimecast_record(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The original record the native document keeps under ``mimecast``."""
    value = document.get("mimecast")
    return value if isinstance(value, Mapping) else {}


def address(value: Any) -> str | None:
    """An address given as text or as ``{"emailAddress": ...}``."""
    if isinstance(value, Mapping):
        value = value.get("emailAddress")
    return value if isinstance(value, str) and value else None


def split_user(user: dict[str, Any], email: str | None) -> None:
    """``user.email``/``name``/``domain`` the way Elastic's pipelines split an address."""
    if not email or "@" not in email:
        return
    name, _, domain = email.partition("@")
    user["email"] = email
    user["name"] = name
    user["domain"] = domain


def record_time_as_created(document: dict[str, Any]) -> None:
    """Elastic's TTP/DLP pipelines copy the record time into ``event.created`` (ours: when we read it)."""
    timestamp = document.get("@timestamp")
    if isinstance(timestamp, str):
        section(document, "event")["created"] = timestamp


def bone_case(text: str) -> str:
    """``Search Action`` -> ``search-action``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
