"""``mimecast-siem config check`` and ``mimecast-siem config schema``.

``check`` loads the configuration exactly as the daemon would (file, environment, secret files),
then also checks that each sink type can be loaded (even when the sinks room's option check is
unavailable). It prints a short summary and exits 0, or prints every problem and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel

from mimecast_siem.config.cli import EXIT_BAD_CONFIG, add_config_arguments, add_output_argument, print_problems
from mimecast_siem.config.loader import LoadedConfig, load_config
from mimecast_siem.config.models import STREAM_NAMES, Settings
from mimecast_siem.config.sink_types import sink_types
from mimecast_siem.errors import ConfigError, ConfigProblem
from mimecast_siem.observability.logging import configure_logging

EXIT_OK = 0
EXIT_FAILURE = 1


#: ``config check --connect``'s probe: settings -> one result per thing reached (``ok``, ``kind``,
#: ``name``, ``detail``, ``seconds``, ``to_json()``). The collector provides it; the CLI hands it over.
ConnectChecks = Callable[[Settings], Coroutine[Any, Any, list[Any]]]


def register(sub: argparse._SubParsersAction[Any], *, connect_checks: ConnectChecks | None = None) -> None:
    """Add ``config check`` and ``config schema`` to ``sub``.

    Args:
        sub: the CLI's sub-parsers.
        connect_checks: what ``config check --connect`` runs; without it ``--connect`` is refused.
    """
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
    add_output_argument(check)
    check.add_argument(
        "--connect",
        action="store_true",
        help="Also reach everything: a token and one cheap call per tenant, each sink's health check, the "
        "state store; report each (exit 1 when one fails).",
    )
    check.set_defaults(handler=check_command, connect_checks=connect_checks)
    schema = commands.add_parser("schema", help="Print the JSON schema of the configuration file.")
    schema.set_defaults(handler=schema_command)


def check_command(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Handler of ``config check``."""
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    as_json = getattr(args, "output", "text") == "json"
    configure_logging(args.log_level or "WARNING", args.log_format or "auto", stream=stderr)
    try:
        loaded = load_config(args.config)
        extra = deep_check(loaded.settings)
        if extra:
            raise ConfigError("configuration check failed", problems=extra)
    except ConfigError as exc:
        if as_json:
            problems = [
                {"key": p.key, "message": p.message, "value": p.value, "source": p.source} for p in exc.problems
            ] or [{"key": "(configuration)", "message": str(exc), "value": None, "source": None}]
            stdout.write(json.dumps({"ok": False, "problems": problems}, indent=2) + "\n")
        else:
            print_problems(exc, stderr)
        return EXIT_BAD_CONFIG
    checks: list[Any] = []
    if getattr(args, "connect", False):
        probe: ConnectChecks | None = getattr(args, "connect_checks", None)
        if probe is None:
            stderr.write("error: --connect is not available in this program (no connection checks were given)\n")
            return EXIT_FAILURE
        checks = asyncio.run(probe(loaded.settings))
    failed = any(not c.ok for c in checks)
    if as_json:
        document = summary_document(loaded)
        if getattr(args, "connect", False):
            document["connect"] = [c.to_json() for c in checks]
            document["ok"] = not failed
        stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        stdout.write(summary(loaded))
        if checks:
            stdout.write(connect_report(checks))
    return EXIT_FAILURE if failed else EXIT_OK


def connect_report(checks: list[Any]) -> str:
    """The ``--connect`` lines: one per check, ``ok``/``FAILED``, what and how long."""
    lines = ["connect:"]
    for check in checks:
        mark = "ok" if check.ok else "FAILED"
        lines.append(f"  {mark:6} {check.kind} {check.name}: {check.detail} ({check.seconds:.2f}s)")
    failed = sum(1 for c in checks if not c.ok)
    lines.append(f"{len(checks) - failed} of {len(checks)} reachable" + (f"; {failed} failed" if failed else ""))
    return "\n".join(lines) + "\n"


def deep_check(settings: Settings) -> list[ConfigProblem]:
    """Checks beyond validation: usable directories, and every sink type resolves to a loadable class."""
    problems = path_problems(settings)
    types = sink_types()
    if types is None:
        return problems
    for index, sink in enumerate(settings.sinks):
        try:
            types.load(sink.type)
        except Exception as exc:
            problems.append(
                ConfigProblem(
                    f"sinks[{index}].type",
                    f"no sink type {sink.type!r} can be loaded ({type(exc).__name__}); built-in types: "
                    "file, stdout, syslog, hec, elasticsearch, kafka, s3, sentinel, or a plugin's entry-point name",
                    repr(sink.type),
                )
            )
    return problems


