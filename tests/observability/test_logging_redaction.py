"""Secrets never reach a log line: messages, arguments, extras, context, exceptions, tracebacks, DEBUG."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mimecast_siem.observability import (
    MASK,
    Redactor,
    bind_context,
    clear_context,
    configure_logging,
    redactor,
    register_secret,
    reset_logging,
    scrub,
)

CLIENT_SECRET = "cs-9f8e7d6c5b4a3928"
ACCESS_TOKEN = "at-0a1b2c3d4e5f60718293"
HEC_TOKEN = "0c6f3f1e-9b8a-4c1d-8e2f-7a6b5c4d3e2f"
DB_PASSWORD = "db+pass/word=42xyz"
SECRETS = (CLIENT_SECRET, ACCESS_TOKEN, HEC_TOKEN, DB_PASSWORD)

log = logging.getLogger("mimecast_siem.mimecast")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    redactor().clear()
    clear_context()
    yield
    reset_logging()
    root.setLevel(level)
    redactor().clear()
    clear_context()


def forms(secret: str) -> list[str]:
    """The forms a secret can take in a line: raw, URL-encoded, base64, JSON-escaped."""
    raw = secret.encode()
    return [
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in text, f"{form!r} leaked"


def log_everything() -> None:
    """Secrets in every place a log call can carry them, at DEBUG."""
    log.debug("Token request body: client_id=acme&client_secret=%s", quote_plus(CLIENT_SECRET))
    log.debug("Got token %s for %s", ACCESS_TOKEN, "acme")
    log.debug("Headers: %r", {"Authorization": f"Bearer {ACCESS_TOKEN}"})
    log.info("Sending to HEC.", extra={"headers": {"Authorization": f"Splunk {HEC_TOKEN}"}, "tokens": [HEC_TOKEN]})
    log.info("Basic credentials %s", base64.b64encode(f"acme:{CLIENT_SECRET}".encode()).decode())
    log.warning("Connecting to postgresql://siem:%s@db:5432/siem", DB_PASSWORD)
    with bind_context(tenant="acme", token=ACCESS_TOKEN):
        log.info("Bound context carries a secret.")
    try:
        raise PermissionError(f"refused secret {CLIENT_SECRET} and token {ACCESS_TOKEN}")
    except PermissionError:
        log.exception("Authentication failed for %s.", CLIENT_SECRET)
    try:
        try:
            raise ValueError(HEC_TOKEN)
        except ValueError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError:
        log.error("Chained failure.", exc_info=True, stack_info=True)
    log.debug("JSON body %s", json.dumps({"client_secret": CLIENT_SECRET, "password": DB_PASSWORD}))


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_registered_secrets_never_reach_the_output(fmt: str) -> None:
    for secret in SECRETS:
        register_secret(secret)
    out = io.StringIO()
    configure_logging("DEBUG", fmt, stream=out)
    log_everything()
    text = out.getvalue()
    assert text.count("\n") >= 10  # every call produced output: the test looked at real lines
    assert_clean(text)
    assert MASK in text
    assert "Authentication failed for ****." in text
    assert "Traceback (most recent call last)" in text


def test_json_output_stays_valid_json_after_scrubbing() -> None:
    for secret in SECRETS:
        register_secret(secret)
    out = io.StringIO()
    configure_logging("DEBUG", "json", stream=out)
    log_everything()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 10
    assert lines[3]["headers"] == {"Authorization": "Splunk ****"}
    assert lines[3]["tokens"] == ["****"]
    assert lines[6]["token"] == "****"


def test_credential_shapes_are_scrubbed_without_registration() -> None:
    out = io.StringIO()
    configure_logging("DEBUG", "json", stream=out)
    log_everything()
    text = out.getvalue()
    # Never registered: only the patterns protect these lines.
    for shape in (
        f"Bearer {ACCESS_TOKEN}",
        f"Splunk {HEC_TOKEN}",
        f"client_secret={quote_plus(CLIENT_SECRET)}",
        DB_PASSWORD,
        f'"client_secret": "{CLIENT_SECRET}"',
    ):
        assert shape not in text, shape


def test_other_libraries_records_are_scrubbed_too() -> None:
    register_secret(ACCESS_TOKEN)
    out = io.StringIO()
    configure_logging("DEBUG", "json", stream=out)
    logging.getLogger("aiohttp.client").debug("Request headers %s", {"Authorization": ACCESS_TOKEN})
    assert ACCESS_TOKEN not in out.getvalue()
    assert "aiohttp.client" in out.getvalue()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Authorization: Bearer abcdefghijklmnop1234", "Authorization: Bearer ****"),
        ("Authorization: Splunk 0c6f3f1e-9b8a-4c1d-8e2f-7a6b5c4d3e2f", "Authorization: Splunk ****"),
        (
            "grant_type=client_credentials&client_secret=s3cr3t%2Bvalue&x=1",
            "grant_type=client_credentials&client_secret=****&x=1",
        ),
        ('{"access_token": "eyJhbGciOi", "expires_in": 1800}', '{"access_token": "****", "expires_in": 1800}'),
        ("password: hunter2", "password: ****"),
        ("url postgresql+psycopg://siem:pw123@db:5432/x", "url postgresql+psycopg://siem:****@db:5432/x"),
        ("open at postgresql+psycopg://siem:***@db/x", "open at postgresql+psycopg://siem:***@db/x"),
    ],
)
def test_credential_patterns(line: str, expected: str) -> None:
    assert Redactor().scrub(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "Basic authentication is not supported by API 2.0.",
        "Bearer tokens carry scopes read, write and admin.",
        "The Splunk HEC sink accepted 500 events.",
        "Repeated pageToken abc123 on /api/ttp/url/get-logs.",
        "Set ACME_SECRET:-default in the environment.",
        "client_secret_file: /run/secrets/acme",
    ],
)
def test_ordinary_prose_is_left_alone(line: str) -> None:
    assert Redactor().scrub(line) == line


def test_short_secrets_are_not_registered() -> None:
    r = Redactor()
    r.register("secret")  # shorter than MIN_SECRET_LENGTH: scrubbing it would wreck every line
    r.register("")
    r.register(None)
    assert len(r) == 0
    assert r.scrub("secret file not found") == "secret file not found"


def test_secret_with_regex_characters_and_nested_secrets() -> None:
    r = Redactor()
    r.register("a.b*c+d?e(f)g[h]")
    r.register("outer-secret-with-inner-part")
    r.register("inner-part")  # shorter than 8? no: 10 characters, and inside the outer one
    assert r.scrub("x a.b*c+d?e(f)g[h] y") == "x **** y"
    assert r.scrub("x aXb*c+d?e(f)g[h] y") == "x aXb*c+d?e(f)g[h] y"
    assert r.scrub("outer-secret-with-inner-part") == "****"


def test_a_secret_registered_between_scrubs_is_masked_by_the_next_one() -> None:
    # The pattern is compiled by the first scrub after a registration, not by the registration.
    r = Redactor()
    r.register("first-secret-value")
    r.register("second-secret-value")
    assert r.scrub("first-secret-value second-secret-value") == "**** ****"
    r.register("third-secret-value")
    assert r.scrub("first-secret-value third-secret-value") == "**** ****"
    r.register("first-secret-value")  # known already: the compiled pattern stays
    assert r.scrub("second-secret-value, third-secret-value") == "****, ****"
    r.clear()
    assert r.scrub("first-secret-value") == "first-secret-value"


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF),
        min_size=8,
        max_size=48,
    ).filter(lambda s: s.strip() == s and len(s.strip()) >= 8)
)
def test_any_registered_secret_in_any_form_is_scrubbed(secret: str) -> None:
    r = Redactor()
    r.register(secret)
    for form in forms(secret):
        assert form not in r.scrub(f"before {form} after")
    encoded = json.dumps({"v": secret})
    assert secret not in r.scrub(encoded)


def test_scrub_uses_the_process_redactor() -> None:
    register_secret(CLIENT_SECRET)
    assert scrub(f"error: {CLIENT_SECRET}") == "error: ****"


def test_a_real_process_at_debug_leaks_nothing(tmp_path: Path) -> None:
    """A separate process loads secrets from env and a file, logs at DEBUG and dies of an exception."""
    secret_file = tmp_path / "hec"
    secret_file.write_text(HEC_TOKEN + "\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        "tenants:\n  - name: acme\n    client_id: acme-id\n    client_secret: ${ACME_SECRET}\n"
        f"state:\n  url: postgresql+psycopg://siem@db/siem\n  password_file: {tmp_path / 'pw'}\n"
        f"actions:\n  tokens:\n    - name: soar\n      token_file: {secret_file}\n      scopes: [read]\n",
        encoding="utf-8",
    )
    (tmp_path / "pw").write_text(DB_PASSWORD, encoding="utf-8")
    program = """
import logging, sys
from mimecast_siem.config import add_config_arguments, settings_from_args
import argparse
p = argparse.ArgumentParser(); add_config_arguments(p)
settings = settings_from_args(p.parse_args(sys.argv[1:]))
log = logging.getLogger("mimecast_siem.demo")
url = settings.state_url()
log.debug("State store %s, secret %s, token %s", url, settings.tenants[0].client_secret.get_secret_value(),
          settings.actions.tokens[0].token.get_secret_value())
raise RuntimeError("fatal: " + url)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}
    env["ACME_SECRET"] = CLIENT_SECRET
    result = subprocess.run(
        [sys.executable, "-c", program, "--config", str(config), "--log-level", "DEBUG", "--log-format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [line["msg"] for line in lines][-2:] == [
        "State store postgresql+psycopg://siem:****@db/siem, secret ****, token ****",
        "Uncaught exception; exiting.",
    ]
    assert "RuntimeError: fatal: postgresql+psycopg://siem:****@db/siem" in lines[-1]["exc"]
    for secret in (CLIENT_SECRET, HEC_TOKEN, DB_PASSWORD, quote(DB_PASSWORD, safe="")):
        assert secret not in result.stderr
