"""The OpenAPI 3.1 document and the ``GET /v1/actions`` catalogue, generated from the specs (pure).

One operation per action (``POST /v1/actions/<name>``) whose request schema embeds the action's
parameter model; every operation declares the bearer security scheme and the problem responses.
Parameter schemas come from pydantic (JSON Schema 2020-12, which OpenAPI 3.1 uses as is); shared
models (policy targets ...) land once under ``components.schemas``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from mimecast_siem import __version__
from mimecast_siem.actions.catalogue import CATALOGUE
from mimecast_siem.actions.outcome import PROBLEM_CONTENT_TYPE, problem_schema
from mimecast_siem.actions.spec import ActionSpec, ResultKind

REF_TEMPLATE = "#/components/schemas/{model}"
MAX_LIMIT = 100_000


@lru_cache(maxsize=1)
def _param_schemas() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(action name -> params schema reference, shared component schemas)."""
    models: list[tuple[type[BaseModel], Literal["validation"]]] = []
    seen: set[type[BaseModel]] = set()
    for spec in CATALOGUE.values():
        if spec.params not in seen:
            seen.add(spec.params)
            models.append((spec.params, "validation"))
    key_map, top = models_json_schema(models, ref_template=REF_TEMPLATE)
    refs = {name: dict(key_map[(spec.params, "validation")]) for name, spec in CATALOGUE.items()}
    return refs, dict(top.get("$defs", {}))


def params_schema(spec: ActionSpec) -> dict[str, Any]:
    """A self-contained JSON schema of an action's parameters (for ``action describe`` and /v1/actions)."""
    return spec.params.model_json_schema()


def request_schema(spec: ActionSpec) -> dict[str, Any]:
    """Schema of the ``POST /v1/actions/<name>`` body."""
    refs, _ = _param_schemas()
    props: dict[str, Any] = {
        "params": {**refs[spec.name], "description": f"The parameters of {spec.name} (an object)."},
        "tenant": {"type": "string", "minLength": 1, "maxLength": 63, "description": "Tenant to act on."},
        "dry_run": {"type": "boolean", "default": False, "description": "Return the request without sending it."},
    }
    if spec.kind is ResultKind.PAGED:
        props["limit"] = {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_LIMIT,
            "description": "Most records to return (pages are followed up to it).",
        }
    return {"type": "object", "additionalProperties": False, "properties": props}


def catalogue_entry(spec: ActionSpec) -> dict[str, Any]:
    """One action as listed by ``GET /v1/actions`` and ``action list``/``describe``."""
    return {
        "name": spec.name,
        "title": spec.title,
        "summary": spec.summary,
        "scope": spec.scope.value,
        "result": spec.kind.value,
        "method": spec.method,
        "path": spec.path,
        "permission": spec.permission,
        "source": spec.source,
    }


def parameter_table(spec: ActionSpec) -> list[dict[str, Any]]:
    """A flat description of the top-level parameters: name, required, type, default, allowed, description."""
    schema = params_schema(spec)
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        branches = prop.get("anyOf", [prop])
        types = sorted({b.get("type", "object") for b in branches if b.get("type") != "null"})
        allowed: list[Any] = []
        for b in branches:
            allowed.extend(b.get("enum", []))
            items = b.get("items", {})
            allowed.extend(items.get("enum", []) if isinstance(items, Mapping) else [])
        row: dict[str, Any] = {"name": name, "required": name in required, "type": "|".join(types) or "object"}
        if "default" in prop:
            row["default"] = prop["default"]
        if allowed:
            row["allowed"] = allowed
        for b in branches:
            for limit in ("maxItems", "maximum", "maxLength"):
                if limit in b:
                    row[limit] = b[limit]
        if prop.get("description"):
            row["description"] = prop["description"]
        rows.append(row)
    return rows


def _problem_responses(spec: ActionSpec | None) -> dict[str, Any]:
    ref = {"$ref": "#/components/responses/Problem"}
    codes = ["400", "401", "403", "404", "413", "429"]
    if spec is not None:
        codes += ["422", "502", "503"]
    return dict.fromkeys(codes, ref)


def _ok_response(spec: ActionSpec) -> dict[str, Any]:
    content: dict[str, Any] = {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "action": {"type": "string"},
                    "tenant": {"type": "string"},
                    "dry_run": {"type": "boolean"},
                    "result": {},
                    "requests": {"type": "array"},
                },
            }
        }
    }
    if spec.kind is ResultKind.BINARY:
        content["application/octet-stream"] = {
            "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
        }
    return {"description": "The action's result (or, for a dry run, the requests it would send).", "content": content}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (cached: the catalogue is fixed at import)."""
    _, components = _param_schemas()
    paths: dict[str, Any] = {
        "/v1/actions": {
            "get": {
                "operationId": "listActions",
                "summary": "The action catalogue with each action's parameter schema.",
                "tags": ["catalogue"],
                "responses": {"200": {"description": "The catalogue."}, **_problem_responses(None)},
            }
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "tags": ["catalogue"],
                "responses": {"200": {"description": "The OpenAPI document."}, **_problem_responses(None)},
            }
        },
    }
    for spec in CATALOGUE.values():
        paths[f"/v1/actions/{spec.name}"] = {
            "post": {
                "operationId": spec.name.replace("-", "_"),
                "summary": spec.title,
                "description": f"{spec.summary}\n\nScope: `{spec.scope.value}`. Mimecast: {spec.method} {spec.path}. "
                f"{spec.source}",
                "tags": [spec.tag],
                "x-scope": spec.scope.value,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": request_schema(spec)}},
                },
                "responses": {"200": _ok_response(spec), **_problem_responses(spec)},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mimecast-siem response actions",
            "version": __version__,
            "description": "Mimecast API 2.0 response actions. Bearer tokens carry scopes read, write and admin; "
            "errors are RFC 9457 problem documents.",
        },
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {**components, "Problem": problem_schema()},
            "responses": {
                "Problem": {
                    "description": "An RFC 9457 problem document.",
                    "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
            },
        },
    }


def catalogue_document() -> dict[str, Any]:
    """``GET /v1/actions``: every action with its parameter JSON schema."""
    return {
        "actions": [catalogue_entry(spec) | {"parameters": params_schema(spec)} for spec in CATALOGUE.values()],
        "count": len(CATALOGUE),
    }
