"""Address alteration sets, definitions and policies (mimecast-api.md section 5.2)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from mimecast_siem.actions.params import (
    NewPolicy,
    ParamsModel,
    PolicyUpdate,
    SecureId,
    Text,
    dump,
    one_or_many,
    one_or_many_ids,
)
from mimecast_siem.actions.spec import ActionSpec, MimecastCall, Scope, first_item, nested, post, single

_TAGS = ("address-alteration",)

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}"
_DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
#: Catalogue forms ``local@domain``, ``@domain``, ``local@``; the MC-1.0 doc writes the wildcard forms
#: ``*@domain`` and ``local@*``. Both notations are accepted and sent as given (see docs/actions.md).
_ALTERATION_ADDRESS = re.compile(rf"^(?:{_LOCAL}@{_DOMAIN}|\*?@{_DOMAIN}|{_LOCAL}@\*?)$")


def _alteration_address(value: str) -> str:
    if not _ALTERATION_ADDRESS.match(value):
        raise ValueError("expected one of the forms localpart@domainpart, @domainpart or localpart@")
    return value


AlterationAddress = Annotated[
    str,
    Field(min_length=2, max_length=320, description="localpart@domainpart, @domainpart or localpart@."),
    AfterValidator(_alteration_address),
]
Routing = Literal["all", "inbound", "outbound"]


class CreateDefinitionParams(ParamsModel):
    address_type: Literal["all", "envelope_from", "envelope_to", "from", "reply_to", "to_cc_bcc", "sender"] = Field(
        description="Which address of the message is altered."
    )
    new_address: AlterationAddress
    original_address: AlterationAddress
    routing: Routing = Field(description="Route the definition applies to.")
    folder_id: SecureId | None = Field(
        default=None, description="Address alteration set id; omit to create at the root level."
    )


class GetDefinitionParams(ParamsModel):
    folder_id: SecureId | None = None
    new_address: AlterationAddress | None = None
    original_address: AlterationAddress | None = None
    routing: Routing | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> GetDefinitionParams:
        if not any(v is not None for v in (self.folder_id, self.new_address, self.original_address, self.routing)):
            raise ValueError("give at least one of folder_id, new_address, original_address, routing")
        return self


class DeleteByIdParams(ParamsModel):
    id: SecureId = Field(description="Id of the object to delete.")


class AlterationPolicyToCreate(ParamsModel):
    addressAlterationSetId: SecureId = Field(description="Address alteration set the policy applies.")
    policy: NewPolicy


class CreateAlterationPolicyParams(ParamsModel):
    policy_information: list[AlterationPolicyToCreate] = Field(
        min_length=1, max_length=50, description="Policies to create (the catalogue allows at most 50 at once)."
    )


class GetAlterationPolicyParams(ParamsModel):
    policy_id: Annotated[list[SecureId], BeforeValidator(one_or_many), Field(min_length=1, max_length=500)] | None = (
        Field(default=None, description="Policy id(s), at most 500; omit for every policy.")
    )


class UpdateAlterationPolicyParams(ParamsModel):
    id: SecureId = Field(description="Policy to change.")
    policy: PolicyUpdate
    address_alteration_set_id: SecureId | None = Field(default=None, description="Move the policy to this set.")


class DeleteAlterationPolicyParams(ParamsModel):
    policy_id: Annotated[list[SecureId], BeforeValidator(one_or_many_ids), Field(min_length=1, max_length=500)] = Field(
        description='Policy id(s) to delete, at most 500 ({"id": ...}, one id or a list).'
    )


class CreateSetParams(ParamsModel):
    description: Text = Field(description="Name of the new address alteration set.")
    parent_id: SecureId | None = Field(default=None, description="Parent set; omit for the root level.")


class GetSetParams(ParamsModel):
    folder_id: SecureId | None = Field(default=None, description="Set id; omit for every set.")
    depth: int = Field(default=1, ge=0, le=100, description="How deep to recurse into child sets.")


def _create_definition(p: CreateDefinitionParams) -> MimecastCall:
    item: dict[str, Any] = {
        "addressAlterations": [
            {
                "originalAddress": p.original_address,
                "newAddress": p.new_address,
                "addressType": p.address_type,
                "routing": p.routing,
            }
        ]
    }
    if p.folder_id:
        item["folderId"] = p.folder_id
    return post("/api/policy/address-alteration/create-definition", [item])


def _get_definition(p: GetDefinitionParams) -> MimecastCall:
    keys = {"folder_id": "folderId", "new_address": "newAddress", "original_address": "originalAddress"}
    item = {keys.get(k, k): v for k, v in dump(p).items()}
    return post("/api/policy/address-alteration/get-definition", [item])


def _delete_definition(p: DeleteByIdParams) -> MimecastCall:
    return post("/api/policy/address-alteration/delete-definition", [{"id": p.id}])


def _create_policy(p: CreateAlterationPolicyParams) -> MimecastCall:
    return post("/api/policy/address-alteration/create-policy", [dump(x) for x in p.policy_information])


def _get_policy(p: GetAlterationPolicyParams) -> MimecastCall:
    return post("/api/policy/address-alteration/get-policy", [{"id": i} for i in p.policy_id or []])


def _update_policy(p: UpdateAlterationPolicyParams) -> MimecastCall:
    item: dict[str, Any] = {"id": p.id, "policy": dump(p.policy)}
    if p.address_alteration_set_id:
        item["addressAlterationSetId"] = p.address_alteration_set_id
    return post("/api/policy/address-alteration/update-policy", [item])


def _delete_policy(p: DeleteAlterationPolicyParams) -> MimecastCall:
    return post("/api/policy/address-alteration/delete-policy", [{"id": i} for i in p.policy_id])


def _create_set(p: CreateSetParams) -> MimecastCall:
    item: dict[str, Any] = {"description": p.description}
    if p.parent_id:
        item["parentId"] = p.parent_id
    return post("/api/policy/address-alteration/create-address-alteration-set", [item])


def _get_set(p: GetSetParams) -> MimecastCall:
    item: dict[str, Any] = {"depth": p.depth}
    if p.folder_id:
        item["folderId"] = p.folder_id
    return post("/api/policy/address-alteration/get-address-alteration-set", [item])


_EDIT = "Gateway | Policies | Edit"
_READ = "Gateway | Policies | Read"

SPECS: tuple[ActionSpec, ...] = (
    ActionSpec(
        name="create-address-alteration-definition",
        title="Create Address Alteration Definition",
        summary="Creates an address alteration definition within a set or at the root level.",
        method="POST",
        path="/api/policy/address-alteration/create-definition",
        params=CreateDefinitionParams,
        build=single(_create_definition),
        scope=Scope.WRITE,
        shape=first_item,
        permission=_EDIT,
        source="MC-1.0 create-definition {folderId?, addressAlterations[{originalAddress, newAddress, addressType, "
        "routing}]}; the Postman body (definitionName/matchExpression) is ignored as it contradicts the doc.",
        tags=_TAGS,
    ),
    ActionSpec(
        name="get-address-alteration-definition",
        title="Get Address Alteration Definition",
        summary="Retrieves address alteration definitions; at least one filter is required.",
        method="POST",
        path="/api/policy/address-alteration/get-definition",
        params=GetDefinitionParams,
        build=single(_get_definition),
        scope=Scope.READ,
        shape=nested("items"),
        permission=_READ,
        source="TF/Postman: records under data[0].items, no pagination; the catalogue requires one filter.",
        tags=_TAGS,
    ),
    ActionSpec(
        name="delete-address-alteration-definition",
        title="Delete Address Alteration Definition",
        summary="Removes an address alteration definition.",
        method="POST",
        path="/api/policy/address-alteration/delete-definition",
        params=DeleteByIdParams,
        build=single(_delete_definition),
        scope=Scope.WRITE,
        shape=first_item,
        permission=_EDIT,
        source="TF: {id} -> {id, success}.",
        tags=_TAGS,
    ),
    ActionSpec(
        name="create-address-alteration-policy",
        title="Create Address Alteration Policy",
        summary="Creates address alteration policies (at most 50 at once).",
        method="POST",
        path="/api/policy/address-alteration/create-policy",
        params=CreateAlterationPolicyParams,
        build=single(_create_policy),
        scope=Scope.WRITE,
        permission=_EDIT,
        source="MC-1.0 create-policy {addressAlterationSetId, policy}; policy sent as an object (XSOAR-v2, TF) "
        "although the doc example shows an array; limit of 50 from the catalogue.",
        tags=_TAGS,
    ),
    ActionSpec(
        name="get-address-alteration-policy",
        title="Get Address Alteration Policy",
        summary="Retrieves address alteration policies (all, or up to 500 by id).",
        method="POST",
        path="/api/policy/address-alteration/get-policy",
        params=GetAlterationPolicyParams,
        build=single(_get_policy),
        scope=Scope.READ,
        permission=_READ,
        source="TF {id?}; one data[] item per id, an empty data[] for every policy (XSOAR-v2 style).",
        tags=_TAGS,
    ),
    ActionSpec(
        name="update-address-alteration-policy",
        title="Update Address Alteration Policy",
        summary="Updates an address alteration policy.",
        method="POST",
        path="/api/policy/address-alteration/update-policy",
        params=UpdateAlterationPolicyParams,
        build=single(_update_policy),
        scope=Scope.WRITE,
        shape=first_item,
        permission=_EDIT,
        source="MC-1.0 marks addressAlterationSetId required, XSOAR-v2 sends {id, policy} and the catalogue "
        "makes it optional: we follow the catalogue and send it only when given.",
        tags=_TAGS,
    ),
    ActionSpec(
        name="delete-address-alteration-policy",
        title="Delete Address Alteration Policy",
        summary="Removes address alteration policies (at most 500 at once).",
        method="POST",
        path="/api/policy/address-alteration/delete-policy",
        params=DeleteAlterationPolicyParams,
        build=single(_delete_policy),
        scope=Scope.WRITE,
        permission=_EDIT,
        source="TF {id} -> {id, deleted}; one data[] item per id; limit of 500 from the catalogue.",
        tags=_TAGS,
    ),
    ActionSpec(
        name="create-address-alteration-set",
        title="Create Address Alteration Set",
        summary="Creates an address alteration set (folder).",
        method="POST",
        path="/api/policy/address-alteration/create-address-alteration-set",
        params=CreateSetParams,
        build=single(_create_set),
        scope=Scope.WRITE,
        shape=first_item,
        permission=_EDIT,
        source="Postman-community only (official page not retrieved): {description, parentId?}.",
        tags=_TAGS,
    ),
    ActionSpec(
        name="get-address-alteration-set",
        title="Get Address Alteration Set",
        summary="Retrieves address alteration sets (folder tree).",
        method="POST",
        path="/api/policy/address-alteration/get-address-alteration-set",
        params=GetSetParams,
        build=single(_get_set),
        scope=Scope.READ,
        permission=_READ,
        source="TF/XSOAR-v2 {folderId?, depth?}; the catalogue's default depth is 1.",
        tags=_TAGS,
    ),
)
