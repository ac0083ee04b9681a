"""The SIEM (MTA) log endpoints of API 2.0: batch files and the event stream (mimecast-api.md 4.8, 6).

* ``GET /siem/v1/batch/events/cg`` (and ``/ci``): ``type``, day-granular ``dateRangeStartsAt`` /
  ``dateRangeEndsAt`` (``YYYY-MM-DD``, both inclusive, at most 7 days back), ``pageSize``,
  ``nextPage``. Answers ``{"value": [{"url": ...}], "@nextPage": token, "isCaughtUp": bool}``.
  One file per type per ``siem_file_interval`` (15 min) slot appears ``siem_file_delay`` after
  the slot ends; files are listed in creation order. ``@nextPage`` is always present: it is the
  position after the last file listed, so a client can keep polling with it as files appear.
* Files are gzip NDJSON behind pre-signed URLs on the same server (``/siem-files/...``, no bearer
  token): the URL expires ``siem_url_ttl`` seconds after it was listed (403, S3-style XML); an
  unknown file answers 404.
* ``GET /siem/v1/events/cg``: ``types`` (comma-separated; default all), ``dateRangeStartsAt`` /
  ``dateRangeEndsAt`` (``YYYY-MM-DDTHH:MM:SS.mmmZ``, within the last 24 h), ``pageSize``,
  ``nextPage``. Answers ``{"value": [events], "@nextPage": cursor, "isCaughtUp": bool}``; the
  cursor always comes back (it does not move while nothing new arrived). Errors are
  ``{"error": {"code", "message"}}`` with HTTP 400, not ``fail[]``.

Faults (``FaultSettings``): ``siem_expired_urls`` (the next N URLs listed are already expired),
``siem_corrupt_files`` / ``siem_duplicate_lines`` (the next N non-empty files downloaded carry a
corrupt line / a duplicated record line, for good: a re-download is identical), and
``siem_stall_cursor`` (the stream answers an empty page with the cursor it was sent: a cursor that
stopped advancing, demisto/content PR #45802).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import hmac
from bisect import bisect_right
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from mimecast_siem.simulator.records import AccountProfile
from mimecast_siem.simulator.registry import ApiRequest, ApiResult, endpoint
from mimecast_siem.simulator.responses import world_of
from mimecast_siem.simulator.siem_records import FILE_PREFIXES, SIEM_STREAMS, SIEM_TYPES, minute_records
from mimecast_siem.simulator.world import World

#: Batch files are kept this long (API 1.0 doc: 7 days).
BATCH_RETENTION_DAYS = 7
#: The stream serves only this far back (XSOAR collector).
STREAM_WINDOW_SECONDS = 86400
MAX_PAGE_SIZE = 500
BATCH_PATHS = {"/siem/v1/batch/events/cg": "cg", "/siem/v1/batch/events/ci": "ci"}
STREAM_PATH = "/siem/v1/events/cg"
FILE_ROUTE = "/siem-files/{client}/{file_id}"

Key = tuple[int, int, int]  # (epoch ms, type index, position in that type's minute list)


class SiemError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class SiemData:
    """One tenant's SIEM records (lazily generated per minute), files and fault state."""

    def __init__(self, seed: int, profile: AccountProfile, rate: float, origin: int, cache_minutes: int = 2000) -> None:
        self.seed = seed
        self.profile = profile
        self.rate = rate
        self.origin = origin
        self._cache: OrderedDict[int, dict[str, list[tuple[int, dict[str, Any]]]]] = OrderedDict()
        self._cache_minutes = cache_minutes
        #: File ids given a corrupt line / a duplicated line (decided at first download, then fixed).
        self.corrupt_files: set[str] = set()
        self.duplicate_files: set[str] = set()
        self.clean_files: set[str] = set()

    def minute(self, index: int) -> dict[str, list[tuple[int, dict[str, Any]]]]:
        """The records of minute ``index`` per type (empty before the origin)."""
        if self.rate <= 0 or (index + 1) * 60 <= self.origin:
            return {t: [] for t in SIEM_TYPES}
        found = self._cache.get(index)
        if found is not None:
            self._cache.move_to_end(index)
            return found
        built = minute_records(self.seed, self.profile, index, self.rate)
        if index * 60 < self.origin:
            cut = self.origin * 1000
            built = {t: [p for p in recs if p[0] >= cut] for t, recs in built.items()}
        self._cache[index] = built
        while len(self._cache) > self._cache_minutes:
            self._cache.popitem(last=False)
        return built

    def records(self, siem_type: str, lo_ms: int, hi_ms: int) -> list[dict[str, Any]]:
        """Records of ``siem_type`` with ``lo_ms <= timestamp < hi_ms``, oldest first."""
        out: list[dict[str, Any]] = []
        if hi_ms <= lo_ms:
            return out
        for index in range(lo_ms // 60_000, (hi_ms - 1) // 60_000 + 1):
            out.extend(rec for ms, rec in self.minute(index)[siem_type] if lo_ms <= ms < hi_ms)
        return out


def siem_of(world: World, client_id: str | None = None) -> SiemData:
    """The SIEM data of a tenant (created on first use)."""
    account = world.account(client_id)
    cfg = world.config
    return account.extension("siem", lambda: SiemData(world.seed, account.profile, float(cfg.siem_rate), world.origin))


def siem_ground_truth(world: World, stream: str, start: float, end: float, *, client_id: str | None,
                      include_future_visible: bool) -> list[dict[str, Any]]:  # fmt: skip
    """Records of ``siem-<type>`` with timestamp in ``[start, end)`` seconds, as the stream serves them now."""
    data = siem_of(world, client_id)
    lo, hi = int(start * 1000), int(end * 1000)
    if not include_future_visible:
        hi = min(hi, _visible_ms(world.clock.time()))
    return data.records(SIEM_STREAMS[stream], max(lo, data.origin * 1000), hi)


def _visible_ms(now: float) -> int:
    """Records become visible one whole second after their timestamp (so cursors never skip one)."""
    return (int(now) - 1) * 1000


def _answer(body: dict[str, Any], status: int = 200, stream: str | None = None, records: int = 0) -> ApiResult:
    return ApiResult(
        raw=orjson.dumps(body), status=status, content_type="application/json", stream=stream, records=records
    )


def _error(exc: SiemError) -> ApiResult:
    return _answer({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)


def _page_size(query: Any, default: int = 100) -> int:
    raw = query.get("pageSize")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SiemError(
            "err_validation_invalid_value", f"pageSize={raw!r} is invalid; allowed: 1-{MAX_PAGE_SIZE}"
        ) from None
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise SiemError("err_validation_max_value", f"pageSize={value} is invalid; allowed: 1-{MAX_PAGE_SIZE}")
    return value


def _sign(world: World, text: str) -> str:
    key = hashlib.sha256(f"siem|{world.seed}".encode()).digest()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:16]


def _encode_token(world: World, payload: dict[str, Any]) -> str:
    body = orjson.dumps(payload).decode()
    return base64.urlsafe_b64encode(f"{body}|{_sign(world, body)}".encode()).decode()


def _decode_token(world: World, token: str, what: str) -> dict[str, Any]:
    try:
        text = base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)).decode()
        body, _, sig = text.rpartition("|")
        if not hmac.compare_digest(sig, _sign(world, body)):
            raise ValueError("bad signature")
        payload = orjson.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError, orjson.JSONDecodeError):
        raise SiemError("err_invalid_next_page", f"nextPage is not a valid {what} cursor") from None
    return payload


