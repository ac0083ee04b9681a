"""``mimecast-siem simulate``: run the Mimecast API 2.0 simulator as a process.

It prints its URL and the (fake) app credentials, optionally writes its port to ``--port-file``
once listening, and stops cleanly on SIGTERM or SIGINT (exit code 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from mimecast_siem.simulator.app import run_simulator
from mimecast_siem.simulator.config import (
    EMAIL_QUEUE_SHAPES,
    QUOTA_HEADERS,
    QUOTA_SHAPES,
    RATED_STREAMS,
    SIEM_RETENTIONS,
    THREAT_FEEDS,
    FaultSettings,
    HeldQueueSettings,
    LateArrivals,
    RequestQuota,
    SimulatorConfig,
    ThreatFeedSettings,
    default_rates,
)

logger = logging.getLogger("mimecast_siem.simulator")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``3d`` -> seconds.

    Raises:
        argparse.ArgumentTypeError: Not a duration.
    """
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; allowed: a number with optional unit s, m, h or d"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def _app(text: str) -> tuple[str, str]:
    client_id, sep, secret = text.partition(":")
    if not sep or not client_id or not secret:
        raise argparse.ArgumentTypeError(f"--app {text!r} is invalid; allowed: CLIENT_ID:CLIENT_SECRET")
    return client_id, secret


def _rate(text: str) -> tuple[str, float]:
    stream, sep, value = text.partition("=")
    if not sep or (stream not in RATED_STREAMS and stream not in THREAT_FEEDS):
        allowed = ", ".join((*RATED_STREAMS, *THREAT_FEEDS))
        raise argparse.ArgumentTypeError(
            f"--rate {text!r} is invalid; allowed: STREAM=RECORDS_PER_SECOND with STREAM one of {allowed}"
        )
    try:
        return stream, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rate {text!r} is invalid; the rate must be a number") from None


def _error_rate(text: str) -> tuple[int, float]:
    status, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return int(status), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--error-rate {text!r} is invalid; allowed: STATUS=PROBABILITY, e.g. 503=0.05"
        ) from None


def _quota(text: str) -> RequestQuota:
    limit, sep, period = text.partition("/")
    try:
        return RequestQuota(limit=int(limit), period=parse_duration(period) if sep else 60.0)
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"--quota {text!r} is invalid; allowed: REQUESTS[/PERIOD], e.g. 100/60s"
        ) from None


