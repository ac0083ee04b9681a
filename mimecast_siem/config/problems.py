"""Turning validation failures into :class:`ConfigProblem`s an operator can act on.

Each problem names the key (``tenants.acme.timeout``), says what is allowed, shows the bad value
(masked for secrets) and where it came from (``config.yaml:12``, ``env MIMECAST_SIEM__...``,
``file /run/secrets/x``). Cross-references (duplicate names, routes naming unknown sinks) are
checked on the raw tree so they are reported together with every other problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from mimecast_siem.config.overrides import env_name
from mimecast_siem.config.schema import SECRET_FILE_SUFFIX, Shape, shape_at
from mimecast_siem.config.secrets import mask
from mimecast_siem.config.sources import SourceMap, TreePath, render_path
from mimecast_siem.errors import ConfigProblem, did_you_mean

_BOUND_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def problems_from_validation(
    exc: ValidationError,
    tree: Any,
    sources: SourceMap,
    *,
    root: TreePath = (),
    file_label: str | None = None,
) -> list[ConfigProblem]:
    """One problem per pydantic error of ``exc`` (raised validating ``tree`` at ``root``)."""
    subtree = _get(tree, root)
    problems: list[ConfigProblem] = []
    for error in exc.errors(include_url=False):
        path = (*root, *_tree_path(subtree, error["loc"]))
        problems.append(_problem(error, path, tree, sources, file_label))
    return problems


def _tree_path(node: Any, loc: Sequence[str | int]) -> TreePath:
    """The tree path an error location points at, without pydantic's union/validator tags."""
    path: list[str | int] = []
    for n, element in enumerate(loc):
        last = n == len(loc) - 1
        step = _step(node, element)
        if step is not None:
            node = node[element]
            path.append(element)
        elif last and isinstance(node, dict):
            path.append(element)  # a missing key, or one that is not allowed
    return tuple(path)


def _step(node: Any, element: str | int) -> str | int | None:
    if isinstance(node, dict) and isinstance(element, str) and element in node:
        return element
    if isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node):
        return element
    return None


def _problem(
    error: ErrorDetails, path: TreePath, tree: Any, sources: SourceMap, file_label: str | None
) -> ConfigProblem:
    kind = error["type"]
    key = render_path(path, tree) or "(top level)"
    if kind == "missing":
        variable = env_name(path, tree)
        name = str(path[-1]) if path else ""
        if shape_at(path).secret:
            hint = (
                f"set {name} or {name}{SECRET_FILE_SUFFIX}, or env {variable} or {variable}{SECRET_FILE_SUFFIX.upper()}"
            )
        else:
            hint = f"set {name} in {file_label or 'the config file'} or env {variable}"
        source = sources.origin(path[:-1]) or (file_label and f"{file_label} (top level)") or "environment only"
        return ConfigProblem(key, f"{_missing_message(path)}; {hint}", source=source)
    value = None if kind == "extra_forbidden" and isinstance(error["input"], dict | list) else error["input"]
    shown = mask(path, value, tree)
    return ConfigProblem(key, explain(error, path), shown, sources.origin(path) or "default")


def _missing_message(path: TreePath) -> str:
    shape = shape_at(path)
    description = shape.info.description if shape.info is not None else None
    return "required key is missing" + (f" ({description})" if description else "")


def explain(error: ErrorDetails, path: TreePath) -> str:
    """A sentence saying what is wrong and what is allowed."""
    kind = error["type"]
    message = error["msg"]
    if kind == "extra_forbidden":
        return _unknown_key_message(path)
    bounds = _bounds_message(path)
    if kind in _BOUND_ERRORS:
        return bounds or _expected(message)
    if bounds and kind.endswith(("_parsing", "_type")):
        return f"{_expected(message)}; {bounds.replace('must be', 'allowed:', 1)}"
    if kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected", ""))
        hint = did_you_mean(str(error["input"]), [c.strip(" '") for c in expected.replace(" or ", ",").split(",")])
        return f"must be one of {expected}{hint}"
    if kind in ("value_error", "assertion_error"):
        for prefix in ("Value error, ", "Assertion failed, "):
            if message.startswith(prefix):
                return message[len(prefix) :]
    if kind in ("too_short", "string_too_short") and path:
        shape = shape_at(path)
        described = f" ({shape.info.description})" if shape.info is not None and shape.info.description else ""
        if isinstance(error["input"], list | tuple | dict):
            return f"needs at least one entry{described}"
        if error.get("ctx", {}).get("min_length") == 1:
            return f"must not be empty{described}"
    return _expected(message)


def _expected(message: str) -> str:
    if message.startswith("Input should be "):
        return "expected " + message[len("Input should be ") :]
    return message[:1].lower() + message[1:]


