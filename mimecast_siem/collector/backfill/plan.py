"""Validating a backfill request before anything is asked of Mimecast (pure: values in, values out).

``mimecast-siem backfill`` turns its flags into a :class:`BackfillRequest`; :func:`plan_backfill`
checks every flag against the configuration and the stream catalogue and returns a
:class:`BackfillPlan` - or raises :class:`BackfillInputError` listing *every* problem at once, each
naming the flag, the bad value and what is allowed. The command exits 2 on it before it opens a
connection to Mimecast, so a typo never costs quota.

Rules:

* ``--since``/``--until`` are absolute ISO-8601 dates or times (UTC when no offset is given).
  Relative times (``7d``, ``now``) are refused on purpose: re-running the same command is how a
  backfill resumes, and a relative range would name a different job on every run.
* ``--until`` must be after ``--since``; neither may lie in the future.
* Only ``log`` streams can be backfilled. Snapshot and gauge streams describe the present (what is
  held now, how long the queues are now); Mimecast offers no history of them.
* A stream with a known history limit (audit events: 60 days) refuses an older ``--since``.
* ``--sink`` names configured, enabled sinks; each chosen stream must reach at least one sink
  (the configured ``routes``, narrowed to the named sinks), or the backfill would spend quota on
  events that go nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mimecast_siem.checkpoints import count_windows
from mimecast_siem.config.models import STREAM_NAMES, Settings, StreamSettings
from mimecast_siem.streams import CATALOGUE, StreamSpec
from mimecast_siem.times import format_duration, format_utc, parse_duration, parse_user_time

#: Most windows one job may have (the state store's limit, checked here so the error names the flag).
MAX_WINDOWS = 1_000_000
#: Highest ``--concurrency`` (the same bound as ``backfill.concurrency`` in the configuration).
MAX_CONCURRENCY = 32
#: History limits are checked with this margin: the oldest window must still be served when it runs.
HISTORY_MARGIN = timedelta(minutes=1)


class BackfillInputError(ValueError):
    """The request cannot run; ``problems`` lists every reason, one sentence each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    """The flags of ``mimecast-siem backfill`` as given (strings, not yet checked).

    Attributes:
        tenant: ``--tenant``.
        streams: ``--stream`` values (repeatable).
        all_streams: ``--all-streams``.
        since: ``--since``.
        until: ``--until``.
        sinks: ``--sink`` values (repeatable); empty = the configured routes.
        concurrency: ``--concurrency``; ``None`` = ``backfill.concurrency``.
        window: ``--window``; ``None`` = ``backfill.window``.
    """

    tenant: str
    streams: tuple[str, ...] = ()
    all_streams: bool = False
    since: str = ""
    until: str = ""
    sinks: tuple[str, ...] = ()
    concurrency: int | None = None
    window: str | None = None


@dataclass(frozen=True, slots=True)
class BackfillPlan:
    """A validated backfill: what the job is, and how it runs.

    Attributes:
        tenant: tenant name.
        streams: log streams to re-pull, in catalogue order.
        since: start of the range (inclusive), UTC, whole seconds.
        until: end of the range (exclusive), UTC, whole seconds.
        window: window size.
        sinks: named sinks (sorted); empty = every routed sink.
        concurrency: windows delivered at once.
        notes: things the user should know that do not stop the run (streams skipped by
            ``--all-streams``, a range ending close to now).
    """

    tenant: str
    streams: tuple[str, ...]
    since: datetime
    until: datetime
    window: timedelta
    sinks: tuple[str, ...]
    concurrency: int
    notes: tuple[str, ...] = field(default=())

    @property
    def windows_per_stream(self) -> int:
        """Windows of each stream."""
        return count_windows(self.since, self.until, self.window)

    @property
    def windows_total(self) -> int:
        """Windows over all streams."""
        return self.windows_per_stream * len(self.streams)


def parse_backfill_time(flag: str, text: str) -> datetime:
    """An absolute time: ``2026-10-01`` (midnight UTC), ``2026-10-01T12:00:00Z``, ``...+02:00``.

    No offset means UTC. Sub-second precision is dropped (Mimecast's wire format has whole seconds).

    Raises:
        ValueError: naming the flag, the value and what is allowed.
    """
    allowed = (
        f"{flag} {text!r} is not an absolute date or time; use ISO-8601 such as 2026-10-01 or "
        "2026-10-01T12:00:00Z (no offset = UTC). Relative times (7d, now) are not accepted: re-running "
        "the same command must name the same range to resume the job."
    )
    try:
        parsed = parse_user_time(text)
    except ValueError:
        raise ValueError(allowed) from None
    return parsed.astimezone(UTC).replace(microsecond=0)


