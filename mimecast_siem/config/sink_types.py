"""What config knows of the sink types: a registry the CLI hands over (config never imports sinks/).

Config is the floor of the package: the sinks import ``config.models``, so config cannot import the
sinks back. Yet ``config check`` and the JSON schema must know each sink type's options. The sinks
room provides a :class:`SinkTypes` (``mimecast_siem.sinks.SINK_TYPES``: the entry-point registry)
and the CLI installs it with :func:`use_sink_types` before any command runs (tests install it in
``tests/conftest.py``). Without one, config validates everything but the type-specific sink options.
"""

from __future__ import annotations

from typing import Any, Protocol

from mimecast_siem.errors import ConfigProblem


class SinkTypes(Protocol):
    """The sink types config can check options against."""

    def available(self) -> list[str]:
        """Every installed sink type name (built-in and plugins)."""

    def load(self, type_name: str) -> type[Any]:
        """The class of sink type ``type_name``; ``ConfigError`` when it cannot be loaded."""

    def validate(self, settings: Any) -> list[ConfigProblem]:
        """Problems of each sink's type-specific options (keys ``sinks[i].<option>``, secrets masked)."""


_installed: SinkTypes | None = None


def use_sink_types(types: SinkTypes | None) -> None:
    """Install the sink types config checks against (``None`` removes them)."""
    global _installed
    _installed = types


def sink_types() -> SinkTypes | None:
    """The installed sink types, or ``None`` when the CLI (or a test) installed none."""
    return _installed
