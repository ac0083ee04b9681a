"""Structured logging with secret redaction and per-task context.

* :func:`configure_logging` installs one handler on the root logger that writes JSON lines
  (``ts``, ``level``, ``logger``, ``msg``, the bound context, the record's ``extra`` keys and, for
  exceptions, ``exc``) or a human console format. ``auto`` picks console on a TTY, JSON otherwise.
* :func:`bind_context` binds keys (``tenant=..., stream=...``) to the current context. Each asyncio
  task runs in a copy of the context it was created in, so a binding made inside a task is seen by
  that task (and tasks it creates) only.
* :func:`register_secret` adds a value to the process-wide :class:`Redactor`. Every registered secret
  and its URL-encoded, base64 and JSON-escaped forms are replaced by ``****`` in every line the
  handler emits: message, arguments, extras, exception messages and tracebacks, at every level.
  Known credential shapes (``Authorization: Bearer ...``, ``Splunk <token>``, ``client_secret=...``,
  passwords in URLs) are scrubbed even when the value was never registered.

Secrets shorter than :data:`MIN_SECRET_LENGTH` characters are not registered: real client secrets,
tokens and passwords are longer, and scrubbing a short common string (``secret``, ``admin``) from
every line would destroy the logs without protecting anything.
"""

from __future__ import annotations

import base64
import contextvars
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType, TracebackType
from typing import IO, Any, Literal
from urllib.parse import quote, quote_plus

import orjson

LogFormat = Literal["auto", "json", "console"]
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS: tuple[str, ...] = ("auto", "json", "console")

#: What a scrubbed secret is replaced with.
MASK = "****"
#: Registered secrets shorter than this are ignored (see the module docstring).
MIN_SECRET_LENGTH = 8

# Credential shapes scrubbed whether or not the value was registered. Each pattern keeps group 1
# (the label) and replaces the rest of the match with the mask.
_CREDENTIAL_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Authorization: Bearer <token> / Basic <b64>, with or without the header name. Credentials are
    # long; requiring 16 characters leaves prose such as "Basic authentication" alone.
    re.compile(r"(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{16,}", re.IGNORECASE),
    # HEC tokens are GUID-like; a plain English word after "Splunk" is left alone.
    re.compile(r"(\bSplunk\s+)[A-Za-z0-9._~+/=-]{16,}"),
    # key=value / key: value / "key": "value" for keys that always hold secrets.
    re.compile(
        r"""(\b(?:client_secret|access_token|refresh_token|id_token|password|passwd|api_key|apikey|hec_token"""
        r"""|secret|token)["']?\s*[=:]\s*["']?)(?!\*\*\*\*)[^\s"'&,;}\]]+""",
        re.IGNORECASE,
    ),
    # scheme://user:password@host (a password may hold an unescaped "/", so allow it up to the "@")
    # Already masked passwords (SQLAlchemy's "***") are left as they are.
    re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)(?!\*+@)[^\s@]+(?=@)", re.IGNORECASE),
)


