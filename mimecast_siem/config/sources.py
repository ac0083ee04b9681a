"""Reading the YAML file into a plain tree while remembering where every value came from.

Every value in the tree has an origin: ``config.yaml:12`` for a YAML key, ``env MIMECAST_SIEM__...``
for an environment override, ``file /run/secrets/x`` for a secret file. Problems found later name
that origin, so the operator knows which line or variable to fix.

``${VAR}`` and ``${VAR:-default}`` in YAML string values are replaced from the environment; ``$$``
stands for a literal ``$``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mimecast_siem.errors import ConfigProblem

TreePath = tuple[str | int, ...]

#: Key used for problems that concern the file as a whole.
FILE_KEY = "(config file)"

_MAX_DEPTH = 32
#: Most values one file may hold once its aliases are expanded. A few hundred bytes of nested YAML
#: aliases ("billion laughs") expand to millions of values; a real configuration has a few hundred.
_MAX_NODES = 100_000
_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class SourceMap:
    """Where each value of the tree came from, and how YAML scalars were written."""

    origins: dict[TreePath, str] = field(default_factory=dict)
    raw_text: dict[TreePath, str] = field(default_factory=dict)

    def set(self, path: TreePath, origin: str, *, replace_subtree: bool = False) -> None:
        """Record ``origin`` for ``path``; with ``replace_subtree`` forget what was below it."""
        if replace_subtree:
            self.drop_below(path)
        self.origins[path] = origin

    def drop_below(self, path: TreePath) -> None:
        """Forget origins and raw text strictly below ``path`` (the subtree was replaced)."""
        n = len(path)
        for store in (self.origins, self.raw_text):
            for key in [k for k in store if len(k) > n and k[:n] == path]:
                del store[key]
        self.raw_text.pop(path, None)

    def origin(self, path: TreePath) -> str | None:
        """Origin of ``path``, or of its nearest ancestor that has one."""
        for n in range(len(path), -1, -1):
            found = self.origins.get(path[:n])
            if found is not None:
                return found
        return None


def interpolate(text: str, env: Mapping[str, str]) -> tuple[str, list[str], list[str]]:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in ``text``.

    Returns:
        The new text, the variable names used, and the names that were unset with no default.
    """
    used: list[str] = []
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        used.append(name)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is not None:
                return default
            missing.append(name)
            return ""
        return value

    return _REFERENCE.sub(replace, text), used, missing


def has_malformed_reference(text: str) -> bool:
    """Whether ``text`` has a ``${`` that is not a well-formed reference."""
    return "${" in _REFERENCE.sub("", text)


@dataclass
class YamlDocument:
    """The tree read from a YAML file, the origins of its values, and the problems met."""

    tree: Any
    sources: SourceMap
    problems: list[ConfigProblem]


def read_yaml(text: str, name: str, env: Mapping[str, str]) -> YamlDocument:
    """Parse one YAML document into a plain tree, recording ``name:line`` for every key.

    Syntax errors, duplicate keys, several documents, non-scalar keys and unset ``${VAR}``
    references are returned as problems rather than raised.
    """
    sources = SourceMap()
    problems: list[ConfigProblem] = []
    try:
        # The reader checks the characters as soon as it is built (control characters are refused).
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        problems.append(ConfigProblem(FILE_KEY, f"not valid YAML text: {_first_line(exc)}", source=name))
        return YamlDocument(None, sources, problems)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{name}:{mark.line + 1}" if mark is not None else name
            detail = " ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
            problems.append(ConfigProblem(FILE_KEY, f"YAML syntax error: {detail}", source=where))
            return YamlDocument(None, sources, problems)
        except yaml.YAMLError as exc:
            problems.append(ConfigProblem(FILE_KEY, f"YAML error: {exc}", source=name))
            return YamlDocument(None, sources, problems)
        except RecursionError:
            # PyYAML's parser recurses per nesting level; thousands of levels exhaust the stack.
            problems.append(ConfigProblem(FILE_KEY, "nested too deeply to parse", source=name))
            return YamlDocument(None, sources, problems)
        if node is None:
            return YamlDocument({}, sources, problems)
        walker = _Walker(loader, name, env, sources, problems)
        tree = walker.walk(node, ())
    finally:
        loader.dispose()
    if not isinstance(tree, dict):
        problems.append(
            ConfigProblem(
                FILE_KEY,
                "the top level must be a mapping of keys (tenants:, sinks:, ...)",
                value=type(tree).__name__,
                source=f"{name}:{node.start_mark.line + 1}",
            )
        )
        return YamlDocument(None, sources, problems)
    return YamlDocument(tree, sources, problems)


