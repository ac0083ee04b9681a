"""Realistic records for each stream, built from a seeded PRNG (pure: same inputs, same record).

Field names and value sets follow mimecast-api.md section 4. Domains are ``example.com``-style,
IP addresses come from the documentation ranges (RFC 5737). Each tenant (API app) has its own
:class:`AccountProfile` derived from the seed and its client id.
"""

from __future__ import annotations

import base64
import hashlib
import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

RecordBuilder = Callable[[random.Random, int, str, "AccountProfile"], dict[str, Any]]

_COMPANIES = (
    "northwind", "contoso", "fabrikam", "tailspin", "woodgrove", "litware", "wingtip", "proseware",
    "fourthcoffee", "alpineski", "blueyonder", "coho", "lucerne", "margie", "trey", "wideworld",
)  # fmt: skip
_FIRST = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara", "zoe", "omar",
    "priya", "chen", "fatima", "lars", "ines", "kofi", "mei", "sven",
)  # fmt: skip
_LAST = (
    "smith", "jones", "garcia", "miller", "davis", "lopez", "wilson", "anders", "taylor", "thomas",
    "moore", "martin", "lee", "walker", "hall", "young", "king", "wright", "scott", "green",
)  # fmt: skip
_EXTERNAL_WORDS = (
    "acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne", "tyrell",
    "cyberdyne", "soylent", "aperture", "massive", "oscorp", "gringotts", "duff", "monarch", "prestige",
)  # fmt: skip
_TLDS = ("example.net", "example.org", "example.com")
_SUBJECTS = (
    "Invoice {n} overdue", "RE: Project update", "Quarterly report Q{q}", "Your parcel {n} is on its way",
    "Action required: password expiry", "Meeting notes", "FW: Contract draft v{q}", "Payment confirmation {n}",
    "Shared document: budget {q}", "Urgent wire transfer", "Welcome to the team", "New voicemail ({q} min)",
)  # fmt: skip
_PATHS = ("login", "invoice", "docs/view", "download/setup.exe", "track", "s/share", "account/verify", "news")
_CLEAN_CATEGORIES = ("Business", "Computers and Technology", "News and Media", "Shopping", "Finance")
_BAD_CATEGORIES = ("Phishing & Fraud", "Malware", "Dangerous file extension", "Suspicious")
_FILES = (
    ("invoice.pdf", "application/pdf"),
    ("report.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("setup.exe", "application/x-dosexec"),
    ("scan.zip", "application/zip"),
    ("letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("macro.xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12"),
)
_IDENTIFIERS = (
    "newly_observed_domain", "internal_user_name", "reply_address_mismatch", "targeted_threat_dictionary",
    "similar_internal_domain", "custom_external_domain", "mimecast_external_domain", "custom_name_list",
)  # fmt: skip
_AUDIT_TYPES = (
    ("Logon Authentication Failed", "authentication_logs"),
    ("Logon Authentication Succeeded", "authentication_logs"),
    ("Policy Definition Updated", "policy_logs"),
    ("Held Message Released", "account_logs"),
    ("Search Performed", "archive_service_logs"),
    ("Threat Intel Feed Download", "reporting_logs"),
    ("API Application Key Created", "integrations_and_apis"),
    ("Journal Connector Updated", "journaling_logs"),
    ("Awareness Training Assigned", "awareness_training_logs"),
    ("Continuity Event Started", "continuity_services_logs"),
)
_HOLD_REASONS = (
    ("Message Hold Applied - Spam Signature policy", "Relaxed Spam Detection", "administrator"),
    ("Message Hold Applied - Attachment Management policy",
     "Default Attachment Management Definition - Block Dangerous File Types", "administrator"),
    ("Message Hold Applied - Content Examination policy", "Confidential Content Review", "moderator"),
    ("Message Hold Applied - Impersonation Protect policy", "Impersonation Protect - Hold", "administrator"),
    ("Message Hold Applied - Suspected Malware", "Default Anti-Virus Definition", "administrator"),
    ("Message Hold Applied - Moderated Distribution List", "All Staff Moderation", "moderator"),
)  # fmt: skip
_REJECT_REASONS = (
    "MESSAGE CONTAINS UNDESIRABLE CONTENT", "MESSAGE CONTAINS CONFIDENTIAL INFORMATION",
    "REVIEWER DISAPPROVES OF CONTENT", "INAPPROPRIATE COMMUNICATION", "MESSAGE GOES AGAINST EMAIL POLICIES",
)  # fmt: skip


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from any parts, stable across processes and Python versions."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def pick(rng: random.Random, items: Sequence[T]) -> T:
    """One element, cheaper than ``rng.choice`` on the hot path."""
    return items[int(rng.random() * len(items))]


def opaque_id(text: str, prefix: str = "") -> str:
    """An id shaped like Mimecast's (base64 of zlib data, ``eNp...``), decodable by :func:`decode_id`."""
    return prefix + base64.urlsafe_b64encode(zlib.compress(text.encode(), 9)).decode().rstrip("=")


def decode_id(value: str, prefix: str = "") -> str | None:
    """The text inside an :func:`opaque_id`, or ``None`` when ``value`` is not one."""
    if not value.startswith(prefix):
        return None
    body = value[len(prefix) :]
    try:
        return zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))).decode()
    except (ValueError, zlib.error, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class AccountProfile:
    """The people and domains of one tenant, derived from the seed and the client id."""

    client_id: str
    company: str
    domain: str
    users: tuple[str, ...]
    external_senders: tuple[str, ...]
    external_domains: tuple[str, ...]
    own_mailbox: str
    admins: tuple[str, ...]

    @classmethod
    def build(cls, seed: int, client_id: str) -> AccountProfile:
        """Derive a tenant's profile deterministically."""
        rng = random.Random(derive_seed(seed, client_id, "profile"))
        company = pick(rng, _COMPANIES)
        domain = f"{company}.example.com"
        users = tuple(sorted({f"{pick(rng, _FIRST)}.{pick(rng, _LAST)}@{domain}" for _ in range(60)}))
        ext_domains = tuple(
            sorted({f"{pick(rng, _EXTERNAL_WORDS)}-{rng.randrange(10, 99)}.{pick(rng, _TLDS)}" for _ in range(24)})
        )
        senders = tuple(f"{pick(rng, _FIRST)}{rng.randrange(1, 99)}@{pick(rng, ext_domains)}" for _ in range(80))
        admins = (f"it.admin@{domain}", f"secops@{domain}", f"{users[0]}")
        return cls(client_id, company, domain, users, senders, ext_domains, f"api-integration@{domain}", admins)


def _int(rng: random.Random, low: int, high: int) -> int:
    """An integer in ``[low, high)``: ``randrange`` is several times slower on the hot path."""
    return low + int(rng.random() * (high - low))


_IP_PREFIXES = ("192.0.2", "198.51.100", "203.0.113")


def _ip(rng: random.Random) -> str:
    r = rng.random
    return f"{_IP_PREFIXES[int(r() * 3)]}.{1 + int(r() * 254)}"


def _subject(rng: random.Random) -> str:
    r = rng.random
    return _SUBJECTS[int(r() * len(_SUBJECTS))].format(n=10000 + int(r() * 90000), q=1 + int(r() * 4))


def _message_id(rng: random.Random, domain: str) -> str:
    return f"<{rng.getrandbits(64):016x}-{int(rng.random() * 1_000_000)}@mail.{domain}>"


def _route(rng: random.Random) -> str:
    r = rng.random()
    return "inbound" if r < 0.8 else "outbound" if r < 0.9 else "internal"


def _parties(rng: random.Random, route: str, profile: AccountProfile) -> tuple[str, str]:
    """(sender, recipient) for a route."""
    user = pick(rng, profile.users)
    if route == "inbound":
        return pick(rng, profile.external_senders), user
    if route == "outbound":
        return user, pick(rng, profile.external_senders)
    return pick(rng, profile.users), user


_HOST_PREFIXES = ("www", "portal", "cdn", "secure", "login")
_PARTS = ("Body", "Attachment", "Subject")
_CREATION = ("User Click", "Entry Scan")
_BLOCK_ACTIONS = ("block", "warn")


def ttp_url_record(rng: random.Random, ts: int, date: str, profile: AccountProfile) -> dict[str, Any]:
    """One ``clickLogs`` record (mimecast-api.md section 4.1). No id, like the real thing."""
    route = _route(rng)
    sender, user = _parties(rng, route, profile)
    r = rng.random
    malicious = r() < 0.12
    domains = profile.external_domains
    host = f"{_HOST_PREFIXES[int(r() * 5)]}.{domains[int(r() * len(domains))]}"
    url = f"https://{host}/{_PATHS[int(r() * len(_PATHS))]}?id={rng.getrandbits(30):x}"
    if malicious:
        action, actions, category = _BLOCK_ACTIONS[int(r() * 2)], "Block", pick(rng, _BAD_CATEGORIES)
        tag_map: dict[str, Any] = {
            "DangerousFileExt": {"Status": ["CustomerSpecific", "VerdictBlock"], "Inspect:FileExts": ["[exe]"]}
        }
    else:
        action, actions, category = "allow", "Allow", pick(rng, _CLEAN_CATEGORIES)
        tag_map = {}
    return {
        "userEmailAddress": user,
        "fromUserEmailAddress": sender,
        "url": url,
        "ttpDefinition": f"Default {route.capitalize()} URL Protect Definition",
        "subject": _subject(rng),
        "action": action,
        "adminOverride": "N/A",
        "userOverride": "None",
        "scanResult": "malicious" if malicious else "clean",
        "category": category,
        "sendingIp": _ip(rng),
        "userAwarenessAction": "N/A",
        "date": date,
        "actions": actions,
        "route": route,
        "creationMethod": _CREATION[int(r() * 2)],
        "emailPartsDescription": [_PARTS[int(r() * 3)]],
        "messageId": _message_id(rng, profile.domain),
        "tagMap": tag_map,
    }


_ATTACHMENT_RESULTS = ("clean", "clean", "clean", "clean", "malicious", "unknown", "timeout", "safe")


def ttp_attachment_record(rng: random.Random, ts: int, date: str, profile: AccountProfile) -> dict[str, Any]:
    """One ``attachmentLogs`` record (mimecast-api.md section 4.2)."""
    r = rng.random()
    route = "inbound" if r < 0.75 else "outbound" if r < 0.85 else "internal" if r < 0.95 else "external"
    sender, recipient = _parties(rng, route if route != "external" else "inbound", profile)
    result = pick(rng, _ATTACHMENT_RESULTS)
    file_name, file_type = pick(rng, _FILES)
    seconds = _int(rng, 1, 240)
    return {
        "senderAddress": sender,
        "recipientAddress": recipient,
        "fileName": file_name,
        "fileType": file_type,
        "result": result,
        "actionTriggered": "sandbox" if result == "malicious" else "none",
        "date": date,
        "details": f"{result.capitalize()} \r\nTime taken: 0 hrs, {seconds // 60} min, {seconds % 60} sec",
        "route": route,
        "messageId": _message_id(rng, profile.domain),
        "subject": _subject(rng),
        "fileHash": f"{rng.getrandbits(256):064x}",
        "definition": f"Default {route.capitalize()} Attachment Protect Definition",
    }


def ttp_impersonation_record(rng: random.Random, ts: int, date: str, profile: AccountProfile) -> dict[str, Any]:
    """One ``impersonationLogs`` record (section 4.3); about one in five has string results (quirk 12)."""
    target = pick(rng, profile.users)
    name = target.split("@", 1)[0].replace(".", " ").title()
    identifiers = sorted({pick(rng, _IDENTIFIERS) for _ in range(1 + int(rng.random() * 2))})
    hits = len(identifiers)
    action = pick(rng, ("none", "none", "hold", "bounce"))
    sender = f"{target.split('@', 1)[0]}.{_int(rng, 10, 99)}@{pick(rng, profile.external_domains)}"
    results: list[Any]
    if rng.random() < 0.2:
        results = list(identifiers)
    else:
        results = [
            {
                "impersonationDomainSource": ident,
                "similarDomain": f"{name} <{sender}>",
                "stringSimilarToDomain": name,
                "checkerResult": "hit",
            }
            for ident in identifiers
        ]
    return {
        "id": opaque_id(f"imp:{profile.client_id}:{ts}:{rng.getrandbits(48)}", prefix="MTOKEN:"),
        "senderAddress": sender,
        "recipientAddress": target,
        "subject": _subject(rng),
        "definition": f"IP - {hits} hit{'s' if hits > 1 else ''} ({'Hold' if action == 'hold' else 'Tag email'})",
        "hits": hits,
        "identifiers": identifiers,
        "action": action,
        "taggedExternal": rng.random() < 0.7,
        "taggedMalicious": rng.random() < 0.4,
        "senderIpAddress": _ip(rng),
        "eventTime": date,
        "impersonationResults": results,
        "messageId": _message_id(rng, pick(rng, profile.external_domains)),
    }


def audit_record(rng: random.Random, ts: int, date: str, profile: AccountProfile) -> dict[str, Any]:
    """One audit event (section 4.7): flat, with an ``id``."""
    audit_type, category = pick(rng, _AUDIT_TYPES)
    user = pick(rng, profile.admins)
    ip = _ip(rng)
    time_part = date[11:19]
    return {
        "id": opaque_id(f"audit:{profile.client_id}:{ts}:{rng.getrandbits(48)}"),
        "auditType": audit_type,
        "user": user,
        "eventTime": date,
        "eventInfo": f"{audit_type} - {user}, Date: {date[:10]}, Time: {time_part}+0000, IP: {ip}, Application: "
        f"{pick(rng, ('Administration Console', 'Integrations', 'Mimecast Personal Portal'))}",
        "category": category,
    }


#: Record builders of the rated log streams.
BUILDERS: dict[str, RecordBuilder] = {
    "ttp-url": ttp_url_record,
    "ttp-attachment": ttp_attachment_record,
    "ttp-impersonation": ttp_impersonation_record,
    "audit": audit_record,
}


def held_message_record(
    rng: random.Random, message_id: str, date: str, own: bool, profile: AccountProfile
) -> tuple[dict[str, Any], str]:
    """A held-message list entry (section 4.4) and its held group (for ``filterBy heldGroup``)."""
    reason, policy, group = pick(rng, _HOLD_REASONS)
    route = _route(rng)
    sender, recipient = _parties(rng, route, profile)
    if own:
        recipient = profile.own_mailbox
    reason_id = reason.upper().replace(" - ", "_").replace(" ", "_")
    record = {
        "id": message_id,
        "reason": reason,
        "reasonId": reason_id,
        "reasonCode": reason_id.lower(),
        "from": {"emailAddress": sender, "displayableName": ""},
        "fromHeader": {"emailAddress": sender, "displayableName": ""},
        "to": {"emailAddress": recipient, "displayableName": recipient.split("@", 1)[0]},
        "subject": _subject(rng),
        "route": route.upper(),
        "hasAttachments": rng.random() < 0.3,
        "size": _int(rng, 2_000, 2_000_000),
        "dateReceived": date,
        "policyInfo": policy,
    }
    return record, group


def release_log_record(
    held: dict[str, Any], outcome: str, released: str, operator: str, rng: random.Random
) -> dict[str, Any]:
    """A ``heldReleaseLogs`` record (section 4.10) for a message that left the held queue.

    Expired holds are reported as ``rejected`` by housekeeping: the sources document only the two
    statuses ``released`` and ``rejected`` while saying expired items are included.
    """
    spam_score = _int(rng, 0, 30)
    rejected = outcome != "released"
    return {
        "id": held["id"],
        "status": "rejected" if rejected else "released",
        "rejectReason": ("Expired by housekeeping" if outcome == "expired" else pick(rng, _REJECT_REASONS))
        if rejected
        else None,
        "heldReason": held["reason"],
        "messageInfo": held["subject"],
        "released": released,
        "operator": {"emailAddress": operator},
        "fromEnv": {"emailAddress": held["from"]["emailAddress"]},
        "fromHdr": {"emailAddress": held["fromHeader"]["emailAddress"]},
        "to": [{"emailAddress": held["to"]["emailAddress"]}],
        "subject": held["subject"],
        "attachments": held["hasAttachments"],
        "route": held["route"].lower(),
        "size": held["size"],
        "policy": held["policyInfo"],
        "spamScore": spam_score,
        "detectionLevel": pick(rng, ("relaxed", "moderate", "aggressive")),
        "spamProcessingDetail": {
            "rbl": {"allow": True, "info": ""},
            "greyEmail": False,
            "spf": {"allow": True, "info": "SPF_PASS"},
            "dkim": {"allow": True, "info": "DKIM_PASS"},
            "dmarc": {"allow": True, "info": "DMARC_PASS"},
            "permittedSender": {"allow": False, "info": ""},
            "managedSender": {"allow": False, "info": ""},
            "verdict": {"decision": "HOLD", "risk": pick(rng, ("low", "medium", "high")), "categories": []},
        },
    }
