"""A small OCSF shape checker for tests: required attributes present, uids consistent, observables resolvable.

It encodes the rules of shared/docs/sinks.md section 5.1 (OCSF 1.x): ``type_uid = class_uid * 100 +
activity_id``, ``category_uid = class_uid // 1000``, the base required attributes and the required
attributes of the four classes we emit.
"""

from __future__ import annotations

from typing import Any

import orjson

BASE_REQUIRED = ("activity_id", "category_uid", "class_uid", "type_uid", "severity_id", "time", "metadata")
CLASS_REQUIRED: dict[int, tuple[str, ...]] = {
    0: (),
    2004: ("finding_info.uid", "finding_info.title"),
    4009: ("email", "direction_id"),
    4011: ("email_uid", "file.name", "file.type_id"),
    4012: ("email_uid", "url.url_string"),
}
SEVERITIES = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal"}


def resolve(record: dict[str, Any], path: str) -> Any:
    """Follow ``a.b[0].c`` through dicts and lists; KeyError when absent."""
    node: Any = record
    for part in path.split("."):
        name, _, rest = part.partition("[")
        if name:
            if not isinstance(node, dict) or name not in node:
                raise KeyError(path)
            node = node[name]
        while rest:
            index_text, _, rest = rest.partition("]")
            node = node[int(index_text)]
            rest = rest.lstrip("[")
    return node


def ocsf_problems(record: dict[str, Any]) -> list[str]:
    """Every shape problem of one OCSF record (empty list = valid)."""
    problems: list[str] = []
    try:
        orjson.loads(orjson.dumps(record))
    except (TypeError, orjson.JSONEncodeError) as exc:
        return [f"not JSON: {exc}"]
    for key in BASE_REQUIRED:
        if key not in record:
            problems.append(f"missing {key}")
    if problems:
        return problems
    class_uid, activity_id = record["class_uid"], record["activity_id"]
    if record["type_uid"] != class_uid * 100 + activity_id:
        problems.append(f"type_uid {record['type_uid']} != {class_uid}*100+{activity_id}")
    if record["category_uid"] != class_uid // 1000:
        problems.append(f"category_uid {record['category_uid']} does not match class {class_uid}")
    if class_uid not in CLASS_REQUIRED:
        problems.append(f"unexpected class_uid {class_uid}")
    for path in CLASS_REQUIRED.get(class_uid, ()):
        try:
            resolve(record, path)
        except (KeyError, IndexError, TypeError):
            problems.append(f"class {class_uid} requires {path}")
    if record["severity_id"] not in SEVERITIES:
        problems.append(f"severity_id {record['severity_id']} out of range")
    elif record.get("severity") != SEVERITIES[record["severity_id"]]:
        problems.append("severity caption does not match severity_id")
    if not isinstance(record["time"], int) or isinstance(record["time"], bool):
        problems.append("time must be integer epoch milliseconds")
    metadata = record["metadata"]
    for key in ("product", "version"):
        if key not in metadata:
            problems.append(f"metadata requires {key}")
    if not isinstance(metadata.get("product"), dict) or "vendor_name" not in metadata["product"]:
        problems.append("metadata.product.vendor_name missing")
    if "action_id" in record and "security_control" not in metadata.get("profiles", []):
        problems.append("action_id without the security_control profile")
    for obs in record.get("observables", []):
        for key in ("name", "type_id", "value"):
            if key not in obs:
                problems.append(f"observable lacks {key}")
        try:
            target = resolve(record, obs["name"])
        except (KeyError, IndexError, TypeError):
            problems.append(f"observable {obs.get('name')} does not point into the record")
            continue
        values = target if isinstance(target, list) else [target]
        if obs["value"] not in [str(v) for v in values]:
            problems.append(f"observable {obs['name']} value differs from the record")
    return problems
