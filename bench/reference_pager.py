"""The reference client of benchmark 9: the cheapest honest pager (``python -m bench.reference_pager``).

Sequential, aiohttp, page size 500, decode and count only - what a minimal connector (Mimecast's own
Sentinel function) does: a token, one request at a time, blind retries. It gets a new token on a 401
(the simulator's tokens are short-lived), waits ``Retry-After`` / ``X-RateLimit-Reset`` on a 429 and
retries 5xx answers after a short sleep. Prints one JSON line with its counts, CPU and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import ssl
import sys
import time
from typing import Any

import aiohttp
import orjson

PATH = "/api/ttp/url/get-logs"
RECORD_KEY = "clickLogs"


async def _token(session: aiohttp.ClientSession, url: str, client_id: str, secret: str) -> str:
    form = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
    while True:
        async with session.post(f"{url}/oauth/token", data=form) as resp:
            if resp.status == 200:
                return str((await resp.json())["access_token"])
        await asyncio.sleep(0.2)


async def drain(args: argparse.Namespace) -> dict[str, Any]:
    """Walk every page of [since, until) and count the records."""
    context = ssl.create_default_context(cafile=args.ca)
    counts = {"records": 0, "pages": 0, "requests": 0, "rate_limited": 0, "server_errors": 0, "tokens": 0}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=1)) as session:
        token = await _token(session, args.url, args.client_id, args.secret)
        counts["tokens"] += 1
        page_token: str | None = None
        while True:
            pagination: dict[str, Any] = {"pageSize": args.page_size}
            if page_token:
                pagination["pageToken"] = page_token
            body = {
                "meta": {"pagination": pagination},
                "data": [{"from": args.since, "to": args.until, "oldestFirst": True}],
            }
            counts["requests"] += 1
            async with session.post(
                f"{args.url}{PATH}",
                data=orjson.dumps(body),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            ) as resp:
                raw = await resp.read()
                status = resp.status
                headers = resp.headers
            if status == 401:
                token = await _token(session, args.url, args.client_id, args.secret)
                counts["tokens"] += 1
                continue
            if status == 429:
                counts["rate_limited"] += 1
                wait = headers.get("Retry-After")
                seconds = float(wait) if wait else float(headers.get("X-RateLimit-Reset", "1000")) / 1000
                await asyncio.sleep(seconds)
                continue
            if status >= 500:
                counts["server_errors"] += 1
                await asyncio.sleep(0.05)
                continue
            document = orjson.loads(raw)
            records = document["data"][0][RECORD_KEY] if document.get("data") else []
            counts["records"] += len(records)
            counts["pages"] += 1
            page_token = document.get("meta", {}).get("pagination", {}).get("next")
            if not page_token or not records:
                return counts


def main() -> int:
    """Parse the flags, drain, print the JSON result."""
    parser = argparse.ArgumentParser(prog="python -m bench.reference_pager")
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", required=True, help="CA bundle of the simulator's certificate")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--since", required=True, help="from, as the API takes it")
    parser.add_argument("--until", required=True, help="to, as the API takes it")
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()
    started = time.monotonic()
    counts = asyncio.run(drain(args))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    counts["wall"] = time.monotonic() - started
    counts["cpu"] = usage.ru_utime + usage.ru_stime
    sys.stdout.write(orjson.dumps(counts).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
