"""The response-action HTTP service: ``/v1/actions``, ``/v1/actions/{name}``, ``/v1/openapi.json``.

Mounted on the daemon's HTTP port (:func:`add_action_routes` on the health app) or served alone
(:func:`build_actions_app`, ``mimecast-siem serve-actions``). Order of checks for a call, so that a
caller learns nothing it is not entitled to:

1. the API is disabled without configured tokens (404);
2. bearer token (401 with ``WWW-Authenticate``); a failing credential is throttled (429) per
   credential fingerprint and per client address - a valid token never is;
3. (the client address is the peer, or X-Forwarded-For behind a configured trusted proxy);
4. the action exists (404);
5. body size (413), JSON object with only ``params``, ``tenant``, ``dry_run``, ``limit`` (400);
6. tenant resolved (400), scope and tenant restriction (403);
7. parameters validated (400) - all before any request to Mimecast.

Every call, allowed or refused, is audited; errors are ``application/problem+json`` (RFC 9457).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

import orjson
from aiohttp import web

from mimecast_siem.actions.access import (
    ANONYMOUS,
    Decision,
    FailedAuthThrottle,
    TokenGrant,
    TokenRegistry,
    client_address,
    credential_fingerprint,
    grants_from_settings,
    proxy_networks,
)
from mimecast_siem.actions.audit import params_digest
from mimecast_siem.actions.catalogue import CATALOGUE
from mimecast_siem.actions.openapi import MAX_LIMIT, catalogue_document, openapi_document
from mimecast_siem.actions.outcome import PROBLEM_CONTENT_TYPE, Outcome, Problem
from mimecast_siem.actions.service import (
    ActionCall,
    ActionResult,
    ActionService,
    TenantUnknown,
    resolve_tenant,
    what_to_check,
)
from mimecast_siem.actions.spec import ActionSpec, ResultKind
from mimecast_siem.checkpoints import IdempotencyClaim, IdempotencyState, StateStoreError
from mimecast_siem.checkpoints.records import require_idempotency_key
from mimecast_siem.events import within_depth

log = logging.getLogger("mimecast_siem.actions")

DEFAULT_MAX_BODY_BYTES = 1_048_576
#: Longest wait for a request body once the headers arrived: a caller that dribbles (or never
#: sends) its body must not hold a handler, and the state it keeps, forever.
DEFAULT_BODY_TIMEOUT = 30.0
#: Deepest JSON nesting accepted in a body. orjson reads 1,024 levels but writes only 254, and the
#: audit digests the parameters with it - a deeper body made every such call a 500.
MAX_BODY_DEPTH = 64
_ORJSON_MAX_DEPTH = 254
_BODY_KEYS = ("params", "tenant", "dry_run", "limit")
_SPOOL_IN_MEMORY = 1_048_576
_CHUNK = 65_536
REALM = 'Bearer realm="mimecast-siem"'
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: How long a stored answer is replayed for a repeated Idempotency-Key.
IDEMPOTENCY_TTL = timedelta(hours=24)
#: Outcomes whose answer is stored for the key: the request reached Mimecast (or may have). The
#: others did nothing (refused before sending, nothing arrived, quota exhausted): the key is
#: released and may be used again.
STORED_OUTCOMES = frozenset({Outcome.OK, Outcome.PARTIAL, Outcome.REFUSED, Outcome.UNKNOWN})


class IdempotencyStore(Protocol):
    """Where idempotency keys live (the :class:`~mimecast_siem.checkpoints.StateStore`)."""

    async def claim_idempotency(
        self, caller: str, key: str, request_digest: str, *, ttl: timedelta = ..., stale_after: timedelta = ...
    ) -> IdempotencyClaim: ...

    async def complete_idempotency(self, caller: str, key: str, status: int, response: str) -> None: ...

    async def release_idempotency(self, caller: str, key: str) -> None: ...

    async def prune_idempotency(self) -> int: ...


#: Expired idempotency keys are deleted once every this many keyed requests.
PRUNE_EVERY = 256


class ActionHttp:
    """The request handlers, bound to one service, token registry and throttle."""

    def __init__(
        self,
        service: ActionService,
        registry: TokenRegistry,
        throttle: FailedAuthThrottle | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        *,
        idempotency: IdempotencyStore | None = None,
    ) -> None:
        self.service = service
        self.idempotency = idempotency
        self._keyed_requests = 0
        self.registry = registry
        self.throttle = throttle or FailedAuthThrottle()
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.proxies = proxy_networks(service.settings.actions.trusted_proxies)

    # --- helpers ------------------------------------------------------------------------------------

    def _client(self, request: web.Request) -> str:
        """The caller's address (X-Forwarded-For only behind a configured trusted proxy)."""
        return client_address(request.remote, request.headers.getall("X-Forwarded-For", []), self.proxies)

    def problem_response(self, request: web.Request, problem: Problem, *, token_given: bool = False) -> web.Response:
        doc = problem.document(instance=request.path)
        headers: dict[str, str] = {}
        if problem.outcome is Outcome.UNAUTHORIZED:
            headers["WWW-Authenticate"] = REALM + (', error="invalid_token"' if token_given else "")
        if problem.retry_after is not None:
            headers["Retry-After"] = str(max(1, int(problem.retry_after + 0.999)))
        return web.Response(
            body=orjson.dumps(doc), status=problem.status, content_type=PROBLEM_CONTENT_TYPE, headers=headers
        )

    def _gate(self, request: web.Request) -> tuple[TokenGrant | None, Problem | None]:
        """Enabled, token and failed-auth throttle checks shared by every route: (grant, refusal).

        A valid token is never throttled; a failing one gets 429 once its credential fingerprint or
        its client address is over the limit, else 401 (and the failure is counted for both).
        """
        if not self.registry.enabled:
            return None, Problem(
                Outcome.DISABLED, "the action API is disabled: no tokens are configured (actions.tokens)"
            )
        header = request.headers.get("Authorization")
        grant = self.registry.identify(header)
        if grant is not None:
            return grant, None
        client = self._client(request)
        credential = credential_fingerprint(header)
        wait = self.throttle.retry_after(client, credential)
        if wait is not None:
            return None, Problem(
                Outcome.THROTTLED,
                "too many failed authentications from this address or with this credential; retry later",
                retry_after=wait,
            )
        self.throttle.record_failure(client, credential)
        detail = "a valid bearer token is required" if header else "missing bearer token"
        return None, Problem(Outcome.UNAUTHORIZED, detail)

    # --- routes ---------------------------------------------------------------------------------------

    async def list_actions(self, request: web.Request) -> web.StreamResponse:
        _grant, refusal = self._gate(request)
        if refusal is not None:
            return self.problem_response(request, refusal, token_given="Authorization" in request.headers)
        return web.json_response(catalogue_document(), dumps=lambda o: orjson.dumps(o).decode())

    async def openapi(self, request: web.Request) -> web.StreamResponse:
        _grant, refusal = self._gate(request)
        if refusal is not None:
            return self.problem_response(request, refusal, token_given="Authorization" in request.headers)
        return web.json_response(openapi_document(), dumps=lambda o: orjson.dumps(o).decode())

    async def run_action(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name", "")
        grant, refusal = self._gate(request)
        if refusal is not None:
            call = ActionCall(action=name, params=None, who=ANONYMOUS, channel="http", client=self._client(request))
            result = await self.service.refuse(call, refusal.outcome, refusal.detail, _retry(refusal))
            return self.problem_response(request, _problem(result), token_given="Authorization" in request.headers)
        assert grant is not None
        who = grant.name
        spec = CATALOGUE.get(name)
        body, body_problem = await self._read_body(request, name)
        params = body.get("params") if isinstance(body, dict) else None
        call = ActionCall(action=name, params=params, who=who, channel="http", client=self._client(request))
        if spec is None:
            result = await self.service.run(call)  # audited as unknown_action
            return self.problem_response(request, _problem(result))
        if body_problem is not None:
            result = await self.service.refuse(call, body_problem.outcome, body_problem.detail, body_problem.extensions)
            return self.problem_response(request, _problem(result))
        assert isinstance(body, dict)
        try:
            tenant = resolve_tenant(self.service.settings, body.get("tenant"), grant.tenants).name
        except TenantUnknown as exc:
            ext = {"errors": [{"key": "tenant", "message": str(exc)}]}
            result = await self.service.refuse(call, Outcome.INVALID, str(exc), ext)
            return self.problem_response(request, _problem(result))
        decision = self.registry.check(request.headers.get("Authorization"), spec, tenant)
        call = ActionCall(
            action=name,
            params=params,
            who=who,
            channel="http",
            tenant=tenant,
            dry_run=bool(body.get("dry_run", False)),
            limit=body.get("limit"),
            client=self._client(request),
        )
        if decision.decision is not Decision.ALLOWED:
            result = await self.service.refuse(call, Outcome.FORBIDDEN, decision.reason)
            result.tenant = tenant
            return self.problem_response(request, _problem(result))
        if spec.kind is ResultKind.BINARY and not call.dry_run:
            return await self._download(request, call)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and not call.dry_run:
            return await self._run_once(request, spec, call, key, body)
        result = await self.service.run(call)
        return self._respond(request, result)

    async def _run_once(
        self, request: web.Request, spec: ActionSpec, call: ActionCall, key: str, body: Mapping[str, Any]
    ) -> web.StreamResponse:
        """Run ``call`` at most once per (caller, Idempotency-Key) within :data:`IDEMPOTENCY_TTL`."""
        try:
            require_idempotency_key(key)
        except ValueError as exc:
            problem = _invalid(IDEMPOTENCY_HEADER, str(exc))
            result = await self.service.refuse(call, problem.outcome, problem.detail, problem.extensions)
            return self.problem_response(request, _problem(result))
        if self.idempotency is None:
            problem = _invalid(IDEMPOTENCY_HEADER, "idempotency keys need the state store, which this server lacks")
            result = await self.service.refuse(call, problem.outcome, problem.detail, problem.extensions)
            return self.problem_response(request, _problem(result))
        self._keyed_requests += 1
        if self._keyed_requests % PRUNE_EVERY == 0:
            await self._prune_keys()
        digest = params_digest({"action": spec.name, "body": dict(body)})
        try:
            claim = await self.idempotency.claim_idempotency(call.who, key, digest, ttl=IDEMPOTENCY_TTL)
        except StateStoreError as exc:
            detail = (
                f"the {IDEMPOTENCY_HEADER} could not be checked ({type(exc).__name__}); nothing was sent, retry later"
            )
            result = await self.service.refuse(call, Outcome.STORE_UNAVAILABLE, detail, {"retry_after": 5.0})
            return self.problem_response(request, _problem(result))
        if claim.state is IdempotencyState.REPLAY and claim.status is not None and claim.response is not None:
            await self.service.refuse(call, Outcome.REPLAYED, "stored answer replayed")
            return _stored_response(claim.status, claim.response)
        if claim.state is IdempotencyState.MISMATCH:
            detail = (
                f"this {IDEMPOTENCY_HEADER} was used with a different request within 24 hours; "
                "send the same request again, or use a new key for a new request"
            )
            result = await self.service.refuse(call, Outcome.IDEMPOTENCY_MISMATCH, detail)
            return self.problem_response(request, _problem(result))
        if claim.state is IdempotencyState.BUSY:
            detail = f"the first request with this {IDEMPOTENCY_HEADER} is still running; retry shortly"
            result = await self.service.refuse(call, Outcome.IN_PROGRESS, detail, {"retry_after": 1.0})
            return self.problem_response(request, _problem(result))
        if claim.state is IdempotencyState.ABANDONED:
            detail = f"the first request with this {IDEMPOTENCY_HEADER} never finished; its outcome is unknown"
            result = await self.service.refuse(call, Outcome.UNKNOWN, detail, {"check": what_to_check(spec)})
        else:
            result = await self.service.run(call)
        assert self.idempotency is not None
        response = self._respond(request, result)
        if result.outcome in STORED_OUTCOMES:
            stored: dict[str, Any]
            if result.problem is not None:
                stored = {"content_type": PROBLEM_CONTENT_TYPE, "body": result.problem.document(instance=request.path)}
            else:
                stored = {"content_type": "application/json", "body": result.document}
            finish = self.idempotency.complete_idempotency(call.who, key, result.status, orjson.dumps(stored).decode())
        else:
            finish = self.idempotency.release_idempotency(call.who, key)
        try:
            await finish
        except StateStoreError as exc:
            # The key stays pending: repeats get 409, then (after 10 min) "unknown" - never a second run.
            log.error(
                "Could not store the answer of an idempotency key for action %s (%s); repeats of the key will be "
                "answered as in progress, then unknown.",
                spec.name,
                type(exc).__name__,
            )
        return response

    async def _prune_keys(self) -> None:
        assert self.idempotency is not None
        try:
            pruned = await self.idempotency.prune_idempotency()
        except Exception as exc:  # housekeeping must not fail a call
            log.warning("Could not delete expired idempotency keys (%s).", type(exc).__name__)
            return
        log.debug("Deleted %d expired idempotency keys.", pruned)

    async def _download(self, request: web.Request, call: ActionCall) -> web.StreamResponse:
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            result = await self.service.run(call.downloading_to(spool))
            if not result.ok or result.document is None:
                return self._respond(request, result)
            info = result.document["result"]
            filename = _safe_filename(info.get("filename")) or "download.bin"
            response = web.StreamResponse(
                status=200,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Disposition": f'attachment; filename="{filename}"',
                    "X-Content-SHA256": str(info.get("sha256", "")),
                },
            )
            response.content_length = int(info.get("bytes", 0))
            await response.prepare(request)
            spool.seek(0)
            while chunk := spool.read(_CHUNK):
                await response.write(chunk)
            await response.write_eof()
            return response

    def _respond(self, request: web.Request, result: ActionResult) -> web.StreamResponse:
        if result.problem is not None:
            return self.problem_response(request, result.problem)
        return web.Response(body=orjson.dumps(result.document), status=result.status, content_type="application/json")

    async def _read_body(self, request: web.Request, name: str) -> tuple[Any, Problem | None]:
        declared = request.content_length
        if declared is not None and declared > self.max_body_bytes:
            return None, Problem(Outcome.TOO_LARGE, f"the request body is larger than {self.max_body_bytes} bytes")
        raw = bytearray()
        try:
            async with asyncio.timeout(self.body_timeout):
                async for chunk in request.content.iter_chunked(_CHUNK):
                    raw.extend(chunk)
                    if len(raw) > self.max_body_bytes:
                        return None, Problem(
                            Outcome.TOO_LARGE, f"the request body is larger than {self.max_body_bytes} bytes"
                        )
        except TimeoutError:
            return None, _invalid("body", f"the request body did not arrive within {self.body_timeout:g} s")
        ctype = request.content_type
        if raw and ctype not in ("application/json", "application/octet-stream", "") and not ctype.endswith("+json"):
            return None, _invalid("body", f"expected Content-Type application/json (got {ctype[:64]})")
        if not raw.strip():
            return {}, None
        try:
            body = orjson.loads(bytes(raw))
        except orjson.JSONDecodeError:
            return None, _invalid("body", "the request body is not valid JSON")
        if not isinstance(body, dict):
            return None, _invalid("body", "the request body must be a JSON object")
        if not within_depth(body, MAX_BODY_DEPTH):
            return None, _invalid("body", f"the request body is nested deeper than {MAX_BODY_DEPTH} levels")
        unknown = [k for k in body if k not in _BODY_KEYS]
        if unknown:
            return body, _invalid(str(unknown[0])[:64], "is not a known field", allowed=list(_BODY_KEYS))
        tenant = body.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            return body, _invalid("tenant", "must be a string")
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            return body, _invalid("dry_run", "must be true or false")
        limit = body.get("limit")
        if limit is not None:
            spec = CATALOGUE.get(name)
            if spec is not None and spec.kind is not ResultKind.PAGED:
                return body, _invalid("limit", f"{name} is not a paginated read; limit does not apply")
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
                return body, _invalid("limit", f"must be an integer from 1 to {MAX_LIMIT}")
        if "params" in body and body["params"] is not None and not isinstance(body["params"], dict):
            return body, _invalid("params", "must be a JSON object")
        return body, None


