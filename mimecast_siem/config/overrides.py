"""Environment overrides: ``MIMECAST_SIEM__<KEY>__<KEY>...=value`` sets any key of the tree.

* Keys are matched case-insensitively, and ``_`` matches ``-`` (``TTP_URL`` means ``ttp-url``).
* List items are addressed by index (``TENANTS__0``) or by their ``name`` (``TENANTS__ACME``); an
  unknown name or the next free index adds an item (so a whole tenant can come from the environment).
* Values are parsed as YAML (``30``, ``true``, ``[ttp-url, audit]``), except for text and secret
  keys and ``*_file`` paths, which are kept exactly as given.
* Overrides with fewer segments apply first, so ``..._TENANTS__ACME__TIMEOUT`` refines a tenant
  given whole in ``..._TENANTS``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import yaml

from mimecast_siem.config.schema import SECRET_FILE_SUFFIX, SETTINGS_SHAPE, Shape, normalise_key, stream_name
from mimecast_siem.config.sources import SourceMap, TreePath, item_label, render_path
from mimecast_siem.errors import ConfigProblem

ENV_PREFIX = "MIMECAST_SIEM__"
#: Defaults from the environment (set by the container image): below the file, above the built-in defaults.
DEFAULT_PREFIX = "MIMECAST_SIEM_DEFAULT__"
#: The variable naming the YAML file when ``--config`` is not given.
CONFIG_PATH_ENV = "MIMECAST_SIEM_CONFIG"


class _OverrideRefused(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def override_variables(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """The ``MIMECAST_SIEM__*`` variables of ``env``, in the order they are applied."""
    chosen = [(k, v) for k, v in env.items() if k.upper().startswith(ENV_PREFIX)]
    return sorted(chosen, key=lambda kv: (kv[0].count("__"), kv[0].upper()))


def apply_env_overrides(tree: dict[str, Any], env: Mapping[str, str], sources: SourceMap) -> list[ConfigProblem]:
    """Apply every ``MIMECAST_SIEM__*`` variable of ``env`` to ``tree`` in place; return the problems."""
    problems: list[ConfigProblem] = []
    for name, raw in override_variables(env):
        origin = f"env {name}"
        segments = name[len(ENV_PREFIX) :].split("__")
        if any(not s for s in segments):
            problems.append(
                ConfigProblem(
                    name,
                    "malformed override name: separate keys with exactly two underscores "
                    "(MIMECAST_SIEM__TENANTS__ACME__TIMEOUT)",
                    source=origin,
                )
            )
            continue
        try:
            before = _list_lengths(tree)
            path = _apply(tree, segments, raw)
        except _OverrideRefused as refused:
            problems.append(ConfigProblem(refused.key, refused.message, source=origin))
            continue
        for section, length in _list_lengths(tree).items():
            for index in range(before.get(section, 0), length):
                # A new list item exists only because of this variable: say so where it is reported.
                sources.set((*section, index), f"{origin} (which adds this item)")
        sources.set(path, origin, replace_subtree=True)
    return problems


def apply_env_defaults(tree: dict[str, Any], env: Mapping[str, str], sources: SourceMap) -> list[ConfigProblem]:
    """Apply ``MIMECAST_SIEM_DEFAULT__<KEY>__...`` variables for keys the file does not set.

    Precedence: built-in defaults < these < the YAML file < ``MIMECAST_SIEM__*`` overrides. The image
    sets its container defaults (data directory, listen address and port) this way, so a mounted
    config file's values win unless a ``MIMECAST_SIEM__*`` variable is set on purpose. Only map keys
    are addressed (no list items).
    """
    problems: list[ConfigProblem] = []
    chosen = [(k, v) for k, v in env.items() if k.upper().startswith(DEFAULT_PREFIX)]
    for name, raw in sorted(chosen, key=lambda kv: (kv[0].count("__"), kv[0].upper())):
        segments = name[len(DEFAULT_PREFIX) :].split("__")
        if any(not s for s in segments):
            problems.append(
                ConfigProblem(
                    name,
                    "malformed default name: separate keys with exactly two underscores "
                    "(MIMECAST_SIEM_DEFAULT__SERVER__PORT)",
                    source=f"env {name}",
                )
            )
            continue
        if _is_set(tree, segments):
            continue
        try:
            path = _apply(tree, segments, raw)
        except _OverrideRefused as refused:
            problems.append(ConfigProblem(refused.key, refused.message, source=f"env {name}"))
            continue
        sources.set(path, f"env {name} (a default: the file does not set it)", replace_subtree=True)
    return problems


def _is_set(tree: dict[str, Any], segments: list[str]) -> bool:
    """Whether the file already sets the key that ``segments`` names (matched like overrides)."""
    node: Any = tree
    for segment in segments:
        if not isinstance(node, dict):
            return True  # a list or scalar in the way: leave it to the file
        wanted = normalise_key(segment)
        match = next((k for k in node if isinstance(k, str) and normalise_key(k) == wanted), None)
        if match is None:
            return False
        node = node[match]
    return True


def _list_lengths(node: Any, path: TreePath = ()) -> dict[TreePath, int]:
    """Length of every list in the tree, by path (to see which items an override added)."""
    found: dict[TreePath, int] = {}
    if isinstance(node, list):
        found[path] = len(node)
        for index, item in enumerate(node):
            found.update(_list_lengths(item, (*path, index)))
    elif isinstance(node, dict):
        for key, value in node.items():
            found.update(_list_lengths(value, (*path, key)))
    return found


def _apply(tree: dict[str, Any], segments: list[str], raw: str) -> TreePath:
    node: Any = tree
    shape = SETTINGS_SHAPE
    path: TreePath = ()
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        key: str | int
        if isinstance(node, list):
            key = _list_key(node, shape, segment, path, tree)
        else:
            key = _mapping_key(node, shape, segment, path, tree)
        child_shape = shape.child(key)
        if last:
            node[key] = _parse(raw, child_shape, key)
            return (*path, key)
        if isinstance(node, list):
            assert isinstance(key, int)
            child = _container_for(node[key], child_shape, (*path, key), tree, segments[i + 1])
            node[key] = child
        else:
            child = _container_for(node.get(key), child_shape, (*path, key), tree, segments[i + 1])
            node[key] = child
        node, shape, path = child, child_shape, (*path, key)
    raise AssertionError("unreachable: segments is never empty")


def _mapping_key(node: dict[str, Any], shape: Shape, segment: str, path: TreePath, tree: Any) -> str:
    wanted = normalise_key(segment)
    for existing in node:
        if normalise_key(existing) == wanted:
            return existing
    if shape.kind == "model":
        fields = shape.fields()
        candidates = list(fields) + [f + SECRET_FILE_SUFFIX for f, s in fields.items() if s.secret]
        for candidate in candidates:
            if normalise_key(candidate) == wanted:
                return candidate
        if shape.allows_extra:
            return segment.lower()
        where = render_path(path, tree) or "the top level"
        close = difflib.get_close_matches(wanted, [normalise_key(c) for c in candidates], n=1, cutoff=0.6)
        hint = ""
        if close:
            hint = f"; did you mean {_original(close[0], candidates)!r}?"
        else:
            hint = f"; allowed under {where}: {', '.join(sorted(candidates))}"
        raise _OverrideRefused(_join(path, segment.lower(), tree), f"unknown key {segment.lower()!r}{hint}")
    if shape.stream_keys:
        return stream_name(segment)
    return segment.lower()


def _original(normalised: str, candidates: list[str]) -> str:
    for c in candidates:
        if normalise_key(c) == normalised:
            return c
    return normalised


def _list_key(node: list[Any], shape: Shape, segment: str, path: TreePath, tree: Any) -> int:
    if segment.isdigit():
        index = int(segment)
        if index < len(node):
            return index
        if index == len(node):
            node.append(None)
            return index
        raise _OverrideRefused(
            _join(path, f"[{index}]", tree),
            f"index {index} is out of range: the list has {len(node)} item(s); "
            f"use 0..{len(node)} (the next index adds an item) or an item's name",
        )
    wanted = normalise_key(segment)
    for index, item in enumerate(node):
        if isinstance(item, dict) and isinstance(item.get("name"), str) and normalise_key(item["name"]) == wanted:
            return index
    item_shape = shape.item
    if item_shape is not None and item_shape.kind == "model" and "name" in item_shape.fields():
        node.append({"name": segment.lower()})
        return len(node) - 1
    raise _OverrideRefused(
        _join(path, segment.lower(), tree),
        "items of this list have no name; address them by index (0, 1, ...)",
    )


def _container_for(child: Any, shape: Shape, path: TreePath, tree: Any, next_segment: str) -> Any:
    if isinstance(child, list) and shape.kind == "dict" and all(isinstance(i, str) for i in child):
        # A list of names standing for a map (tenant streams: [ttp-url, audit]).
        return {name: {} for name in child}
    if isinstance(child, dict | list):
        return child
    if child is None and shape.kind != "scalar":
        if shape.kind == "list" or (shape.kind == "any" and next_segment.isdigit()):
            return []
        return {}
    raise _OverrideRefused(
        render_path(path, tree),
        "cannot set a key inside it: it holds a single value, not a section",
    )


def _parse(raw: str, shape: Shape, key: str | int) -> Any:
    if shape.secret or shape.text or (isinstance(key, str) and key.endswith(SECRET_FILE_SUFFIX)):
        return raw
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw  # not YAML: take the text as given; validation says whether it fits


def _join(path: TreePath, last: str, tree: Any) -> str:
    head = render_path(path, tree)
    if last.startswith("["):
        return head + last
    return f"{head}.{last}" if head else last


def env_name(path: TreePath, tree: Any = None) -> str:
    """The variable that overrides ``path`` (``MIMECAST_SIEM__TENANTS__ACME__CLIENT_SECRET``)."""
    parts: list[str] = []
    node = tree
    for key in path:
        if isinstance(key, int):
            label = item_label(node, key)
            parts.append(label.upper() if label else str(key))
            node = node[key] if isinstance(node, list) and 0 <= key < len(node) else None
        else:
            parts.append(key.upper().replace("-", "_"))
            node = node.get(key) if isinstance(node, dict) else None
    return ENV_PREFIX + "__".join(parts)


__all__ = [
    "CONFIG_PATH_ENV",
    "DEFAULT_PREFIX",
    "ENV_PREFIX",
    "apply_env_defaults",
    "apply_env_overrides",
    "env_name",
    "override_variables",
]
