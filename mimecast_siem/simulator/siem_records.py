"""SIEM (MTA) log records of API 2.0, built per minute from a shared message list (pure, seeded).

Every message of a minute passes through the gateway's stages: one ``receipt`` record, a
``process`` record when accepted, one or more ``delivery`` records (retries are extra delivery lines
of the same message), and - for some messages - ``av``, ``spam``, ``internal email protect``,
``impersonation protect``, ``url protect``, ``attachment protect`` and ``journal`` records. All
stages of a message share its ``aggregateId`` and ``processingId`` (mimecast-api.md section 4.8).

The field quirks of the real records are kept: ``timestamp`` in epoch milliseconds, numbers as
strings (``"spamScore": "21"``), JSON inside strings (``spamProcessingDetail``, ``spamInfo``),
``null`` for absent values, and no ``id``.
"""

from __future__ import annotations

import base64
import hashlib
import random
from typing import Any

import orjson

from mimecast_siem.simulator.records import AccountProfile, derive_seed, pick

#: The API's type names, in a fixed order (mimecast-api.md section 4.8, Sentinel ``SEG_CG_TYPES``).
SIEM_TYPES: tuple[str, ...] = (
    "receipt",
    "process",
    "delivery",
    "av",
    "spam",
    "internal email protect",
    "impersonation protect",
    "url protect",
    "attachment protect",
    "journal",
)

#: File-name prefix per type (Sentinel's file prefixes).
FILE_PREFIXES: dict[str, str] = {
    "receipt": "email_receipt",
    "process": "email_process",
    "delivery": "email_delivery",
    "av": "email_antivirus",
    "spam": "email_spam",
    "internal email protect": "email_iep",
    "impersonation protect": "email_ttp_impersonation",
    "url protect": "email_ttp_url",
    "attachment protect": "email_ttp_ap",
    "journal": "email_journal",
}


def siem_stream_name(siem_type: str) -> str:
    """Ground-truth stream name of a type: ``siem-receipt``, ``siem-url-protect`` ..."""
    return "siem-" + siem_type.replace(" ", "-")


#: Ground-truth stream name -> API type name.
SIEM_STREAMS: dict[str, str] = {siem_stream_name(t): t for t in SIEM_TYPES}

