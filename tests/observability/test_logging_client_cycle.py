"""A real client cycle at DEBUG against the simulator: token exchange, paging, token expiry, a refused login.

Loads the secret from the environment like the daemon, logs everything at DEBUG (ours and aiohttp's)
and checks that neither the client secret nor any access token the simulator issued is in the output.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from mimecast_siem.config import load_settings
from mimecast_siem.errors import AuthError
from mimecast_siem.mimecast import MimecastClient, format_mimecast_time, reset_limiters
from mimecast_siem.observability import bind_context, clear_context, configure_logging, redactor, reset_logging
from mimecast_siem.simulator import RunningSimulator

log = logging.getLogger("mimecast_siem.tests")


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    redactor().clear()
    reset_limiters()
    yield
    reset_logging()
    root.setLevel(level)
    redactor().clear()
    clear_context()
    reset_limiters()


def write_config(tmp_path: Path, url: str, client_id: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"tenants:\n  - name: acme\n    base_url: {url}\n    client_id: {client_id}\n"
        "    client_secret: ${SIM_SECRET}\n",
        encoding="utf-8",
    )
    return path


async def test_client_cycle_at_debug_leaks_no_secret(simulator: RunningSimulator, tmp_path: Path) -> None:
    client_id, client_secret = simulator.apps[0]
    settings = load_settings(write_config(tmp_path, simulator.url, client_id), env={"SIM_SECRET": client_secret})
    out = io.StringIO()
    configure_logging("DEBUG", "json", stream=out)
    now = simulator.world.clock.now()
    window = {"from": format_mimecast_time(now - timedelta(minutes=10)), "to": format_mimecast_time(now)}
    records = 0
    with bind_context(tenant="acme", stream="ttp-url"):
        async with MimecastClient(settings.tenants[0]) as client:
            await client.authenticate()
            async for page in client.pages("/api/ttp/url/get-logs", item=window, page_size=20, record_key="clickLogs"):
                records += len(page.records)
                log.debug("Page fetched.", extra={"records": len(page.records), "headers": dict(page.response.headers)})
            # Expire every token the simulator issued: the next call must refresh and replay.
            issued = list(simulator.world.tokens._tokens)
            for token in issued:
                simulator.world.tokens.expire(token)
            await client.request("/api/ttp/url/get-logs", data=[window])
    assert records > 0
    issued = list(simulator.world.tokens._tokens)  # the simulator's record of every token it handed out
    assert len(issued) >= 2  # at least one refresh happened
    # The client registered each token it obtained: even a careless line naming them is clean.
    log.debug("Careless debug line with tokens %s and body client_secret=%s", issued, client_secret)

    wrong = settings.tenants[0].model_copy(
        update={"client_secret": type(settings.tenants[0].client_secret)("wrong-secret-5e6f7a8b")}
    )
    refused = False
    async with MimecastClient(wrong) as client:
        try:
            await client.authenticate()
        except AuthError:
            refused = True
            log.exception("Login refused for acme with %s.", "wrong-secret-5e6f7a8b")
    assert refused

    text = out.getvalue()
    lines = [orjson.loads(line) for line in text.splitlines()]
    assert any(line["level"] == "debug" for line in lines)
    assert any(line.get("tenant") == "acme" for line in lines)
    assert any("Traceback" in line.get("exc", "") for line in lines)
    for secret in [client_secret, "wrong-secret-5e6f7a8b", *issued]:
        assert secret not in text, f"{secret[:4]}... leaked"