def why_not_backfillable(spec: StreamSpec) -> str | None:
    """Why ``spec`` cannot be backfilled, or ``None`` when it can (a ``log`` stream)."""
    if spec.kind == "snapshot":
        return (
            f"{spec.name} is a snapshot stream: the API lists what is held now, not what was held in the past, "
            "so there is no history to re-pull (the daemon reports messages entering and leaving hold from its "
            "first poll on)"
        )
    if spec.kind == "gauge":
        return (
            f"{spec.name} is a gauge stream: each poll samples the current level and the API cannot be asked for "
            "past levels, so it cannot be backfilled"
        )
    return None


def backfillable_streams() -> tuple[str, ...]:
    """Every stream that can be backfilled, in catalogue order."""
    return tuple(name for name, spec in CATALOGUE.items() if why_not_backfillable(spec) is None)


def target_sinks(settings: Settings, tenant: str, stream: str, named: Sequence[str]) -> list[str]:
    """Sinks that receive ``stream`` of ``tenant`` in a backfill: the routed ones, narrowed to ``named``."""
    routed = [s.name for s in settings.sinks_for(tenant, stream)]
    return [name for name in routed if name in named] if named else routed


def plan_backfill(settings: Settings, request: BackfillRequest, now: datetime) -> BackfillPlan:
    """Check ``request`` against ``settings`` and the catalogue; every problem is reported at once.

    Args:
        settings: the loaded configuration.
        request: the flags as given.
        now: the current time (UTC-aware).

    Returns:
        The plan to run.

    Raises:
        BackfillInputError: listing every problem (flag, value, what is allowed).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    problems: list[str] = []
    notes: list[str] = []

    tenant_names = [t.name for t in settings.tenants]
    tenant = next((t for t in settings.tenants if t.name == request.tenant), None)
    if tenant is None:
        problems.append(f"--tenant {request.tenant!r} is not configured; configured tenants: {', '.join(tenant_names)}")

    streams = _choose_streams(settings, request, problems, notes)
    since, until = _check_range(request, now, problems)
    window = _check_window(settings, request, problems)
    concurrency = _check_concurrency(settings, request, problems)

    if since is not None and until is not None:
        for stream in streams:
            limit = CATALOGUE[stream].max_history
            if limit is None:
                continue
            oldest = (now - limit + HISTORY_MARGIN).replace(microsecond=0)
            if since < oldest:
                problems.append(
                    f"--since {request.since!r} is too far back for stream {stream}: Mimecast serves its last "
                    f"{format_duration(limit)} only, so --since must be at or after {format_utc(oldest)}"
                )
        if window is not None and until > since:
            total = count_windows(since, until, window) * max(len(streams), 1)
            if total > MAX_WINDOWS:
                problems.append(
                    f"--window {format_duration(window)} cuts this range into {total} windows (at most "
                    f"{MAX_WINDOWS}); use a larger --window"
                )

    _check_sinks(settings, request, streams, problems)

    if problems:
        raise BackfillInputError(problems)
    # Every None above came with a problem; these only narrow the types.
    assert tenant is not None
    assert since is not None
    assert until is not None
    assert window is not None
    assert concurrency is not None
    settle = max(_settle_time(settings.stream_settings(tenant, s)) for s in streams)
    if until > now - settle:
        notes.append(
            f"--until {format_utc(until)} is within {format_duration(settle)} of now: records that Mimecast makes "
            "visible late may still arrive for the end of the range (the live daemon's overlap covers them)"
        )
    return BackfillPlan(
        tenant=tenant.name,
        streams=streams,
        since=since,
        until=until,
        window=window,
        sinks=tuple(sorted(set(request.sinks))),
        concurrency=concurrency,
        notes=tuple(notes),
    )


def _choose_streams(
    settings: Settings, request: BackfillRequest, problems: list[str], notes: list[str]
) -> tuple[str, ...]:
    allowed = ", ".join(backfillable_streams())
    if request.all_streams and request.streams:
        problems.append("--stream and --all-streams exclude each other; give one of them")
        return ()
    if request.all_streams:
        tenant = next((t for t in settings.tenants if t.name == request.tenant), None)
        if tenant is None:
            return ()
        enabled = settings.enabled_streams(tenant)
        chosen = tuple(s for s in enabled if why_not_backfillable(CATALOGUE[s]) is None)
        skipped = [s for s in enabled if s not in chosen]
        if skipped:
            notes.append(
                f"--all-streams skips {', '.join(skipped)}: snapshot and gauge streams have no history to re-pull"
            )
        if not chosen:
            problems.append(
                f"--all-streams: tenant {tenant.name!r} has no enabled stream that can be backfilled "
                f"(backfillable: {allowed}); name streams with --stream"
            )
        return chosen
    if not request.streams:
        problems.append(f"give --stream (repeatable) or --all-streams; backfillable streams: {allowed}")
        return ()
    chosen_set: set[str] = set()
    for name in request.streams:
        if name not in STREAM_NAMES:
            problems.append(f"--stream {name!r} is unknown; streams that can be backfilled: {allowed}")
            continue
        reason = why_not_backfillable(CATALOGUE[name])
        if reason is not None:
            problems.append(f"--stream {name!r} cannot be backfilled: {reason}; streams that can: {allowed}")
            continue
        chosen_set.add(name)
    return tuple(s for s in STREAM_NAMES if s in chosen_set)


def _check_range(
    request: BackfillRequest, now: datetime, problems: list[str]
) -> tuple[datetime | None, datetime | None]:
    since = until = None
    try:
        since = parse_backfill_time("--since", request.since)
    except ValueError as exc:
        problems.append(str(exc))
    try:
        until = parse_backfill_time("--until", request.until)
    except ValueError as exc:
        problems.append(str(exc))
    if since is not None and since >= now:
        problems.append(f"--since {request.since!r} ({format_utc(since)}) is in the future; now is {format_utc(now)}")
        since = None
    if until is not None and until > now:
        problems.append(
            f"--until {request.until!r} ({format_utc(until)}) is in the future; now is {format_utc(now)} and a backfill "
            "re-pulls the past only (the live daemon covers what comes next)"
        )
        until = None
    if since is not None and until is not None and until <= since:
        problems.append(
            f"--until {request.until!r} ({format_utc(until)}) is not after --since {request.since!r} ({format_utc(since)}); "
            "the range is [since, until)"
        )
        return None, None
    return since, until


def _check_window(settings: Settings, request: BackfillRequest, problems: list[str]) -> timedelta | None:
    if request.window is None:
        window = settings.backfill.window
        flag = "backfill.window"
    else:
        flag = "--window"
        try:
            window = parse_duration(request.window)
        except ValueError:
            problems.append(f"--window {request.window!r} is not a duration; use e.g. 15m, 1h, 1d")
            return None
    seconds = window.total_seconds()
    if seconds < 1 or seconds != int(seconds):
        problems.append(f"{flag} {format_duration(window)} must be a whole number of seconds, at least 1s (e.g. 1h)")
        return None
    return window


def _check_concurrency(settings: Settings, request: BackfillRequest, problems: list[str]) -> int | None:
    value = request.concurrency if request.concurrency is not None else settings.backfill.concurrency
    if not 1 <= value <= MAX_CONCURRENCY:
        problems.append(f"--concurrency {value} is out of range; allowed: 1 to {MAX_CONCURRENCY}")
        return None
    return value


def _check_sinks(settings: Settings, request: BackfillRequest, streams: Sequence[str], problems: list[str]) -> None:
    """Check ``--sink`` names, and that every stream reaches at least one sink."""
    configured = {s.name: s for s in settings.sinks}
    enabled = [s.name for s in settings.sinks if s.enabled]
    bad = False
    for name in dict.fromkeys(request.sinks):
        sink = configured.get(name)
        if sink is None:
            problems.append(f"--sink {name!r} is not configured; configured sinks: {', '.join(configured) or 'none'}")
            bad = True
        elif not sink.enabled:
            problems.append(
                f"--sink {name!r} is disabled (sinks[].enabled: false); enabled sinks: {', '.join(enabled)}"
            )
            bad = True
    if bad or not any(t.name == request.tenant for t in settings.tenants):
        return
    named = list(dict.fromkeys(request.sinks))
    for stream in streams:
        targets = target_sinks(settings, request.tenant, stream, named)
        if targets:
            continue
        routed = [s.name for s in settings.sinks_for(request.tenant, stream)]
        if named:
            problems.append(
                f"--sink {', '.join(named)}: none of them receives stream {stream} of tenant {request.tenant} "
                f"under the configured routes (it goes to: {', '.join(routed) or 'no sink'}); add a route or "
                "name another sink"
            )
        else:
            problems.append(
                f"stream {stream} of tenant {request.tenant} is not routed to any enabled sink; add a route "
                "or name a sink with --sink"
            )


def _settle_time(stream: StreamSettings) -> timedelta:
    """How long after its time a record may still become visible (the live path's lag + overlap)."""
    return stream.lag + stream.overlap
