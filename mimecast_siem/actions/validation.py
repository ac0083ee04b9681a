"""Turn parameter validation failures into clear, actionable problems (pure).

Every problem names the key (``policy_information[0].policy.from.type``), says what is wrong, shows
the bad value (shortened), and lists what is allowed (enum values, or the keys an object accepts)
taken from the same JSON schema that ``action describe`` and the OpenAPI document publish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

MAX_VALUE_CHARS = 120

#: What a value that failed a pattern must look like, in words (a regular expression is no help to
#: an analyst). Keyed by the pattern; a pattern not listed falls back to the parameter's description.
PATTERN_WORDS: dict[str, str] = {
    r"^[A-Za-z0-9_\-=+/.:]+$": "a Mimecast secure id: letters, digits and _ - = + / . : only, as returned by the "
    "matching get or search action",
    r"^[^\x00-\x1f\x7f]*$": "text without control characters (no line breaks or tabs)",
    r"^[^\s\x00-\x1f\x7f]+$": "one word without spaces or control characters",
    r"^[A-Za-z0-9_.\-\[\]]+$": "a name of letters, digits and _ . - [ ] only",
    r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$": "an MD5, SHA-1 or SHA-256 hash in hexadecimal",
}


@dataclass(frozen=True, slots=True)
class ParamProblem:
    """One thing wrong with the parameters."""

    key: str
    message: str
    value: str | None = None
    allowed: list[Any] = field(default_factory=list)

    def render(self) -> str:
        text = f"{self.key}: {self.message}"
        if self.value is not None:
            text += f" (got {self.value})"
        if self.allowed:
            text += "; allowed: " + ", ".join(str(a) for a in self.allowed)
        return text

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "message": self.message}
        if self.value is not None:
            out["value"] = self.value
        if self.allowed:
            out["allowed"] = list(self.allowed)
        return out


class ParamsInvalid(ValueError):
    """The parameters of an action are invalid; ``problems`` lists every problem at once."""

    def __init__(self, action: str, problems: Sequence[ParamProblem]) -> None:
        self.action = action
        self.problems = list(problems)
        super().__init__(f"invalid parameters for {action}: " + "; ".join(p.render() for p in self.problems))


def render_key(loc: Sequence[str | int]) -> str:
    """``("a", 0, "b")`` -> ``a[0].b``; the empty location is the parameters object itself."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "params"


def short_value(value: Any) -> str:
    """A bounded, printable rendering of a bad value."""
    try:
        text = orjson.dumps(value, default=str).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 32:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        schema = root.get("$defs", {}).get(name, {})
        seen += 1
    return schema