def _stored_response(status: int, stored: str) -> web.Response:
    """The answer stored for an idempotency key, replayed (``Idempotent-Replayed: true``)."""
    document = orjson.loads(stored)
    return web.Response(
        body=orjson.dumps(document.get("body")),
        status=status,
        content_type=str(document.get("content_type") or "application/json"),
        headers={"Idempotent-Replayed": "true"},
    )


def _invalid(key: str, message: str, allowed: list[Any] | None = None) -> Problem:
    error: dict[str, Any] = {"key": key, "message": message}
    if allowed:
        error["allowed"] = allowed
    return Problem(Outcome.INVALID, f"{key}: {message}", {"errors": [error]})


def _retry(problem: Problem) -> Mapping[str, Any] | None:
    return {"retry_after": problem.retry_after} if problem.retry_after is not None else None


def _problem(result: ActionResult) -> Problem:
    assert result.problem is not None
    return result.problem


def _safe_filename(name: Any) -> str | None:
    if not isinstance(name, str):
        return None
    cleaned = "".join(c for c in name if c.isalnum() or c in "._- ")[:128].strip()
    return cleaned or None


ACTION_HTTP_KEY = web.AppKey("action_http", ActionHttp)


def add_action_routes(app: web.Application, handlers: ActionHttp) -> None:
    """Mount the action API on ``app`` (e.g. the daemon's health app) and close its clients on cleanup."""
    app[ACTION_HTTP_KEY] = handlers
    app.router.add_get("/v1/actions", handlers.list_actions)
    app.router.add_get("/v1/openapi.json", handlers.openapi)
    app.router.add_post("/v1/actions/{name}", handlers.run_action)

    async def _close(_app: web.Application) -> None:
        await handlers.service.close()

    app.on_cleanup.append(_close)


def build_actions_app(
    service: ActionService,
    *,
    throttle: FailedAuthThrottle | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    idempotency: IdempotencyStore | None = None,
) -> web.Application:
    """A standalone application serving only the action API (``mimecast-siem serve-actions``).

    ``idempotency``: the state store keeping ``Idempotency-Key`` answers (without one, a request
    carrying the header is refused).
    """
    registry = TokenRegistry(grants_from_settings(service.settings.actions.tokens))
    app = web.Application(client_max_size=max_body_bytes + 1)
    add_action_routes(
        app, ActionHttp(service, registry, throttle, max_body_bytes, body_timeout, idempotency=idempotency)
    )
    return app
