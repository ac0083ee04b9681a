"""Configuration: settings models, YAML + environment loading, secrets, validation, CLI glue.

Other rooms use only these names::

    from mimecast_siem.config import Settings, TenantSettings, load_settings
    from mimecast_siem.config import add_config_arguments, settings_from_args

``load_settings(path, env)`` reads one YAML file (``--config`` or ``MIMECAST_SIEM_CONFIG``),
interpolates ``${VAR}``, applies ``MIMECAST_SIEM__<KEY>__<KEY>...`` environment overrides, reads
``<secret>_file`` files, registers every secret with the log redactor and validates, raising
:class:`~mimecast_siem.errors.ConfigError` with every problem at once.
"""

from __future__ import annotations

from mimecast_siem.config.cli import add_config_arguments, add_output_argument, print_problems, settings_from_args
from mimecast_siem.config.loader import LoadedConfig, load_config, load_settings
from mimecast_siem.config.models import (
    DEFAULT_STREAMS,
    FORMATS,
    REGION_URLS,
    SCOPES,
    STREAM_NAMES,
    ActionsSettings,
    ActionTokenSettings,
    BackfillSettings,
    DaemonSettings,
    DeadLetterSettings,
    LoggingSettings,
    RateLimitSettings,
    RouteSettings,
    ServerSettings,
    Settings,
    SinkSettings,
    StateSettings,
    StreamSettings,
    TenantSettings,
)
from mimecast_siem.config.overrides import CONFIG_PATH_ENV, ENV_PREFIX
from mimecast_siem.config.sink_types import SinkTypes, sink_types, use_sink_types
from mimecast_siem.times import format_duration, parse_duration

__all__ = [
    "CONFIG_PATH_ENV",
    "DEFAULT_STREAMS",
    "ENV_PREFIX",
    "FORMATS",
    "REGION_URLS",
    "SCOPES",
    "STREAM_NAMES",
    "ActionTokenSettings",
    "ActionsSettings",
    "BackfillSettings",
    "DaemonSettings",
    "DeadLetterSettings",
    "LoadedConfig",
    "LoggingSettings",
    "RateLimitSettings",
    "RouteSettings",
    "ServerSettings",
    "Settings",
    "SinkSettings",
    "SinkTypes",
    "StateSettings",
    "StreamSettings",
    "TenantSettings",
    "add_config_arguments",
    "add_output_argument",
    "format_duration",
    "load_config",
    "load_settings",
    "parse_duration",
    "print_problems",
    "settings_from_args",
    "sink_types",
    "use_sink_types",
]
