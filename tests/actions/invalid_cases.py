"""Invalid parameters for every action, generated from the published schemas (the same ones
``action describe`` and the OpenAPI document show): a bogus value for every enum and one item too
many for every list with a limit, at the top level and one object level down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mimecast_siem.actions.catalogue import CATALOGUE
from mimecast_siem.actions.spec import ActionSpec

BOGUS = "definitely-not-allowed"


@dataclass(frozen=True)
class InvalidCase:
    action: str
    params: dict[str, Any]
    key: str  # the key the problem must name
    allowed: tuple[Any, ...] = ()  # allowed values the problem must list
    max_items: int | None = None  # the limit the message must state

    @property
    def id(self) -> str:
        return f"{self.action}:{self.key}:{'max' if self.max_items else 'enum'}"


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _branches(schema: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return [b for s in schema["anyOf"] for b in _branches(s, root) if b.get("type") != "null"]
    return [schema]


def _cases_for(spec: ActionSpec) -> list[InvalidCase]:
    root = spec.params.model_json_schema()
    out: list[InvalidCase] = []

    def walk(obj: dict[str, Any], prefix: str, wrap: Any, depth: int) -> None:
        for name, prop in obj.get("properties", {}).items():
            key = f"{prefix}{name}"
            for branch in _branches(prop, root):
                if "enum" in branch and len(branch["enum"]) > 1:
                    out.append(InvalidCase(spec.name, wrap({name: BOGUS}), key, tuple(branch["enum"])))
                if branch.get("type") == "array":
                    items = _branches(branch.get("items", {}), root)
                    if "maxItems" in branch:
                        n = branch["maxItems"] + 1
                        out.append(InvalidCase(spec.name, wrap({name: ["x"] * n}), key, max_items=branch["maxItems"]))
                    for item in items:
                        if "enum" in item:
                            out.append(InvalidCase(spec.name, wrap({name: [BOGUS]}), f"{key}[0]", tuple(item["enum"])))
                        if item.get("type") == "object" and depth == 0:
                            walk(item, f"{key}[0].", lambda v, name=name: wrap({name: [v]}), depth + 1)
                if branch.get("type") == "object" and depth == 0 and "properties" in branch:
                    walk(branch, f"{key}.", lambda v, name=name: wrap({name: v}), depth + 1)

    walk(root, "", lambda v: v, 0)
    return out


INVALID_CASES: list[InvalidCase] = [case for spec in CATALOGUE.values() for case in _cases_for(spec)]