@dataclass
class _Walker:
    loader: yaml.SafeLoader
    name: str
    env: Mapping[str, str]
    sources: SourceMap
    problems: list[ConfigProblem]

    def where(self, node: Node) -> str:
        return f"{self.name}:{node.start_mark.line + 1}"

    nodes: int = 0

    def walk(self, node: Node, path: TreePath) -> Any:
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            if self.nodes == _MAX_NODES + 1:
                self.problems.append(
                    ConfigProblem(
                        render_path(path) or FILE_KEY,
                        f"the file expands to more than {_MAX_NODES} values (nested YAML aliases?)",
                        source=self.where(node),
                    )
                )
            return None
        if len(path) > _MAX_DEPTH:
            self.problems.append(
                ConfigProblem(render_path(path), "nested too deeply (recursive YAML alias?)", source=self.where(node))
            )
            return None
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            items: list[Any] = []
            for index, item in enumerate(node.value):
                self.sources.set((*path, index), self.where(item))
                items.append(self.walk(item, (*path, index)))
            return items
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: TreePath) -> dict[str, Any]:
        self.loader.flatten_mapping(node)  # resolves YAML merge keys (<<: *anchor)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problems.append(
                    ConfigProblem(
                        render_path(path) or FILE_KEY, "keys must be plain names", source=self.where(key_node)
                    )
                )
                continue
            # The key as written: YAML 1.1 would turn `on:` or `1:` into a bool or an int.
            key = str(key_node.value)
            child = (*path, key)
            if key in result:
                self.problems.append(
                    ConfigProblem(
                        render_path(child),
                        f"duplicate key (first given at {self.sources.origins.get(child, 'an earlier line')})",
                        source=self.where(key_node),
                    )
                )
                continue
            self.sources.set(child, self.where(key_node))
            result[key] = self.walk(value_node, child)
        return result

    def _scalar(self, node: ScalarNode, path: TreePath) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problems.append(ConfigProblem(render_path(path), f"YAML error: {exc}", source=self.where(node)))
            return None
        if not isinstance(value, str):
            self.sources.raw_text[path] = str(node.value)
            return value
        if "$" not in value:
            return value
        if has_malformed_reference(value):
            self.problems.append(
                ConfigProblem(
                    render_path(path),
                    "malformed ${...} reference; write ${NAME} or ${NAME:-default} ($$ for a literal $)",
                    source=self.where(node),
                )
            )
            return value
        text, used, missing = interpolate(value, self.env)
        for var in missing:
            self.problems.append(
                ConfigProblem(
                    render_path(path),
                    f"environment variable {var} is not set (referenced as ${{{var}}}; "
                    f"set it or give a default: ${{{var}:-value}})",
                    source=self.where(node),
                )
            )
        if used:
            self.sources.set(path, f"{self.where(node)} via " + ", ".join(f"${{{v}}}" for v in dict.fromkeys(used)))
        return text


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def render_path(path: TreePath, tree: Any = None) -> str:
    """``tenants[0].timeout``; with ``tree``, list items that have a unique ``name`` read ``tenants.acme``."""
    out = ""
    node = tree
    for key in path:
        if isinstance(key, int):
            label = item_label(node, key)
            out += f".{label}" if label else f"[{key}]"
        else:
            out += f".{key}" if out else key
        node = _child(node, key)
    return out


def item_label(node: Any, index: int) -> str | None:
    """The ``name`` of list item ``index`` when it is a plain, unique name; else ``None``."""
    if not isinstance(node, list) or not 0 <= index < len(node):
        return None
    item = node[index]
    name = item.get("name") if isinstance(item, dict) else None
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        return None
    same = [i for i in node if isinstance(i, dict) and i.get("name") == name]
    return name if len(same) == 1 else None


def _child(node: Any, key: str | int) -> Any:
    if isinstance(node, dict) and isinstance(key, str):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None
