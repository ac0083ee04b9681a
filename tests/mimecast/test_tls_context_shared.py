"""One TLS context per CA bundle for the whole process: 50 tenants must not hold 50 copies of the CA store."""

from __future__ import annotations

import os
from pathlib import Path

import trustme

from mimecast_siem.config.models import TenantSettings
from mimecast_siem.mimecast import MimecastClient


def _tenant(name: str, ca_bundle: Path | None = None) -> TenantSettings:
    return TenantSettings(
        name=name,
        base_url="https://api.services.mimecast.com",
        client_id=f"{name}-id",
        client_secret="a-client-secret-for-tests",
        ca_file=ca_bundle,
    )


def test_tenants_with_the_same_trust_share_one_context() -> None:
    first = MimecastClient(_tenant("acme"))._ssl_context()
    second = MimecastClient(_tenant("globex"))._ssl_context()
    assert first is second


def test_a_ca_bundle_gets_its_own_context_and_a_new_one_when_the_file_changes(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    default = MimecastClient(_tenant("acme"))._ssl_context()
    custom = MimecastClient(_tenant("globex", bundle))._ssl_context()
    assert custom is not default
    assert MimecastClient(_tenant("initech", bundle))._ssl_context() is custom
    trustme.CA().cert_pem.write_to_path(str(bundle))  # rotated on disk
    stat = bundle.stat()
    os.utime(bundle, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert MimecastClient(_tenant("globex", bundle))._ssl_context() is not custom
