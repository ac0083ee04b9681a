"""One successful call per action against the simulator: parameters built from the simulator's
state, and a check of the result and of the state change (shared by the CLI and HTTP tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mimecast_siem.simulator.actions_support import ActionsState, new_id, state_of
from mimecast_siem.simulator.actions_threats import rewrite_url


def _fmt(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class World:
    """Handles on the simulator's world for building parameters and checking effects."""

    world: Any

    @property
    def account(self) -> Any:
        return self.world.account()

    @property
    def state(self) -> ActionsState:
        return state_of(self.account, self.world)

    def first(self, book: dict[str, Any]) -> str:
        return next(iter(book))

    def group(self) -> str:
        return self.first(self.state.groups)

    def message_with_file(self, max_bytes: int = 50_000) -> tuple[str, str]:
        for mid, m in self.state.messages.items():
            for a in m["attachments"]:
                if a["size"] <= max_bytes:
                    return mid, a["id"]
        raise AssertionError("no small attachment in the simulator's archive")

    def held_id(self) -> str:
        """The held message that stays held the longest (the queue follows the wall clock: one about to
        leave could be gone before the test's action reaches it)."""
        now, holds = self.world.clock.time(), self.account.holds
        held = holds.held_at(now)
        assert held, "the simulator's hold queue is empty"
        _record, lifecycle = max(held, key=lambda h: (holds.exit_of(h[1]).at, h[1].message_id))
        return str(lifecycle.message_id)

    def held_ids(self) -> set[str]:
        return {lc.message_id for _r, lc in self.account.holds.held_at(self.world.clock.time())}

    def add(self, family: str, body: dict[str, Any]) -> str:
        pid = new_id(self.state, self.account, family)
        self.state.family(family)[pid] = {"id": pid, **body}
        return pid

    def incident(self) -> str:
        iid = new_id(self.state, self.account, "incident")
        self.state.incidents[iid] = {
            "id": iid,
            "code": "TR-TEST-1",
            "type": "manual",
            "reason": "test",
            "identified": 0,
            "successful": 0,
            "failed": 0,
            "restored": 0,
            "create": "2026-11-25T10:00:00+0000",
            "modified": "2026-11-25T10:00:00+0000",
            "searchCriteria": {"fileHash": "a" * 64},
        }
        return iid


_POLICY = {"description": "test policy", "from": {"type": "everyone"}, "to": {"type": "everyone"}}


@dataclass(frozen=True)
class Case:
    """Parameters for one action and what a success must show."""

    params: Callable[[World], dict[str, Any]]
    check: Callable[[Any, World], None]
    limit: int | None = None


def ensure(ok: bool, result: Any) -> None:
    """Assert with the result shown on failure (usable inside the table's lambdas)."""
    assert ok, result


def _has(key: str) -> Callable[[Any, World], None]:
    def check(result: Any, w: World) -> None:
        assert isinstance(result, dict), result
        assert key in result, result

    return check


def _records(min_count: int = 1) -> Callable[[Any, World], None]:
    def check(result: Any, w: World) -> None:
        assert result["count"] == len(result["records"]) >= min_count, result

    return check


def _list(min_len: int = 1) -> Callable[[Any, World], None]:
    def check(result: Any, w: World) -> None:
        assert isinstance(result, list), result
        assert len(result) >= min_len, result

    return check


def _group_has_member(result: Any, w: World) -> None:
    gid = result[0]["folderId"]
    assert any(m["emailAddress"] == "new.member@example.com" for m in w.state.members[gid])


def _group_lost_member(result: Any, w: World) -> None:
    gid = result[0]["folderId"]
    assert all(m["emailAddress"] != result[0]["emailAddress"] for m in w.state.members[gid])


def _released(result: Any, w: World) -> None:
    assert result[0]["release"] is True
    assert result[0]["id"] not in w.held_ids()


def _rejected(result: Any, w: World) -> None:
    assert result[0]["reject"] is True
    assert result[0]["id"] not in w.held_ids()


def _nullified(result: Any, w: World) -> None:
    assert result["option"] == "no_action"
    assert result["policy"]["override"] is True
    assert result["id"] in w.state.family("blockedsenders")


def _deleted_from(family: str) -> Callable[[Any, World], None]:
    def check(result: Any, w: World) -> None:
        assert result[0]["deleted"] is True
        assert result[0]["id"] not in w.state.family(family)

    return check


def _now() -> datetime:
    return datetime.now(UTC)


