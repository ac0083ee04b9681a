"""Secrets: ``<key>_file`` mounted files, collection for the log redactor, masking in messages.

A secret key ``k`` (any ``SecretStr`` field, and sink options such as ``token`` or ``password``) may
be given as ``k_file: /run/secrets/x``; the file's content (without its trailing newline) becomes
the value and its origin reads ``file /run/secrets/x``. Secrets never come from the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mimecast_siem.config.schema import SECRET_FILE_SUFFIX, SECRET_OPTION_NAME, SETTINGS_SHAPE, Shape, is_secret_key
from mimecast_siem.config.sources import SourceMap, TreePath, render_path
from mimecast_siem.errors import ConfigProblem

MASKED = "****"
#: Secret files larger than this are refused (a mounted secret is a few hundred bytes).
MAX_SECRET_FILE_BYTES = 64 * 1024


def resolve_secret_files(tree: Any, sources: SourceMap) -> list[ConfigProblem]:
    """Replace every ``<secret>_file`` key of ``tree`` by the file's content; return the problems."""
    problems: list[ConfigProblem] = []
    _FileWalk(tree, sources, problems).walk(tree, SETTINGS_SHAPE, ())
    return problems


@dataclass
class _FileWalk:
    tree: Any
    sources: SourceMap
    problems: list[ConfigProblem]

    def walk(self, node: Any, shape: Shape, path: TreePath) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                self.walk(item, shape.child(index), (*path, index))
            return
        if not isinstance(node, dict):
            return
        if shape.kind == "model":
            for key in [k for k in node if k.endswith(SECRET_FILE_SUFFIX)]:
                base = key[: -len(SECRET_FILE_SUFFIX)]
                if self._is_secret_name(shape, base, (*path, base)):
                    self._read(node, key, base, path)
        for key, value in list(node.items()):
            self.walk(value, shape.child(key), (*path, key))

    def _is_secret_name(self, shape: Shape, base: str, path: TreePath) -> bool:
        if shape.child(base).secret or is_secret_key(path, self.tree):
            return True
        return shape.allows_extra and bool(SECRET_OPTION_NAME.search(base))

    def _read(self, node: dict[str, Any], key: str, base: str, path: TreePath) -> None:
        file_value = node.pop(key)
        origin = self.sources.origin((*path, key))
        shown_key = render_path((*path, key), self.tree)
        if node.get(base) is not None:
            self.problems.append(
                ConfigProblem(
                    shown_key,
                    f"give either {base} or {key}, not both ({base} is also set, from "
                    f"{self.sources.origin((*path, base)) or 'the configuration'})",
                    value=repr(file_value) if isinstance(file_value, str) else None,
                    source=origin,
                )
            )
            return
        if not isinstance(file_value, str) or not file_value.strip():
            self.problems.append(
                ConfigProblem(shown_key, "expected the path of a file holding the secret", repr(file_value), origin)
            )
            return
        value, message = read_secret_file(Path(file_value))
        if value is None:
            self.problems.append(ConfigProblem(shown_key, message, repr(file_value), origin))
            return
        node[base] = value
        self.sources.set((*path, base), f"file {file_value}")


def read_secret_file(path: Path) -> tuple[str | None, str]:
    """The secret in ``path`` without its trailing newline, or ``None`` and why it could not be read."""
    try:
        size = path.stat().st_size
        if size > MAX_SECRET_FILE_BYTES:
            return None, f"the file is {size} bytes; a secret file holds at most {MAX_SECRET_FILE_BYTES}"
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "secret file not found; mount the secret there or fix the path"
    except IsADirectoryError:
        return None, "secret file is a directory; give the path of the file inside it"
    except PermissionError:
        return None, "secret file is not readable by this process (check its owner and mode)"
    except UnicodeDecodeError:
        return None, "secret file is not UTF-8 text"
    except OSError as exc:
        return None, f"cannot read the secret file: {exc.strerror or exc}"
    # Mounted secrets usually end with a newline that is not part of the value.
    value = content.rstrip("\r\n")
    if not value:
        return None, "secret file is empty"
    return value, ""


def collect_secrets(tree: Any) -> list[str]:
    """Every secret value in ``tree``, plus derived forms that appear on the wire.

    Derived forms: the password inside ``state.url``, and ``client_id:client_secret`` (whose
    base64 form is an HTTP Basic credential).
    """
    found: list[str] = []
    _walk_secrets(tree, SETTINGS_SHAPE, (), tree, found)
    if isinstance(tree, dict):
        state = tree.get("state")
        url = state.get("url") if isinstance(state, dict) else None
        if isinstance(url, str):
            password = _url_password(url)
            if password:
                found.append(password)
        tenants = tree.get("tenants")
        for tenant in tenants if isinstance(tenants, list) else []:
            if isinstance(tenant, dict):
                cid, secret = tenant.get("client_id"), tenant.get("client_secret")
                if isinstance(cid, str) and isinstance(secret, str) and secret:
                    found.append(f"{cid}:{secret}")
    return found


def _url_password(url: str) -> str | None:
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def _walk_secrets(node: Any, shape: Shape, path: TreePath, tree: Any, found: list[str]) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _walk_secrets(item, shape.child(index), (*path, index), tree, found)
        return
    if isinstance(node, dict):
        for key, value in node.items():
            _walk_secrets(value, shape.child(key), (*path, key), tree, found)
        return
    scalar = isinstance(node, str | int | float) and not isinstance(node, bool)
    if path and scalar and (shape.secret or is_secret_key(path, tree)):
        found.append(str(node))


def mask(path: TreePath, value: Any, tree: Any) -> str | None:
    """How ``value`` at ``path`` is shown in a message: masked for secrets, ``repr`` (shortened) otherwise."""
    if value is None:
        return None
    if _under_secret(path, tree):
        return MASKED
    if isinstance(value, dict | list):
        return None  # a whole section: the key already says where; it may hold secrets
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _under_secret(path: TreePath, tree: Any) -> bool:
    return any(is_secret_key(path[:n], tree) for n in range(1, len(path) + 1))
