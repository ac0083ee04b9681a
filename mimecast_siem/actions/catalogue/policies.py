"""Anti-spoofing bypass, blocked sender, managed sender and web security policies
(mimecast-api.md sections 5.3, 5.4 and 5.6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field

from mimecast_siem.actions.params import (
    EmailAddress,
    NewPolicy,
    ParamsModel,
    PolicyFields,
    PolicyUpdate,
    SecureId,
    Text,
    dump,
    one_or_many,
    one_or_many_ids,
)
from mimecast_siem.actions.spec import (
    FROM_PREVIOUS_STEP,
    ActionSpec,
    MimecastCall,
    Paging,
    ResultKind,
    Scope,
    first_item,
    post,
    single,
)

_EDIT = "Gateway | Policies | Edit"
_READ = "Gateway | Policies | Read"
BypassOption = Literal["disable_bypass", "enable_bypass"]


# --- anti-spoofing ----------------------------------------------------------------------------


class AntiSpoofingPolicyToCreate(ParamsModel):
    option: BypassOption = Field(description="Whether the policy enables or disables the SPF-based bypass.")
    policy: NewPolicy


class CreateAntiSpoofingParams(ParamsModel):
    policy_information: list[AntiSpoofingPolicyToCreate] = Field(
        min_length=1, max_length=50, description="Policies to create (the catalogue allows at most 50 at once)."
    )


class GetAntiSpoofingParams(ParamsModel):
    policy_ids: (
        Annotated[list[SecureId], BeforeValidator(one_or_many_ids), Field(min_length=1, max_length=500)] | None
    ) = Field(default=None, description="Policy id(s); omit for every policy.")


class UpdateAntiSpoofingParams(ParamsModel):
    id: SecureId = Field(description="Policy to change.")
    option: BypassOption
    policy: PolicyUpdate


class DeleteManyParams500(ParamsModel):
    policy_id: Annotated[list[SecureId], BeforeValidator(one_or_many_ids), Field(min_length=1, max_length=500)] = Field(
        description='Policy id(s) to delete, at most 500 ({"id": ...}, one id or a list).'
    )


def _create_antispoofing(p: CreateAntiSpoofingParams) -> MimecastCall:
    return post("/api/policy/antispoofing-bypass/create-policy", [dump(x) for x in p.policy_information])


def _get_antispoofing(p: GetAntiSpoofingParams) -> MimecastCall:
    return post("/api/policy/antispoofing-bypass/get-policy", [{"id": i} for i in p.policy_ids or []])


def _update_antispoofing(p: UpdateAntiSpoofingParams) -> MimecastCall:
    return post(
        "/api/policy/antispoofing-bypass/update-policy", [{"id": p.id, "option": p.option, "policy": dump(p.policy)}]
    )


def _delete_antispoofing(p: DeleteManyParams500) -> MimecastCall:
    return post("/api/policy/antispoofing-bypass/delete-policy", [{"id": i} for i in p.policy_id])


# --- blocked and managed senders --------------------------------------------------------------------


class CreateBlockedSenderParams(ParamsModel):
    policy_action: Literal["no_action", "block_sender"] = Field(description="What the policy does to matches.")
    policy_information: NewPolicy


class GetBlockedSendersParams(ParamsModel):
    aliases: ClassVar[Mapping[str, str]] = {"policy_id": "policy_ids"}  # the catalogue's example key

    policy_ids: (
        Annotated[list[SecureId], BeforeValidator(one_or_many_ids), Field(min_length=1, max_length=500)] | None
    ) = Field(default=None, description="Policy id(s); omit for every blocked sender policy.")
    page_size: int = Field(default=100, ge=1, le=500, description="Policies per page (at most 500).")


class NullifyBlockedSenderParams(ParamsModel):
    policy_id: SecureId = Field(description="Blocked sender policy to nullify.")


class ManagedSenderEntry(ParamsModel):
    sender: EmailAddress = Field(description="Sender address.")
    to: EmailAddress = Field(description="Recipient address.")
    action: Literal["permit", "block"]


class PermitOrBlockParams(ParamsModel):
    permit_block_information: Annotated[
        list[ManagedSenderEntry], BeforeValidator(one_or_many), Field(min_length=1, max_length=100)
    ] = Field(description="Sender/recipient pairs to permit or block (at most 100 per call).")


def _create_blocked(p: CreateBlockedSenderParams) -> MimecastCall:
    return post(
        "/api/policy/blockedsenders/create-policy",
        [{"option": p.policy_action, "policy": dump(p.policy_information)}],
    )


def _get_blocked(p: GetBlockedSendersParams) -> MimecastCall:
    items = [{"id": i} for i in p.policy_ids] if p.policy_ids else [{}]
    return post("/api/policy/blockedsenders/get-policy", items, {"pagination": {"pageSize": p.page_size}})


#: Keys of a blocked sender policy that are copied into the nullifying policy (the catalogue's
#: allowed keys); everything else Mimecast returns (id, lastUpdated, createTime ...) is dropped.
_COPIED_POLICY_KEYS = tuple((f.alias or name) for name, f in PolicyFields.model_fields.items())


def _nullify_read(p: NullifyBlockedSenderParams) -> MimecastCall:
    return post("/api/policy/blockedsenders/get-policy", [{"id": p.policy_id}])


def nullifying_policy(original: dict[str, Any]) -> dict[str, Any]:
    """The policy that nullifies ``original``: its items, ``override: true`` (pure).

    The catalogue defines Nullify as "creating a new policy with the same items, setting the action
    to no_action, and marking it as an override"; the option is set by the request, not the policy.
    """
    copied = {k: original[k] for k in _COPIED_POLICY_KEYS if k in original and original[k] is not None}
    copied["override"] = True
    if not copied.get("description"):
        copied["description"] = "Nullified blocked sender policy"
    return copied


def _nullify_create(p: NullifyBlockedSenderParams, first_data: list[Any]) -> MimecastCall:
    policy: Any
    if first_data == [FROM_PREVIOUS_STEP]:  # dry run: the policy is only known once step one ran
        policy = FROM_PREVIOUS_STEP
    else:
        original = next(
            (i["policy"] for i in first_data if isinstance(i, dict) and isinstance(i.get("policy"), dict)), None
        )
        if original is None:
            raise LookupError(f"blocked sender policy {p.policy_id} was not found")
        policy = nullifying_policy(original)
    return post("/api/policy/blockedsenders/create-policy", [{"option": "no_action", "policy": policy}])


def _nullify_plan(p: NullifyBlockedSenderParams) -> list[MimecastCall]:
    return [_nullify_read(p), _nullify_create(p, [FROM_PREVIOUS_STEP])]


def _permit_or_block(p: PermitOrBlockParams) -> MimecastCall:
    return post("/api/managedsender/permit-or-block-sender", [dump(e) for e in p.permit_block_information])


# --- web security policies with targets -------------------------------------------------------------


class UrlTarget(ParamsModel):
    action: Literal["block", "allow"]
    type: Literal["url", "domain"]
    value: Annotated[str, Field(min_length=1, max_length=2048, pattern=r"^[^\s\x00-\x1f\x7f]+$")]
    id: SecureId | None = None


UrlTargets = Annotated[list[UrlTarget], BeforeValidator(one_or_many), Field(min_length=1, max_length=5000)]


class CreateWebPolicyParams(ParamsModel):
    description: Text = Field(description="Description of the block/allow list policy.")
    policies: Annotated[list[NewPolicy], BeforeValidator(one_or_many), Field(min_length=1, max_length=50)] = Field(
        description="Policy scoping (one object or a list)."
    )
    urls: UrlTargets = Field(description="URLs or domains with their action (at most 5,000 per policy).")


class GetWebPolicyParams(ParamsModel):
    id: SecureId = Field(description="Policy id.")


class WebPolicyScopeUpdate(PolicyUpdate):
    id: SecureId | None = Field(default=None, description="Id of the scoping entry being changed.")


class UpdateWebPolicyParams(ParamsModel):
    id: SecureId = Field(description="Policy to change.")
    policies: Annotated[
        list[WebPolicyScopeUpdate], BeforeValidator(one_or_many), Field(min_length=1, max_length=50)
    ] = Field(description="At least one policy scoping detail to update.")
    urls: UrlTargets | None = None
    description: Text | None = None


class DeleteWebPolicyParams(ParamsModel):
    id: Annotated[list[SecureId], BeforeValidator(one_or_many_ids), Field(min_length=1, max_length=10)] = Field(
        description="Policy id(s) to delete (at most 10 at once)."
    )


_WEB = "/api/policy/webwhiteurl"


def _create_web(p: CreateWebPolicyParams) -> MimecastCall:
    return post(f"{_WEB}/create-policy-with-targets", [dump(p)])


def _get_web(p: GetWebPolicyParams) -> MimecastCall:
    return post(f"{_WEB}/get-policy-with-targets", [{"id": p.id}])


def _update_web(p: UpdateWebPolicyParams) -> MimecastCall:
    return post(f"{_WEB}/update-policy-with-targets", [dump(p)])


def _delete_web(p: DeleteWebPolicyParams) -> MimecastCall:
    return post(f"{_WEB}/delete-policy-with-targets", [{"id": i} for i in p.id])


_SPOOF = ("anti-spoofing",)
_BLOCKED = ("senders",)
_WEBTAG = ("web-security",)

SPECS: tuple[ActionSpec, ...] = (
    ActionSpec(
        name="create-anti-spoofing-policy",
        title="Create Anti-Spoofing Policy",
        summary="Creates anti-spoofing SPF-based bypass policies (at most 50 at once).",
        method="POST",
        path="/api/policy/antispoofing-bypass/create-policy",
        params=CreateAntiSpoofingParams,
        build=single(_create_antispoofing),
        scope=Scope.WRITE,
        permission=_EDIT,
        source="MC-1.0 antispoofing-spf-bypass {option, policy}; limit of 50 from the catalogue.",
        tags=_SPOOF,
    ),
    ActionSpec(
        name="get-anti-spoofing-policy",
        title="Get Anti-Spoofing Policy",
        summary="Retrieves anti-spoofing SPF-based bypass policies (all, or by id).",
        method="POST",
        path="/api/policy/antispoofing-bypass/get-policy",
        params=GetAntiSpoofingParams,
        build=single(_get_antispoofing),
        scope=Scope.READ,
        permission=_READ,
        source="MC-1.0 says id is optional (omit for all); Practitioner saw it required. We follow the doc and "
        "the catalogue: no id -> empty data[] -> all policies.",
        tags=_SPOOF,
    ),
    ActionSpec(
        name="update-anti-spoofing-policy",
        title="Update Anti-Spoofing Policy",
        summary="Updates an anti-spoofing SPF-based bypass policy.",
        method="POST",
        path="/api/policy/antispoofing-bypass/update-policy",
        params=UpdateAntiSpoofingParams,
        build=single(_update_antispoofing),
        scope=Scope.WRITE,
        shape=first_item,
        permission=_EDIT,
        source="XSOAR-v2 update_antispoofing_bypass_policy_command {id, option, policy}.",
        tags=_SPOOF,
    ),
    ActionSpec(
        name="delete-anti-spoofing-policy",
        title="Delete Anti-Spoofing Policy",
        summary="Deletes anti-spoofing SPF-based bypass policies (at most 500 at once).",
        method="POST",
        path="/api/policy/antispoofing-bypass/delete-policy",
        params=DeleteManyParams500,
        build=single(_delete_antispoofing),
        scope=Scope.WRITE,
        permission=_EDIT,
        source="XSOAR-v2 delete_policy_request {id}; one data[] item per id; limit of 500 from the catalogue.",
        tags=_SPOOF,
    ),
    ActionSpec(
        name="create-blocked-sender-policy",
        title="Create Blocked Sender Policy",
        summary="Creates a blocked sender policy.",
        method="POST",
        path="/api/policy/blockedsenders/create-policy",
        params=CreateBlockedSenderParams,
        build=single(_create_blocked),
        scope=Scope.WRITE,
        shape=first_item,
        permission=_EDIT,
        source="MC-1.0 blocked-sender-policy/create-policy {option, policy{from, to, ...}} (nested targets, not "
        "XSOAR-v2's flattened fromType/fromValue).",
        tags=_BLOCKED,
    ),
    ActionSpec(
        name="get-blocked-sender-policies",
        title="Get Blocked Sender Policies",
        summary="Retrieves blocked sender policies (all, or by id).",
        method="POST",
        path="/api/policy/blockedsenders/get-policy",
        params=GetBlockedSendersParams,
        build=single(_get_blocked),
        scope=Scope.READ,
        kind=ResultKind.PAGED,
        paging=Paging(record_key=None, page_size_param="page_size"),
        permission=_READ,
        source="XSOAR-v2 list_policies_command: paged, records in data[]. Several ids are sent as one data[] "
        "item each (the envelope's 'each item is its own call' rule).",
        tags=_BLOCKED,
    ),
    ActionSpec(
        name="nullify-blocked-sender-policy",
        title="Nullify Blocked Sender Policy",
        summary="Reads a blocked sender policy and creates a new one with the same items, option no_action and "
        "override true.",
        method="POST",
        path="/api/policy/blockedsenders/create-policy",
        params=NullifyBlockedSenderParams,
        build=_nullify_plan,
        follow_up=_nullify_create,
        scope=Scope.WRITE,
        shape=first_item,
        permission=_EDIT,
        source="No dedicated endpoint exists (mimecast-api.md 5.4). We implement the catalogue's definition: "
        "get-policy {id}, then create-policy {option: no_action, policy: <same items>, override: true}. "
        "delete-policy is not used (absent from the API 2.0 inventories).",
        tags=_BLOCKED,
    ),
    ActionSpec(
        name="permit-or-block-sender",
        title="Permit or Block Sender",
        summary="Permits or blocks mail between a sender and a recipient.",
        method="POST",
        path="/api/managedsender/permit-or-block-sender",
        params=PermitOrBlockParams,
        build=single(_permit_or_block),
        scope=Scope.WRITE,
        permission="Gateway | Managed Senders | Edit",
        source="XSOAR-v2 manage_sender {sender, to, action}; one data[] item per pair; capped at 100 per call.",
        tags=_BLOCKED,
    ),
    ActionSpec(
        name="create-policy-with-targets",
        title="Create Policy with Targets",
        summary="Creates a web security block or allow list policy for domains or URLs.",
        method="POST",
        path=f"{_WEB}/create-policy-with-targets",
        params=CreateWebPolicyParams,
        build=single(_create_web),
        scope=Scope.WRITE,
        shape=first_item,
        permission="Web Security | Policies | Edit",
        source="TF webSecurityPolicyWriteRequest {description, urls[], policies[]}; 5,000 URLs per policy "
        "(MC-1.0 web-security).",
        tags=_WEBTAG,
    ),
    ActionSpec(
        name="get-policy-with-targets",
        title="Get Policy with Targets",
        summary="Retrieves a web security block or allow list policy.",
        method="POST",
        path=f"{_WEB}/get-policy-with-targets",
        params=GetWebPolicyParams,
        build=single(_get_web),
        scope=Scope.READ,
        shape=first_item,
        permission="Web Security | Policies | Read",
        source="TF {id}.",
        tags=_WEBTAG,
    ),
    ActionSpec(
        name="update-policy-with-targets",
        title="Update Policy with Targets",
        summary="Updates a web security block or allow list policy.",
        method="POST",
        path=f"{_WEB}/update-policy-with-targets",
        params=UpdateWebPolicyParams,
        build=single(_update_web),
        scope=Scope.WRITE,
        shape=first_item,
        permission="Web Security | Policies | Edit",
        source="TF {id, description?, urls[]?, policies[{id?, ...}]}.",
        tags=_WEBTAG,
    ),
    ActionSpec(
        name="delete-policy-with-targets",
        title="Delete Policy with Targets",
        summary="Deletes web security block or allow list policies (at most 10 at once).",
        method="POST",
        path=f"{_WEB}/delete-policy-with-targets",
        params=DeleteWebPolicyParams,
        build=single(_delete_web),
        scope=Scope.WRITE,
        permission="Web Security | Policies | Edit",
        source="TF {id} -> {id, deleted}; limit of 10 from the catalogue.",
        tags=_WEBTAG,
    ),
)