CASES: dict[str, Case] = {
    "add-group-member": Case(
        lambda w: {"member_information": [{"id": w.group(), "emailAddress": "new.member@example.com"}]},
        _group_has_member,
    ),
    "remove-group-member": Case(
        lambda w: {
            "member_information": [{"id": w.group(), "emailAddress": w.state.members[w.group()][0]["emailAddress"]}]
        },
        _group_lost_member,
    ),
    "create-group": Case(
        lambda w: {"groups_information": [{"description": "Incident responders"}]},
        lambda r, w: ensure(w.state.groups[r[0]["id"]]["description"] == "Incident responders", r),
    ),
    "update-group": Case(
        lambda w: {"groups_information": [{"id": w.group(), "description": "Renamed"}]},
        lambda r, w: ensure(w.state.groups[r[0]["id"]]["description"] == "Renamed", r),
    ),
    "search-groups": Case(lambda w: {"source": "cloud", "page_size": 2}, _records(3), limit=10),
    "get-group-members": Case(lambda w: {"group_id": w.group()}, _records(1)),
    "create-address-alteration-definition": Case(
        lambda w: {
            "address_type": "envelope_to",
            "original_address": "@old.example.com",
            "new_address": "@new.example.com",
            "routing": "inbound",
            "folder_id": w.first(w.state.alteration_sets),
        },
        lambda r, w: ensure(r["success"] and r["id"] in w.state.definitions, r),
    ),
    "get-address-alteration-definition": Case(lambda w: {"routing": "inbound"}, _list(1)),
    "delete-address-alteration-definition": Case(
        lambda w: {"id": w.first(w.state.definitions)},
        lambda r, w: ensure(r["id"] not in w.state.definitions, r),
    ),
    "create-address-alteration-policy": Case(
        lambda w: {
            "policy_information": [{"addressAlterationSetId": w.first(w.state.alteration_sets), "policy": _POLICY}]
        },
        lambda r, w: ensure(r[0]["id"] in w.state.family("address-alteration"), r),
    ),
    "get-address-alteration-policy": Case(
        lambda w: {"policy_id": w.add("address-alteration", {"addressAlterationSetId": "x", "policy": dict(_POLICY)})},
        _list(1),
    ),
    "update-address-alteration-policy": Case(
        lambda w: {
            "id": w.add("address-alteration", {"addressAlterationSetId": "x", "policy": dict(_POLICY)}),
            "policy": {"comment": "changed"},
        },
        lambda r, w: ensure(r["policy"]["comment"] == "changed", r),
    ),
    "delete-address-alteration-policy": Case(
        lambda w: {
            "policy_id": {"id": w.add("address-alteration", {"addressAlterationSetId": "x", "policy": dict(_POLICY)})}
        },
        _deleted_from("address-alteration"),
    ),
    "create-address-alteration-set": Case(
        lambda w: {"description": "New set"},
        lambda r, w: ensure(r["id"] in w.state.alteration_sets, r),
    ),
    "get-address-alteration-set": Case(lambda w: {"depth": 1}, _list(1)),
    "create-anti-spoofing-policy": Case(
        lambda w: {
            "policy_information": [
                {
                    "option": "disable_bypass",
                    "policy": {**_POLICY, "conditions": {"spfDomains": ["partner.example.com"]}},
                }
            ]
        },
        lambda r, w: ensure(r[0]["id"] in w.state.family("antispoofing-bypass"), r),
    ),
    "get-anti-spoofing-policy": Case(lambda w: {}, _list(1)),
    "update-anti-spoofing-policy": Case(
        lambda w: {
            "id": w.first(w.state.family("antispoofing-bypass")),
            "option": "disable_bypass",
            "policy": {"comment": "x"},
        },
        lambda r, w: ensure(r["option"] == "disable_bypass", r),
    ),
    "delete-anti-spoofing-policy": Case(
        lambda w: {"policy_id": [w.first(w.state.family("antispoofing-bypass"))]},
        _deleted_from("antispoofing-bypass"),
    ),
    "create-blocked-sender-policy": Case(
        lambda w: {
            "policy_action": "block_sender",
            "policy_information": {
                "description": "Block a phisher",
                "from": {"type": "individual_email_address", "emailAddress": "phisher@bad.example.net"},
                "to": {"type": "everyone"},
                "override": "True",
            },
        },
        lambda r, w: ensure(r["option"] == "block_sender" and r["policy"]["override"] is True, r),
    ),
    "get-blocked-sender-policies": Case(lambda w: {}, _records(2)),
    "nullify-blocked-sender-policy": Case(
        lambda w: {"policy_id": w.first(w.state.family("blockedsenders"))}, _nullified
    ),
    "permit-or-block-sender": Case(
        lambda w: {
            "permit_block_information": [{"sender": "a@partner.example.com", "to": "b@example.com", "action": "permit"}]
        },
        lambda r, w: ensure(r[0]["type"] == "permit", r),
    ),
    "create-managed-url": Case(
        lambda w: {
            "url_information": [{"url": "https://evil.example.net/payload", "action": "block", "matchType": "explicit"}]
        },
        lambda r, w: ensure(r[0]["domain"] == "evil.example.net", r),
    ),
    "get-managed-urls": Case(
        lambda w: {"filter_by": ["blocked"]}, lambda r, w: ensure(r and all(u["action"] == "block" for u in r), r)
    ),
    "decode-url": Case(
        lambda w: {"encoded_urls": [{"url": rewrite_url("https://docs.example.org/a?b=c")}]},
        lambda r, w: ensure(r[0]["url"] == "https://docs.example.org/a?b=c", r),
    ),
    "create-policy-with-targets": Case(
        lambda w: {
            "description": "Block bad domain",
            "policies": _POLICY,
            "urls": [{"action": "block", "type": "domain", "value": "bad.example.net"}],
        },
        lambda r, w: ensure(r["id"] in w.state.family("webwhiteurl"), r),
    ),
    "get-policy-with-targets": Case(
        lambda w: {"id": w.add("webwhiteurl", {"description": "d", "urls": [], "policies": []})},
        _has("description"),
    ),
    "update-policy-with-targets": Case(
        lambda w: {
            "id": w.add("webwhiteurl", {"description": "d", "urls": [], "policies": []}),
            "policies": [{"comment": "new scope"}],
            "description": "updated",
        },
        lambda r, w: ensure(r["description"] == "updated" and len(r["policies"]) == 1, r),
    ),
    "delete-policy-with-targets": Case(
        lambda w: {"id": w.add("webwhiteurl", {"description": "d", "urls": [], "policies": []})},
        _deleted_from("webwhiteurl"),
    ),
    "create-remediation-incident": Case(
        lambda w: {
            "reason": "phishing campaign",
            "search_by": "hash",
            "hash_or_message_id": next(a["sha256"] for m in w.state.messages.values() for a in m["attachments"]),
        },
        lambda r, w: ensure(r["identified"] >= 1 and r["id"] in w.state.incidents, r),
    ),
    "get-remediation-incident": Case(lambda w: {"remediation_incident_ids": [w.incident()]}, _list(1)),
    "find-remediation-incidents": Case(lambda w: (w.incident(), {"filter_by": [{"value": "manual"}]})[1], _list(1)),
    "search-file-hash": Case(
        lambda w: {
            "hashes": [next(a["sha256"] for m in w.state.messages.values() for a in m["attachments"]), "0" * 64]
        },
        lambda r, w: ensure([h["detected"] for h in r["hashStatus"]] == [True, False], r),
    ),
    "search": Case(
        lambda w: {
            "message_id": next(iter(w.state.messages.values()))["messageId"],
            "start": _fmt(_now() - timedelta(days=20)),
        },
        _list(1),
    ),
    "get-message-info": Case(lambda w: {"message_id": w.first(w.state.messages)}, _has("recipientInfo")),
    "get-message-details": Case(lambda w: {"message_id": w.first(w.state.messages)}, _has("attachments")),
    "list-messages": Case(lambda w: {"view": "inbox", "page_size": 5}, _records(12), limit=12),
    "get-hold-message-list": Case(lambda w: {"admin": True, "page_size": 2}, _records(1), limit=4),
    "get-held-message-list": Case(lambda w: {}, lambda r, w: ensure(r and "numberOfItems" in r[0], r)),
    "release-held-message": Case(lambda w: {"id": w.held_id()}, _released),
    "reject-held-message": Case(
        lambda w: {"ids": [w.held_id()], "reason_type": "INAPPROPRIATE COMMUNICATION", "notify": False}, _rejected
    ),
    "get-email-queues": Case(lambda w: {"start": _fmt(_now() - timedelta(hours=1)), "end": _fmt(_now())}, _list(1)),
    "get-ttp-url-logs": Case(lambda w: {"page_size": 5, "no_of_pages": 2}, _records(1)),
    "get-ttp-attachment-protection-logs": Case(
        lambda w: {"start": _fmt(_now() - timedelta(minutes=14))}, _has("records")
    ),
    "get-ttp-impersonation-protect-logs": Case(
        lambda w: {"start": _fmt(_now() - timedelta(minutes=14))}, _has("records")
    ),
    "get-current-account-details": Case(lambda w: {}, _has("accountCode")),
    "generic-action": Case(
        lambda w: {"method": "POST", "endpoint": "api/account/get-account", "payload": {"data": []}},
        lambda r, w: ensure(r["status"] == 200 and r["body"]["data"][0]["accountCode"], r),
    ),
    "get-archive-file": Case(lambda w: {"file_id": w.message_with_file()[1]}, _has("sha256")),
    "get-file": Case(lambda w: {"file_id": w.message_with_file()[1]}, _has("sha256")),
}
