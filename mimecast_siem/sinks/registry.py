"""Sink discovery through the ``mimecast_siem.sinks`` entry-point group, validation and construction.

Built-in sinks (``file``, ``stdout``, ``syslog``, ``hec``) are declared in pyproject.toml like any
third-party sink, so a plugin package only needs::

    [project.entry-points."mimecast_siem.sinks"]
    kafka = "acme_kafka_sink:KafkaSink"

A sink class implements :class:`~mimecast_siem.sinks.base.Sink`, is constructed as
``SinkClass(settings: SinkSettings, context: SinkContext)``, and declares ``options_model`` (a pydantic
model of its type-specific keys). It may declare ``formats: ClassVar[frozenset[str]]`` when it cannot
carry every format. The common key ``format_options`` (options of the sink's format) is validated by
the format itself; it reaches the options model only when the model declares it.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import string
import sys
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.errors import ConfigError, ConfigProblem
from mimecast_siem.sinks.base import Sink, SinkContext
from mimecast_siem.sinks.formats import FORMAT_NAMES, get_encoder

log = logging.getLogger("mimecast_siem.sinks")

ENTRY_POINT_GROUP = "mimecast_siem.sinks"

#: Words that mark an option as secret when its type is not SecretStr (masked in every message).
_SECRET_WORDS = ("token", "secret", "password", "passphrase", "key_data")

MASK = "****"


def sink_entry_points() -> dict[str, EntryPoint]:
    """Every installed sink type by name (built-ins and plugins).

    Each read scans every installed distribution's metadata (~6 ms with the test dependencies
    installed) and loading a configuration asks several times, so a read is reused until ``sys.path``
    or one of its directories changes (a package installed or removed): start-up, issue 16.
    """
    return dict(_scan_entry_points(_path_state()))


def _path_state() -> tuple[tuple[str, int], ...]:
    """``sys.path`` with each directory's modification time (installing a distribution changes it)."""
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, -1))
    return tuple(state)


@functools.lru_cache(maxsize=4)
def _scan_entry_points(path_state: tuple[tuple[str, int], ...]) -> tuple[tuple[str, EntryPoint], ...]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return tuple(found.items())


def available_sink_types() -> list[str]:
    """Sorted names of the installed sink types."""
    return sorted(sink_entry_points())


def load_sink_class(type_name: str) -> type[Any]:
    """Import and return the sink class registered as ``type_name``.

    Raises:
        ConfigError: no such type (the message lists the available ones), or it fails to import, or
            what it names is not a sink class.
    """
    eps = sink_entry_points()
    ep = eps.get(type_name)
    if ep is None:
        allowed = ", ".join(sorted(eps)) or "(none installed)"
        raise ConfigError(
            f"unknown sink type {type_name!r}; available: {allowed}",
            [ConfigProblem("type", f"unknown sink type; available: {allowed}", repr(type_name))],
        )
    try:
        cls = ep.load()
    except Exception as exc:  # a broken plugin must produce a config error, not a crash
        raise ConfigError(
            f"sink type {type_name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}",
            [ConfigProblem("type", f"sink type failed to load ({type(exc).__name__}: {exc})", repr(type_name))],
        ) from None
    missing = [attr for attr in ("options_model", "start", "send", "close", "healthcheck") if not hasattr(cls, attr)]
    if not isinstance(cls, type) or missing:
        raise ConfigError(
            f"sink type {type_name!r} ({ep.value}) is not a sink class (missing: {', '.join(missing) or 'class'})",
            [ConfigProblem("type", "entry point does not name a sink class", repr(type_name))],
        )
    return cls


def sink_options(settings: SinkSettings, model: type[BaseModel]) -> dict[str, Any]:
    """The keys of ``settings`` the sink's options model should validate.

    ``format_options`` belongs to the format; it is passed on only when the model declares it.
    """
    options = settings.options()
    if "format_options" not in model.model_fields:
        options.pop("format_options", None)
    return options


OptionsT = TypeVar("OptionsT", bound=BaseModel)


def parse_options(settings: SinkSettings, model: type[OptionsT], kind: str) -> OptionsT:
    """Validate a sink's type-specific keys with ``model``.

    Raises:
        ConfigError: every problem at once, keyed ``sink.<field>`` (secret values masked), with
            ``kind`` (``"HEC"``, ``"syslog"`` ...) and the sink's name in the message.
    """
    try:
        return model.model_validate(sink_options(settings, model))
    except ValidationError as exc:
        raise ConfigError(
            f"invalid options for {kind} sink {settings.name!r}",
            problems_from_validation(model, exc, prefix="sink"),
        ) from None


def format_options(settings: SinkSettings) -> dict[str, Any] | None:
    """The sink's ``format_options`` block (None when absent)."""
    value = settings.options().get("format_options")
    return dict(value) if isinstance(value, Mapping) else None


def validate_sink_settings(settings: Any) -> list[ConfigProblem]:
    """Validate every sink's type-specific keys, format and format options.

    Args:
        settings: a :class:`~mimecast_siem.config.models.Settings` (anything with ``sinks``).

    Returns:
        Every problem found, with key paths like ``sinks[2].port``; secret values are masked.
    """
    problems: list[ConfigProblem] = []
    for index, sink in enumerate(getattr(settings, "sinks", []) or []):
        problems.extend(_validate_one(index, sink))
    return problems


