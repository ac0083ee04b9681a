"""Directory actions: profile groups and their members (mimecast-api.md section 5.1)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mimecast_siem.actions.params import (
    DomainName,
    EmailAddress,
    OptionalText,
    ParamsModel,
    SecureId,
    Text,
    dump,
)
from mimecast_siem.actions.spec import ActionSpec, MimecastCall, Paging, ResultKind, Scope, post, single

_GROUPS = ("directory",)


class GroupMemberToAdd(ParamsModel):
    """One member to add: the group id and either an email address or a domain."""

    id: SecureId = Field(description="Group id (from search-groups).")
    emailAddress: EmailAddress | None = None
    domain: DomainName | None = None
    notes: OptionalText | None = None

    @model_validator(mode="after")
    def _address_or_domain(self) -> GroupMemberToAdd:
        if (self.emailAddress is None) == (self.domain is None):
            raise ValueError("give exactly one of emailAddress or domain")
        return self


class GroupMemberToRemove(ParamsModel):
    """One member to remove: the group id and either an email address or a domain."""

    id: SecureId = Field(description="Group id (from search-groups).")
    emailAddress: EmailAddress | None = None
    domain: DomainName | None = None

    @model_validator(mode="after")
    def _address_or_domain(self) -> GroupMemberToRemove:
        if (self.emailAddress is None) == (self.domain is None):
            raise ValueError("give exactly one of emailAddress or domain")
        return self


class AddGroupMemberParams(ParamsModel):
    member_information: list[GroupMemberToAdd] = Field(
        min_length=1,
        max_length=100,
        description="Members to add (at most 100 per call; each names its group id).",
    )


class RemoveGroupMemberParams(ParamsModel):
    member_information: list[GroupMemberToRemove] = Field(
        min_length=1,
        max_length=10,
        description="Members to remove (at most 10 per call).",
    )


class NewGroup(ParamsModel):
    description: Text = Field(description="Name of the new group.")
    parentId: SecureId | None = Field(default=None, description="Parent group id; omit for a root group.")


class GroupChange(ParamsModel):
    id: SecureId = Field(description="Group to change.")
    description: Text | None = None
    parentId: SecureId | None = None

    @model_validator(mode="after")
    def _something(self) -> GroupChange:
        if self.description is None and self.parentId is None:
            raise ValueError("give description or parentId to change")
        return self


class CreateGroupParams(ParamsModel):
    groups_information: list[NewGroup] = Field(
        min_length=1, max_length=10, description="Groups to create (at most 10 per call)."
    )


class UpdateGroupParams(ParamsModel):
    groups_information: list[GroupChange] = Field(
        min_length=1, max_length=10, description="Groups to update (the catalogue allows at most 10 at once)."
    )


class SearchGroupsParams(ParamsModel):
    query: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        default=None, description="Text to search for in group names."
    )
    source: Literal["cloud", "ldap"] | None = Field(default=None, description="Only groups of this source.")
    page_size: int = Field(default=100, ge=1, le=500, description="Groups per page (at most 500).")


class GetGroupMembersParams(ParamsModel):
    group_id: SecureId = Field(description="Group id (from search-groups).")
    page_size: int = Field(default=100, ge=1, le=500, description="Members per page (at most 500).")


def _add_member(p: AddGroupMemberParams) -> MimecastCall:
    return post("/api/directory/add-group-member", [dump(m) for m in p.member_information])


def _remove_member(p: RemoveGroupMemberParams) -> MimecastCall:
    return post("/api/directory/remove-group-member", [dump(m) for m in p.member_information])


def _create_group(p: CreateGroupParams) -> MimecastCall:
    return post("/api/directory/create-group", [dump(g) for g in p.groups_information])


def _update_group(p: UpdateGroupParams) -> MimecastCall:
    return post("/api/directory/update-group", [dump(g) for g in p.groups_information])


def _search_groups(p: SearchGroupsParams) -> MimecastCall:
    item = dump(p)
    item.pop("page_size", None)
    return post("/api/directory/find-groups", [item], {"pagination": {"pageSize": p.page_size}})


def _group_members(p: GetGroupMembersParams) -> MimecastCall:
    return post("/api/directory/get-group-members", [{"id": p.group_id}], {"pagination": {"pageSize": p.page_size}})


SPECS: tuple[ActionSpec, ...] = (
    ActionSpec(
        name="add-group-member",
        title="Add Group Member",
        summary="Adds user email addresses or domains to a profile group.",
        method="POST",
        path="/api/directory/add-group-member",
        params=AddGroupMemberParams,
        build=single(_add_member),
        scope=Scope.WRITE,
        permission="Directories | Groups | Edit",
        source="XSOAR-v2 create_add_remove_group_member_request; one data[] item per member. The catalogue "
        "names no per-call limit; we cap a call at 100 members to keep one request bounded.",
        tags=_GROUPS,
    ),
    ActionSpec(
        name="remove-group-member",
        title="Remove Group Member",
        summary="Removes members from Mimecast profile groups.",
        method="POST",
        path="/api/directory/remove-group-member",
        params=RemoveGroupMemberParams,
        build=single(_remove_member),
        scope=Scope.WRITE,
        permission="Services | Directory Sync | Edit",
        source="XSOAR-v2; 'up to 10 in total per request' (Postman-community comment, unconfirmed) is enforced.",
        tags=_GROUPS,
    ),
    ActionSpec(
        name="create-group",
        title="Create Group",
        summary="Creates profile groups at the root level or as child groups.",
        method="POST",
        path="/api/directory/create-group",
        params=CreateGroupParams,
        build=single(_create_group),
        scope=Scope.WRITE,
        permission="Directories | Groups | Edit",
        source="XSOAR-v2 {description, parentId?}. No catalogue limit; capped at 10 like update-group.",
        tags=_GROUPS,
    ),
    ActionSpec(
        name="update-group",
        title="Update Group",
        summary="Updates the description (or parent) of profile groups; at most 10 at once.",
        method="POST",
        path="/api/directory/update-group",
        params=UpdateGroupParams,
        build=single(_update_group),
        scope=Scope.WRITE,
        permission="Services | Directory Sync | Edit",
        source="XSOAR-v2 {id, description?, parentId?}; limit of 10 from the catalogue.",
        tags=_GROUPS,
    ),
    ActionSpec(
        name="search-groups",
        title="Search Groups",
        summary="Searches for groups in Mimecast.",
        method="POST",
        path="/api/directory/find-groups",
        params=SearchGroupsParams,
        build=single(_search_groups),
        scope=Scope.READ,
        kind=ResultKind.PAGED,
        paging=Paging(record_key="folders", page_size_param="page_size"),
        permission="Directories | Groups | Edit",
        source="mimecast-api.md 5.1: records under data[0].folders, paged with meta.pagination.",
        tags=_GROUPS,
    ),
    ActionSpec(
        name="get-group-members",
        title="Get Group Members",
        summary="Retrieves the members of a group.",
        method="POST",
        path="/api/directory/get-group-members",
        params=GetGroupMembersParams,
        build=single(_group_members),
        scope=Scope.READ,
        kind=ResultKind.PAGED,
        paging=Paging(record_key="groupMembers", page_size_param="page_size"),
        permission="Services | Directory Sync | Read",
        source="XSOAR-v2 (pageSize <= 500), records under data[0].groupMembers.",
        tags=_GROUPS,
    ),
)

__all__ = ["SPECS"]
