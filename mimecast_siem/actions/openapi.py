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
        codes += ["409", "422", "502", "503"]
    out: dict[str, Any] = dict.fromkeys(codes, ref)
    if spec is not None and spec.kind is not ResultKind.BINARY:
        out["504"] = {
            "description": "Outcome unknown (problem type `unknown`): the request may have reached Mimecast and got no "
            "usable answer (timeout, connection lost, 5xx). It was NOT sent again. The problem's `check` says how to "
            "find out whether it took effect; do not retry blindly (with the same Idempotency-Key a retry returns "
            "this answer again).",
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out


#: The ``Idempotency-Key`` request header of every action operation.
IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Run this request at most once: a repeat with the same key (per token, within 24 hours) returns "
    "the stored answer (header `Idempotent-Replayed: true`) instead of acting again; the same key with a different "
    "body is 422, a repeat while the first still runs is 409. 1-255 visible ASCII characters, such as a UUID. "
    "Ignored for dry runs and file downloads.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
}


def _result_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "action": {"type": "string", "description": "The action's name."},
            "tenant": {"type": "string", "description": "The tenant acted on."},
            "dry_run": {"type": "boolean", "description": "True when the requests were only rendered."},
            "outcome": {"type": "string", "enum": ["ok", "partial"], "description": "ok, or partial (HTTP 207)."},
            "result": {"description": "What Mimecast answered (for a partial result: the items that succeeded)."},
            "failed": {
                "type": "array",
                "description": "Partial results only: Mimecast's fail[] entries (code, message, key = the item).",
                "items": {"type": "object"},
            },
            "items": {
                "type": "object",
                "description": "Partial results only: counts of the batch's items.",
                "properties": {
                    "total": {"type": "integer"},
                    "succeeded": {"type": "integer"},
                    "failed": {"type": "integer"},
                },
            },
            "requests": {"type": "array", "description": "Dry runs only: the exact requests (method, URL, body)."},
        },
    }


def _partial_response() -> dict[str, Any]:
    return {
        "description": "Partly done: some items of the batch succeeded (`result`) and some failed (`failed`, with "
        "Mimecast's codes); `outcome` is `partial`. Retry only the failed items.",
        "content": {"application/json": {"schema": _result_schema()}},
    }


def _ok_response(spec: ActionSpec) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": _result_schema()}}
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
                "parameters": [IDEMPOTENCY_PARAMETER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": request_schema(spec)}},
                },
                "responses": {
                    "200": _ok_response(spec),
                    **({"207": _partial_response()} if spec.kind is not ResultKind.BINARY else {}),
                    **_problem_responses(spec),
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mimecast-siem response actions",
            "version": __version__,
            "description": "Mimecast API 2.0 response actions. Bearer tokens carry scopes read, write and admin; "
            "errors are RFC 9457 problem documents. A batch that partly succeeded answers 207 with both lists; a "
            "write is never re-sent once it may have reached Mimecast (504 `unknown` with what to check); "
            "`Idempotency-Key` makes a request safe to repeat. See docs/actions.md.",
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
