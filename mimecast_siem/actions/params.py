"""Parameter building blocks shared by the action specs (pure pydantic v2 types, no I/O).

Every action's parameter model is built from these so that the same rule (what a Mimecast time
looks like, what a policy target may contain, which keys a policy accepts) is written once and
shows up identically in validation errors, ``action describe`` and the OpenAPI document.

Naming: top-level parameters use the snake_case names of the catalogue's example requests
(``member_information``, ``policy_id`` ...) so a playbook written against the catalogue keeps its
keys; objects that are sent to Mimecast as they are (policies, targets, URL entries) keep
Mimecast's own camelCase keys, which is how the catalogue lists their "allowed keys".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from mimecast_siem.times import format_mimecast_time, parse_iso_time

MIMECAST_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S+0000"

#: What each parameter means, for the fields whose declaration carries no description: looked up as
#: ``Model.field`` first, then by field name (``route``, ``comment`` ... mean the same everywhere).
#: ``action describe`` and the OpenAPI document show them; a test asserts no parameter lacks one.
DESCRIPTIONS: dict[str, str] = {
    # time windows and paging
    "start": "Start of the time window: an ISO-8601 time with an offset, such as 2026-11-25T10:00:00+0000.",
    "end": "End of the time window: an ISO-8601 time with an offset, such as 2026-11-25T18:00:00+0000.",
    "no_of_pages": "Pages to fetch at most (1 to 1000); omit to follow pages up to the result limit.",
    "page_size": "Records per page, 1 to 500 (Mimecast's maximum).",
    "route": "Mail direction to include: inbound, outbound, internal or all.",
    # policies (shared by address alteration, anti-spoofing, blocked senders, web security)
    "bidirectional": "true = the policy also applies when sender and recipient are swapped.",
    "comment": "Free-text comment stored with the entry (at most 1024 characters, no control characters).",
    "conditions": "Extra conditions: sourceIPs, hostnames and spfDomains lists.",
    "description": "Name or description shown in the Mimecast Administration Console (at most 1024 characters).",
    "enabled": "true = the policy is active.",
    "enforced": "true = the policy cannot be overridden by other policies.",
    "from": "Who the policy applies to as sender: an object with type and, for some types, the value.",
    "to": "Who the policy applies to as recipient: an object with type and, for some types, the value.",
    "fromDate": "Policy start: an ISO-8601 time with an offset; sent to Mimecast as UTC +0000.",
    "toDate": "Policy end: an ISO-8601 time with an offset; sent to Mimecast as UTC +0000.",
    "fromEternal": "true = the policy has no start date.",
    "toEternal": "true = the policy has no end date.",
    "fromPart": "Which sender address is matched: envelope_from, header_from or both.",
    "override": "true = this policy takes precedence over conflicting policies.",
    "policy": "The policy settings (the catalogue's allowed keys for policy).",
    "CreateBlockedSenderParams.policy_information": "The policy to create: description (required), from, to and "
    "the other policy keys the catalogue allows.",
    "option": "Whether the policy enables or disables the SPF-based bypass: enable_bypass or disable_bypass.",
    "PolicyConditions.sourceIPs": "Sending IP addresses or CIDR networks, such as 192.0.2.10 or 192.0.2.0/24.",
    "PolicyConditions.hostnames": "Sending host names, such as mail.example.com.",
    "PolicyConditions.spfDomains": "Domains whose SPF result the policy looks at, such as example.com.",
    "PolicyTarget.emailAddress": "The address, for type individual_email_address.",
    "PolicyTarget.emailDomain": "The domain, for type email_domain.",
    "PolicyTarget.groupId": "The profile group's secure id, for type profile_group.",
    "PolicyTarget.headerDisplayName": "The display name, for type header_display_name.",
    "PolicyTarget.attribute": "The directory attribute to match, for type address_attribute_value.",
    "AttributeValue.name": "Attribute name (informational).",
    "AttributeValue.value": "Attribute value to match.",
    # directory
    "emailAddress": "An email address such as jane.doe@example.com.",
    "domain": "A DNS domain such as example.com.",
    "notes": "Free-text note stored with the member.",
    "parentId": "Secure id of the new parent group.",
    "GroupChange.description": "New name of the group.",
    # threats, URLs, remediation
    "EncodedUrl.url": "A Mimecast-rewritten URL to decode (https://protect-...mimecast.com/...).",
    "ManagedUrlEntry.action": "permit or block the URL.",
    "ManagedSenderEntry.action": "permit or block mail from sender to the recipient.",
    "matchType": "explicit = this exact URL; domain = every URL of the domain.",
    "disableRewrite": "true = Mimecast does not rewrite the URL in messages.",
    "disableUserAwareness": "true = no user-awareness challenge for this URL.",
    "disableLogClick": "true = clicks on this URL are not logged.",
    "domain_or_content": "Only entries whose domain or comment contains this text.",
    "domain_or_url": "Only entries whose domain or URL contains this text.",
    "exact_match": "true = domain_or_url must match exactly.",
    "sort_by_url": "true = sort the entries by URL (then sort_order applies).",
    "FindRemediationParams.search_by": "Search the incidents by a field: an object with fieldName and value.",
    "IncidentSearch.fieldName": "Field to search: all, code, file_hash or reason.",
    "IncidentSearch.value": "Text to search for.",
    "IncidentTypeFilter.fieldName": "Always type.",
    "IncidentTypeFilter.value": "Incident type: notify_only, automatic, manual or restored.",
    "UrlTarget.action": "block or allow the target.",
    "UrlTarget.type": "url = one URL; domain = a whole domain.",
    "UrlTarget.value": "The URL or domain (no spaces or control characters).",
    "UrlTarget.id": "Secure id of an existing target (when updating it).",
    "UpdateWebPolicyParams.urls": "The block or allow list entries (url or domain targets), at most 5000.",
    "UpdateWebPolicyParams.description": "New name of the policy.",
    # address alteration
    "folder_id": "Secure id of an address alteration set (from get-address-alteration-set).",
    "new_address": "The rewritten address: local@domain, @domain or local@.",
    "original_address": "The address being rewritten: local@domain, @domain or local@.",
    "routing": "Route the definition applies to: all, inbound or outbound.",
    # messages and holds
    "field_name": "Field the value is searched in: all, subject, sender, recipient, reasonCode or senderIP.",
    "HoldListParams.value": "Text to search for in field_name (required with field_name).",
    "include_aliases": "true = include mail sent to the mailbox's aliases.",
    "include_delegates": "true = include mailboxes the user is a delegate of.",
    "reason_type": "Why the message is rejected (Mimecast's rejection reason code).",
    "advanced_track_and_trace_options": "Search by sender, recipient, subject or sending IP instead of message_id "
    "(give at least one of from, to, subject, senderIP).",
    "TrackAndTraceOptions.subject": "Message subject to search for.",
    "senderIP": "The sending IP address, such as 192.0.2.1 or 2001:db8::1; sent exactly as given.",
    # TTP logs
    "scan_result": "Only clicks with this scan result: clean, malicious, suspicious or all.",
    "TtpAttachmentLogsParams.result": "Only attachments with this result: safe, malicious, timeout, error, unsafe "
    "or all.",
    "actions": "Only logs where Mimecast took one of these actions: hold, bounce, none.",
    "identifiers": "Only logs that matched one of these impersonation identifiers.",
    "query": "Text to search for in search_field (required with search_field).",
    "search_field": "Field the query is searched in: senderAddress, recipientAddress, subject, definition or all.",
    "tagged_malicious": "true = only messages tagged malicious; false = only those not tagged; omit for both.",
    # generic action extra fields (the catalogue's; only payload_json is supported)
    "payload_json": "JSON body to send (the same as payload; give one of the two).",
    "download": "Not supported: binary downloads are offered by get-archive-file and get-file.",
    "files": "Not supported: file uploads are not offered.",
    "filename": "Not supported: binary downloads are offered by get-archive-file and get-file.",
    "retry_wait": "Not supported: retries follow the tenant's client policy.",
    "retry_count": "Not supported: retries follow the tenant's client policy.",
    "custom_output": "Not supported: the response is always returned as JSON.",
    "response_type": "Not supported: the response is always returned as JSON.",
    "extra_fields": "The catalogue's extra fields; only payload_json is supported, the others are refused with "
    "the reason.",
}


def describe_properties(schema: dict[str, Any], model: type[Any]) -> None:
    """Fill in the description of every property that has none (JSON-schema hook of every model).

    A description given on a nullable type (``MimecastTime | None``) is lifted to the property;
    otherwise :data:`DESCRIPTIONS` is consulted (``Model.field``, then ``field``). Aliases accepted
    for a parameter are named in its description.
    """
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    name = getattr(model, "__name__", "")
    aliases = getattr(model, "aliases", {}) or {}
    for key, prop in properties.items():
        if not isinstance(prop, dict):
            continue
        if not prop.get("description"):
            lifted = next(
                (b["description"] for b in prop.get("anyOf", []) if isinstance(b, dict) and b.get("description")),
                None,
            )
            text = lifted or DESCRIPTIONS.get(f"{name}.{key}") or DESCRIPTIONS.get(key)
            if text:
                prop["description"] = text
        also = sorted(alias for alias, target in aliases.items() if target == key)
        if also and prop.get("description"):
            prop["description"] = f"{prop['description']} Also accepted as: {', '.join(also)}."


#: Shared model configuration: unknown keys are errors (a typo must not silently drop a filter),
#: numbers given where text is expected become text (``-p id=12345`` on the command line).
PARAMS_CONFIG = ConfigDict(
    extra="forbid",
    populate_by_name=False,
    coerce_numbers_to_str=True,
    str_strip_whitespace=True,
    frozen=True,
    json_schema_extra=describe_properties,
)


class ParamsModel(BaseModel):
    """Base of every parameter model (configuration only; no behaviour is inherited).

    ``aliases`` maps another accepted name of a parameter to the parameter (the catalogue's example
    requests use ``policy_id`` where the parameter takes several ids): the alias is renamed before
    validation, and giving both is an error.
    """

    model_config = PARAMS_CONFIG
    aliases: ClassVar[Mapping[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _apply_aliases(cls, data: Any) -> Any:
        if not cls.aliases or not isinstance(data, Mapping):
            return data
        for alias, name in cls.aliases.items():
            if alias in data:
                if name in data:
                    raise ValueError(f"give {name} or {alias} (another name for it), not both")
                data = {(name if k == alias else k): v for k, v in data.items()}
        return data


class NoParamsBase(ParamsModel):
    """An action without parameters (an empty object, or nothing, is accepted)."""


def parse_action_time(value: Any) -> datetime:
    """An action's time parameter: ISO-8601 with an explicit offset, as a UTC-aware datetime.

    Read by :func:`mimecast_siem.times.parse_iso_time` (no epoch numbers; this only words the error).
    Accepts ``2026-11-25T10:00:00+0000``, ``+00:00``, ``Z`` (either case, as the catalogue's own
    examples write ``t``/``z`` in lower case), fractional seconds, and aware datetimes. A time
    without an offset is refused: guessing a zone for a remediation window is how mail gets missed.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("time has no UTC offset; add one such as +0000 or Z")
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise ValueError("expected a time such as 2026-11-25T10:00:00+0000")
    try:
        return parse_iso_time(value)
    except ValueError:  # NaiveTimeError too: the offset is part of what is expected
        raise ValueError(
            "expected an ISO-8601 time with an offset, such as 2026-11-25T10:00:00+0000 or 2026-11-25T10:00:00Z "
            "(a real calendar time: check month, day and hour ranges)"
        ) from None


