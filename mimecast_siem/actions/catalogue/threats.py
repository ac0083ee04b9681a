"""URL protection (managed URLs, decode) and threat remediation (mimecast-api.md sections 5.5, 5.7)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from mimecast_siem.actions.params import (
    MimecastTime,
    OptionalText,
    ParamsModel,
    Text,
    dump,
    later_than,
    one_or_many,
)
from mimecast_siem.actions.spec import ActionSpec, MimecastCall, Scope, first_item, post, single

_URL_TEXT = r"^[^\s\x00-\x1f\x7f]+$"
UrlText = Annotated[str, Field(min_length=1, max_length=2048, pattern=_URL_TEXT)]


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_MANAGED_URL_FORM = (
    "expected an http or https URL such as https://www.example.com/path, or a host name such as www.example.com"
)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and len(labels) >= 2 and all(_HOST_LABEL.match(label) for label in labels)


def managed_url(value: str) -> str:
    """Check a managed URL before it is sent (sent as given): an http(s) URL or a bare host[/path].

    Mimecast stores scheme, domain, port, path and query of the entry; a value it cannot split that
    way (``a]b``, a port past 65535, a host with spaces or no dot) is refused here, before any request.
    """
    text = value if "://" in value else f"https://{value}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(_MANAGED_URL_FORM) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not _valid_host(parts.hostname):
        raise ValueError(_MANAGED_URL_FORM)
    if port == 0 or parts.username is not None:
        raise ValueError(_MANAGED_URL_FORM + " (no user name or port 0)")
    return value


ManagedUrlText = Annotated[UrlText, AfterValidator(managed_url)]


class ManagedUrlEntry(ParamsModel):
    url: ManagedUrlText = Field(
        description="URL to manage: an http or https URL such as https://www.example.com/path, or (with matchType "
        "domain) a host name such as example.com; sent as given."
    )
    action: Literal["permit", "block"]
    matchType: Literal["explicit", "domain"] | None = None
    comment: OptionalText | None = None
    disableRewrite: bool | None = None
    disableUserAwareness: bool | None = None
    disableLogClick: bool | None = None


class CreateManagedUrlParams(ParamsModel):
    url_information: Annotated[
        list[ManagedUrlEntry], BeforeValidator(one_or_many), Field(min_length=1, max_length=100)
    ] = Field(description="URL entries to add (at most 100 per call).")


class GetManagedUrlsParams(ParamsModel):
    domain_or_content: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    domain_or_url: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    exact_match: bool = False
    filter_by: (
        Annotated[list[Literal["all", "permitted", "blocked"]], BeforeValidator(one_or_many), Field(max_length=3)]
        | None
    ) = Field(default=None, description="Only entries of these override types.")
    sort_by_url: bool = False
    sort_order: Literal["asc", "desc"] | None = Field(default=None, description="Only with sort_by_url.")

    @model_validator(mode="after")
    def _order_needs_sort(self) -> GetManagedUrlsParams:
        if self.sort_order is not None and not self.sort_by_url:
            raise ValueError("sort_order can only be used together with sort_by_url: true")
        return self


class EncodedUrl(ParamsModel):
    url: UrlText


def _urls(value: Any) -> Any:
    value = one_or_many(value)
    if isinstance(value, list):
        return [{"url": v} if isinstance(v, str) else v for v in value]
    return value


class DecodeUrlParams(ParamsModel):
    encoded_urls: Annotated[list[EncodedUrl], BeforeValidator(_urls), Field(min_length=1, max_length=25)] = Field(
        description='Mimecast-rewritten URLs ([{"url": ...}] or plain strings), at most 25.'
    )


def _create_managed(p: CreateManagedUrlParams) -> MimecastCall:
    return post("/api/ttp/url/create-managed-url", [dump(e) for e in p.url_information])


def _get_managed(p: GetManagedUrlsParams) -> MimecastCall:
    item: dict[str, Any] = {}
    if p.domain_or_content:
        item["domainOrComment"] = p.domain_or_content
    if p.domain_or_url:
        item["domainOrUrl"] = p.domain_or_url
        item["exactMatch"] = p.exact_match
    if p.filter_by:
        item["filterBy"] = [{"fieldName": "action", "value": v} for v in p.filter_by]
    if p.sort_by_url:
        item["sortByUrl"] = True
        item["sortOrder"] = p.sort_order or "asc"
    return post("/api/ttp/url/get-all-managed-urls", [item] if item else [])


def _decode(p: DecodeUrlParams) -> MimecastCall:
    return post("/api/ttp/url/decode-url", [{"url": u.url} for u in p.encoded_urls])


# --- remediation --------------------------------------------------------------------------------


class CreateRemediationParams(ParamsModel):
    reason: Text = Field(description="Why the incident is created.")
    hash_or_message_id: Annotated[str, Field(min_length=1, max_length=1024, pattern=_URL_TEXT)] | None = Field(
        default=None, description="File hash or Message-ID, per search_by; not used with search_by url."
    )
    search_by: Literal["hash", "messageId", "url"] = Field(default="hash", description="What identifies the mail.")
    start: MimecastTime | None = Field(default=None, description="Earliest message (default: last calendar month).")
    end: MimecastTime | None = Field(default=None, description="Latest message (default: now).")
    url: UrlText | None = Field(default=None, description="Decoded URL; required when search_by is url.")

    @model_validator(mode="after")
    def _consistent(self) -> CreateRemediationParams:
        later_than(self.start, self.end)
        if self.search_by == "url":
            if not self.url:
                raise ValueError("url is required when search_by is url")
            if "mimecast.com" in self.url.lower():
                raise ValueError("url must be the decoded URL, not the Mimecast-rewritten one (use decode-url)")
        elif not self.hash_or_message_id:
            raise ValueError(f"hash_or_message_id is required when search_by is {self.search_by}")
        if self.search_by == "hash" and self.hash_or_message_id:
            h = self.hash_or_message_id
            if len(h) not in (32, 40, 64) or any(c not in "0123456789abcdefABCDEF" for c in h):
                raise ValueError(
                    "hash_or_message_id must be an MD5, SHA-1 or SHA-256 hex digest when search_by is hash"
                )
        return self


class GetRemediationParams(ParamsModel):
    remediation_incident_ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_\-=+/.:]+$")]],
        BeforeValidator(one_or_many),
        Field(min_length=1, max_length=100),
    ] = Field(description="Incident ids or codes (at most 100).")


class IncidentTypeFilter(ParamsModel):
    fieldName: Literal["type"] = "type"
    value: Literal["notify_only", "automatic", "manual", "restored"]


class IncidentSearch(ParamsModel):
    fieldName: Literal["all", "code", "file_hash", "reason"] = "all"
    value: Annotated[str, Field(min_length=1, max_length=1024)]


class FindRemediationParams(ParamsModel):
    filter_by: (
        Annotated[list[IncidentTypeFilter], BeforeValidator(one_or_many), Field(min_length=1, max_length=4)] | None
    ) = Field(default=None, description="Only incidents of these types.")
    search_by: IncidentSearch | None = None
    start: MimecastTime | None = None
    end: MimecastTime | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> FindRemediationParams:
        later_than(self.start, self.end)
        if not self.model_fields_set & {"filter_by", "search_by", "start", "end"}:
            raise ValueError("give at least one of filter_by, search_by, start, end (Mimecast requires a filter)")
        return self


_HASH = r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$"


class SearchFileHashParams(ParamsModel):
    hashes: Annotated[
        list[Annotated[str, Field(pattern=_HASH)]], BeforeValidator(one_or_many), Field(min_length=1, max_length=100)
    ] = Field(description="MD5, SHA-1 or SHA-256 hex digests (at most 100).")


def _create_remediation(p: CreateRemediationParams) -> MimecastCall:
    item: dict[str, Any] = {"reason": p.reason, "searchBy": p.search_by}
    if p.search_by == "url":
        item["url"] = p.url
    else:
        value = p.hash_or_message_id or ""
        if p.search_by == "messageId" and not value.startswith("<"):
            value = f"<{value}>"  # Message-IDs are matched in header form (XSOAR-v2 does the same)
        item["hashOrMessageId"] = value
    if p.start:
        item["start"] = p.start
    if p.end:
        item["end"] = p.end
    return post("/api/ttp/remediation/create", [item])


def _get_remediation(p: GetRemediationParams) -> MimecastCall:
    return post("/api/ttp/remediation/get-incident", [{"id": i} for i in p.remediation_incident_ids])


def _find_remediation(p: FindRemediationParams) -> MimecastCall:
    item: dict[str, Any] = {}
    if p.start:
        item["start"] = p.start
    if p.end:
        item["end"] = p.end
    if p.search_by:
        item["searchBy"] = dump(p.search_by)
    if p.filter_by:
        item["filterBy"] = [dump(f) for f in p.filter_by]
    return post("/api/ttp/remediation/find-incidents", [item])


def _search_hash(p: SearchFileHashParams) -> MimecastCall:
    return post("/api/ttp/remediation/search-hash", [{"hashes": [h.lower() for h in p.hashes]}])


_URLTAG = ("url-protection",)
_REMTAG = ("remediation",)

SPECS: tuple[ActionSpec, ...] = (
    ActionSpec(
        name="create-managed-url",
        title="Create Managed URL",
        summary="Adds URL entries to the managed URL list.",
        method="POST",
        path="/api/ttp/url/create-managed-url",
        params=CreateManagedUrlParams,
        build=single(_create_managed),
        scope=Scope.WRITE,
        permission="Services | Targeted Threat Protection - URL Protect | Edit",
        source="rapid7 PR #2525 / XSOAR-v2 {url, action, matchType?, comment?, disable*?}; duplicates are "
        "refused with err_managed_url_exists_code.",
        tags=_URLTAG,
    ),
    ActionSpec(
        name="get-managed-urls",
        title="Get Managed URLs",
        summary="Retrieves the entries of the managed URL list.",
        method="POST",
        path="/api/ttp/url/get-all-managed-urls",
        params=GetManagedUrlsParams,
        build=single(_get_managed),
        scope=Scope.READ,
        permission="Services | Targeted Threat Protection - URL Protect | Edit",
        source="XSOAR-v2 sends {'data': []} (used when no filter is given); filters from Postman-community. "
        "filterBy entries are sent as {fieldName: action, value}.",
        tags=_URLTAG,
    ),
    ActionSpec(
        name="decode-url",
        title="Decode URL",
        summary="Decodes Mimecast-rewritten URLs (at most 25).",
        method="POST",
        path="/api/ttp/url/decode-url",
        params=DecodeUrlParams,
        build=single(_decode),
        scope=Scope.READ,
        permission="Account | Dashboard | Read",
        source="XSOAR-v2 url_decode_request: one data[] item {url} per URL; limit of 25 from the catalogue.",
        tags=_URLTAG,
    ),
    ActionSpec(
        name="create-remediation-incident",
        title="Create Remediation Incident",
        summary="Creates a remediation incident by message id, file hash or URL.",
        method="POST",
        path="/api/ttp/remediation/create",
        params=CreateRemediationParams,
        build=single(_create_remediation),
        scope=Scope.WRITE,
        shape=first_item,
        permission="Services | Threat Remediation | Edit",
        source="XSOAR-v2 {hashOrMessageId, searchBy, reason, start?, end?} (+ url per Postman). searchBy values "
        "from the catalogue (hash, messageId, url); Message-IDs are wrapped in <> like XSOAR-v2 does.",
        tags=_REMTAG,
    ),
    ActionSpec(
        name="get-remediation-incident",
        title="Get Remediation Incident",
        summary="Retrieves remediation incidents by id.",
        method="POST",
        path="/api/ttp/remediation/get-incident",
        params=GetRemediationParams,
        build=single(_get_remediation),
        scope=Scope.READ,
        permission="Services | Threat Remediation | Read",
        source="MC-1.0 threat-intel/get-incident {id}; one data[] item per id.",
        tags=_REMTAG,
    ),
    ActionSpec(
        name="find-remediation-incidents",
        title="Find Remediation Incidents",
        summary="Searches remediation incidents.",
        method="POST",
        path="/api/ttp/remediation/find-incidents",
        params=FindRemediationParams,
        build=single(_find_remediation),
        scope=Scope.READ,
        permission="Services | Threat Remediation | Read",
        source="MC-1.0 threat-intel/find-incidents; searchBy sent as an object (the doc shows object and array), "
        "at least one field required (doc).",
        tags=_REMTAG,
    ),
    ActionSpec(
        name="search-file-hash",
        title="Search File Hash",
        summary="Searches for file hashes within messages.",
        method="POST",
        path="/api/ttp/remediation/search-hash",
        params=SearchFileHashParams,
        build=single(_search_hash),
        scope=Scope.READ,
        shape=first_item,
        source="XSOAR-v2 {hashes[]} -> data[0].hashStatus[], data[0].failedHashes[].",
        tags=_REMTAG,
    ),
)
