"""aiohttp's default TLS contexts load the system's CA store on first use, and still verify (net.py)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from mimecast_siem.net import lazy_ca_context_class, lazy_default_context

REPO = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: aiohttp must not have been imported yet.
_INSPECT = """
import json, ssl, sys
from mimecast_siem.net import defer_aiohttp_default_tls, lazy_ca_context_class
defer_aiohttp_default_tls()
defer_aiohttp_default_tls()  # idempotent
import aiohttp
from aiohttp import connector
verified, unverified = connector._SSL_CONTEXT_VERIFIED, connector._SSL_CONTEXT_UNVERIFIED
lazy = lazy_ca_context_class()
before = {
    "verified_lazy": isinstance(verified, lazy),
    "verified_pending": bool(verified.__dict__.get("_ca_store_pending")),
    "unverified_lazy": isinstance(unverified, lazy),
    "unverified_mode": int(unverified.verify_mode),
    "unverified_hostname": unverified.check_hostname,
    "unverified_store": unverified.cert_store_stats()["x509_ca"],
}
reference = ssl.create_default_context()
after = {
    "ssl_restored": type(reference) is ssl.SSLContext and "set_default_verify_paths" not in vars(ssl.SSLContext),
    "hooks_left": [type(f).__name__ for f in sys.meta_path if type(f).__module__ == "mimecast_siem.net"],
    "annotation_class": connector.SSLContext is ssl.SSLContext,
    "store_loaded": verified.cert_store_stats() == reference.cert_store_stats(),
    "same_cas": verified.get_ca_certs() == reference.get_ca_certs(),
    "pending_after_use": bool(verified.__dict__.get("_ca_store_pending")),
}
json.dump({"before": before, "after": after}, sys.stdout)
"""


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_the_default_contexts_wait_for_their_first_use_and_then_hold_the_system_store() -> None:
    proc = _run(_INSPECT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["before"] == {
        "verified_lazy": True,
        "verified_pending": True,  # nothing loaded at import
        "unverified_lazy": False,
        "unverified_mode": int(ssl.CERT_NONE),
        "unverified_hostname": False,
        "unverified_store": 0,  # verifies nothing: no store loaded
    }
    assert result["after"] == {
        "ssl_restored": True,
        "hooks_left": [],
        "annotation_class": True,
        "store_loaded": True,
        "same_cas": True,
        "pending_after_use": False,
    }


def test_the_lazy_default_context_is_the_standard_library_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "keys.log"))
    ours, reference = lazy_default_context(), ssl.create_default_context()
    assert ours.keylog_filename == str(tmp_path / "keys.log")
    assert isinstance(ours, lazy_ca_context_class())
    for name in (
        "protocol",
        "options",
        "verify_mode",
        "verify_flags",
        "check_hostname",
        "minimum_version",
        "maximum_version",
        "post_handshake_auth",
        "keylog_filename",
        "hostname_checks_common_name",
    ):
        assert getattr(ours, name) == getattr(reference, name), name
    assert [c["name"] for c in ours.get_ciphers()] == [c["name"] for c in reference.get_ciphers()]
    assert ours.get_ca_certs() == reference.get_ca_certs()


_FETCH = """
import asyncio, ssl, sys
from mimecast_siem.net import defer_aiohttp_default_tls
defer_aiohttp_default_tls()
import aiohttp
from aiohttp import web

async def main() -> str:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(sys.argv[1], sys.argv[2])
    app = web.Application()
    app.router.add_get("/", lambda request: web.Response(text="hello"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:  # no context given: aiohttp's default one
            try:
                async with session.get(f"https://127.0.0.1:{port}/") as response:
                    return await response.text()
            except aiohttp.ClientConnectorCertificateError:
                return "certificate refused"
    finally:
        await runner.cleanup()

print(asyncio.run(main()))
"""


def test_aiohttp_s_default_context_still_verifies_against_the_default_store(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued = ca.issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}

    # The default store (here: SSL_CERT_FILE, read when the store is loaded) trusts the test CA.
    trusted = _run(_FETCH, str(cert), str(key), env={**env, "SSL_CERT_FILE": str(ca_file)})
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.strip() == "hello"

    # The system's store does not: the handshake is refused, as without the deferral.
    refused = _run(_FETCH, str(cert), str(key), env=env)
    assert refused.returncode == 0, refused.stderr
    assert refused.stdout.strip() == "certificate refused"