def _normalise_time(value: Any) -> str:
    return format_mimecast_time(parse_action_time(value))


#: A time parameter: validated and sent as ``YYYY-MM-DDTHH:MM:SS+0000`` (mimecast-api.md section 2.4).
MimecastTime = Annotated[
    str,
    BeforeValidator(_normalise_time),
    Field(
        json_schema_extra={"format": "date-time", "examples": ["2026-11-25T10:00:00+0000"]},
        description="ISO-8601 time with an offset (+0000, +00:00 or Z); sent to Mimecast as UTC +0000.",
    ),
]

_SECURE_ID = r"^[A-Za-z0-9_\-=+/.:]+$"

#: A Mimecast secure id (long base64url text; ``MTOKEN:`` prefixed for some objects).
SecureId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4096, pattern=_SECURE_ID),
    Field(description="Mimecast secure id (as returned by the matching get/search action)."),
]

_EMAIL = r"^[^@\s<>\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
_DOMAIN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"

EmailAddress = Annotated[
    str,
    StringConstraints(min_length=3, max_length=320, pattern=_EMAIL),
    Field(description="An email address such as jane.doe@example.com."),
]
DomainName = Annotated[
    str,
    StringConstraints(min_length=3, max_length=253, pattern=_DOMAIN),
    Field(description="A DNS domain such as example.com."),
]

