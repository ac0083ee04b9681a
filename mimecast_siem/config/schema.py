"""The shape of the settings tree, read from the pydantic models.

The loader works on a plain tree (dicts, lists, scalars) before validation: environment overrides
need canonical key names, secret files need to know which keys are secrets, error messages need
field descriptions and bounds. :func:`shape_of` turns an annotation into a :class:`Shape` that
answers those questions without touching the models.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from mimecast_siem.config.models import STREAM_NAMES, Settings, StreamSettings, TenantSettings
from mimecast_siem.config.sink_types import sink_types

ShapeKind = Literal["model", "list", "dict", "scalar", "any"]

#: Sink option names treated as secrets when the sink type's options model cannot be consulted.
SECRET_OPTION_NAME = re.compile(r"(^|_)(token|password|passwd|secret|api_key|apikey)$", re.IGNORECASE)

#: Suffix of the key that names a file holding a secret (``client_secret_file``).
SECRET_FILE_SUFFIX = "_file"  # noqa: S105 - a key suffix, not a password


@dataclass(frozen=True)
class Shape:
    """What may sit at one place of the settings tree.

    Attributes:
        kind: ``model`` (known keys), ``list``, ``dict`` (free keys), ``scalar`` or ``any``.
        model: the pydantic model when ``kind == "model"``.
        item: shape of list items or dict values.
        secret: the value is a secret (masked in messages, may come from ``<key>_file``).
        text: the value is text; environment values and YAML scalars are kept as written.
        stream_keys: dict keys are stream names (``TTP_URL`` in an env var means ``ttp-url``).
        info: the pydantic field, for descriptions and bounds.
    """

    kind: ShapeKind
    model: type[BaseModel] | None = None
    item: Shape | None = None
    secret: bool = False
    text: bool = False
    stream_keys: bool = False
    info: FieldInfo | None = field(default=None, compare=False)

    def fields(self) -> dict[str, Shape]:
        """Known keys of a model shape (empty for other kinds)."""
        return model_fields(self.model) if self.model is not None else {}

    @property
    def allows_extra(self) -> bool:
        """Whether a model shape accepts keys it does not declare (sinks: type-specific options)."""
        return self.model is not None and self.model.model_config.get("extra") == "allow"

    def child(self, key: str | int) -> Shape:
        """Shape of ``self[key]``; ``any`` when unknown."""
        if self.kind == "model":
            known = self.fields().get(str(key))
            if known is not None:
                return known
            if self.allows_extra and isinstance(key, str):
                secret = bool(SECRET_OPTION_NAME.search(key))
                return Shape("any", secret=secret, text=secret)
            return ANY
        if self.kind in ("list", "dict") and self.item is not None:
            return self.item
        return ANY


ANY = Shape("any")

# Fields whose annotation is looser than what they hold (kept loose in the contract on purpose).
_OVERRIDES: dict[tuple[type[BaseModel], str], Shape] = {
    (TenantSettings, "streams"): Shape("dict", item=Shape("model", model=StreamSettings), stream_keys=True),
}


@cache
def model_fields(model: type[BaseModel]) -> dict[str, Shape]:
    """Shapes of every field of ``model``."""
    shapes: dict[str, Shape] = {}
    for name, info in model.model_fields.items():
        base = _OVERRIDES.get((model, name)) or shape_of(info.annotation)
        stream_keys = base.stream_keys or (model is Settings and name == "streams")
        shapes[name] = Shape(
            base.kind,
            model=base.model,
            item=base.item,
            secret=base.secret,
            text=base.text,
            stream_keys=stream_keys,
            info=info,
        )
    return shapes


def shape_of(annotation: Any) -> Shape:
    """The :class:`Shape` of a type annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return shape_of(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return shape_of(members[0])
        shapes = [shape_of(m) for m in members]
        return Shape("scalar", secret=any(s.secret for s in shapes), text=all(s.text for s in shapes))
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        return Shape("list", item=shape_of(args[0]) if args else ANY)
    if origin is dict:
        args = typing.get_args(annotation)
        return Shape("dict", item=shape_of(args[1]) if len(args) == 2 else ANY)
    if origin is Literal:
        return Shape("scalar")
    if annotation is Any:
        return ANY
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return Shape("model", model=annotation)
        if issubclass(annotation, SecretStr):
            return Shape("scalar", secret=True, text=True)
        if issubclass(annotation, str | Path):
            return Shape("scalar", text=True)
    return Shape("scalar")


SETTINGS_SHAPE = Shape("model", model=Settings)


def shape_at(path: tuple[str | int, ...]) -> Shape:
    """Shape of the value at ``path`` of a settings tree."""
    shape = SETTINGS_SHAPE
    for key in path:
        shape = shape.child(key)
    return shape


def normalise_key(key: str) -> str:
    """Comparison form of a key: lower case, ``-`` and ``_`` equal (``TTP_URL`` matches ``ttp-url``)."""
    return key.lower().replace("-", "_")


def stream_name(key: str) -> str:
    """The stream name a key means (``TTP_URL`` → ``ttp-url``), or the key lower-cased."""
    wanted = normalise_key(key)
    for name in STREAM_NAMES:
        if normalise_key(name) == wanted:
            return name
    return key.lower()


def secret_option_names(sink_type: str | None) -> set[str]:
    """Secret option names of a sink type, from its options model when sink types are installed."""
    if not sink_type:
        return set()
    options_model = _sink_options_model(sink_type)
    if options_model is None:
        return set()
    return {name for name, shape in model_fields(options_model).items() if shape.secret}


def _sink_options_model(sink_type: str) -> type[BaseModel] | None:
    types = sink_types()
    if types is None:  # no sink types installed: the name heuristic still applies
        return None
    try:
        cls = types.load(sink_type)
    except Exception:
        return None
    model = getattr(cls, "options_model", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def is_secret_key(path: tuple[str | int, ...], tree: Any = None) -> bool:
    """Whether ``path`` names a secret (a SecretStr field, or a sink option that holds one)."""
    if not path:
        return False
    last = path[-1]
    if isinstance(last, str) and last.endswith(SECRET_FILE_SUFFIX):
        return False
    if shape_at(path).secret:
        return True
    if len(path) == 3 and path[0] == "sinks" and isinstance(last, str):
        sink_type = _sink_type(tree, path[1])
        return last in secret_option_names(sink_type)
    return False


def _sink_type(tree: Any, index: str | int) -> str | None:
    if not isinstance(tree, dict):
        return None
    sinks = tree.get("sinks")
    if isinstance(sinks, list) and isinstance(index, int) and 0 <= index < len(sinks):
        entry = sinks[index]
        if isinstance(entry, dict) and isinstance(entry.get("type"), str):
            return str(entry["type"])
    return None
