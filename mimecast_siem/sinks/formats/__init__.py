"""Formats shared by every sink: ``json``, ``raw``, ``cef``, ``leef``, ``ocsf``.

An encoder turns one :class:`~mimecast_siem.events.Event` into records (``dict`` for JSON formats,
``str`` for text formats); see :mod:`mimecast_siem.sinks.formats.base`. Transports decide how a
record travels. Use :func:`get_encoder`; never import a format module directly from another room.
Sinks configured alike get the same encoder instance, and encode through :func:`encode_event` and
:func:`record_json` so that one delivery to several of them encodes each event once
(:mod:`mimecast_siem.sinks.formats.shared`).

Format modules (``mimecast_siem.sinks.formats.<name>``) are imported by :func:`format_module` when a
sink first asks for their format (a deployment loads only the formats it uses). A module exposes either a ``make_encoder(options: Mapping[str, Any] | None) -> Encoder`` function, or an encoder
class named ``<Name>Encoder`` (``CefEncoder``) taking its options (a pydantic model declared as
``<Name>Options`` in the same module, or a mapping) or nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, cast

import orjson
from pydantic import BaseModel, ValidationError

from mimecast_siem.errors import ConfigError, ConfigProblem
from mimecast_siem.sinks.formats.base import Encoder, Record
from mimecast_siem.sinks.formats.shared import encode_event, record_json, record_value, sharing

#: Every format the project ships (the values ``sinks[].format`` accepts).
FORMAT_NAMES: tuple[str, ...] = ("json", "raw", "cef", "leef", "ocsf")

#: Formats whose records are JSON objects; the others produce one line of text per record.
JSON_FORMATS: frozenset[str] = frozenset({"json", "raw", "ocsf"})

__all__ = [
    "FORMAT_NAMES",
    "JSON_FORMATS",
    "Encoder",
    "Record",
    "encode_event",
    "format_module",
    "get_encoder",
    "record_json",
    "record_value",
    "sharing",
]

#: Encoders by (format, options as canonical JSON): sinks configured alike share one instance (encoders
#: are pure), which is how the router sees that their records can be shared. Bounded by the configured
#: sinks; cleared past _MAX_ENCODERS (a long test run builds many).
_ENCODERS: dict[tuple[str, bytes], Encoder] = {}
_MAX_ENCODERS = 256


def format_module(name: str) -> Any:
    """The module of format ``name`` (one of :data:`FORMAT_NAMES`), imported on first use.

    CEF, LEEF and OCSF bring their stream facts and mappings (~0.02 CPU s and a few MB at start-up):
    a process whose sinks write JSON never loads them.
    """
    if name == "json":
        from mimecast_siem.sinks.formats import json as json_format

        return json_format
    if name == "raw":
        from mimecast_siem.sinks.formats import raw as raw_format

        return raw_format
    if name == "cef":
        from mimecast_siem.sinks.formats import cef as cef_format

        return cef_format
    if name == "leef":
        from mimecast_siem.sinks.formats import leef as leef_format

        return leef_format
    if name == "ocsf":
        from mimecast_siem.sinks.formats import ocsf as ocsf_format

        return ocsf_format
    raise KeyError(name)


def get_encoder(name: str, options: Mapping[str, Any] | None = None, *, key: str = "format_options") -> Encoder:
    """Return a ready encoder for format ``name``.

    Args:
        name: one of :data:`FORMAT_NAMES`.
        options: the format's options (a sink's ``format_options`` block), validated by the format.
        key: config key path used in error messages (e.g. ``sinks[2].format_options``).

    Returns:
        The same instance for the same format and options (within this process).

    Raises:
        ConfigError: unknown format, or invalid options; the
            problems name the key, the bad value and what is allowed.
    """
    try:
        cache_key: tuple[str, bytes] | None = (
            name,
            orjson.dumps(dict(options) if options else None, option=orjson.OPT_SORT_KEYS),
        )
    except (TypeError, ValueError):  # options that are not plain JSON: a private instance
        cache_key = None
    if cache_key is not None and (cached := _ENCODERS.get(cache_key)) is not None:
        return cached
    encoder = _new_encoder(name, options, key)
    if cache_key is not None:
        if len(_ENCODERS) >= _MAX_ENCODERS:
            _ENCODERS.clear()
        _ENCODERS[cache_key] = encoder
    return encoder


def _new_encoder(name: str, options: Mapping[str, Any] | None, key: str) -> Encoder:
    if name not in FORMAT_NAMES:
        raise ConfigError(
            f"unknown format {name!r}",
            [
                ConfigProblem(
                    key.rsplit(".", 1)[0] + ".format", f"unknown format; allowed: {', '.join(FORMAT_NAMES)}", repr(name)
                )
            ],
        )
    module = format_module(name)
    factory = getattr(module, "make_encoder", None)
    if callable(factory):
        try:
            return cast(Encoder, factory(dict(options) if options is not None else None))
        except ValidationError as exc:
            raise _options_error(name, key, exc) from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid options for format {name!r}", [ConfigProblem(key, str(exc))]) from None
    cls = getattr(module, f"{name.capitalize()}Encoder", None) or getattr(module, f"{name.upper()}Encoder", None)
    if cls is None:
        raise ConfigError(
            f"format {name!r} has no encoder",
            [ConfigProblem(key.rsplit(".", 1)[0] + ".format", f"module {module.__name__} defines no encoder")],
        )
    return _construct(name, module, cls, options, key)


def _construct(name: str, module: Any, cls: Any, options: Mapping[str, Any] | None, key: str) -> Encoder:
    model = getattr(module, f"{name.capitalize()}Options", None) or getattr(module, f"{name.upper()}Options", None)
    takes_argument = _takes_argument(cls)
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            parsed = model.model_validate(dict(options or {}))
            return cast(Encoder, cls(parsed) if takes_argument else cls())
        if options:
            if not takes_argument:
                raise ConfigError(
                    f"format {name!r} takes no options",
                    [ConfigProblem(key, f"the {name} format takes no options", repr(sorted(options)))],
                )
            return cast(Encoder, cls(dict(options)))
        return cast(Encoder, cls())
    except ValidationError as exc:
        raise _options_error(name, key, exc) from None


def _takes_argument(cls: Any) -> bool:
    try:
        params = [p for p in inspect.signature(cls).parameters.values() if p.kind is not p.VAR_KEYWORD]
    except (TypeError, ValueError):
        return False
    return bool(params)


def _options_error(name: str, key: str, exc: ValidationError) -> ConfigError:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        shown = None if isinstance(value, dict) else repr(value)
        problems.append(ConfigProblem(f"{key}.{loc}" if loc else key, err["msg"], shown))
    return ConfigError(f"invalid options for format {name!r}", problems)
