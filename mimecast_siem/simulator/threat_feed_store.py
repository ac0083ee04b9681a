"""The threat-intel feed data: STIX 2.1 indicator versions of one tenant and ``feedType``, over time.

Each tenant has one feed per ``feedType`` (``malware_customer``: indicators seen at this customer;
``malware_grid``: across Mimecast's grid). Entries live in one-minute buckets keyed by their
``modified`` time. A share of entries are a new *version* of an indicator published earlier (same
``id``, later ``modified``), so a consumer must deduplicate by id and version, not by id alone.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from mimecast_siem.simulator.config import THREAT_FEEDS
from mimecast_siem.simulator.logstore import BUCKET_SECONDS, UID_SPAN, Bucket, BucketCache
from mimecast_siem.simulator.records import AccountProfile, derive_seed

#: How far back an update reaches for the indicator it revises, in buckets.
_UPDATE_REACH = 240
MIMECAST_IDENTITY = {
    "type": "identity",
    "spec_version": "2.1",
    "id": "identity--" + str(uuid.UUID(bytes=hashlib.blake2b(b"mimecast", digest_size=16).digest(), version=5)),
    "created": "2017-01-01T00:00:00.000Z",
    "modified": "2017-01-01T00:00:00.000Z",
    "name": "Mimecast",
    "identity_class": "organization",
}
_MALWARE_NAMES = ("Emotet", "QakBot", "AgentTesla", "FormBook", "IcedID", "Remcos", "AsyncRAT", "Lokibot")


def stix_time(ts: float) -> str:
    """STIX timestamp text: UTC, milliseconds, ``Z``."""
    whole = int(ts)
    millis = min(999, round((ts - whole) * 1000))
    return f"{_utc(whole)}.{millis:03d}Z"


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S")


class ThreatFeed:
    """One tenant's feed of one ``feedType``: indicator versions at ``rate`` per second.

    Args:
        stream: ``threat-intel-customer`` or ``threat-intel-grid``.
        rate: Feed entries per second.
        update_share: Share of entries that revise an earlier indicator.
        seed: World seed.
        profile: The tenant.
        origin: Epoch seconds of the oldest entry.
        cache: Shared bucket cache.
    """

    def __init__(
        self,
        stream: str,
        *,
        rate: float,
        update_share: float,
        seed: int,
        profile: AccountProfile,
        origin: int,
        cache: BucketCache,
    ) -> None:
        self.stream = stream
        self.feed_type = THREAT_FEEDS[stream]
        self.rate = rate
        self.update_share = update_share
        self._seed = seed
        self._profile = profile
        self.origin = origin
        self._cache = cache

    def bucket(self, index: int) -> Bucket:
        """Feed entries whose ``modified`` falls in minute ``index``, oldest first."""
        if self.rate <= 0 or (index + 1) * BUCKET_SECONDS <= self.origin:
            return Bucket()
        return self._cache.get((self._profile.client_id, self.stream, index), lambda: self._generate(index))

    def _slot(self, index: int, position: int) -> tuple[str, int, random.Random]:
        """The indicator born in slot ``(index, position)``: id, creation time and its own PRNG."""
        rng = random.Random(derive_seed(self._seed, self._profile.client_id, self.stream, "slot", index, position))
        digest = hashlib.blake2b(f"{self._seed}|{self._profile.client_id}|{self.stream}|{index}|{position}".encode(),
                                 digest_size=16).digest()  # fmt: skip
        created = index * BUCKET_SECONDS + int(rng.random() * BUCKET_SECONDS)
        return "indicator--" + str(uuid.UUID(bytes=digest, version=4)), created, rng

    def _indicator(self, index: int, position: int, modified: int, revision: int) -> dict[str, Any]:
        indicator_id, created, rng = self._slot(index, position)
        sha256 = f"{rng.getrandbits(256):064x}"
        md5 = f"{rng.getrandbits(128):032x}"
        sha1 = f"{rng.getrandbits(160):040x}"
        family = _MALWARE_NAMES[int(rng.random() * len(_MALWARE_NAMES))]
        if rng.random() < 0.3:
            pattern = (
                f"[file:hashes.'SHA-256' = '{sha256}' AND file:hashes.MD5 = '{md5}' AND file:hashes.'SHA-1' = '{sha1}']"
            )
        else:
            pattern = f"[file:hashes.'SHA-256' = '{sha256}']"
        record: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": indicator_id,
            "created_by_ref": MIMECAST_IDENTITY["id"],
            "created": stix_time(created),
            "modified": stix_time(max(modified, created)),
            "name": f"{family} sample {sha256[:12]}",
            "description": f"File seen in {'this account' if self.feed_type == 'malware_customer' else 'the Mimecast grid'}",
            "indicator_types": ["malicious-activity"],
            "labels": ["malicious-activity"],
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": stix_time(created),
            "confidence": min(100, 50 + 15 * revision + int(rng.random() * 20)),
        }
        return record

    def _generate(self, index: int) -> Bucket:
        rng = random.Random(derive_seed(self._seed, self._profile.client_id, self.stream, index))
        expected = self.rate * BUCKET_SECONDS
        count = int(expected * (0.7 + 0.6 * rng.random()) + rng.random())
        start = index * BUCKET_SECONDS
        bucket = Bucket()
        rows: list[tuple[int, int, dict[str, Any]]] = []
        for position in range(count):
            update = rng.random() < self.update_share
            back = 1 + int(rng.random() * _UPDATE_REACH)
            old_position = int(rng.random() * max(1, int(expected) + 1))
            revision = 1 + int(rng.random() * 3)
            if update and (index - back) * BUCKET_SECONDS >= self.origin:
                modified = start + int(rng.random() * BUCKET_SECONDS)
                record = self._indicator(index - back, old_position, modified, revision)
            else:
                _id, created, _rng = self._slot(index, position)
                record = self._indicator(index, position, created, 0)
                modified = created
            if modified < self.origin:
                continue
            rows.append((modified, index * UID_SPAN + position, record))
        rows.sort(key=lambda row: (row[0], row[1]))
        for modified, uid, record in rows:
            bucket.keys.append((modified, uid))
            bucket.visible_at.append(float(modified))
            bucket.records.append(record)
        return bucket