def _branches(schema: Mapping[str, Any], root: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    schema = _resolve(schema, root)
    if "anyOf" in schema or "oneOf" in schema:
        out: list[Mapping[str, Any]] = []
        for branch in schema.get("anyOf", schema.get("oneOf", [])):
            out.extend(_branches(branch, root))
        return out
    return [schema]


def _step(schema: Mapping[str, Any], part: str | int, root: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for branch in _branches(schema, root):
        if isinstance(part, int) and branch.get("type") == "array":
            return dict(branch.get("items", {}))
        if isinstance(part, str):
            props = branch.get("properties")
            if isinstance(props, Mapping) and part in props:
                return dict(props[part])
            extra = branch.get("additionalProperties")
            if isinstance(extra, Mapping):
                return dict(extra)
    return None


def schema_at(root: Mapping[str, Any], loc: Sequence[str | int]) -> Mapping[str, Any] | None:
    """The sub-schema at ``loc`` (``None`` when the path leaves the schema)."""
    schema: Mapping[str, Any] | None = root
    for part in loc:
        if schema is None:
            return None
        schema = _step(schema, part, root)
    return schema


def allowed_values(root: Mapping[str, Any], loc: Sequence[str | int]) -> list[Any]:
    """Enum/const values allowed at ``loc`` (through arrays and nullable unions)."""
    schema = schema_at(root, loc)
    if schema is None:
        return []
    values: list[Any] = []
    for branch in _branches(schema, root):
        if branch.get("type") == "array":
            for inner in _branches(branch.get("items", {}), root):
                values.extend(inner.get("enum", []))
                if "const" in inner:
                    values.append(inner["const"])
        values.extend(branch.get("enum", []))
        if "const" in branch:
            values.append(branch["const"])
    return list(dict.fromkeys(values))


def allowed_keys(root: Mapping[str, Any], loc: Sequence[str | int]) -> list[str]:
    """Keys the object at ``loc`` accepts."""
    schema = schema_at(root, loc) if loc else root
    if schema is None:
        return []
    keys: list[str] = []
    for branch in _branches(schema, root):
        keys.extend(branch.get("properties", {}).keys())
    return list(dict.fromkeys(keys))


def _pattern_words(root: Mapping[str, Any], loc: Sequence[str | int], ctx: Mapping[str, Any]) -> str:
    """The expected form of a value that failed a pattern, in words."""
    words = PATTERN_WORDS.get(str(ctx.get("pattern", "")))
    if words:
        return words
    schema = schema_at(root, loc)
    texts = [b.get("description") for b in _branches(schema or {}, root)] + [(schema or {}).get("description")]
    for found in texts:
        if isinstance(found, str) and found:
            text = found.rstrip(".")
            return text[:1].lower() + text[1:] if text[1:2].islower() else text
    return "a value of the form described by `mimecast-siem action describe`"


def _clean_message(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def _loc(raw: Sequence[Any]) -> list[str | int]:
    # Drop pydantic's internal union/validator tags (e.g. "function-after[...]", "list[...]").
    out: list[str | int] = []
    for part in raw:
        internal_tag = isinstance(part, str) and part.endswith("]") and part.split("[", 1)[0].isidentifier()
        if isinstance(part, int | str) and not internal_tag:
            out.append(part)
    return out


def problems_from(exc: ValidationError, model: type[BaseModel]) -> list[ParamProblem]:
    """One :class:`ParamProblem` per pydantic error, with allowed values or keys where they help."""
    root = model.model_json_schema()
    problems: list[ParamProblem] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc = _loc(err.get("loc", ()))
        kind = err.get("type", "")
        key = render_key(loc)
        value: str | None = short_value(err.get("input"))
        allowed: list[Any] = []
        message = _clean_message(str(err.get("msg", "is invalid")))
        if kind == "missing":
            message, value = "is required", None
        elif kind == "extra_forbidden":
            message = "is not a known parameter"
            allowed = allowed_keys(root, loc[:-1])
        elif kind in ("literal_error", "enum"):
            message = "is not an allowed value"
            allowed = allowed_values(root, loc)
        elif kind == "too_long":
            ctx = err.get("ctx") or {}
            message = (
                f"has too many items: at most {ctx.get('max_length')} are allowed (got {ctx.get('actual_length')})"
            )
            value = None
        elif kind == "too_short":
            ctx = err.get("ctx") or {}
            message = f"needs at least {ctx.get('min_length')} item(s)"
            value = None
        elif kind in {"model_type", "dict_type"}:
            message = "must be an object"
            allowed = allowed_keys(root, loc)
        elif kind == "string_pattern_mismatch":
            message = "does not have the expected form; expected " + _pattern_words(root, loc, err.get("ctx") or {})
        elif kind == "value_error" and not loc:
            value = None  # a rule across several keys: the message names them
        if (key, message) in seen:
            continue  # unions report the same failure once per branch
        seen.add((key, message))
        problems.append(ParamProblem(key=key, message=message, value=value, allowed=allowed))
    return problems


MAX_PROBLEMS = 50


def length_problems(value: Any, root: Mapping[str, Any], loc: list[str | int] | None = None) -> list[ParamProblem]:
    """Lists longer than the schema allows, found before item validation.

    A list over its limit is the first thing to fix, and checking it first keeps a 5,000-item
    mistake from producing 5,000 item errors.
    """
    loc = loc or []
    schema = schema_at(root, loc) if loc else root
    if schema is None:
        return []
    out: list[ParamProblem] = []
    branches = _branches(schema, root)
    if isinstance(value, list):
        limits = [b["maxItems"] for b in branches if b.get("type") == "array" and "maxItems" in b]
        if limits and len(value) > max(limits):
            message = f"has too many items: at most {max(limits)} are allowed (got {len(value)})"
            return [ParamProblem(render_key(loc), message)]
        for index, item in enumerate(value[:1000]):
            out.extend(length_problems(item, root, [*loc, index]))
    elif isinstance(value, Mapping):
        for key, item in list(value.items())[:200]:
            if isinstance(key, str) and isinstance(item, list | Mapping) and schema_at(root, [*loc, key]) is not None:
                out.extend(length_problems(item, root, [*loc, key]))
    return out


def validate_params(action: str, model: type[BaseModel], params: Mapping[str, Any] | None) -> BaseModel:
    """Validate ``params`` against ``model`` or raise :class:`ParamsInvalid` with every problem."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ParamsInvalid(action, [ParamProblem("params", "must be a JSON object", short_value(params))])
    too_long = length_problems(params, model.model_json_schema())
    if too_long:
        raise ParamsInvalid(action, too_long[:MAX_PROBLEMS])
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        problems = problems_from(exc, model)
        if len(problems) > MAX_PROBLEMS:
            rest = len(problems) - MAX_PROBLEMS
            problems = [*problems[:MAX_PROBLEMS], ParamProblem("params", f"and {rest} more problems")]
        raise ParamsInvalid(action, problems) from None