# -- batch ---------------------------------------------------------------------------------------------


def _day(query: Any, key: str) -> date:
    raw = query.get(key)
    if raw is None:
        raise SiemError("err_validation_null", f"{key} is required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise SiemError("err_validation_invalid_date", f"{key}={raw!r} is invalid; expected YYYY-MM-DD") from None


def file_slots(world: World, siem_type: str, first: date, last: date, now: float) -> list[int]:
    """Start times (epoch s) of the files of ``[first, last]`` (days, inclusive) that exist at ``now``."""
    interval = int(world.config.siem_file_interval)
    delay = world.config.siem_file_delay
    lo = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp())
    hi = int(datetime(last.year, last.month, last.day, tzinfo=UTC).timestamp()) + 86400
    origin_slot = world.origin // interval * interval
    start = max(lo, origin_slot, int(now) - BATCH_RETENTION_DAYS * 86400) // interval * interval
    return [s for s in range(start, hi, interval) if s >= lo and s + interval + delay <= now]


def file_id(siem_type: str, slot: int, interval: int) -> str:
    """``email_receipt_20261207T1200_900`` - the prefix, the slot start and its length."""
    stamp = datetime.fromtimestamp(slot, UTC).strftime("%Y%m%dT%H%M")
    return f"{FILE_PREFIXES[siem_type]}_{stamp}_{interval}"


