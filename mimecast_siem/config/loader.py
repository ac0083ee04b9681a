"""``load_settings``: YAML file + environment + secret files → validated :class:`Settings`.

Steps, each collecting problems instead of stopping at the first:

1. read the YAML file (``--config`` or ``MIMECAST_SIEM_CONFIG``; none = environment only), with
   ``${VAR}`` interpolation and the line of every key;
2. apply ``MIMECAST_SIEM_DEFAULT__*`` defaults (the container image's) for keys the file leaves out,
   then ``MIMECAST_SIEM__*`` overrides (precedence: built-in defaults < ``MIMECAST_SIEM_DEFAULT__*``
   < YAML < ``MIMECAST_SIEM__*``);
3. read ``<secret>_file`` files and register every secret with the log redactor;
4. validate with pydantic, check cross-references, tenant stream overrides, CA bundles and (when
   the sinks room provides it) each sink's type-specific options.

Every problem is raised at once as :class:`ConfigError`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mimecast_siem.config.models import SYSLOG_TLS_KEYS, Settings, SinkSettings, StreamSettings
from mimecast_siem.config.overrides import CONFIG_PATH_ENV, apply_env_defaults, apply_env_overrides
from mimecast_siem.config.problems import parse_key, problems_from_validation, reference_problems
from mimecast_siem.config.schema import SETTINGS_SHAPE, Shape
from mimecast_siem.config.secrets import MASKED, collect_secrets, resolve_secret_files
from mimecast_siem.config.sink_types import sink_types
from mimecast_siem.config.sources import FILE_KEY, SourceMap, TreePath, read_yaml, render_path
from mimecast_siem.errors import ConfigError, ConfigProblem
from mimecast_siem.observability.logging import register_secret, scrub

log = logging.getLogger("mimecast_siem.config")

#: Config files larger than this are refused (a real one is a few kilobytes).
MAX_CONFIG_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class LoadedConfig:
    """Validated settings plus what ``config check`` reports about where they came from."""

    settings: Settings
    path: Path | None
    sources: SourceMap


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load and validate the configuration.

    Args:
        path: the YAML file; when ``None``, ``MIMECAST_SIEM_CONFIG`` from ``env``, else no file
            (every key then comes from the environment).
        env: environment variables for ``${VAR}`` and ``MIMECAST_SIEM__*`` overrides; default
            ``os.environ``.

    Returns:
        The validated settings. Every secret in them has been registered with the log redactor.

    Raises:
        ConfigError: with every problem found (``problems``), secrets masked.
    """
    return load_config(path, env).settings


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Like :func:`load_settings`, also returning the file used and the origin of every value."""
    environ: Mapping[str, str] = os.environ if env is None else env
    chosen = _config_path(path, environ)
    sources = SourceMap()
    problems: list[ConfigProblem] = []
    tree: Any = {}
    label = None
    if chosen is not None:
        label = chosen.name
        text, problem = _read_file(chosen, path is None)
        if problem is not None:
            problems.append(problem)
            tree = None
        else:
            document = read_yaml(text, label, environ)
            tree, sources = document.tree, document.sources
            # Keys were rendered while the tree was being built; name list items now that it exists.
            problems.extend(_rekey(p, tree) for p in document.problems)
    if tree is None:
        # The file could not be read or parsed: report that alone, since every other problem would
        # be a consequence of the missing file.
        raise _config_error(problems)
    problems.extend(apply_env_defaults(tree, environ, sources))
    problems.extend(apply_env_overrides(tree, environ, sources))
    problems.extend(resolve_secret_files(tree, sources))
    coerce_text_scalars(tree, sources)
    for secret in collect_secrets(tree):
        register_secret(secret)
    problems.extend(reference_problems(tree, sources))
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        found = problems_from_validation(exc, tree, sources, file_label=label)
        if any(p.key.startswith(("tenants", "sinks", "routes", "actions")) for p in problems):
            # The model's own cross-reference check repeats (less precisely) what we found above.
            found = [p for p in found if p.key != "(top level)"]
        # One problem per key, the earliest cause: an unset ${VAR} also leaves an empty value behind.
        earlier = {p.key for p in problems}
        problems.extend(p for p in found if p.key not in earlier)
    problems.extend(_stream_override_problems(tree, sources, label))
    problems.extend(_ca_bundle_problems(tree, sources))
    problems.extend(_state_url_problems(tree, sources))
    problems.extend(_sink_option_problems(settings, tree, sources))
    problems = _without_consequences(problems, tree)
    if problems:
        raise _config_error(problems)
    assert settings is not None
    _warn_insecure(settings)
    return LoadedConfig(settings, chosen, sources)


def coerce_text_scalars(tree: Any, sources: SourceMap) -> None:
    """Give text keys the YAML scalar as written: ``client_id: 0123`` is the text "0123", not 123."""
    _coerce(tree, SETTINGS_SHAPE, (), sources)


def _coerce(node: Any, shape: Shape, path: TreePath, sources: SourceMap) -> None:
    items: list[tuple[str | int, Any]]
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return
    for key, value in items:
        child_shape = shape.child(key)
        child_path = (*path, key)
        if isinstance(value, dict | list):
            _coerce(value, child_shape, child_path, sources)
        elif child_shape.text and value is not None and not isinstance(value, str):
            raw = sources.raw_text.get(child_path)
            node[key] = raw if raw is not None else str(value)


def _without_consequences(problems: list[ConfigProblem], tree: Any) -> list[ConfigProblem]:
    """Drop problems that only follow from an unreadable secret file (reported once, for the file).

    Without the file the secret is missing, so its block also fails "required" or "give exactly
    one of ..." checks; those say nothing the file problem does not.
    """
    failed = [parse_key(p.key, tree) for p in problems if p.key.endswith("_file")]
    if not failed:
        return problems
    parents = {path[:-1] for path in failed}
    secrets = {(*path[:-1], str(path[-1])[: -len("_file")]) for path in failed}
    kept: list[ConfigProblem] = []
    for problem in problems:
        path = parse_key(problem.key, tree)
        if problem.key.endswith("_file") or (path not in secrets and path not in parents):
            kept.append(problem)
    return kept


def _rekey(problem: ConfigProblem, tree: Any) -> ConfigProblem:
    if tree is None or problem.key == FILE_KEY:
        return problem
    key = render_path(parse_key(problem.key, tree), tree)
    return ConfigProblem(key, problem.message, problem.value, problem.source)


def _config_path(path: str | Path | None, env: Mapping[str, str]) -> Path | None:
    if path is not None and str(path) != "":
        return Path(path)
    from_env = env.get(CONFIG_PATH_ENV)
    return Path(from_env) if from_env else None


def _read_file(path: Path, from_env: bool) -> tuple[str, ConfigProblem | None]:
    source = f"env {CONFIG_PATH_ENV}" if from_env else "--config"
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            return "", ConfigProblem(
                FILE_KEY, f"the file is {size} bytes; at most {MAX_CONFIG_BYTES} allowed", repr(str(path)), source
            )
        return path.read_text(encoding="utf-8"), None
    except FileNotFoundError:
        message = "config file not found"
    except IsADirectoryError:
        message = "config path is a directory; give the YAML file"
    except PermissionError:
        message = "config file is not readable by this process (check its owner and mode)"
    except UnicodeDecodeError as exc:
        message = f"config file is not UTF-8 text (byte {exc.start})"
    except OSError as exc:
        message = f"cannot read the config file: {exc.strerror or exc}"
    return "", ConfigProblem(FILE_KEY, message, repr(str(path)), source)


def _config_error(problems: list[ConfigProblem]) -> ConfigError:
    # A last pass through the redactor: a secret pasted into a non-secret key, or echoed inside a
    # message by a sink's validator, is still masked.
    clean = [
        ConfigProblem(
            scrub(p.key),
            scrub(p.message),
            scrub(p.value) if p.value is not None else None,
            scrub(p.source) if p.source else p.source,
        )
        for p in problems
    ]
    clean.sort(key=lambda p: p.key)
    count = len(clean)
    lines = "\n".join(f"  - {p.render()}" for p in clean)
    return ConfigError(f"configuration has {count} problem{'s' if count != 1 else ''}:\n{lines}", problems=clean)


def _stream_override_problems(tree: Any, sources: SourceMap, label: str | None) -> list[ConfigProblem]:
    """Tenant stream overrides are plain maps in the model; validate them as stream settings here."""
    problems: list[ConfigProblem] = []
    tenants = tree.get("tenants") if isinstance(tree, dict) else None
    if not isinstance(tenants, list):
        return problems
    for i, tenant in enumerate(tenants):
        streams = tenant.get("streams") if isinstance(tenant, dict) else None
        if not isinstance(streams, dict):
            continue
        for name, override in streams.items():
            if not isinstance(override, dict):
                continue
            try:
                StreamSettings.model_validate(override)
            except ValidationError as exc:
                root = ("tenants", i, "streams", name)
                problems.extend(problems_from_validation(exc, tree, sources, root=root, file_label=label))
    return problems


def _ca_bundle_problems(tree: Any, sources: SourceMap) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    tenants = tree.get("tenants") if isinstance(tree, dict) else None
    for i, tenant in enumerate(tenants if isinstance(tenants, list) else []):
        field = next((k for k in ("ca_file", "ca_bundle") if isinstance(tenant, dict) and k in tenant), "ca_file")
        bundle = tenant.get(field) if isinstance(tenant, dict) else None
        if isinstance(bundle, str) and bundle and not Path(bundle).is_file():
            name = tenant.get("name")
            key = f"tenants.{name}.{field}" if isinstance(name, str) else f"tenants[{i}].{field}"
            problems.append(
                ConfigProblem(
                    key,
                    "CA bundle file not found; give the path of a PEM file",
                    repr(bundle),
                    sources.origin(("tenants", i, field)),
                )
            )
    return problems


def _state_url_problems(tree: Any, sources: SourceMap) -> list[ConfigProblem]:
    state = tree.get("state") if isinstance(tree, dict) else None
    url = state.get("url") if isinstance(state, dict) else None
    if not isinstance(url, str):
        return []
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except (ArgumentError, ValueError):
        return [
            ConfigProblem(
                "state.url",
                "not a database URL; expected sqlite:///path/state.db or postgresql+psycopg://user@host:5432/db",
                MASKED,
                sources.origin(("state", "url")),
            )
        ]
    return []


def _sink_option_problems(settings: Settings | None, tree: Any, sources: SourceMap) -> list[ConfigProblem]:
    """Type-specific sink options, checked by the installed sink types (``config.sink_types``) if any."""
    types = sink_types()
    if types is None:
        return []
    target = settings
    if target is None:
        # The rest is invalid; still check the sinks that are well-formed on their own.
        valid: list[SinkSettings] = []
        raw = tree.get("sinks") if isinstance(tree, dict) else None
        for item in raw if isinstance(raw, list) else []:
            try:
                valid.append(SinkSettings.model_validate(item))
            except ValidationError:
                # Problem keys are by index (sinks[2].port): check only when every index lines up.
                return []
        if not valid:
            return []
        target = Settings.model_construct(sinks=valid)  # type: ignore[call-arg]
    try:
        found = list(types.validate(target))
    except Exception as exc:  # another room's validator failing must not hide our own problems
        log.warning("The sink option check could not run: %s.", type(exc).__name__)
        return []
    problems: list[ConfigProblem] = []
    for found_problem in found:
        if not isinstance(found_problem, ConfigProblem):
            continue
        path = _as_written(parse_key(found_problem.key, tree), tree)
        origin = found_problem.source or sources.origin(path)
        message = found_problem.message.removeprefix("Value error, ")
        problems.append(ConfigProblem(render_path(path, tree), message, found_problem.value, origin))
    return problems


def _as_written(path: TreePath, tree: Any) -> TreePath:
    """A syslog sink's ``tls.<key>`` problem under the name the file used (``ca_file``, not ``tls.ca_file``)."""
    if len(path) != 4 or path[0] != "sinks" or path[2] != "tls" or not isinstance(path[1], int):
        return path
    sinks = tree.get("sinks") if isinstance(tree, dict) else None
    if not isinstance(sinks, list) or not 0 <= path[1] < len(sinks) or not isinstance(sinks[path[1]], dict):
        return path
    sink = sinks[path[1]]
    block = sink.get("tls")
    if isinstance(block, dict) and path[3] in block:
        return path  # written in the old tls: block
    current = next((k for k, v in SYSLOG_TLS_KEYS.items() if v == path[3]), None)
    return ("sinks", path[1], current) if current is not None and current in sink else path


def _warn_insecure(settings: Settings) -> None:
    for tenant in settings.tenants:
        if not tenant.verify_tls:
            log.warning(
                "TLS certificate verification is OFF for tenant %s: anyone on the network path to %s can "
                "read its client secret and access tokens and forge API answers. Use ca_file for a "
                "private CA instead of turning verification off.",
                tenant.name,
                tenant.base_url,
                extra={"tenant": tenant.name},
            )