class Redactor:
    """Replaces registered secret values (and credential-looking substrings) with :data:`MASK`.

    Thread-safe; the compiled pattern is rebuilt by the first scrub after a new secret is registered
    (compiling it costs milliseconds - ``re`` compiles in Python - and a process registers several
    secrets at start-up, often before it logs a line at all).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._variants: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, value: str | None) -> None:
        """Scrub ``value`` and its encoded forms from now on. Short or empty values are ignored."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        variants = {v for v in secret_variants(value) if len(v) >= MIN_SECRET_LENGTH}
        with self._lock:
            if variants <= self._variants:
                return
            self._variants |= variants
            self._pattern = None  # stale: rebuilt by the next scrub (_secrets_pattern)

    def clear(self) -> None:
        """Forget every registered secret (tests)."""
        with self._lock:
            self._variants.clear()
            self._pattern = None

    def __len__(self) -> int:
        return len(self._variants)

    def _secrets_pattern(self) -> re.Pattern[str] | None:
        """The registered secrets as one pattern, compiled on first use after a registration."""
        pattern = self._pattern
        if pattern is None and self._variants:
            with self._lock:
                if self._pattern is None and self._variants:
                    # Longest first, so a secret that contains another is replaced whole.
                    alternatives = sorted(self._variants, key=lambda v: (-len(v), v))
                    self._pattern = re.compile("|".join(re.escape(v) for v in alternatives))
                pattern = self._pattern
        return pattern

    def scrub(self, text: str) -> str:
        """Return ``text`` with every registered secret and credential shape masked."""
        pattern = self._secrets_pattern()
        if pattern is not None:
            text = pattern.sub(MASK, text)
        for credential in _CREDENTIAL_PATTERNS:
            text = credential.sub(lambda m: m.group(1) + MASK, text)
        return text

    def scrub_value(self, value: Any) -> Any:
        """Scrub strings inside ``value`` (recursing into mappings, lists and tuples)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {self.scrub(str(k)): self.scrub_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.scrub_value(v) for v in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        if isinstance(value, datetime):
            return value.isoformat()
        return self.scrub(str(value))


def secret_variants(value: str) -> set[str]:
    """The forms a secret takes on the wire or in a log line: raw, URL-encoded, base64, JSON-escaped."""
    raw = value.encode()
    b64 = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    return {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        b64,
        b64.rstrip("="),
        urlsafe,
        urlsafe.rstrip("="),
        orjson.dumps(value).decode()[1:-1],
    }


_REDACTOR = Redactor()


def redactor() -> Redactor:
    """The process-wide redactor used by the handler :func:`configure_logging` installs."""
    return _REDACTOR


def register_secret(value: str | None) -> None:
    """Scrub ``value`` from every log line from now on (config loading and the API client call this)."""
    _REDACTOR.register(value)


def scrub(text: str) -> str:
    """Mask registered secrets and credential shapes in ``text`` (for error messages and audit records)."""
    return _REDACTOR.scrub(text)


# --- context -----------------------------------------------------------------------------------

_EMPTY_CONTEXT: Mapping[str, Any] = MappingProxyType({})
_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "mimecast_siem_log_context", default=_EMPTY_CONTEXT
)


class ContextBinding:
    """Returned by :func:`bind_context`; use it as a context manager to undo the binding on exit."""

    def __init__(self, token: contextvars.Token[Mapping[str, Any]]) -> None:
        self._token = token

    def __enter__(self) -> ContextBinding:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.reset()

    def reset(self) -> None:
        """Restore the context as it was before the binding."""
        _CONTEXT.reset(self._token)


def bind_context(**values: Any) -> ContextBinding:
    """Add ``values`` to every log line emitted from the current task (and tasks it starts).

    Example::

        bind_context(tenant="acme", stream="ttp-url")      # for the rest of this task
        with bind_context(window="2026-11-25T10:00Z"):     # only inside the block
            log.info("Window delivered.")
    """
    merged = {**_CONTEXT.get(), **values}
    return ContextBinding(_CONTEXT.set(merged))


def unbind_context(*keys: str) -> None:
    """Remove ``keys`` from the current context."""
    current = _CONTEXT.get()
    _CONTEXT.set({k: v for k, v in current.items() if k not in keys})


def clear_context() -> None:
    """Remove every bound key from the current context."""
    _CONTEXT.set(_EMPTY_CONTEXT)


def current_context() -> dict[str, Any]:
    """A copy of the keys bound in the current context."""
    return dict(_CONTEXT.get())


# --- records -----------------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "taskName", "mimecast_siem_context", "mimecast_siem_scrubbed"}
)


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra={...}`` keys of ``record``."""
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES and not k.startswith("_")}


class RedactingFilter(logging.Filter):
    """Scrubs a record in place: message and arguments, extras, exception text and stack.

    Installed on the handler :func:`configure_logging` creates; add it to any other handler that
    must never see a secret (e.g. a test's capture handler). It also attaches the bound context.
    """

    def __init__(self, redactor_: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor_ or _REDACTOR

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "mimecast_siem_scrubbed", False):
            return True
        r = self._redactor
        try:
            message = record.getMessage()
        except Exception as exc:  # a bad format string must not lose the line
            message = f"{record.msg!r} (log arguments did not format: {type(exc).__name__})"
        record.msg = r.scrub(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = r.scrub(_format_exception(record.exc_info))
            # The formatted text replaces the live exception so no formatter can render it again.
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = r.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = r.scrub(record.stack_info)
        for key, value in record_extras(record).items():
            setattr(record, key, r.scrub_value(value))
        record.mimecast_siem_context = r.scrub_value(dict(_CONTEXT.get()))
        record.mimecast_siem_scrubbed = True
        return True


def _format_exception(
    exc_info: tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None],
) -> str:
    return "".join(traceback.format_exception(*exc_info)).rstrip("\n")