def _unknown_key_message(path: TreePath) -> str:
    if not path:
        return "unknown key"
    parent = shape_at(path[:-1])
    candidates = _allowed_keys(parent)
    hint = did_you_mean(str(path[-1]), candidates)
    if hint:
        return "unknown key" + hint
    if candidates:
        return "unknown key; allowed here: " + ", ".join(candidates)
    return "unknown key"


def _allowed_keys(shape: Shape) -> list[str]:
    fields = shape.fields()
    return sorted([*fields, *(f + SECRET_FILE_SUFFIX for f, s in fields.items() if s.secret)])


def _bounds_message(path: TreePath) -> str | None:
    shape = shape_at(path)
    if shape.info is None:
        return None
    low: Any = None
    high: Any = None
    low_open = high_open = False
    for meta in shape.info.metadata:
        if isinstance(meta, Ge):
            low = meta.ge
        elif isinstance(meta, Gt):
            low, low_open = meta.gt, True
        elif isinstance(meta, Le):
            high = meta.le
        elif isinstance(meta, Lt):
            high, high_open = meta.lt, True
    if low is not None and high is not None and not (low_open or high_open):
        return f"must be between {low} and {high}"
    parts = []
    if low is not None:
        parts.append(f"{'greater than' if low_open else 'at least'} {low}")
    if high is not None:
        parts.append(f"{'less than' if high_open else 'at most'} {high}")
    return ("must be " + " and ".join(parts)) if parts else None


# --- cross-references on the raw tree --------------------------------------------------------------


def reference_problems(tree: Any, sources: SourceMap) -> list[ConfigProblem]:
    """Duplicate tenant/sink names and references to tenants or sinks that do not exist."""
    if not isinstance(tree, dict):
        return []
    problems: list[ConfigProblem] = []
    tenants = _named_items(tree, "tenants", problems, sources, "tenant")
    sinks = _named_items(tree, "sinks", problems, sources, "sink")

    def check(path: TreePath, name: Any, known: list[str], what: str, wildcard: bool) -> None:
        if not isinstance(name, str) or (wildcard and name == "*") or name in known:
            return
        listed = ", ".join(known) if known else "none"
        message = f"no {what} named {name!r} (configured {what}s: {listed}){did_you_mean(name, known)}"
        problems.append(ConfigProblem(render_path(path, tree), message, repr(name), sources.origin(path)))

    routes = tree.get("routes")
    if isinstance(routes, list):
        for i, route in enumerate(routes):
            if not isinstance(route, dict):
                continue
            for field, known, what in (("sinks", sinks, "sink"), ("tenants", tenants, "tenant")):
                names = route.get(field)
                if isinstance(names, list):
                    for j, name in enumerate(names):
                        check(("routes", i, field, j), name, known, what, wildcard=(field == "tenants"))
    actions = tree.get("actions")
    if isinstance(actions, dict):
        check(("actions", "default_tenant"), actions.get("default_tenant"), tenants, "tenant", wildcard=False)
        tokens = actions.get("tokens")
        if isinstance(tokens, list):
            for i, token in enumerate(tokens):
                names = token.get("tenants") if isinstance(token, dict) else None
                if isinstance(names, list):
                    for j, name in enumerate(names):
                        check(("actions", "tokens", i, "tenants", j), name, tenants, "tenant", wildcard=True)
    return problems


def _named_items(
    tree: dict[str, Any], section: str, problems: list[ConfigProblem], sources: SourceMap, what: str
) -> list[str]:
    items = tree.get(section)
    names: list[str] = []
    first_seen: dict[str, int] = {}
    if not isinstance(items, list):
        return names
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        if name in first_seen:
            j = first_seen[name]
            where = sources.origin((section, j, "name"))
            problems.append(
                ConfigProblem(
                    f"{section}[{i}].name",
                    f"duplicate {what} name; {what} names must be unique (also used by {section}[{j}]"
                    + (f" at {where})" if where else ")"),
                    repr(name),
                    sources.origin((section, i, "name")),
                )
            )
            continue
        first_seen[name] = i
        names.append(name)
    return names


def _get(tree: Any, path: TreePath) -> Any:
    node = tree
    for key in path:
        if isinstance(node, dict) and isinstance(key, str):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            return None
    return node


def parse_key(key: str, tree: Any) -> TreePath:
    """Best-effort inverse of :func:`render_path`: ``sinks[0].port`` or ``sinks.splunk.port`` → path."""
    path: list[str | int] = []
    node = tree
    for part in key.replace("[", ".[").split("."):
        if not part:
            continue
        step: str | int = part
        if part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
            step = int(part[1:-1])
        elif isinstance(node, list):
            step = next(
                (i for i, item in enumerate(node) if isinstance(item, dict) and item.get("name") == part),
                part,
            )
        path.append(step)
        node = _get(node, (step,))
    return tuple(path)
