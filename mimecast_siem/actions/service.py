"""Running an action: validate, build, (dry-run or) send, shape, audit, count.

:class:`ActionService` is the one place where an action call turns into Mimecast requests; the CLI
and the HTTP service only translate their input into an :class:`ActionCall` and the
:class:`ActionResult` back into output. Order of a call:

1. the action and tenant are resolved and the parameters validated - a bad call is refused here,
   before any request is sent (exit code 2 / HTTP 400);
2. the spec builds the request(s) (pure);
3. a dry run returns the exact requests (method, URL, body; never credentials);
4. otherwise the tenant's client sends them with ``Priority.ACTION`` on the app's shared rate budget;
5. the result is shaped, the call audited (store + log) and counted (``action_calls``, ``action_duration``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp

from mimecast_siem.actions.audit import AuditTrail, audit_action_name, audit_code, params_digest
from mimecast_siem.actions.catalogue import CATALOGUE
from mimecast_siem.actions.outcome import RULES, Outcome, Problem
from mimecast_siem.actions.spec import ActionSpec, MimecastCall, ResultKind, Scope
from mimecast_siem.actions.validation import ParamsInvalid, validate_params
from mimecast_siem.checkpoints import AuditRecord
from mimecast_siem.checkpoints.records import MAX_AUDIT_ITEMS
from mimecast_siem.config.models import Settings, TenantSettings
from mimecast_siem.errors import (
    ApiError,
    AuthError,
    MimecastFailure,
    PermanentError,
    RateLimited,
    TransientError,
    WriteOutcomeUnknown,
    did_you_mean,
)
from mimecast_siem.mimecast import BinaryWriter, MimecastClient, Priority, RetryPolicy
from mimecast_siem.observability import redactor
from mimecast_siem.observability.metrics import metrics

log = logging.getLogger("mimecast_siem.actions")

#: Longest wait on the app's rate limit before an action gives up with "rate limited": an analyst
#: or a playbook wants an answer, not a call stuck behind a backfill.
DEFAULT_MAX_WAIT = 30.0
MAX_FAILURES_SHOWN = 20


@dataclass(frozen=True, slots=True)
class ActionCall:
    """One request to run an action, from the CLI or the HTTP service.

    Attributes:
        action: the action's name as given (may be unknown).
        params: the parameters as received (validated here).
        who: the caller as recorded in the audit (token name or ``cli:<user>``).
        channel: ``cli`` or ``http``.
        tenant: tenant name as given, or ``None`` for the default.
        dry_run: render the requests without sending them.
        limit: most records a paginated read returns (default ``actions.default_page_limit``).
        download_to: where a binary result is written.
        client: the caller's address (HTTP: the peer, or X-Forwarded-For behind a trusted proxy;
            CLI: ``local``), recorded in the audit.
    """

    action: str
    params: Any
    who: str
    channel: str
    tenant: str | None = None
    dry_run: bool = False
    limit: int | None = None
    download_to: BinaryWriter | None = None
    client: str | None = None

    def downloading_to(self, writer: BinaryWriter) -> ActionCall:
        """This call run for real (no dry run, no page limit), its binary result written to ``writer``."""
        return replace(self, dry_run=False, limit=None, download_to=writer)


@dataclass(slots=True)
class ActionResult:
    """The answer to an :class:`ActionCall`: a JSON document or a problem."""

    outcome: Outcome
    action: str
    tenant: str | None
    document: dict[str, Any] | None = None
    problem: Problem | None = None
    mimecast_status: int | None = None
    error_code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    items: list[dict[str, Any]] | None = None  # per-item results of a batch (audit), no values

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def exit_code(self) -> int:
        if self.problem is None:
            return RULES[self.outcome].exit_code
        return self.problem.exit_code

    @property
    def status(self) -> int:
        """HTTP status of the answer (200, 207 for a partial result, or the problem's)."""
        return RULES[self.outcome].status if self.problem is None else self.problem.status


class TenantUnknown(ValueError):
    """The call names no usable tenant."""


def resolve_tenant(settings: Settings, requested: str | None, visible: frozenset[str] | None = None) -> TenantSettings:
    """The tenant a call acts on (pure): the named one, else ``actions.default_tenant``, else the only one.

    ``visible`` limits which tenant names an error message may list (a token restricted to some
    tenants does not learn the names of the others); ``None`` or ``{"*"}`` shows all.
    """
    enabled = [t for t in settings.tenants if t.enabled]
    shown_names = [t.name for t in enabled if visible is None or "*" in visible or t.name in visible]
    names = ", ".join(shown_names) or "(none you may use)"
    name = requested if requested is not None else settings.actions.default_tenant
    if name is None:
        if len(enabled) == 1:
            return enabled[0]
        raise TenantUnknown(f"several tenants are configured; name one with tenant (configured: {names})")
    if not isinstance(name, str):
        raise TenantUnknown("tenant must be a string")
    for t in enabled:
        if t.name == name:
            return t
    shown = name if len(name) <= 64 else name[:61] + "..."
    raise TenantUnknown(f"unknown or disabled tenant {shown!r}; configured: {names}")


def failures_extension(failures: list[MimecastFailure]) -> list[dict[str, Any]]:
    """Mimecast's ``fail[]`` codes and messages for a problem document (bounded)."""
    out: list[dict[str, Any]] = []
    for f in failures[:MAX_FAILURES_SHOWN]:
        entry: dict[str, Any] = {"code": f.code, "message": f.message[:500]}
        if f.key:
            entry["key"] = f.key
        out.append(entry)
    return out


def scrub_result(result: ActionResult) -> None:
    """Mask every registered secret, in any encoding, in what goes back to the caller (in place).

    Mimecast's answers are not ours: a server (or a proxy) that echoes the request - the bearer
    token, the form-encoded client secret - in ``fail[]`` or in a body would otherwise hand the
    app's credentials to anyone allowed to call an action.
    """
    masks = redactor()
    if result.problem is not None:
        problem = result.problem
        result.problem = Problem(
            problem.outcome,
            masks.scrub(problem.detail),
            masks.scrub_value(problem.extensions),
            retry_after=problem.retry_after,
        )
    if result.document is not None:
        result.document = masks.scrub_value(result.document)


def _is_download_cap(exc: ApiError) -> bool:
    # The client raises PermanentError naming the setting when a file passes max_bytes.
    return isinstance(exc, PermanentError) and not exc.failures and "max_download_bytes" in str(exc)


def problem_for_error(exc: BaseException) -> tuple[Outcome, Problem, int | None, str | None]:
    """Map a client error to (outcome, problem, Mimecast status, error code) - the table in data form."""
    if isinstance(exc, ApiError):
        failures = failures_extension(exc.failures)
        code = exc.failures[0].code if exc.failures else None
        ext: dict[str, Any] = {"mimecast_status": exc.status, "fail": failures}
        if isinstance(exc, RateLimited):
            return (
                Outcome.RATE_LIMITED,
                Problem(Outcome.RATE_LIMITED, str(exc), ext, retry_after=max(exc.retry_after, 1.0)),
                exc.status,
                code or "rate_limited",
            )
        if _is_download_cap(exc):
            return Outcome.DOWNLOAD_TOO_LARGE, Problem(Outcome.DOWNLOAD_TOO_LARGE, str(exc), ext), exc.status, None
        if isinstance(exc, AuthError | PermanentError):
            return Outcome.REFUSED, Problem(Outcome.REFUSED, str(exc), ext), exc.status, code or _status_code(exc)
        if isinstance(exc, WriteOutcomeUnknown):
            return Outcome.UNKNOWN, Problem(Outcome.UNKNOWN, str(exc), ext), exc.status, code or "unknown"
        if isinstance(exc, TransientError):
            return Outcome.TRANSPORT, Problem(Outcome.TRANSPORT, str(exc), ext), exc.status, code or "transport"
        return Outcome.REFUSED, Problem(Outcome.REFUSED, str(exc), ext), exc.status, code
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | OSError):
        detail = f"Mimecast could not be reached ({type(exc).__name__})"
        return Outcome.TRANSPORT, Problem(Outcome.TRANSPORT, detail), None, "transport"
    return Outcome.ERROR, Problem(Outcome.ERROR, "internal error; see the service log"), None, "internal"


