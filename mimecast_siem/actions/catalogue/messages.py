"""Message tracking, archive, held queue and email queues (mimecast-api.md sections 4.4-4.6, 5.8)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from mimecast_siem.actions.params import (
    EmailAddress,
    IpAddressText,
    MimecastTime,
    NoParamsBase,
    OptionalText,
    PageCount,
    PageSize,
    ParamsModel,
    SecureId,
    dump,
    later_than,
    one_or_many,
    one_or_many_ids,
)
from mimecast_siem.actions.spec import (
    ActionSpec,
    MimecastCall,
    Paging,
    ResultKind,
    Scope,
    first_item,
    nested,
    post,
    single,
)


class TrackAndTraceOptions(ParamsModel):
    from_: EmailAddress | None = Field(default=None, alias="from", description="Sender address.")
    to: EmailAddress | None = Field(default=None, description="Recipient address.")
    subject: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    senderIP: IpAddressText | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> TrackAndTraceOptions:
        if not self.model_fields_set:
            raise ValueError("give at least one of from, to, subject, senderIP")
        return self


class SearchParams(ParamsModel):
    message_id: Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\s\x00-\x1f\x7f]+$")] | None = Field(
        default=None, description="Internet Message-ID; use this or advanced_track_and_trace_options."
    )
    advanced_track_and_trace_options: TrackAndTraceOptions | None = None
    start: MimecastTime | None = Field(default=None, description="Earliest message (Mimecast allows ~30 days back).")
    end: MimecastTime | None = None
    search_reason: OptionalText | None = Field(default=None, description="Reason recorded in Mimecast's audit.")
    route: (
        Annotated[list[Literal["internal", "outbound", "inbound"]], BeforeValidator(one_or_many), Field(min_length=1)]
        | None
    ) = None

    @model_validator(mode="after")
    def _one_criterion(self) -> SearchParams:
        later_than(self.start, self.end)
        if (self.message_id is None) == (self.advanced_track_and_trace_options is None):
            raise ValueError("give either message_id or advanced_track_and_trace_options (exactly one)")
        return self


class MessageIdParams(ParamsModel):
    message_id: SecureId = Field(description="Mimecast id of the message (from search or list-messages).")


class ListMessagesParams(ParamsModel):
    view: Literal["inbox", "sent", "INBOX", "SENT"] = Field(description="Which folder: inbox or sent.")
    mailbox: EmailAddress | None = Field(default=None, description="Mailbox; default the authenticated user.")
    start: MimecastTime | None = Field(default=None, description="Default: the last calendar month.")
    end: MimecastTime | None = Field(default=None, description="Default: the end of the current day.")
    include_delegates: bool = False
    include_aliases: bool = True
    page_size: PageSize = 100

    @model_validator(mode="after")
    def _window(self) -> ListMessagesParams:
        later_than(self.start, self.end)
        return self


class FileIdParams(ParamsModel):
    file_id: SecureId = Field(description="Mimecast id of the attachment or file (from get-message-details).")


class HoldListParams(ParamsModel):
    admin: bool = Field(default=False, description="true = every recipient's holds; false = only the caller's.")
    field_name: Literal["all", "subject", "sender", "recipient", "reasonCode", "senderIP"] | None = None
    value: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    start: MimecastTime | None = None
    end: MimecastTime | None = None
    page_size: PageSize = 100
    no_of_pages: PageCount | None = None

    @model_validator(mode="after")
    def _search(self) -> HoldListParams:
        later_than(self.start, self.end)
        if self.field_name is not None and self.value is None:
            raise ValueError("value is required when field_name is given")
        return self


class NoParams(NoParamsBase):
    """This action takes no parameters."""


class ReleaseParams(ParamsModel):
    id: Annotated[list[SecureId], BeforeValidator(one_or_many_ids), Field(min_length=1, max_length=25)] = Field(
        description="Held message id(s) to release (at most 25 at once)."
    )


RejectReason = Literal[
    "MESSAGE CONTAINS UNDESIRABLE CONTENT",
    "MESSAGE CONTAINS CONFIDENTIAL INFORMATION",
    "REVIEWER DISAPPROVES OF CONTENT",
    "INAPPROPRIATE COMMUNICATION",
    "MESSAGE GOES AGAINST EMAIL POLICIES",
]


class RejectParams(ParamsModel):
    ids: Annotated[list[SecureId], BeforeValidator(one_or_many), Field(min_length=1, max_length=25)] = Field(
        description="Held message id(s) to reject (at most 25 at once, like release)."
    )
    message: OptionalText | None = Field(default=None, description="Rejection text returned to the sender.")
    notify: bool = Field(default=False, description="Notify the sender.")
    reason_type: RejectReason | None = None


class EmailQueuesParams(ParamsModel):
    start: MimecastTime = Field(description="Earliest sample.")
    end: MimecastTime = Field(description="Latest sample.")

    @model_validator(mode="after")
    def _window(self) -> EmailQueuesParams:
        later_than(self.start, self.end)
        return self


def _search(p: SearchParams) -> MimecastCall:
    item: dict[str, Any] = {}
    if p.message_id is not None:
        item["messageId"] = p.message_id
    if p.advanced_track_and_trace_options is not None:
        item["advancedTrackAndTraceOptions"] = dump(p.advanced_track_and_trace_options)
    for key, wire in (("start", "start"), ("end", "end"), ("search_reason", "searchReason"), ("route", "route")):
        value = getattr(p, key)
        if value is not None:
            item[wire] = value
    return post("/api/message-finder/search", [item])


def _message_info(p: MessageIdParams) -> MimecastCall:
    return post("/api/message-finder/get-message-info", [{"id": p.message_id}])


def _message_detail(p: MessageIdParams) -> MimecastCall:
    return post("/api/archive/get-message-detail", [{"id": p.message_id}])


def _list_messages(p: ListMessagesParams) -> MimecastCall:
    item: dict[str, Any] = {
        "view": p.view.upper(),  # the catalogue writes inbox/sent, the wire takes INBOX/SENT (MC-1.0)
        "includeDelegates": p.include_delegates,
        "includeAliases": p.include_aliases,
    }
    for key in ("mailbox", "start", "end"):
        value = getattr(p, key)
        if value is not None:
            item[key] = value
    return post("/api/archive/get-message-list", [item], {"pagination": {"pageSize": p.page_size}})


def _archive_file(p: FileIdParams) -> MimecastCall:
    return post("/api/archive/get-file", [{"id": p.file_id}])


def _gateway_file(p: FileIdParams) -> MimecastCall:
    return post("/api/gateway/message/get-file", [{"id": p.file_id}])


def _hold_list(p: HoldListParams) -> MimecastCall:
    item: dict[str, Any] = {"admin": p.admin}
    if p.start:
        item["start"] = p.start
    if p.end:
        item["end"] = p.end
    if p.value is not None:
        item["searchBy"] = {"fieldName": p.field_name or "all", "value": p.value}
    return post("/api/gateway/get-hold-message-list", [item], {"pagination": {"pageSize": p.page_size}})


def _hold_summary(_p: NoParams) -> MimecastCall:
    return post("/api/gateway/get-hold-summary-list", [])


def _release(p: ReleaseParams) -> MimecastCall:
    return post("/api/gateway/hold-release", [{"id": i} for i in p.id])


def _reject(p: RejectParams) -> MimecastCall:
    item: dict[str, Any] = {"ids": p.ids, "notify": p.notify}
    if p.message:
        item["message"] = p.message
    if p.reason_type:
        item["reasonType"] = p.reason_type
    return post("/api/gateway/hold-reject", [item])


def _email_queues(p: EmailQueuesParams) -> MimecastCall:
    return post("/api/email/get-email-queues", [{"start": p.start, "end": p.end}])


_TRACK = ("messages",)
_HELD = ("held-messages",)
_HELD_EDIT = "Account | Monitoring | Held | Edit"

SPECS: tuple[ActionSpec, ...] = (
    ActionSpec(
        name="search",
        title="Search",
        summary="Searches message tracking (track and trace) by Message-ID or advanced options.",
        method="POST",
        path="/api/message-finder/search",
        params=SearchParams,
        build=single(_search),
        scope=Scope.READ,
        shape=nested("trackedEmails"),
        source="MC-1.0 message-finder/search: start/end/messageId at the top of data[0] (the Postman body nests "
        "them inside advancedTrackAndTraceOptions, contradicting the doc: ignored). Exactly one of messageId "
        "or advanced options (catalogue, XSOAR-v2).",
        tags=_TRACK,
    ),
    ActionSpec(
        name="get-message-info",
        title="Get Message Info",
        summary="Retrieves detailed tracking information about one message.",
        method="POST",
        path="/api/message-finder/get-message-info",
        params=MessageIdParams,
        build=single(_message_info),
        scope=Scope.READ,
        shape=first_item,
        source="XSOAR-v2 get_message_info {id}.",
        tags=_TRACK,
    ),
    ActionSpec(
        name="get-message-details",
        title="Get Message Details",
        summary="Retrieves archive details (headers, attachments) of one message.",
        method="POST",
        path="/api/archive/get-message-detail",
        params=MessageIdParams,
        build=single(_message_detail),
        scope=Scope.READ,
        shape=first_item,
        permission="Archive | Search Content View",
        source="XSOAR-v2 get-message-detail {id}.",
        tags=_TRACK,
    ),
    ActionSpec(
        name="list-messages",
        title="List Messages",
        summary="Lists archived messages of a mailbox.",
        method="POST",
        path="/api/archive/get-message-list",
        params=ListMessagesParams,
        build=single(_list_messages),
        scope=Scope.READ,
        kind=ResultKind.PAGED,
        paging=Paging(record_key=None, page_size_param="page_size"),
        source="MC-1.0 archive/get-message-list {view: INBOX|SENT, mailbox?, start?, end?, includeDelegates?, "
        "includeAliases?}, paged; records in data[] (XSOAR-v2).",
        tags=_TRACK,
    ),
    ActionSpec(
        name="get-archive-file",
        title="Get Archive File",
        summary="Downloads an archived file or attachment.",
        method="POST",
        path="/api/archive/get-file",
        params=FileIdParams,
        build=single(_archive_file),
        scope=Scope.READ,
        kind=ResultKind.BINARY,
        source="XSOAR-v2 download_attachment_request {id}: binary, or JSON with fail[] on error.",
        tags=_TRACK,
    ),
    ActionSpec(
        name="get-file",
        title="Get File",
        summary="Downloads a file attachment through the gateway.",
        method="POST",
        path="/api/gateway/message/get-file",
        params=FileIdParams,
        build=single(_gateway_file),
        scope=Scope.READ,
        kind=ResultKind.BINARY,
        source="Path from the API 2.0 inventories (Postman-community, zachvier); semantics not documented. Mapping "
        "Get Archive File -> /api/archive/get-file and Get File -> /api/gateway/message/get-file is an assumption.",
        tags=_TRACK,
    ),
    ActionSpec(
        name="get-hold-message-list",
        title="Get Hold Message List",
        summary="Lists held messages with reason, sender and recipients.",
        method="POST",
        path="/api/gateway/get-hold-message-list",
        params=HoldListParams,
        build=single(_hold_list),
        scope=Scope.READ,
        kind=ResultKind.PAGED,
        paging=Paging(record_key=None, page_size_param="page_size", page_count_param="no_of_pages"),
        permission="Account | Dashboard | Read",
        source="MC-1.0 get-hold-message-list {admin, start, end, searchBy{fieldName, value}}; records in data[]. "
        "fieldName values from the catalogue (reasonCode, senderIP) rather than the doc's reason_code.",
        tags=_HELD,
    ),
    ActionSpec(
        name="get-held-message-list",
        title="Get Held Message List",
        summary="Counts currently held messages per hold reason (hold summary).",
        method="POST",
        path="/api/gateway/get-hold-summary-list",
        params=NoParams,
        build=single(_hold_summary),
        scope=Scope.READ,
        source="MC-1.0 get-hold-summary-list with {'data': []}; data[] of {policyInfo, numberOfItems}.",
        tags=_HELD,
    ),
    ActionSpec(
        name="release-held-message",
        title="Release Held Message",
        summary="Releases held messages (at most 25 at once).",
        method="POST",
        path="/api/gateway/hold-release",
        params=ReleaseParams,
        build=single(_release),
        scope=Scope.WRITE,
        permission=_HELD_EDIT,
        source="XSOAR-v2 release_held_message_command {id} -> {id, release}; one data[] item per id; limit 25 "
        "from the catalogue.",
        tags=_HELD,
    ),
    ActionSpec(
        name="reject-held-message",
        title="Reject Held Message",
        summary="Rejects held messages.",
        method="POST",
        path="/api/gateway/hold-reject",
        params=RejectParams,
        build=single(_reject),
        scope=Scope.WRITE,
        permission=_HELD_EDIT,
        source="MC-1.0 message-queues/reject-message {ids[], message?, reasonType?, notify?}. The catalogue gives "
        "no limit; we apply release's 25.",
        tags=_HELD,
    ),
    ActionSpec(
        name="get-email-queues",
        title="Get Email Queues",
        summary="Retrieves inbound and outbound email queue counts for a time range.",
        method="POST",
        path="/api/email/get-email-queues",
        params=EmailQueuesParams,
        build=single(_email_queues),
        scope=Scope.READ,
        permission="Account | Dashboard | Read",
        source="MC-1.0 inbound-outbound-queues {start, end} (both required). The response is returned as "
        "Mimecast sends it (numbers or {date, count} samples; quirk 12).",
        tags=("queues",),
    ),
)
