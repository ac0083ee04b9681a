"""Plain aiohttp calls against the simulator (deliberately not our client, which is tested against it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from mimecast_siem.simulator import RunningSimulator

TIMEOUT = aiohttp.ClientTimeout(total=30)


@dataclass
class Reply:
    """One HTTP answer."""

    status: int
    body: Any
    headers: dict[str, str]
    content_type: str


@dataclass
class Caller:
    """Gets a token for one app and POSTs Mimecast envelopes."""

    session: aiohttp.ClientSession
    url: str
    client_id: str = "client-1"
    client_secret: str = "secret-1"
    token: str | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def authenticate(self) -> str:
        reply = await self.oauth(self.client_id, self.client_secret)
        assert reply.status == 200, reply.body
        self.token = reply.body["access_token"]
        return self.token

    async def oauth(self, client_id: str, client_secret: str, grant_type: str = "client_credentials") -> Reply:
        form = {"client_id": client_id, "client_secret": client_secret, "grant_type": grant_type}
        async with self.session.post(f"{self.url}/oauth/token", data=form) as resp:
            return Reply(resp.status, await resp.json(content_type=None), dict(resp.headers), resp.content_type)

    async def post(
        self, path: str, data: list[Any] | None = None, *, page_size: int | None = None, page_token: str | None = None,
        body: Any = None, headers: dict[str, str] | None = None,
    ) -> Reply:  # fmt: skip
        if self.token is None:
            await self.authenticate()
        if body is None:
            pagination: dict[str, Any] = {}
            if page_size is not None:
                pagination["pageSize"] = page_size
            if page_token is not None:
                pagination["pageToken"] = page_token
            body = {"data": data if data is not None else []}
            if pagination:
                body["meta"] = {"pagination": pagination}
        self.sent.append(body)
        hdrs = {"Authorization": f"Bearer {self.token}"} if headers is None else headers
        async with self.session.post(
            f"{self.url}{path}", data=orjson.dumps(body), headers={**hdrs, "Content-Type": "application/json"}
        ) as resp:
            raw = await resp.read()
            parsed: Any = orjson.loads(raw) if resp.content_type == "application/json" else raw.decode(errors="replace")
            return Reply(resp.status, parsed, dict(resp.headers), resp.content_type)

    async def walk(
        self, path: str, item: dict[str, Any], *, record_key: str | None, page_size: int = 100, max_pages: int = 10_000
    ) -> tuple[list[dict[str, Any]], int]:
        """Follow ``next`` until it is absent; return (records, pages)."""
        records: list[dict[str, Any]] = []
        token: str | None = None
        for pages in range(1, max_pages + 1):
            reply = await self.post(path, [item], page_size=page_size, page_token=token)
            assert reply.status == 200, reply.body
            assert reply.body["fail"] == [], reply.body["fail"]
            data = reply.body["data"]
            records.extend(data if record_key is None else data[0][record_key])
            token = reply.body["meta"]["pagination"].get("next")
            if token is None:
                return records, pages
        raise AssertionError(f"walk of {path} did not end within {max_pages} pages")


def caller_for(session: aiohttp.ClientSession, sim: RunningSimulator, app: int = 0) -> Caller:
    client_id, secret = sim.apps[app]
    return Caller(session, sim.url, client_id, secret)
