"""Seed data of the simulator's stateful action endpoints: a few groups, policies, managed URLs,
remediation incidents and archived messages per tenant, derived from the seed and client id."""

from __future__ import annotations

import hashlib
from typing import Any

from mimecast_siem.simulator.actions_support import ActionsState, new_id, rng_for
from mimecast_siem.simulator.records import pick
from mimecast_siem.simulator.wire import format_time
from mimecast_siem.simulator.world import Account, World

#: Size of the one large attachment each tenant's archive holds (for download-cap tests).
LARGE_FILE_BYTES = 300_000
ARCHIVE_MESSAGES = 24
_FILES = (
    ("invoice.pdf", "application/pdf"),
    ("report.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("scan.zip", "application/zip"),
    ("notes.txt", "text/plain"),
)


def _file_bytes(seed: str, size: int) -> bytes:
    block = hashlib.sha256(seed.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def seed_state(account: Account, world: World) -> ActionsState:
    """Build a tenant's initial objects (deterministic)."""
    state = ActionsState()
    profile = account.profile
    rng = rng_for(world, account, "seed")
    now = world.started_at
    for name in ("VIP users", "Finance", "Quarantine reviewers"):
        gid = new_id(state, account, "group", length=250)
        state.groups[gid] = {
            "id": gid,
            "description": name,
            "source": "cloud",
            "parentId": None,
            "userCount": 0,
            "folderCount": 0,
        }
        members = [
            {
                "emailAddress": pick(rng, profile.users),
                "domain": profile.domain,
                "name": "",
                "type": "created_manually",
                "internal": True,
                "notes": "",
            }
            for _ in range(3)
        ]
        state.members[gid] = list({m["emailAddress"]: m for m in members}.values())
        state.groups[gid]["userCount"] = len(state.members[gid])
    blocked = state.family("blockedsenders")
    for sender in profile.external_senders[:2]:
        pid = new_id(state, account, "blocked")
        blocked[pid] = {
            "id": pid,
            "option": "block_sender",
            "policy": {
                "description": f"Block {sender}",
                "from": {"type": "individual_email_address", "emailAddress": sender},
                "to": {"type": "everyone"},
                "fromPart": "both",
                "fromEternal": True,
                "toEternal": True,
                "override": False,
                "bidirectional": False,
                "enabled": True,
                "enforced": False,
                "conditions": {"sourceIPs": ["192.0.2.0/24"]},
                "comment": "seeded by the simulator",
                "lastUpdated": format_time(now),
                "createTime": format_time(now),
            },
        }
    spoof = state.family("antispoofing-bypass")
    sid = new_id(state, account, "antispoof")
    spoof[sid] = {
        "id": sid,
        "option": "enable_bypass",
        "policy": {
            "description": "Partner SPF bypass",
            "from": {"type": "email_domain", "emailDomain": profile.external_domains[0]},
            "to": {"type": "everyone"},
            "conditions": {"spfDomains": [profile.external_domains[0]]},
        },
    }
    set_id = new_id(state, account, "alteration-set")
    state.alteration_sets[set_id] = {
        "id": set_id,
        "description": "Rewrite legacy domain",
        "parentId": None,
        "source": "cloud",
        "folderCount": 0,
        "userCount": 0,
    }
    did = new_id(state, account, "definition")
    state.definitions[did] = {
        "id": did,
        "folderId": set_id,
        "originalAddress": f"@legacy.{profile.domain}",
        "newAddress": f"@{profile.domain}",
        "addressType": "envelope_to",
        "routing": "inbound",
    }
    for url, action in (
        (f"https://{profile.external_domains[1]}/login", "block"),
        ("https://intranet.example.com/", "permit"),
    ):
        mid = new_id(state, account, "managed-url")
        state.managed_urls[mid] = managed_url_record(mid, url, action, "explicit", {})
    _seed_archive(state, account, world, rng, now)
    return state


def managed_url_record(mid: str, url: str, action: str, match_type: str, item: dict[str, Any]) -> dict[str, Any]:
    """The managed URL as Mimecast returns it (rapid7 PR #2525 example fields)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else f"https://{url}")
    return {
        "id": mid,
        "url": url,
        "scheme": parts.scheme,
        "domain": parts.hostname or url,
        "port": parts.port or -1,
        "path": parts.path or "",
        "queryString": parts.query or "",
        "matchType": match_type,
        "action": action,
        "comment": item.get("comment", ""),
        "disableUserAwareness": bool(item.get("disableUserAwareness", False)),
        "disableRewrite": bool(item.get("disableRewrite", False)),
        "disableLogClick": bool(item.get("disableLogClick", False)),
    }


def _seed_archive(state: ActionsState, account: Account, world: World, rng: Any, now: float) -> None:
    profile = account.profile
    for n in range(ARCHIVE_MESSAGES):
        mid = new_id(state, account, "message")
        inbound = n % 3 != 2
        sender = pick(rng, profile.external_senders) if inbound else pick(rng, profile.users)
        rcpt = pick(rng, profile.users) if inbound else pick(rng, profile.external_senders)
        attachments: list[dict[str, Any]] = []
        for a in range(n % 3):
            name, ctype = _FILES[(n + a) % len(_FILES)]
            size = LARGE_FILE_BYTES if (n, a) == (1, 0) else 512 + rng.randrange(4096)
            fid = new_id(state, account, "file")
            content = _file_bytes(f"{account.client_id}|{n}|{a}", size)
            state.files[fid] = (name, content)
            attachments.append(
                {
                    "id": fid,
                    "filename": name,
                    "extension": name.rsplit(".", 1)[-1],
                    "contentType": ctype,
                    "size": size,
                    "sha256": hashlib.sha256(content).hexdigest(),
                }
            )
        received = now - 3600 * (n * 7 + 1)
        state.messages[mid] = {
            "id": mid,
            "messageId": f"<{rng.getrandbits(64):016x}.{n}@mail.{profile.domain}>",
            "subject": f"Archived message {n}: quarterly figures",
            "from": sender,
            "to": rcpt,
            "received": received,
            "route": "inbound" if inbound else "outbound",
            "senderIP": f"198.51.100.{10 + n}",
            "size": 2048 + 100 * n + sum(int(a["size"]) for a in attachments),
            "attachments": attachments,
        }