def path_problems(settings: Settings) -> list[ConfigProblem]:
    """The data directory, the SQLite file's directory and the dead-letter file's directory: each must be a
    directory when it exists (a file in their place makes the daemon fail at start)."""
    problems: list[ConfigProblem] = []
    wanted: list[tuple[str, Path]] = [("data_dir", settings.data_dir)]
    url = settings.state_url()
    if url.startswith("sqlite:///"):
        wanted.append(("state.url", Path(url.removeprefix("sqlite:///")).parent))
    wanted.append(("dead_letter.path", settings.dead_letter_path().parent))
    seen: set[Path] = set()
    for key, directory in wanted:
        for candidate in (directory, *directory.parents):
            if candidate in seen or not candidate.exists():
                continue
            seen.add(candidate)
            if not candidate.is_dir():
                problems.append(
                    ConfigProblem(
                        key,
                        f"{candidate} is a file, not a directory; point {key} at a directory (or remove the file)",
                        repr(str(directory)),
                    )
                )
            break
    return problems


#: Values whose origin ``config check`` always shows (the ones an image or chart usually sets).
SHOWN_ORIGINS: tuple[tuple[str, ...], ...] = (
    ("data_dir",),
    ("server", "host"),
    ("server", "port"),
    ("state", "url"),
    ("logging", "level"),
    ("logging", "format"),
)


def origins(loaded: LoadedConfig) -> dict[str, str]:
    """Where each value came from: ``config.yaml:12``, ``env MIMECAST_SIEM__...``, ``file ...`` or ``default``.

    Every value set by the file or the environment, plus :data:`SHOWN_ORIGINS` (``default`` when unset).
    """
    found: dict[str, str] = {}
    for path, origin in sorted(loaded.sources.origins.items(), key=lambda kv: [str(k) for k in kv[0]]):
        if path:
            found[".".join(str(k) for k in path)] = origin
    for path in SHOWN_ORIGINS:
        inherited = loaded.sources.origin(path) or ""
        # A parent set from the environment as a whole (MIMECAST_SIEM__SERVER='{port: 9}') counts; a parent
        # YAML key with the value left out does not.
        found.setdefault(".".join(path), inherited if inherited.startswith("env ") else "default")
    return dict(sorted(found.items()))


def summary_document(loaded: LoadedConfig) -> dict[str, Any]:
    """``config check --output json`` (no secrets; the shape is documented in docs/operations.md)."""
    s = loaded.settings
    state_kind = "sqlite" if s.state.url is None else s.state_url().split(":", 1)[0].split("+", 1)[0]
    return {
        "ok": True,
        "config_file": str(loaded.path) if loaded.path else None,
        "tenants": [
            {
                "name": t.name,
                "enabled": t.enabled,
                "base_url": t.base_url,
                "verify_tls": t.verify_tls,
                "streams": list(s.enabled_streams(t)),
            }
            for t in s.tenants
        ],
        "sinks": [{"name": k.name, "type": k.type, "format": k.format, "enabled": k.enabled} for k in s.sinks],
        "routes": [{"streams": list(r.streams), "tenants": list(r.tenants), "sinks": list(r.sinks)} for r in s.routes],
        "state": {"backend": state_kind},
        "data_dir": str(s.data_dir),
        "server": {"host": s.server.host, "port": s.server.port},
        "sources": origins(loaded),
    }


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
    lines.append(f"server: {s.server.host}:{s.server.port}")
    lines.append("where values came from (file line, environment variable, secret file, or default):")
    label = f"{loaded.path.name}:" if loaded.path else None
    for key, origin in origins(loaded).items():
        if tuple(key.split(".")) in SHOWN_ORIGINS or label is None or not origin.startswith(label):
            lines.append(f"  {key}: {origin}")
    return "\n".join(lines) + "\n"


def config_json_schema() -> dict[str, Any]:
    """JSON schema (draft 2020-12) of the configuration file.

    Every secret key ``k`` also appears as ``k_file`` (a mounted secret file), and a secret that
    may come from a file is no longer required by the schema.
    """
    schema = Settings.model_json_schema(mode="validation")
    _add_sink_type_options(schema)
    for definition in [schema, *schema.get("$defs", {}).values()]:
        _add_secret_files(definition)
    _describe_stream_maps(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mimecast-siem configuration",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def _add_sink_type_options(schema: dict[str, Any]) -> None:
    """Each installed sink type's options: ``if type == <t> then <its options model's properties>``."""
    types = sink_types()
    if types is None:
        return
    defs = schema.setdefault("$defs", {})
    branches: list[dict[str, Any]] = []
    for sink_type in types.available():
        try:
            model = getattr(types.load(sink_type), "options_model", None)
        except Exception:  # a broken plugin is reported by config check, not here
            model = None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        options = model.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
        defs.update(options.pop("$defs", {}))
        then: dict[str, Any] = {"properties": options.get("properties", {})}
        if options.get("required"):
            then["required"] = options["required"]
        _add_secret_files(then)
        branches.append({"if": {"properties": {"type": {"const": sink_type}}, "required": ["type"]}, "then": then})
    sink = defs.get("SinkSettings")
    if sink is not None and branches:
        sink["allOf"] = branches


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