_TLS = (("TLSv1.3", "TLS_AES_256_GCM_SHA384"), ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384"), (None, None))
_FILES = (
    ("invoice.pdf", "pdf"),
    ("report.xlsx", "xlsx"),
    ("setup.exe", "exe"),
    ("scan.zip", "zip"),
    ("letter.docx", "docx"),
)
_URL_CATEGORIES = ("Business", "Phishing & Fraud", "Malware", "Shopping", "News and Media")
_HOLD_REASONS = ("Spm", "Av", "Pol", None)


def _ip(rng: random.Random) -> str:
    return f"{pick(rng, ('192.0.2', '198.51.100', '203.0.113'))}.{1 + int(rng.random() * 250)}"


def _hex(rng: random.Random, nbytes: int) -> str:
    return rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()


def _token(rng: random.Random, epoch: int) -> str:
    raw = rng.getrandbits(128).to_bytes(16, "big")
    return f"{base64.urlsafe_b64encode(raw).decode().rstrip('=')}_{epoch}"


def minute_records(
    seed: int, profile: AccountProfile, index: int, rate: float
) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Every SIEM record of minute ``index`` per type, as ``(epoch ms, record)`` in time order (pure).

    ``rate`` is messages per second. Stage timestamps stay inside the minute.
    """
    rng = random.Random(derive_seed(seed, profile.client_id, "siem", index))
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {t: [] for t in SIEM_TYPES}
    expected = rate * 60
    count = int(expected * (0.7 + 0.6 * rng.random()) + rng.random())
    base_ms = index * 60_000
    account_id = "C" + hashlib.sha256(profile.client_id.encode()).hexdigest()[:8].upper()
    for position in range(count):
        r = rng.random
        t0 = base_ms + int(r() * 48_000)
        epoch = t0 // 1000
        aggregate = _token(rng, epoch)
        processing = _token(rng, epoch)
        inbound = r() < 0.7
        internal_user = pick(rng, profile.users)
        external = pick(rng, profile.external_senders)
        sender, recipient = (external, internal_user) if inbound else (internal_user, external)
        direction = "Inbound" if inbound else "Outbound"
        message_id = f"<{_hex(rng, 6)}-{position}@{sender.split('@', 1)[1]}>"
        subject = pick(rng, ("Invoice overdue", "Meeting notes", "Quarterly report", "Urgent wire transfer", "Hello"))
        tls_version, tls_cipher = pick(rng, _TLS)
        sender_ip = _ip(rng)
        spam_score = int(r() * 30)
        rejected = r() < 0.05
        n_files = 1 if r() < 0.3 else 0
        file_name, file_ext = pick(rng, _FILES)
        sha256, sha1, md5 = _hex(rng, 32), _hex(rng, 20), _hex(rng, 16)
        size = 2_000 + int(r() * 500_000)
        common = {"accountId": account_id, "aggregateId": aggregate, "processingId": processing}
        spf_ok = r() < 0.9
        detail = {
            "spf": {"allow": spf_ok, "info": "ALLOW" if spf_ok else "FAIL"},
            "dkim": {"allow": True, "info": "ALLOW"},
            "dmarc": {"allow": spf_ok, "info": "ALLOW" if spf_ok else "QUARANTINE"},
            "greyEmail": False,
            "rbl": {"allow": True, "info": ""},
        }
        offset = [0]

        def add(
            kind: str,
            at: int,
            subtype: str,
            fields: dict[str, Any],
            _offset: list[int] = offset,
            _pos: int = position,
            _common: dict[str, Any] = common,
        ) -> None:
            _offset[0] += 1
            record = {
                "_offset": index * 1000 + _pos * 10 + _offset[0],
                "_partition": int(derive_seed(kind, index) % 64),
                **_common,
                **fields,
                "subtype": subtype,
                "timestamp": at,
                "type": kind,
            }
            out[kind].append((at, record))

        add(
            "receipt",
            t0,
            "Rej" if rejected else "Acc",
            {
                "action": "Rej" if rejected else "Acc",
                "direction": direction,
                "messageId": message_id,
                "numberAttachments": str(n_files),
                "receiptErrors": None,
                "recipients": recipient,
                "rejectionCode": "550" if rejected else None,
                "rejectionInfo": "Envelope rejected" if rejected else None,
                "rejectionType": "Envelope Rejected" if rejected else None,
                "senderEnvelope": sender,
                "senderHeader": sender,
                "senderIp": sender_ip,
                "spamDetectionLevel": str(int(r() * 10)),
                "spamInfo": "[]",
                "spamProcessingDetail": orjson.dumps(detail).decode(),
                "spamScore": str(spam_score),
                "subject": subject,
                "tlsCipher": tls_cipher,
                "tlsVersion": tls_version,
                "virusFound": None,
            },
        )
        if rejected:
            continue
        held = r() < 0.08
        t1 = t0 + 200 + int(r() * 2000)
        add(
            "process",
            t1,
            "Hld" if held else "Acc",
            {
                "action": "Hld" if held else "Acc",
                "attachments": file_name if n_files else None,
                "direction": direction,
                "emailSize": str(size),
                "holdReason": pick(rng, _HOLD_REASONS) if held else None,
                "messageId": message_id,
                "numberAttachments": str(n_files),
                "recipients": recipient,
                "senderEnvelope": sender,
                "subject": subject,
                "totalSizeAttachments": str(size // 2 if n_files else 0),
            },
        )
        if r() < 0.35:
            add("spam", t1 + 10, "Spam", {
                "direction": direction, "recipients": recipient, "route": direction.lower(),
                "senderDomain": sender.split("@", 1)[1], "senderEnvelope": sender, "senderIp": sender_ip,
                "spamScore": str(spam_score), "subject": subject,
                "taggedExternal": "true" if inbound else "false", "taggedMalicious": "true" if spam_score > 25 else "false",
            })  # fmt: skip
        if n_files:
            virus = r() < 0.1
            add("av", t1 + 20, "Virus" if virus else "Clean", {
                "direction": direction, "fileExtension": file_ext, "fileName": file_name, "md5": md5,
                "recipients": recipient, "senderEnvelope": sender, "sha1": sha1, "sha256": sha256,
                "subject": subject, "virusFound": "Win.Trojan.Agent" if virus else None,
            })  # fmt: skip
            add("attachment protect", t1 + 30, "Malicious" if virus else "Safe", {
                "action": "Block" if virus else "Allow", "fileExtension": file_ext, "fileName": file_name,
                "fileSize": str(size // 2), "md5": md5, "recipients": recipient, "senderEnvelope": sender,
                "sha1": sha1, "sha256": sha256, "subject": subject,
            })  # fmt: skip
        if inbound and r() < 0.25:
            bad = r() < 0.2
            host = pick(rng, profile.external_domains)
            add("url protect", t1 + 40, "Block" if bad else "Allow", {
                "action": "Block" if bad else "Allow", "recipients": recipient, "senderEnvelope": sender,
                "subject": subject, "url": f"https://{host}/login?id={rng.getrandbits(24):x}",
                "urlCategory": pick(rng, _URL_CATEGORIES),
            })  # fmt: skip
        if inbound and r() < 0.1:
            add("impersonation protect", t1 + 50, "Hit", {
                "action": "Hold", "policyDefinition": "Impersonation Protect - Hold", "recipients": recipient,
                "senderEnvelope": sender, "senderIp": sender_ip, "similarDomain": profile.domain.replace("o", "0", 1),
                "subject": subject, "taggedExternal": "true", "taggedMalicious": "true",
            })  # fmt: skip
        if not inbound and r() < 0.2:
            add("internal email protect", t1 + 60, "Allow", {
                "monitoredDomainSource": "internal", "recipients": recipient, "scanResults": "clean",
                "senderEnvelope": sender, "similarDomain": None, "subject": subject,
                "urlCategory": pick(rng, _URL_CATEGORIES),
            })  # fmt: skip
        if held:
            continue
        attempts = 1 + (r() < 0.1)
        t2 = t1 + 300
        for attempt in range(1, attempts + 1):
            ok = attempt == attempts
            t2 += 500 + int(r() * 3000)
            add("delivery", t2, "Delivery" if ok else "Retry", {
                "Hostname": "mx." + (recipient.split("@", 1)[1]), "delivered": "true" if ok else "false",
                "deliveryAttempts": str(attempt), "deliveryErrors": None if ok else "421 4.7.0 Try again later",
                "deliveryTime": str(100 + int(r() * 900)), "destinationIp": _ip(rng), "direction": direction,
                "emailSize": str(size), "messageId": message_id, "recipients": recipient,
                "route": direction.lower(), "senderEnvelope": sender, "tlsCipher": tls_cipher,
                "tlsUsed": "Yes" if tls_version else "No", "tlsVersion": tls_version,
            })  # fmt: skip
        if r() < 0.15:
            add("journal", t2 + 100, "Journal", {
                "direction": direction, "messageId": message_id, "recipients": recipient,
                "senderEnvelope": sender, "subject": subject,
            })  # fmt: skip
    for records in out.values():
        records.sort(key=lambda pair: pair[0])
    return out