def _utc_timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, context, extras, ``exc``."""

    def __init__(self, redactor_: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor_ or _REDACTOR

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _utc_timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        # An explicit extra= is more specific than the bound context; neither may replace ts/level/msg.
        fields = {**(getattr(record, "mimecast_siem_context", None) or {}), **record_extras(record)}
        for key, value in fields.items():
            line.setdefault(key, value)
        exc = record.exc_text or (_format_exception(record.exc_info) if record.exc_info else None)
        if exc:
            line["exc"] = exc
        if record.stack_info:
            line["stack"] = record.stack_info
        scrubbed = self._redactor.scrub_value(line)
        text = orjson.dumps(scrubbed, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        # Second pass over the encoded line: catches a secret that only appears after JSON escaping.
        return self._redactor.scrub(text)


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger  message  key=value ...`` for people reading a terminal."""

    _COLOURS = {"DEBUG": "\x1b[2m", "INFO": "\x1b[32m", "WARNING": "\x1b[33m", "ERROR": "\x1b[31m"}

    def __init__(self, *, colour: bool = False, redactor_: Redactor | None = None) -> None:
        super().__init__()
        self._colour = colour
        self._redactor = redactor_ or _REDACTOR

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=UTC).strftime("%H:%M:%S")
        level = record.levelname
        if self._colour:
            colour = self._COLOURS.get(level, "\x1b[31m")
            level = f"{colour}{level:<7}\x1b[0m"
        else:
            level = f"{level:<7}"
        fields = {**(getattr(record, "mimecast_siem_context", None) or {}), **record_extras(record)}
        pairs = " ".join(f"{k}={_console_value(v)}" for k, v in fields.items())
        text = f"{ts} {level} {record.name}  {record.getMessage()}"
        if pairs:
            text += f"  {pairs}"
        exc = record.exc_text or (_format_exception(record.exc_info) if record.exc_info else None)
        if exc:
            text += "\n" + exc
        if record.stack_info:
            text += "\n" + record.stack_info
        return self._redactor.scrub(text)


def _console_value(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return f'"{text}"' if (" " in text or not text) else text


# --- configuration -------------------------------------------------------------------------------

_HANDLER_NAME = "mimecast_siem"


def resolve_format(fmt: str, stream: IO[str]) -> Literal["json", "console"]:
    """``auto`` becomes ``console`` on a TTY and ``json`` otherwise."""
    if fmt == "json":
        return "json"
    if fmt == "console":
        return "console"
    if fmt != "auto":
        raise ValueError(f"log format {fmt!r} is not one of: {', '.join(LOG_FORMATS)}")
    isatty = getattr(stream, "isatty", None)
    return "console" if callable(isatty) and isatty() else "json"


def configure_logging(
    level: str | int = "INFO", fmt: str = "auto", *, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record to ``stream`` (default stderr) as JSON lines or console text, scrubbed.

    Replaces the handler a previous call installed and leaves other handlers (e.g. pytest's) alone.

    Args:
        level: ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR`` (or a ``logging`` level number).
        fmt: ``json``, ``console`` or ``auto`` (console on a TTY, JSON otherwise).
        stream: where lines go; stderr when omitted.

    Returns:
        The installed handler.

    Raises:
        ValueError: ``level`` or ``fmt`` is not one of the allowed values.
    """
    if isinstance(level, str):
        if level.upper() not in LOG_LEVELS:
            raise ValueError(f"log level {level!r} is not one of: {', '.join(LOG_LEVELS)}")
        numeric = logging.getLevelName(level.upper())
    else:
        numeric = level
    chosen = resolve_format(fmt, stream if stream is not None else sys.stderr)
    handler: logging.StreamHandler[IO[str]] = (
        logging.StreamHandler(stream) if stream is not None else _CurrentStderrHandler()
    )
    out = handler.stream
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RedactingFilter())
    if chosen == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(ConsoleFormatter(colour=callable(getattr(out, "isatty", None)) and out.isatty()))
    reset_logging()
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)
    # Uncaught exceptions would otherwise be printed raw by the interpreter, secrets and all.
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    return handler


class _CurrentStderrHandler(logging.StreamHandler[IO[str]]):
    """Writes to whatever ``sys.stderr`` is at emit time, not the object it was when configured.

    A test harness (or a daemoniser) may replace and close the stderr object it had; binding the
    old one would make every later line fail with "I/O operation on closed file".
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass  # always the current sys.stderr


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("mimecast_siem").critical("Uncaught exception; exiting.", exc_info=(exc_type, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    name = args.thread.name if args.thread is not None else "unknown"
    logging.getLogger("mimecast_siem").error(
        "Uncaught exception in thread %s.", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
    )


def reset_logging() -> None:
    """Remove the handler :func:`configure_logging` installed (tests; a clean shutdown)."""
    if sys.excepthook is _log_uncaught:
        sys.excepthook = sys.__excepthook__
    if threading.excepthook is _log_uncaught_in_thread:
        threading.excepthook = threading.__excepthook__
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()


def register_secrets(values: Iterable[str | None]) -> None:
    """Register several secrets at once."""
    for value in values:
        register_secret(value)
