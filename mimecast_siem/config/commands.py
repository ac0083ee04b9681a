"""``mimecast-siem config check`` and ``mimecast-siem config schema``.

``check`` loads the configuration exactly as the daemon would (file, environment, secret files),
then also checks that each sink type can be loaded (even when the sinks room's option check is
unavailable). It prints a short summary and exits 0, or prints every problem and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from mimecast_siem.config.cli import EXIT_BAD_CONFIG, add_config_arguments, print_problems
from mimecast_siem.config.loader import LoadedConfig, load_config
from mimecast_siem.config.models import STREAM_NAMES, Settings
from mimecast_siem.errors import ConfigError, ConfigProblem
from mimecast_siem.observability.logging import configure_logging

EXIT_OK = 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``config check`` and ``config schema`` to ``sub``."""
    config = sub.add_parser(
        "config",
        help="Validate the configuration or print its JSON schema.",
        description="Validate the configuration (check) or print the JSON schema of the config file (schema).",
    )
    commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="Validate the configuration; print a summary (exit 0) or every problem (exit 2).",
        description="Load the configuration as the daemon would and report every problem at once.",
    )
    add_config_arguments(check)
    check.set_defaults(handler=check_command)
    schema = commands.add_parser("schema", help="Print the JSON schema of the configuration file.")
    schema.set_defaults(handler=schema_command)


def check_command(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Handler of ``config check``."""
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    configure_logging(args.log_level or "WARNING", args.log_format or "auto", stream=stderr)
    try:
        loaded = load_config(args.config)
        extra = deep_check(loaded.settings)
        if extra:
            raise ConfigError("configuration check failed", problems=extra)
    except ConfigError as exc:
        print_problems(exc, stderr)
        return EXIT_BAD_CONFIG
    stdout.write(summary(loaded))
    return EXIT_OK


def deep_check(settings: Settings) -> list[ConfigProblem]:
    """Checks beyond validation: every sink type resolves to a loadable class."""
    try:
        from mimecast_siem.sinks import load_sink_class  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return []
    problems: list[ConfigProblem] = []
    for index, sink in enumerate(settings.sinks):
        try:
            load_sink_class(sink.type)
        except Exception as exc:
            problems.append(
                ConfigProblem(
                    f"sinks[{index}].type",
                    f"no sink type {sink.type!r} can be loaded ({type(exc).__name__}); built-in types: "
                    "file, stdout, syslog, hec, or a plugin's entry-point name",
                    repr(sink.type),
                )
            )
    return problems


def summary(loaded: LoadedConfig) -> str:
    """A few lines naming tenants, streams, sinks and routes (no secrets)."""
    s = loaded.settings
    where = str(loaded.path) if loaded.path else "environment only"
    lines = [f"Configuration OK ({where})."]
    lines.append(f"tenants: {len(s.tenants)}")
    for tenant in s.tenants:
        streams = s.enabled_streams(tenant)
        state = "" if tenant.enabled else " [disabled]"
        tls = "" if tenant.verify_tls else " [TLS verification OFF]"
        lines.append(
            f"  {tenant.name}{state}{tls}: {tenant.base_url}, {len(streams)} stream(s): {', '.join(streams) or 'none'}"
        )
    lines.append(f"sinks: {len(s.sinks)}")
    for sink in s.sinks:
        state = "" if sink.enabled else " [disabled]"
        lines.append(f"  {sink.name}{state}: {sink.type}, format {sink.format}")
    if s.routes:
        lines.append(f"routes: {len(s.routes)}")
        for route in s.routes:
            lines.append(
                f"  streams {', '.join(route.streams)} of tenants {', '.join(route.tenants)} -> {', '.join(route.sinks)}"
            )
    else:
        lines.append("routes: none (every stream goes to every enabled sink)")
    state_kind = "sqlite" if s.state.url is None else s.state_url().split(":", 1)[0]
    lines.append(f"state: {state_kind}; data dir {s.data_dir}")
    return "\n".join(lines) + "\n"


def config_json_schema() -> dict[str, Any]:
    """JSON schema (draft 2020-12) of the configuration file.

    Every secret key ``k`` also appears as ``k_file`` (a mounted secret file), and a secret that
    may come from a file is no longer required by the schema.
    """
    schema = Settings.model_json_schema(mode="validation")
    for definition in [schema, *schema.get("$defs", {}).values()]:
        _add_secret_files(definition)
    _describe_stream_maps(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mimecast-siem configuration",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def _describe_stream_maps(schema: dict[str, Any]) -> None:
    """Stream maps are keyed by stream name; a tenant's may also be a plain list of names."""
    names = {"enum": list(STREAM_NAMES)}
    top = schema["properties"]["streams"]
    top["propertyNames"] = names
    tenant = schema["$defs"]["TenantSettings"]["properties"]["streams"]
    schema["$defs"]["TenantSettings"]["properties"]["streams"] = {
        "anyOf": [
            {"type": "array", "items": names, "uniqueItems": True},
            {
                "type": "object",
                "propertyNames": names,
                "additionalProperties": {"anyOf": [{"$ref": "#/$defs/StreamSettings"}, {"type": "null"}]},
            },
            {"type": "null"},
        ],
        "default": None,
        "description": tenant.get("description", ""),
    }


def _add_secret_files(definition: dict[str, Any]) -> None:
    properties = definition.get("properties")
    if not isinstance(properties, dict):
        return
    for name, prop in list(properties.items()):
        if not _is_password(prop):
            continue
        properties[f"{name}_file"] = {
            "type": "string",
            "description": f"Path of a file holding {name} (a mounted secret); instead of {name}.",
        }
        required = definition.get("required")
        if isinstance(required, list) and name in required:
            required.remove(name)


def _is_password(prop: Any) -> bool:
    if not isinstance(prop, dict):
        return False
    if prop.get("format") == "password":
        return True
    return any(_is_password(option) for option in prop.get("anyOf", []))


def schema_command(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Handler of ``config schema``."""
    (out or sys.stdout).write(json.dumps(config_json_schema(), indent=2, sort_keys=False) + "\n")
    return EXIT_OK