def parse_file_id(value: str) -> tuple[str, int, int] | None:
    """``(type, slot start, interval)`` of a file id, or ``None``."""
    for siem_type, prefix in FILE_PREFIXES.items():
        if value.startswith(prefix + "_"):
            rest = value[len(prefix) + 1 :]
            stamp, _, interval = rest.rpartition("_")
            try:
                slot = int(datetime.strptime(stamp, "%Y%m%dT%H%M").replace(tzinfo=UTC).timestamp())
                return siem_type, slot, int(interval)
            except ValueError:
                return None
    return None


def serve_batch(request: ApiRequest, world: World) -> ApiResult:
    """``GET /siem/v1/batch/events/{cg,ci}``: one page of file URLs."""
    try:
        q = request.query
        siem_type = q.get("type")
        if siem_type not in SIEM_TYPES:
            raise SiemError(
                "err_validation_invalid_value", f"type={siem_type!r} is invalid; allowed: {', '.join(SIEM_TYPES)}"
            )
        first, last = _day(q, "dateRangeStartsAt"), _day(q, "dateRangeEndsAt")
        if first > last:
            raise SiemError("err_validation_date_range", "dateRangeStartsAt must not be after dateRangeEndsAt")
        now = request.now
        today = datetime.fromtimestamp(now, UTC).date()
        retention = timedelta(days=BATCH_RETENTION_DAYS)
        begun = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
        if first < today - retention or (
            world.config.siem_retention == "rolling" and begun < now - retention.total_seconds()
        ):
            raise SiemError(
                "err_validation_date_range",
                f"dateRangeStartsAt={first.isoformat()} is older than the {BATCH_RETENTION_DAYS} days files are kept",
            )
        size = _page_size(q)
        digest = _sign(world, f"{request.account.client_id}|{request.path}|{siem_type}|{first}|{last}")
        offset = 0
        token = q.get("nextPage")
        if token:
            payload = _decode_token(world, token, "batch")
            if payload.get("d") != digest or not isinstance(payload.get("o"), int):
                raise SiemError("err_invalid_next_page", "nextPage belongs to another type or date range")
            offset = payload["o"]
    except SiemError as exc:
        return _error(exc)
    slots = file_slots(world, siem_type, first, last, now)
    page = slots[offset : offset + size]
    interval = int(world.config.siem_file_interval)
    faults = world.faults
    value = []
    for slot in page:
        fid = file_id(siem_type, slot, interval)
        expires = int(now + world.config.siem_url_ttl)
        if faults.take_siem("siem_expired_urls"):
            expires = int(now) - 1
            world.stats.faults["siem_expired_url"] += 1
        client = request.account.client_id
        sig = _sign(world, f"{client}/{fid}/{expires}")
        url = f"{request.base_url}/siem-files/{client}/{fid}?expires={expires}&signature={sig}"
        value.append({"url": url})
    new_offset = offset + len(page)
    body = {
        "value": value,
        "@nextPage": _encode_token(world, {"o": new_offset, "d": digest}),
        "isCaughtUp": new_offset >= len(slots),
    }
    return _answer(body, stream="siem-batch", records=len(value))