def _hold_duration(text: str) -> tuple[float, float]:
    low, sep, high = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"--hold-duration {text!r} is invalid; allowed: MIN:MAX, e.g. 1m:30m")
    return parse_duration(low), parse_duration(high)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``simulate`` to the CLI."""
    p = sub.add_parser(
        "simulate",
        help="run the Mimecast API 2.0 simulator",
        description="Serve a Mimecast API 2.0 simulator with deterministic data, pagination, rate limits and faults.",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; the control API has no auth)"
    )
    p.add_argument("--port", type=int, default=8089, help="TCP port; 0 picks a free one (default 8089)")
    p.add_argument("--port-file", type=Path, help="write the listening port to this file once ready")
    p.add_argument("--seed", type=int, default=1, help="seed of all generated data (default 1)")
    p.add_argument(
        "--apps", type=int, default=1, metavar="N", help="apps client-1..N with secrets secret-1..N (default 1)"
    )
    p.add_argument(
        "--app",
        type=_app,
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="explicit app (repeatable; replaces --apps)",
    )
    p.add_argument(
        "--rate",
        type=_rate,
        action="append",
        default=[],
        metavar="STREAM=N",
        help=f"records per second of a stream (repeatable); streams: {', '.join((*RATED_STREAMS, *THREAT_FEEDS))}; "
        "defaults: " + ", ".join(f"{k}={v:g}" for k, v in {**default_rates(), **ThreatFeedSettings().rates}.items()),
    )
    p.add_argument(
        "--feed-page-size",
        type=int,
        default=ThreatFeedSettings.page_size,
        help=f"STIX objects per threat-intel feed answer (default {ThreatFeedSettings.page_size})",
    )
    p.add_argument(
        "--history", type=parse_duration, default=7200.0, help="how far back data exists, e.g. 2h or 3d (default 2h)"
    )
    p.add_argument("--token-lifetime", type=parse_duration, default=1800.0, help="access token lifetime (default 30m)")
    p.add_argument(
        "--late-fraction", type=float, default=LateArrivals.fraction, help="share of records that arrive late"
    )
    p.add_argument(
        "--late-max-delay", type=parse_duration, default=LateArrivals.max_delay, help="largest late-arrival delay"
    )
    p.add_argument(
        "--hold-rate", type=float, default=HeldQueueSettings.arrival_rate, help="messages entering hold per second"
    )
    p.add_argument(
        "--hold-duration", type=_hold_duration, default=None, metavar="MIN:MAX", help="hold duration range, e.g. 1m:30m"
    )
    p.add_argument(
        "--email-queue-shape", choices=EMAIL_QUEUE_SHAPES, default="numbers", help="get-email-queues response shape"
    )
    p.add_argument(
        "--default-page-size", type=int, default=100, help="page size when a request gives none (default 100)"
    )
    p.add_argument(
        "--quota", type=_quota, default=None, metavar="N[/PERIOD]", help="request quota per client id, e.g. 100/60s"
    )
    p.add_argument(
        "--quota-shape",
        choices=QUOTA_SHAPES,
        default="bucket",
        help="bucket: one request back every PERIOD/N; window: all N back at the end of each PERIOD (default bucket)",
    )
    p.add_argument(
        "--quota-headers",
        choices=QUOTA_HEADERS,
        default="refused",
        help="send X-RateLimit-* with 429s only (refused, default) or with every API answer (always)",
    )
    p.add_argument(
        "--error-rate",
        type=_error_rate,
        action="append",
        default=[],
        metavar="STATUS=P",
        help="random 500/502/503 rate (repeatable)",
    )
    p.add_argument("--latency", type=parse_duration, default=0.0, help="added latency per request, e.g. 0.05s")
    p.add_argument("--latency-jitter", type=parse_duration, default=0.0, help="extra random latency up to this much")
    p.add_argument("--drop-rate", type=float, default=0.0, help="probability of dropping the connection")
    p.add_argument(
        "--malformed-rate",
        type=float,
        default=0.0,
        help="probability of a malformed body (split over invalid JSON, truncated, HTML)",
    )
    p.add_argument("--next-on-last-page", action="store_true", help="final page carries next (Elastic mock quirk)")
    p.add_argument(
        "--siem-rate", type=float, default=SimulatorConfig.siem_rate, help="messages per second in the SIEM logs"
    )
    p.add_argument(
        "--siem-file-interval", type=parse_duration, default=900.0, help="SIEM records per batch file (default 15m)"
    )
    p.add_argument(
        "--siem-file-delay", type=parse_duration, default=60.0, help="batch file appears this long after its slot"
    )
    p.add_argument("--siem-url-ttl", type=parse_duration, default=300.0, help="how long a listed file URL stays valid")
    p.add_argument(
        "--siem-download-delay", type=parse_duration, default=0.0, help="pause in the middle of each file download"
    )
    p.add_argument(
        "--siem-retention",
        choices=SIEM_RETENTIONS,
        default="calendar",
        help="batch listing: accept the day 7 days back (calendar) or refuse a day begun over 7 x 24 h ago (rolling)",
    )
    p.add_argument("--siem-corrupt-files", type=int, default=0, help="the next N SIEM files carry a corrupt line")
    p.add_argument("--siem-expired-urls", type=int, default=0, help="the next N SIEM file URLs are already expired")
    p.add_argument(
        "--fault-seed", type=int, default=None, help="seed of the random faults (default: derived from --seed)"
    )
    p.add_argument("--tls-cert", type=Path, default=None, help="serve HTTPS with this PEM certificate (chain)")
    p.add_argument("--tls-key", type=Path, default=None, help="private key of --tls-cert (PEM)")
    p.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="log level (default INFO)"
    )
    p.set_defaults(handler=simulate)


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Translate parsed flags into a :class:`SimulatorConfig` (raises ``ValueError`` on bad values)."""
    apps = list(args.app) or [(f"client-{i}", f"secret-{i}") for i in range(1, args.apps + 1)]
    rates = default_rates()
    feed_rates = ThreatFeedSettings().rates
    for stream, rate in args.rate:
        (feed_rates if stream in THREAT_FEEDS else rates)[stream] = rate
    holds = HeldQueueSettings(arrival_rate=args.hold_rate)
    if args.hold_duration is not None:
        holds.min_hold, holds.max_hold = args.hold_duration
    malformed = args.malformed_rate / 3
    quota = args.quota
    if quota is not None:
        quota = RequestQuota(quota.limit, quota.period, shape=args.quota_shape, headers=args.quota_headers)
    faults = FaultSettings(
        quota=quota,
        error_rates=dict(args.error_rate),
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        drop_rate=args.drop_rate,
        invalid_json_rate=malformed,
        truncated_rate=malformed,
        html_rate=malformed,
        next_on_last_page=args.next_on_last_page,
        siem_corrupt_files=args.siem_corrupt_files,
        siem_expired_urls=args.siem_expired_urls,
        seed=args.fault_seed,
    )
    late = LateArrivals(
        fraction=args.late_fraction,
        max_delay=args.late_max_delay,
        min_delay=min(LateArrivals.min_delay, args.late_max_delay),
    )
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        apps=apps,
        token_lifetime=args.token_lifetime,
        rates=rates,
        history=args.history,
        late=late,
        holds=holds,
        email_queue_shape=args.email_queue_shape,
        default_page_size=args.default_page_size,
        faults=faults,
        threat_feeds=ThreatFeedSettings(rates=feed_rates, page_size=args.feed_page_size),
        siem_rate=args.siem_rate,
        siem_file_interval=args.siem_file_interval,
        siem_file_delay=args.siem_file_delay,
        siem_url_ttl=args.siem_url_ttl,
        siem_download_delay=args.siem_download_delay,
        siem_retention=args.siem_retention,
    )


async def simulate(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT. Exit codes: 0 stopped cleanly, 2 bad settings, 1 could not listen."""
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        config = config_from_args(args)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    try:
        ssl_context = _server_tls(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with run_simulator(config, ssl_context=ssl_context) as sim:
            _say(f"Mimecast API simulator listening on {sim.url}")
            for client_id, secret in config.apps:
                _say(f"app client_id={client_id} client_secret={secret}")
            if args.port_file is not None:
                _write_atomically(args.port_file, f"{sim.port}\n")
            await stop.wait()
            logger.info("Simulator is stopping on a signal.")
    except OSError as exc:
        sys.stderr.write(f"error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}\n")
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if args.port_file is not None:
            with contextlib.suppress(FileNotFoundError):
                args.port_file.unlink()
    return 0


def _server_tls(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """The HTTPS server context of ``--tls-cert``/``--tls-key``; ``None`` serves plain HTTP."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("--tls-cert and --tls-key go together; give both or neither")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load --tls-cert {cert} / --tls-key {key}: {exc}") from None
    return context


def _say(line: str) -> None:
    """One line of user-facing output on stdout (the URL and the fake credentials)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a watcher never reads a half-written port."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