def _status_code(exc: ApiError) -> str | None:
    return f"http_{exc.status}" if exc.status else None


#: Retry policy of the clients the service opens (``None`` = the client's default); tests shorten it.
DEFAULT_RETRY: RetryPolicy | None = None


class ClientPool:
    """One open :class:`MimecastClient` per tenant, created on first use and closed together.

    The clients use the process-wide limiter of their client id, so actions share the app's rate
    budget with the collector's streams and backfills running in the same process. ``shared``
    clients (the daemon's own, keyed by tenant name) are used as they are and never closed here.
    """

    def __init__(self, retry: RetryPolicy | None = None, shared: Mapping[str, MimecastClient] | None = None) -> None:
        self._clients: dict[str, MimecastClient] = {}
        self._shared = dict(shared or {})
        self._lock = asyncio.Lock()
        self._retry = retry

    async def get(self, tenant: TenantSettings) -> MimecastClient:
        shared = self._shared.get(tenant.name)
        if shared is not None:
            return shared
        async with self._lock:
            client = self._clients.get(tenant.name)
            if client is None:
                client = MimecastClient(tenant, retry=self._retry or DEFAULT_RETRY)
                await client.open()
                self._clients[tenant.name] = client
            return client

    async def close(self) -> None:
        async with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()


class ActionService:
    """Runs actions for the CLI and the HTTP service.

    Args:
        settings: the whole configuration (tenants, ``actions`` section).
        audit: where every call is recorded.
        clients: the tenants' clients (default: a private pool closed by :meth:`close`).
        max_wait: longest wait on the app's rate limit per request.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        audit: AuditTrail,
        clients: ClientPool | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> None:
        self.settings = settings
        self.audit = audit
        self.clients = clients or ClientPool()
        self.max_wait = max_wait

    async def close(self) -> None:
        await self.clients.close()

    # --- public -------------------------------------------------------------------------------------

    async def run(self, call: ActionCall) -> ActionResult:
        """Run one call end to end; never raises for a refused or failed call."""
        started = time.monotonic()
        try:
            result = await self._run(call)
        except Exception:
            log.exception("Action %s failed with an unexpected error.", audit_action_name(call.action))
            outcome, problem, _status, code = problem_for_error(RuntimeError())
            result = ActionResult(outcome, call.action, call.tenant, problem=problem, error_code=code)
        scrub_result(result)
        await self.finish(call, result, started)
        return result

    async def refuse(
        self, call: ActionCall, outcome: Outcome, detail: str, extensions: Mapping[str, Any] | None = None
    ) -> ActionResult:
        """Record and return a refusal decided outside the service (401, 403, 413, 429 ...)."""
        retry = extensions.get("retry_after") if extensions else None
        ext = {k: v for k, v in (extensions or {}).items() if k != "retry_after"}
        problem = Problem(outcome, detail, ext, retry_after=float(retry) if retry is not None else None)
        result = ActionResult(outcome, call.action, call.tenant, problem=problem, error_code=outcome.value)
        await self.finish(call, result, time.monotonic())
        return result

    async def finish(self, call: ActionCall, result: ActionResult, started: float) -> None:
        """Audit and count a finished call."""
        duration = max(time.monotonic() - started, 0.0)
        label = call.action if call.action in CATALOGUE else "unknown"
        m = metrics()
        m.action_calls.labels(action=label, outcome=result.outcome.value).inc()
        m.action_duration.labels(action=label).observe(duration)
        tenant = result.tenant if result.tenant in {t.name for t in self.settings.tenants} else None
        record = AuditRecord(
            at=datetime.now(UTC),
            actor=call.who,
            action=audit_action_name(call.action),
            param_digest=params_digest(call.params),
            outcome=result.outcome.value,
            dry_run=call.dry_run,
            tenant=tenant,
            duration_ms=int(duration * 1000),
            mimecast_status=result.mimecast_status
            if result.mimecast_status and 100 <= result.mimecast_status <= 599
            else None,
            error_code=audit_code(result.error_code),
            channel=call.channel,
            client=call.client,
            items=result.items[:MAX_AUDIT_ITEMS] if result.items is not None else None,
        )
        await self.audit.record(record, call.channel)

    # --- the call ------------------------------------------------------------------------------------

    async def _run(self, call: ActionCall) -> ActionResult:
        spec = CATALOGUE.get(call.action)
        if spec is None:
            detail = (
                f"unknown action {call.action[:64]!r}{did_you_mean(call.action[:64], CATALOGUE)}; "
                "`mimecast-siem action list` or GET /v1/actions lists them"
            )
            return _refused(call, Outcome.UNKNOWN_ACTION, detail)
        try:
            tenant = resolve_tenant(self.settings, call.tenant)
        except TenantUnknown as exc:
            return _refused(call, Outcome.INVALID, str(exc), {"errors": [{"key": "tenant", "message": str(exc)}]})
        try:
            params = validate_params(spec.name, spec.params, call.params)
        except ParamsInvalid as exc:
            return ActionResult(
                Outcome.INVALID,
                spec.name,
                tenant.name,
                problem=Problem(
                    Outcome.INVALID,
                    str(exc),
                    {"action": spec.name, "tenant": tenant.name, "errors": [p.as_dict() for p in exc.problems]},
                ),
                error_code="invalid_params",
            )
        calls = spec.build(params)
        if call.dry_run:
            return ActionResult(
                Outcome.DRY_RUN,
                spec.name,
                tenant.name,
                document={
                    "action": spec.name,
                    "tenant": tenant.name,
                    "dry_run": True,
                    "requests": [c.describe(tenant.base_url) for c in calls],
                },
            )
        if spec.kind is ResultKind.BINARY and call.download_to is None:
            detail = f"{spec.name} returns a file: give an output (CLI --output PATH)"
            return _refused(call, Outcome.INVALID, detail, {"errors": [{"key": "output", "message": detail}]})
        try:
            client = await self.clients.get(tenant)
            value, status = await self._send(spec, params, calls, client, call)
        except LookupError as exc:  # a follow-up step found nothing to work on
            return ActionResult(
                Outcome.REFUSED,
                spec.name,
                tenant.name,
                problem=Problem(Outcome.REFUSED, str(exc), {"action": spec.name, "tenant": tenant.name}),
                error_code="not_found",
            )
        except Exception as exc:
            outcome, problem, failed_status, code = problem_for_error(exc)
            if outcome is Outcome.ERROR:
                raise
            problem.extensions.update({"action": spec.name, "tenant": tenant.name})
            if outcome is Outcome.UNKNOWN:
                problem.extensions["check"] = what_to_check(spec)
            return ActionResult(
                outcome, spec.name, tenant.name, problem=problem, mimecast_status=failed_status, error_code=code
            )
        if isinstance(value, PartialResult):
            return self._partial(spec, tenant.name, calls[-1], value, status)
        return ActionResult(
            Outcome.OK,
            spec.name,
            tenant.name,
            document={"action": spec.name, "tenant": tenant.name, "dry_run": False, "outcome": "ok", "result": value},
            mimecast_status=status,
        )

    def _partial(
        self, spec: ActionSpec, tenant: str, sent: MimecastCall, value: PartialResult, status: int
    ) -> ActionResult:
        """A batch that partly succeeded: what succeeded, what failed, and per-item results for the audit."""
        items = item_results(sent.data, value.failures)
        document = {
            "action": spec.name,
            "tenant": tenant,
            "dry_run": False,
            "outcome": Outcome.PARTIAL.value,
            "result": value.result,
            "failed": failures_extension(value.failures),
            "items": {
                "total": len(items),
                "succeeded": sum(1 for i in items if i["outcome"] == "ok"),
                "failed": sum(1 for i in items if i["outcome"] == "failed"),
            },
        }
        code = value.failures[0].code if value.failures else None
        return ActionResult(
            Outcome.PARTIAL,
            spec.name,
            tenant,
            document=document,
            mimecast_status=status,
            error_code=code,
            items=items,
        )

    async def _send(
        self, spec: ActionSpec, params: Any, calls: list[MimecastCall], client: MimecastClient, call: ActionCall
    ) -> tuple[Any, int]:
        first = calls[0]
        wait = self.max_wait
        write = spec.scope is not Scope.READ
        if first.rest:
            resp = await client.request_rest(
                first.method,
                first.path,
                params=first.query,
                json=first.body,
                priority=Priority.ACTION,
                max_wait=wait,
                idempotent=first.method == "GET",
            )
            return {"status": resp.status, "body": resp.body}, resp.status
        if spec.kind is ResultKind.BINARY:
            assert call.download_to is not None
            download = await client.download(
                first.path,
                first.data,
                call.download_to,
                max_bytes=self.settings.actions.max_download_bytes,
                priority=Priority.ACTION,
                max_wait=wait,
            )
            return {
                "bytes": download.bytes_written,
                "content_type": download.content_type,
                "filename": download.filename,
                "sha256": download.sha256,
            }, 200
        if spec.kind is ResultKind.PAGED:
            return await self._walk(spec, params, first, client, call.limit)
        if spec.follow_up is not None:  # a read, then the write built from its answer
            resp = await client.request(first.path, first.data, first.meta, priority=Priority.ACTION, max_wait=wait)
            first = spec.follow_up(params, resp.data)
        resp = await client.request(
            first.path,
            first.data,
            first.meta,
            priority=Priority.ACTION,
            max_wait=wait,
            idempotent=not write,
            partial=len(first.data) > 1,
        )
        if resp.fail:
            return PartialResult(spec.shape(resp.data), resp.fail), resp.status
        return spec.shape(resp.data), resp.status

    async def _walk(
        self, spec: ActionSpec, params: Any, first: MimecastCall, client: MimecastClient, limit: int | None
    ) -> tuple[Any, int]:
        """Follow pages up to ``limit`` records (and the spec's page-count parameter, if given).

        Several ``data[]`` items (several ids) are independent queries: each is walked in turn.
        """
        paging = spec.paging
        assert paging is not None
        cap = limit or self.settings.actions.default_page_limit
        page_size = int(getattr(params, paging.page_size_param)) if paging.page_size_param else paging.default_page_size
        max_pages: int | None = getattr(params, paging.page_count_param) if paging.page_count_param else None
        items: list[Any] = list(first.data) or [None]
        records: list[Any] = []
        pages, truncated, status = 0, False, 200
        for index, item in enumerate(items):
            more_items = index < len(items) - 1
            walk = client.pages(
                first.path,
                item=item,
                page_size=min(page_size, cap),
                record_key=paging.record_key,
                priority=Priority.ACTION,
                max_wait=self.max_wait,
            )
            stop = False
            try:
                async for page in walk:
                    pages += 1
                    status = page.response.status
                    room = cap - len(records)
                    records.extend(page.records[:room])
                    has_more = len(page.records) > room or page.response.next_page_token is not None or more_items
                    if len(records) >= cap or (max_pages is not None and pages >= max_pages):
                        truncated, stop = has_more, True
                        break
            finally:
                aclose = getattr(walk, "aclose", None)
                if aclose is not None:
                    await aclose()  # stop the walk now rather than at garbage collection
            if stop:
                break
        return {"records": records, "count": len(records), "pages": pages, "truncated": truncated}, status


@dataclass(frozen=True, slots=True)
class PartialResult:
    """A batch answer with both successes (``result``, shaped) and Mimecast's ``fail[]`` entries."""

    result: Any
    failures: list[MimecastFailure]


def item_results(sent: list[Any], failures: list[MimecastFailure]) -> list[dict[str, Any]]:
    """Per-item results of a batch, by position in the request's ``data[]`` (never the values).

    A failure is matched to the item its ``key`` equals (Mimecast echoes the failed item); failures
    whose key matches no item are listed after the items, without a position.
    """
    out: list[dict[str, Any]] = [{"item": index, "outcome": "ok"} for index in range(len(sent))]
    unmatched: list[dict[str, Any]] = []
    for failure in failures:
        match = next(
            (i for i, item in enumerate(sent) if item == failure.key and out[i]["outcome"] == "ok"),
            None,
        )
        entry = {"outcome": "failed", "code": failure.code}
        if match is None:
            unmatched.append({"item": None, **entry})
        else:
            out[match] = {"item": match, **entry}
    return out + unmatched


#: Which read shows whether a write took effect (used in the ``unknown`` outcome's ``check``).
CHECK_WITH: dict[str, str] = {
    "release-held-message": "get-hold-message-list (a released message leaves the hold list)",
    "reject-held-message": "get-hold-message-list (a rejected message leaves the hold list)",
    "create-managed-url": "get-managed-urls",
    "create-policy-with-targets": "get-policy-with-targets",
    "update-policy-with-targets": "get-policy-with-targets",
    "delete-policy-with-targets": "get-policy-with-targets",
    "create-blocked-sender-policy": "get-blocked-sender-policies",
    "nullify-blocked-sender-policy": "get-blocked-sender-policies",
    "permit-or-block-sender": "the managed senders in the Administration Console",
    "add-group-member": "get-group-members",
    "remove-group-member": "get-group-members",
    "create-group": "search-groups",
    "update-group": "search-groups",
    "create-anti-spoofing-policy": "get-anti-spoofing-policy",
    "update-anti-spoofing-policy": "get-anti-spoofing-policy",
    "delete-anti-spoofing-policy": "get-anti-spoofing-policy",
    "create-address-alteration-set": "get-address-alteration-set",
    "create-address-alteration-definition": "get-address-alteration-definition",
    "delete-address-alteration-definition": "get-address-alteration-definition",
    "create-address-alteration-policy": "get-address-alteration-policy",
    "update-address-alteration-policy": "get-address-alteration-policy",
    "delete-address-alteration-policy": "get-address-alteration-policy",
    "create-remediation-incident": "find-remediation-incidents",
}


def what_to_check(spec: ActionSpec) -> str:
    """What an operator should look at before retrying a write whose outcome is unknown."""
    read = CHECK_WITH.get(spec.name)
    where = f"run {read}" if read else "look in the Mimecast Administration Console"
    return (
        f"The request may have been carried out. Before retrying {spec.name}, {where} and Mimecast's audit log "
        "(get-audit-events) to see whether it took effect; retry only what did not happen."
    )


def _refused(call: ActionCall, outcome: Outcome, detail: str, ext: dict[str, Any] | None = None) -> ActionResult:
    extensions = {"action": call.action[:64], "tenant": call.tenant} | (ext or {})
    return ActionResult(
        outcome, call.action, call.tenant, problem=Problem(outcome, detail, extensions), error_code=outcome.value
    )