#: Free text sent to Mimecast (descriptions, comments, reasons): bounded, no control characters.
Text = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f]*$")]
OptionalText = Annotated[str, StringConstraints(min_length=0, max_length=1024, pattern=r"^[^\x00-\x1f\x7f]*$")]

PageSize = Annotated[int, Field(ge=1, le=500, description="Records per page (Mimecast allows at most 500).")]
PageCount = Annotated[int, Field(ge=1, le=1000, description="Pages to fetch at most.")]


def _ip_or_network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError("expected an IP address or CIDR network such as 192.0.2.0/24") from None


IpOrNetwork = Annotated[str, AfterValidator(_ip_or_network)]


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("expected one IP address such as 192.0.2.1 or 2001:db8::1 (not a network)") from None
    return value


#: One IP address, checked but sent exactly as given (``192.0.2.1`` stays ``192.0.2.1``, never
#: ``192.0.2.1/32``): mimecast-api.md documents no network (CIDR) form for these fields.
IpAddressText = Annotated[str, AfterValidator(_ip_address)]


def one_or_many(value: Any) -> Any:
    """Accept a single value where the catalogue shows both a value and a list of values."""
    return [value] if isinstance(value, str | int | dict) else value


def one_or_many_ids(value: Any) -> Any:
    """Ids as the catalogue's examples pass them, ``{"id": ...}``, or a bare id, or a list of ids."""
    if isinstance(value, dict) and set(value) == {"id"}:
        value = value["id"]
    return one_or_many(value)