def file_lines(world: World, data: SiemData, *, siem_type: str, slot: int, interval: int, fid: str) -> list[bytes]:
    """The NDJSON lines of a file, with its corrupt / duplicated line when a fault marked it."""
    records = data.records(siem_type, slot * 1000, (slot + interval) * 1000)
    lines = [orjson.dumps(r) for r in records]
    if lines and fid not in data.clean_files | data.corrupt_files | data.duplicate_files:
        if world.faults.take_siem("siem_corrupt_files"):
            data.corrupt_files.add(fid)
        elif world.faults.take_siem("siem_duplicate_lines"):
            data.duplicate_files.add(fid)
        else:
            data.clean_files.add(fid)
    if fid in data.corrupt_files:
        lines.insert(min(1, len(lines)), lines[0][: len(lines[0]) // 2])
    if fid in data.duplicate_files:
        lines.insert(min(2, len(lines)), lines[0])
    return lines


async def serve_file(request: web.Request) -> web.StreamResponse:
    """``GET /siem-files/{client}/{file_id}?expires=&signature=``: a pre-signed gzip NDJSON file."""
    world = world_of(request)
    client, fid = request.match_info["client"], request.match_info["file_id"]
    try:
        expires = int(request.query.get("expires", ""))
    except ValueError:
        expires = -1
    signature = request.query.get("signature", "")
    if not hmac.compare_digest(signature, _sign(world, f"{client}/{fid}/{expires}")):
        return _s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match")
    if world.clock.time() > expires:
        return _s3_error(403, "AccessDenied", "Request has expired")
    parsed = parse_file_id(fid)
    if parsed is None or client not in world.accounts:
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
    siem_type, slot, interval = parsed
    data = siem_of(world, client)
    lines = file_lines(world, data, siem_type=siem_type, slot=slot, interval=interval, fid=fid)
    payload = gzip.compress(b"".join(line + b"\n" for line in lines), compresslevel=5, mtime=0)
    world.stats.records_served[(SIEM_STREAM_FILES, client)] += len(lines)
    headers = {"Content-Disposition": f'attachment; filename="{fid}.json.gz"'}
    delay = world.config.siem_download_delay
    if delay <= 0:
        return web.Response(body=payload, content_type="application/gzip", headers=headers)
    # A slow download: half the file, a pause, the rest (so a client can be interrupted mid-file).
    response = web.StreamResponse(headers={**headers, "Content-Type": "application/gzip"})
    response.content_length = len(payload)
    await response.prepare(request)
    half = len(payload) // 2
    try:
        await response.write(payload[:half])
        await asyncio.sleep(delay)
        await response.write(payload[half:])
        await response.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        world.stats.faults["siem_download_aborted"] += 1
        raise
    return response


SIEM_STREAM_FILES = "siem-files"


def _s3_error(status: int, code: str, message: str) -> web.Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return web.Response(text=body, status=status, content_type="application/xml")


# -- stream --------------------------------------------------------------------------------------------


def _ms_time(query: Any, key: str) -> int | None:
    raw = query.get(key)
    if raw is None:
        return None
    try:
        if not raw.endswith("Z"):
            raise ValueError("no Z")
        parsed = datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise SiemError(
            "err_validation_invalid_date", f"{key}={raw!r} is invalid; expected YYYY-MM-DDTHH:MM:SS.mmmZ"
        ) from None
    return int(parsed.timestamp() * 1000)


def _types(query: Any) -> list[int]:
    raw = query.get("types")
    if raw is None or raw == "":
        return list(range(len(SIEM_TYPES)))
    chosen: list[int] = []
    for part in raw.split(","):
        name = part.strip()
        if name not in SIEM_TYPES:
            raise SiemError(
                "err_validation_invalid_value", f"types contains {name!r}; allowed: {', '.join(SIEM_TYPES)}"
            )
        if SIEM_TYPES.index(name) not in chosen:
            chosen.append(SIEM_TYPES.index(name))
    return sorted(chosen)


def stream_page(data: SiemData, types: list[int], lo_ms: int, hi_ms: int, *, after: Key | None, limit: int) -> tuple[list[dict[str, Any]], Key | None]:  # fmt: skip
    """Up to ``limit`` records of ``types`` with ``lo_ms <= timestamp <= hi_ms`` after ``after``, in key order."""
    out: list[dict[str, Any]] = []
    last = after
    start = max(lo_ms, after[0]) if after else lo_ms
    if hi_ms < start:
        return out, last
    for index in range(start // 60_000, hi_ms // 60_000 + 1):
        minute = data.minute(index)
        merged: list[tuple[Key, dict[str, Any]]] = []
        for ti in types:
            for pos, (ms, rec) in enumerate(minute[SIEM_TYPES[ti]]):
                if lo_ms <= ms <= hi_ms:
                    merged.append(((ms, ti, pos), rec))
        merged.sort(key=lambda pair: pair[0])
        i = bisect_right([k for k, _ in merged], after) if after is not None else 0
        for key, rec in merged[i:]:
            if len(out) == limit:
                return out, last
            out.append(rec)
            last = key
    return out, last


def serve_stream(request: ApiRequest, world: World) -> ApiResult:
    """``GET /siem/v1/events/cg``: one page of events and the cursor to continue from."""
    now = request.now
    oldest = int((now - STREAM_WINDOW_SECONDS) * 1000)
    visible = _visible_ms(now)
    try:
        q = request.query
        types = _types(q)
        size = _page_size(q)
        token = q.get("nextPage")
        if token:
            payload = _decode_token(world, token, "stream")
            if payload.get("c") != request.account.client_id or payload.get("t") != types:
                raise SiemError("err_invalid_next_page", "nextPage belongs to another account or other types")
            lo, hi, raw_after = payload["s"], payload["h"], payload["a"]
            after: Key | None = (raw_after[0], raw_after[1], raw_after[2]) if raw_after else None
            position = after[0] if after else lo
            if position < oldest:
                raise SiemError(
                    "err_next_page_expired",
                    "nextPage points to events older than the last 24 hours, which are not kept",
                )
        else:
            start = _ms_time(q, "dateRangeStartsAt")
            end = _ms_time(q, "dateRangeEndsAt")
            if start is None:
                raise SiemError("err_validation_null", "dateRangeStartsAt or nextPage is required")
            if start < oldest or (end is not None and end < oldest):
                raise SiemError(
                    "err_validation_date_range",
                    "dateRangeStartsAt and dateRangeEndsAt must be within the last 24 hours",
                )
            if end is not None and end < start:
                raise SiemError("err_validation_date_range", "dateRangeStartsAt must not be after dateRangeEndsAt")
            lo, hi, after = start, end, None
    except SiemError as exc:
        return _error(exc)
    data = siem_of(world, request.account.client_id)
    if token and world.faults.settings.siem_stall_cursor:
        world.stats.faults["siem_stall_cursor"] += 1
        return _answer({"value": [], "@nextPage": token, "isCaughtUp": True}, stream="siem-stream")
    upper = visible if hi is None else min(hi, visible)
    records, last = stream_page(data, types, max(lo, data.origin * 1000), upper, after=after, limit=size)
    more = bool(records) and len(records) == size and bool(stream_page(data, types, lo, upper, after=last, limit=1)[0])
    cursor = _encode_token(
        world, {"c": request.account.client_id, "t": types, "s": lo, "h": hi, "a": list(last) if last else None}
    )
    body = {"value": records, "@nextPage": cursor, "isCaughtUp": not more}
    return _answer(body, stream="siem-stream", records=len(records))


for _path in BATCH_PATHS:
    endpoint(_path, methods=("GET",))(serve_batch)
endpoint(STREAM_PATH, methods=("GET",))(serve_stream)


def add_file_routes(app: web.Application) -> None:
    """The pre-signed file downloads (no bearer token, like S3)."""
    app.router.add_get(FILE_ROUTE, serve_file)
