"""TTP logs, account details and the generic action (mimecast-api.md sections 4.1-4.3, 5.9)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, JsonValue, field_validator, model_validator

from mimecast_siem.actions.params import (
    MimecastTime,
    NoParamsBase,
    PageCount,
    PageSize,
    ParamsModel,
    later_than,
    one_or_many,
)
from mimecast_siem.actions.pathguard import UnsafePath, safe_relative_path
from mimecast_siem.actions.spec import (
    ActionSpec,
    MimecastCall,
    Paging,
    ResultKind,
    Scope,
    first_item,
    post,
    single,
)

Route = Literal["inbound", "outbound", "internal", "all"]


class _LogWindow(ParamsModel):
    oldest_first: bool = Field(default=False, description="Oldest logs first.")
    start: MimecastTime | None = Field(default=None, description="Default: the start of the current day.")
    end: MimecastTime | None = Field(default=None, description="Default: the time of the request.")
    page_size: PageSize = 100
    no_of_pages: PageCount | None = Field(default=None, description="Pages to fetch at most.")

    @model_validator(mode="after")
    def _window(self) -> _LogWindow:
        later_than(self.start, self.end)
        return self


class TtpUrlLogsParams(_LogWindow):
    scan_result: Literal["clean", "malicious", "suspicious", "all"] = "all"
    route: Route = "all"


class TtpAttachmentLogsParams(_LogWindow):
    result: Literal["safe", "malicious", "timeout", "error", "unsafe", "all"] = "all"
    route: Route = "all"


Identifier = Literal[
    "similar_internal_domain",
    "newly_observed_domain",
    "internal_user_name",
    "reply_address_mismatch",
    "targeted_threat_dictionary",
    "custom_external_domain",
    "mimecast_external_domain",
    "advanced_similar_internal_domain",
    "advanced_custom_external_domain",
    "advanced_mimecast_external_domain",
    "custom_name_list",
]


class TtpImpersonationLogsParams(_LogWindow):
    actions: (
        Annotated[list[Literal["hold", "bounce", "none"]], BeforeValidator(one_or_many), Field(min_length=1)] | None
    ) = None
    identifiers: Annotated[list[Identifier], BeforeValidator(one_or_many), Field(min_length=1)] | None = None
    query: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    search_field: Literal["senderAddress", "recipientAddress", "subject", "definition", "all"] | None = None
    tagged_malicious: bool | None = None

    @model_validator(mode="after")
    def _query_with_field(self) -> TtpImpersonationLogsParams:
        if self.search_field is not None and self.query is None:
            raise ValueError("query is required when search_field is given")
        return self


def _window(p: _LogWindow) -> dict[str, Any]:
    item: dict[str, Any] = {"oldestFirst": p.oldest_first}
    if p.start:
        item["from"] = p.start
    if p.end:
        item["to"] = p.end
    return item


def _meta(p: _LogWindow) -> dict[str, Any]:
    return {"pagination": {"pageSize": p.page_size}}


def _url_logs(p: TtpUrlLogsParams) -> MimecastCall:
    item = _window(p) | {"route": p.route, "scanResult": p.scan_result}
    return post("/api/ttp/url/get-logs", [item], _meta(p))


def _attachment_logs(p: TtpAttachmentLogsParams) -> MimecastCall:
    item = _window(p) | {"route": p.route, "result": p.result}
    return post("/api/ttp/attachment/get-logs", [item], _meta(p))


def _impersonation_logs(p: TtpImpersonationLogsParams) -> MimecastCall:
    item = _window(p)
    if p.actions:
        item["actions"] = p.actions
    if p.identifiers:
        item["identifiers"] = p.identifiers
    if p.query is not None:
        item["query"] = p.query
        item["searchField"] = p.search_field or "all"  # catalogue: defaults to all when a query is given
    if p.tagged_malicious is not None:
        item["taggedMalicious"] = p.tagged_malicious
    return post("/api/ttp/impersonation/get-logs", [item], _meta(p))


class AccountParams(NoParamsBase):
    """This action takes no parameters."""


def _account(_p: AccountParams) -> MimecastCall:
    return post("/api/account/get-account", [])


# --- generic action --------------------------------------------------------------------------------

_UNSUPPORTED_EXTRAS = {
    "download": "binary downloads are offered by get-archive-file and get-file",
    "files": "file uploads are not offered",
    "filename": "binary downloads are offered by get-archive-file and get-file",
    "retry_wait": "retries follow the tenant's client policy (shared rate budget)",
    "retry_count": "retries follow the tenant's client policy (shared rate budget)",
    "custom_output": "the response is always returned as JSON",
    "response_type": "the response is always returned as JSON",
}


class GenericExtraFields(ParamsModel):
    """The catalogue's extra fields. Only payload_json is meaningful here; the others are refused with
    the reason, so a playbook never believes an option took effect when it did not."""

    payload_json: JsonValue | None = None
    download: JsonValue | None = None
    files: JsonValue | None = None
    filename: JsonValue | None = None
    retry_wait: JsonValue | None = None
    retry_count: JsonValue | None = None
    custom_output: JsonValue | None = None
    response_type: JsonValue | None = None

    @model_validator(mode="after")
    def _supported(self) -> GenericExtraFields:
        for key, why in _UNSUPPORTED_EXTRAS.items():
            if getattr(self, key) is not None:
                raise ValueError(f"extra_fields.{key} is not supported by mimecast-siem: {why}")
        return self


QueryValue = Annotated[str, Field(max_length=1024, pattern=r"^[^\x00-\x1f\x7f]*$")]


class GenericActionParams(ParamsModel):
    method: Literal["GET", "PUT", "POST", "DELETE"] = Field(description="HTTP method.")
    endpoint: Annotated[str, Field(min_length=1, max_length=512)] = Field(
        description="Path relative to the tenant's base URL, e.g. api/directory/find-groups. Absolute URLs, "
        "'..', percent-encoding, backslashes and other hosts are refused."
    )
    query_params: (
        dict[Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-\[\]]+$")], QueryValue] | None
    ) = Field(default=None, max_length=50, description="Query string parameters.")
    payload: JsonValue = Field(
        default=None,
        description='JSON body. A POST to an /api/... path is sent in the {"data": [...]} envelope those '
        'endpoints expect: no payload sends {"data": []}, a list becomes data, an object without data or meta '
        "becomes the one item of data.",
    )
    extra_fields: GenericExtraFields | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("endpoint")
    @classmethod
    def _safe(cls, v: str) -> str:
        try:
            return safe_relative_path(v)
        except UnsafePath as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _body(self) -> GenericActionParams:
        extra = self.extra_fields.payload_json if self.extra_fields else None
        if self.payload is not None and extra is not None:
            raise ValueError("give the body as payload or extra_fields.payload_json, not both")
        if self.method == "GET" and (self.payload is not None or extra is not None):
            raise ValueError("a GET request cannot carry a payload; use query_params")
        return self

    def body(self) -> Any:
        """The JSON body to send (payload or extra_fields.payload_json)."""
        if self.payload is not None:
            return self.payload
        return self.extra_fields.payload_json if self.extra_fields else None


def api_envelope(body: Any) -> Any:
    """The body of a POST to an ``/api/...`` path: the envelope those endpoints expect (section 2.1).

    No body -> ``{"data": []}``; a list -> ``{"data": <list>}``; an object holding ``data`` or
    ``meta`` -> as given; any other object -> ``{"data": [<object>]}`` (one request item).
    """
    if body is None:
        return {"data": []}
    if isinstance(body, list):
        return {"data": body}
    if isinstance(body, dict) and not ({"data", "meta"} & body.keys()):
        return {"data": [body]}
    return body


def _generic(p: GenericActionParams) -> MimecastCall:
    body = p.body()
    if p.method == "POST" and (p.endpoint == "/api" or p.endpoint.startswith("/api/")):
        body = api_envelope(body)
    return MimecastCall(p.method, p.endpoint, body, query=p.query_params or None, rest=True)


SPECS: tuple[ActionSpec, ...] = (
    ActionSpec(
        name="get-ttp-url-logs",
        title="Get TTP URL Logs",
        summary="Retrieves TTP URL protection click logs.",
        method="POST",
        path="/api/ttp/url/get-logs",
        params=TtpUrlLogsParams,
        build=single(_url_logs),
        scope=Scope.READ,
        kind=ResultKind.PAGED,
        paging=Paging(record_key="clickLogs", page_size_param="page_size", page_count_param="no_of_pages"),
        permission="Monitoring | URL Protection | Read",
        source="MC-1.0 get-ttp-url-logs {from, to, route, scanResult, oldestFirst}; data[0].clickLogs. Values of "
        "scanResult from the catalogue (clean, malicious, suspicious, all).",
        tags=("ttp-logs",),
    ),
    ActionSpec(
        name="get-ttp-attachment-protection-logs",
        title="Get TTP Attachment Protection Logs",
        summary="Retrieves TTP attachment protection logs.",
        method="POST",
        path="/api/ttp/attachment/get-logs",
        params=TtpAttachmentLogsParams,
        build=single(_attachment_logs),
        scope=Scope.READ,
        kind=ResultKind.PAGED,
        paging=Paging(record_key="attachmentLogs", page_size_param="page_size", page_count_param="no_of_pages"),
        permission="Monitoring | Attachment Protection | Read",
        source="MC-1.0 get-ttp-attachment-protection-logs {from, to, route, result, oldestFirst}; the catalogue's "
        "result values (safe, malicious, timeout, error, unsafe, all) are accepted and sent as given.",
        tags=("ttp-logs",),
    ),
    ActionSpec(
        name="get-ttp-impersonation-protect-logs",
        title="Get TTP Impersonation Protect Logs",
        summary="Retrieves messages flagged by impersonation protection.",
        method="POST",
        path="/api/ttp/impersonation/get-logs",
        params=TtpImpersonationLogsParams,
        build=single(_impersonation_logs),
        scope=Scope.READ,
        kind=ResultKind.PAGED,
        paging=Paging(record_key="impersonationLogs", page_size_param="page_size", page_count_param="no_of_pages"),
        permission="Monitoring | Impersonation Protection | Read",
        source="MC-1.0 get-ttp-impersonation-protect-logs; searchField values from the catalogue (definition, not "
        "the doc's policy); query required with searchField.",
        tags=("ttp-logs",),
    ),
    ActionSpec(
        name="get-current-account-details",
        title="Get Current Account Details",
        summary="Retrieves the details of the Mimecast account.",
        method="POST",
        path="/api/account/get-account",
        params=AccountParams,
        build=single(_account),
        scope=Scope.READ,
        shape=first_item,
        permission="Account | Dashboard | Read",
        source="XSOAR-v2 get-account with an empty data[]; data[0] is the account.",
        tags=("account",),
    ),
    ActionSpec(
        name="generic-action",
        title="Generic Action",
        summary="Calls any Mimecast endpoint on the tenant's base URL (admin scope).",
        method="*",
        path="/{endpoint}",
        params=GenericActionParams,
        build=single(_generic),
        scope=Scope.ADMIN,
        source="Catalogue: method GET|PUT|POST|DELETE, endpoint, query_params, payload, extra_fields. Sent with "
        "the client's request_rest; only relative paths on the tenant's base URL (pathguard.py).",
        tags=("generic",),
    ),
)
