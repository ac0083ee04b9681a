"""One naming scheme for TLS settings: ``verify_tls``, ``ca_file``, ``client_cert_file``, ``client_key_file``
for tenants and every sink; the older names (tenant ``ca_bundle``, the syslog ``tls:`` block) still work
with a deprecation warning, and giving both spellings of one key is an error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trustme

from mimecast_siem import __version__
from mimecast_siem.config import load_settings
from mimecast_siem.config import models as config_models
from mimecast_siem.errors import ConfigError
from mimecast_siem.sinks import SinkContext, build_sinks
from tests.config.builders import problems_of, settings_tree, tenant
from tests.config.conftest import WriteConfig


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    config_models._warned.clear()


@pytest.fixture
def pem_files(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("client.example")
    files = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "client.pem", "key": tmp_path / "client.key"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    return files


def _syslog(**keys: object) -> dict[str, object]:
    return {"name": "relay", "type": "syslog", "host": "relay.example", "port": 6514, "transport": "tls", **keys}


def test_tenant_ca_file_and_its_old_name(
    write_config: WriteConfig, pem_files: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    current = load_settings(write_config(settings_tree(tenants=[tenant(ca_file=str(pem_files["ca"]))])), env={})
    assert current.tenant("acme").ca_file == pem_files["ca"]
    assert "deprecated" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="mimecast_siem.config"):
        old = load_settings(write_config(settings_tree(tenants=[tenant(ca_bundle=str(pem_files["ca"]))])), env={})
    assert old.tenant("acme").ca_file == pem_files["ca"]
    assert "tenants.acme.ca_bundle is deprecated; use tenants.acme.ca_file" in caplog.text
    both = tenant(ca_file=str(pem_files["ca"]), ca_bundle=str(pem_files["ca"]))
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(settings_tree(tenants=[both])), env={})
    assert any("ca_bundle is its deprecated name" in p.message for p in problems_of(info).values())


def test_syslog_takes_the_same_names_as_every_other_sink(
    write_config: WriteConfig, pem_files: dict[str, Path], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    flat = _syslog(
        ca_file=str(pem_files["ca"]),
        client_cert_file=str(pem_files["cert"]),
        client_key_file=str(pem_files["key"]),
        tls_server_name="relay.internal",
        tls_min_version="1.3",
    )
    settings = load_settings(write_config(settings_tree(sinks=[flat])), env={})
    assert "deprecated" not in caplog.text
    (sink,) = build_sinks(settings, SinkContext(tmp_path, "test", __version__)).values()
    tls = sink.options.tls  # type: ignore[attr-defined]
    assert (tls.ca_file, tls.cert_file, tls.key_file) == (pem_files["ca"], pem_files["cert"], pem_files["key"])
    assert (tls.server_name, tls.min_version, tls.verify) == ("relay.internal", "1.3", True)
    hec = {"name": "splunk", "type": "hec", "url": "https://splunk.example:8088", "token": "t" * 36,
           "ca_file": str(pem_files["ca"]), "client_cert_file": str(pem_files["cert"]),
           "client_key_file": str(pem_files["key"]), "verify_tls": True}  # fmt: skip
    load_settings(write_config(settings_tree(sinks=[hec])), env={})  # the HEC sink always used these names


def test_the_old_syslog_tls_block_still_works_with_a_warning(
    write_config: WriteConfig, pem_files: dict[str, Path], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    old = _syslog(tls={"ca_file": str(pem_files["ca"]), "verify": True})
    with caplog.at_level(logging.WARNING, logger="mimecast_siem.config"):
        settings = load_settings(write_config(settings_tree(sinks=[old])), env={})
    assert "sinks.relay.tls.ca_file is deprecated; use sinks.relay.ca_file" in caplog.text
    assert "sinks.relay.tls.verify is deprecated; use sinks.relay.verify_tls" in caplog.text
    (sink,) = build_sinks(settings, SinkContext(tmp_path, "test", __version__)).values()
    assert sink.options.tls.ca_file == pem_files["ca"]  # type: ignore[attr-defined]
    both = _syslog(ca_file=str(pem_files["ca"]), tls={"ca_file": str(pem_files["ca"])})
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(settings_tree(sinks=[both])), env={})
    assert any("tls.ca_file is its deprecated name" in p.message for p in problems_of(info).values())


def test_a_problem_is_reported_under_the_name_the_file_used(write_config: WriteConfig, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(settings_tree(sinks=[_syslog(ca_file=missing)])), env={})
    (problem,) = problems_of(info).values()
    assert problem.key == "sinks.relay.ca_file"
    assert "does not exist" in problem.message
    assert problem.source is not None
    assert problem.source.startswith("config.yaml:")
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(settings_tree(sinks=[_syslog(tls={"ca_file": missing})])), env={})
    assert list(problems_of(info)) == ["sinks.relay.tls.ca_file"]
