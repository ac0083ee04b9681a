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
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

MIMECAST_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S+0000"

#: Shared model configuration: unknown keys are errors (a typo must not silently drop a filter),
#: numbers given where text is expected become text (``-p id=12345`` on the command line).
PARAMS_CONFIG = ConfigDict(
    extra="forbid",
    populate_by_name=False,
    coerce_numbers_to_str=True,
    str_strip_whitespace=True,
    frozen=True,
)


class ParamsModel(BaseModel):
    """Base of every parameter model (configuration only; no behaviour is inherited)."""

    model_config = PARAMS_CONFIG


class NoParamsBase(ParamsModel):
    """An action without parameters (an empty object, or nothing, is accepted)."""


_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?\s*(Z|z|[+-]\d{2}:?\d{2})$",
)


def parse_mimecast_time(value: Any) -> datetime:
    """Parse an ISO-8601 time with an explicit offset into a UTC-aware datetime.

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
    match = _TIME.match(value.strip())
    if not match:
        raise ValueError(
            "expected an ISO-8601 time with an offset, such as 2026-11-25T10:00:00+0000 or 2026-11-25T10:00:00Z"
        )
    year, month, day, hour, minute, second, _fraction, offset = match.groups()
    text = f"{year}-{month}-{day}T{hour}:{minute}:{second}"
    offset = "+00:00" if offset in ("Z", "z") else offset
    if len(offset) == 5:  # +hhmm -> +hh:mm for fromisoformat
        offset = f"{offset[:3]}:{offset[3:]}"
    try:
        parsed = datetime.fromisoformat(text + offset)
    except ValueError:
        raise ValueError("not a valid calendar time (check month, day and hour ranges)") from None
    return parsed.astimezone(UTC)


def format_mimecast_time(value: datetime) -> str:
    """The one wire format Mimecast documents for ``/api`` endpoints: ``YYYY-MM-DDTHH:MM:SS+0000`` (UTC)."""
    return value.astimezone(UTC).strftime(MIMECAST_TIME_FORMAT)


def _normalise_time(value: Any) -> str:
    return format_mimecast_time(parse_mimecast_time(value))


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


def one_or_many(value: Any) -> Any:
    """Accept a single value where the catalogue shows both a value and a list of values."""
    return [value] if isinstance(value, str | int | dict) else value


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
        if self.fromDate and self.toDate and parse_mimecast_time(self.fromDate) > parse_mimecast_time(self.toDate):
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
    if start and end and parse_mimecast_time(start) > parse_mimecast_time(end):
        raise ValueError(f"{start_key} is after {end_key}")


def now_utc() -> datetime:
    """Current time (UTC-aware); one place so tests can reason about it."""
    return datetime.now(UTC)