# --- Policies (shared by address alteration, anti-spoofing, blocked senders, web security) --------

TargetType = Literal[
    "everyone",
    "internal_addresses",
    "external_addresses",
    "email_domain",
    "profile_group",
    "individual_email_address",
    "address_attribute_value",
    "free_mail_domains",
    "header_display_name",
]

#: Which extra key each target type needs (mimecast-api.md section 5.2/5.4, MC-1.0 create-policy doc).
_TARGET_NEEDS: dict[str, str] = {
    "email_domain": "emailDomain",
    "profile_group": "groupId",
    "individual_email_address": "emailAddress",
    "address_attribute_value": "attribute",
    "header_display_name": "headerDisplayName",
}


class AttributeValue(ParamsModel):
    """A directory attribute match (``address_attribute_value`` targets)."""

    id: SecureId
    name: Text | None = None
    value: Text


class PolicyTarget(ParamsModel):
    """The ``from`` or ``to`` side of a policy."""

    type: TargetType = Field(description="Who the side applies to.")
    emailAddress: EmailAddress | None = None
    emailDomain: DomainName | None = None
    groupId: SecureId | None = None
    attribute: AttributeValue | None = None
    headerDisplayName: Text | None = None

    @model_validator(mode="after")
    def _needed_key(self) -> PolicyTarget:
        needed = _TARGET_NEEDS.get(self.type)
        if needed is not None and getattr(self, needed) is None:
            raise ValueError(f"a target of type {self.type} needs {needed}")
        return self


class PolicyConditions(ParamsModel):
    """Extra conditions of a policy."""

    sourceIPs: list[IpOrNetwork] | None = Field(default=None, max_length=1000)
    hostnames: list[DomainName] | None = Field(default=None, max_length=1000)
    spfDomains: list[DomainName] | None = Field(default=None, max_length=1000)


class PolicyFields(ParamsModel):
    """The policy keys the catalogue allows (bidirectional, comment, conditions, description, enabled,
    enforced, from, fromDate, fromEternal, fromPart, override, to, toDate, toEternal); all optional.
    Used as is for updates."""

    bidirectional: bool | None = None
    comment: OptionalText | None = None
    conditions: PolicyConditions | None = None
    description: Text | None = None
    enabled: bool | None = None
    enforced: bool | None = None
    from_: PolicyTarget | None = Field(default=None, alias="from")
    fromDate: MimecastTime | None = None
    fromEternal: bool | None = None
    fromPart: Literal["envelope_from", "header_from", "both"] | None = None
    override: bool | None = None
    to: PolicyTarget | None = None
    toDate: MimecastTime | None = None
    toEternal: bool | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> PolicyFields:
        if self.fromDate and self.toDate and parse_action_time(self.fromDate) > parse_action_time(self.toDate):
            raise ValueError("fromDate is after toDate")
        return self


class PolicyUpdate(PolicyFields):
    """Policy keys to change; at least one."""

    @model_validator(mode="after")
    def _not_empty(self) -> PolicyUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one policy key to change")
        return self


class NewPolicy(PolicyFields):
    """A policy to create: ``description`` is required (MC-1.0 create-policy docs)."""

    description: Text = Field(description="Name of the policy shown in the Administration Console.")


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire form of a parameter object: Mimecast keys, no unset/None values, JSON types."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def later_than(start: str | None, end: str | None, start_key: str = "start", end_key: str = "end") -> None:
    """Raise when both times are given and the window is reversed."""
    if start and end and parse_action_time(start) > parse_action_time(end):
        raise ValueError(f"{start_key} is after {end_key}")