def _validate_one(index: int, sink: SinkSettings) -> list[ConfigProblem]:
    prefix = f"sinks[{index}]"
    try:
        cls = load_sink_class(sink.type)
    except ConfigError as exc:
        return [ConfigProblem(f"{prefix}.{p.key}", p.message, p.value) for p in exc.problems]
    problems: list[ConfigProblem] = []
    supported = getattr(cls, "formats", None)
    if supported is not None and sink.format not in supported:
        problems.append(
            ConfigProblem(
                f"{prefix}.format",
                f"sink type {sink.type!r} cannot carry this format; allowed: {', '.join(sorted(supported))}",
                repr(sink.format),
            )
        )
    raw_format_options = sink.options().get("format_options")
    if raw_format_options is not None and not isinstance(raw_format_options, Mapping):
        problems.append(ConfigProblem(f"{prefix}.format_options", "expected a mapping of option names to values"))
    elif sink.format in FORMAT_NAMES:
        try:
            get_encoder(sink.format, format_options(sink), key=f"{prefix}.format_options")
        except ConfigError as exc:
            problems.extend(exc.problems)
    model = getattr(cls, "options_model", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        problems.extend(options_problems(model, sink_options(sink, model), prefix=prefix))
    return problems


def options_problems(model: type[BaseModel], options: Mapping[str, Any], *, prefix: str) -> list[ConfigProblem]:
    """Validate ``options`` with ``model``; one problem per error, secret values masked."""
    try:
        model.model_validate(dict(options))
    except ValidationError as exc:
        return problems_from_validation(model, exc, prefix=prefix)
    return []


def problems_from_validation(model: type[BaseModel], exc: ValidationError, *, prefix: str) -> list[ConfigProblem]:
    """Turn a pydantic error into ConfigProblems keyed ``<prefix>.<field path>``."""
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join([prefix, *loc]) if loc else prefix
        value = err.get("input")
        shown: str | None
        if loc and _is_secret_field(model, loc[0]):
            shown = MASK
        elif err["type"] == "missing" or isinstance(value, dict):
            shown = None
        else:
            shown = _short_repr(value)
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(model.model_fields))
            message = f"unknown key; allowed: {allowed}"
        problems.append(ConfigProblem(key, message, shown))
    return problems


def _is_secret_field(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    if field is not None and "SecretStr" in repr(field.annotation):
        return True
    if field is not None and field.annotation is SecretStr:
        return True
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS) and not lowered.endswith(("_file", "_env"))


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def build_sinks(settings: Any, context: SinkContext, *, names: set[str] | None = None) -> dict[str, Sink]:
    """Construct every enabled sink (or only ``names``), keyed by sink name. Nothing is started.

    Raises:
        ConfigError: with every problem of every sink (validation runs first).
    """
    chosen = [
        (i, s)
        for i, s in enumerate(getattr(settings, "sinks", []) or [])
        if (names is None and s.enabled) or (names is not None and s.name in names)
    ]
    problems: list[ConfigProblem] = []
    for index, sink in chosen:
        problems.extend(_validate_one(index, sink))
    if problems:
        raise ConfigError("invalid sink configuration", problems)
    built: dict[str, Sink] = {}
    for index, sink in chosen:
        cls = load_sink_class(sink.type)
        try:
            built[sink.name] = cls(sink, context)
        except ConfigError as exc:
            problems.extend(
                ConfigProblem(p.key if p.key.startswith("sinks[") else f"sinks[{index}].{p.key}", p.message, p.value)
                for p in exc.problems
            )
            if not exc.problems:
                problems.append(ConfigProblem(f"sinks[{index}]", str(exc)))
        except Exception as exc:  # a plugin's constructor must not crash the daemon
            problems.append(
                ConfigProblem(
                    f"sinks[{index}]", f"sink {sink.name!r} failed to initialise: {type(exc).__name__}: {exc}"
                )
            )
    if problems:
        raise ConfigError("invalid sink configuration", problems)
    return built


class EntryPointSinkTypes:
    """The sink types of the ``mimecast_siem.sinks`` entry points, as config sees them (``config.SinkTypes``)."""

    def available(self) -> list[str]:
        """Every installed sink type name."""
        return available_sink_types()

    def load(self, type_name: str) -> type[Any]:
        """The class of sink type ``type_name`` (``ConfigError`` listing the available types otherwise)."""
        return load_sink_class(type_name)

    def validate(self, settings: Any) -> list[ConfigProblem]:
        """Problems of each sink's type-specific options."""
        return validate_sink_settings(settings)


#: The sink types the CLI installs into config (``config.use_sink_types(SINK_TYPES)``).
SINK_TYPES = EntryPointSinkTypes()


def check_template(value: str, allowed: frozenset[str]) -> str:
    """Raise ValueError when ``value`` is not a format template using only ``allowed`` placeholders."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValueError(f"invalid template: {exc}") from None
    unknown = sorted(names - allowed)
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}; allowed: {', '.join(sorted(allowed))}")
    return value


def import_extra(module: str, extra: str, *, what: str | None = None, key: str = "type") -> Any:
    """A third-party module a sink needs from an optional extra (``pip install 'mimecast-siem[extra]'``).

    Raises:
        ConfigError: the module is not installed (the problem names the package and the extra).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"the {what or module} support is not installed",
            [
                ConfigProblem(
                    key,
                    f"needs the Python package {module.split('.', maxsplit=1)[0]}: pip install 'mimecast-siem[{extra}]'",
                )
            ],
        ) from None
