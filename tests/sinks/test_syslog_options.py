"""Options of the syslog sink: defaults, every validation message names the key, value and what is allowed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.errors import ConfigError
from mimecast_siem.sinks.base import SinkContext
from mimecast_siem.sinks.registry import validate_sink_settings
from mimecast_siem.sinks.syslog import (
    DEFAULT_MAX_BYTES_STREAM,
    DEFAULT_MAX_BYTES_UDP,
    SyslogSink,
    SyslogSinkOptions,
    message_builder,
)


def make_sink(tmp_path: Path, fmt: str = "cef", **options: Any) -> SyslogSink:
    settings = SinkSettings(name="siem", type="syslog", format=fmt, **options)
    return SyslogSink(settings, SinkContext(data_dir=tmp_path, instance_id="t", version="0.1.0"))


def problems(tmp_path: Path, **options: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        make_sink(tmp_path, **options)
    return [p.render() for p in info.value.problems]


def test_defaults(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, host="siem.example")
    opts = sink.options
    assert (sink.transport, sink.port, sink.framing) == ("tcp", 514, "octet-counting")
    assert opts.rfc == "5424"
    assert opts.tls.verify is True
    assert opts.effective_max_bytes() == DEFAULT_MAX_BYTES_STREAM < 8192
    assert opts.fixed_severity() is None
    assert opts.connect_timeout == timedelta(seconds=10)
    builder = message_builder(opts)
    assert builder.facility == 16
    assert builder.app_name == "mimecast-siem"
    assert builder.sd_id == "mimecast@32473"
    assert builder.procid.isdigit()
    assert builder.lf_safe is False


def test_transport_defaults_for_tls_and_udp(tmp_path: Path) -> None:
    assert make_sink(tmp_path, host="h", transport="tls").port == 6514
    udp = make_sink(tmp_path, host="h", transport="udp")
    assert (udp.port, udp.framing) == (514, None)
    assert udp.options.effective_max_bytes() == DEFAULT_MAX_BYTES_UDP


def test_lf_framing_makes_the_builder_escape_newlines(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, host="h", framing="lf")
    assert sink.framing == "lf"
    assert sink.builder.lf_safe is True


def test_yaml_numbers_are_accepted_for_rfc_and_facility(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, host="h", rfc=3164, facility=4, severity=2)
    assert sink.options.rfc == "3164"
    assert sink.builder.facility == 4
    assert sink.options.fixed_severity() == 2


def test_per_stream_app_name_and_msgid(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, host="h", msgid="MC", streams={"audit": {"app_name": "mc-audit", "msgid": "AUDIT"}})
    assert sink.builder.msgid == "MC"
    assert sink.builder.streams["audit"].app_name == "mc-audit"
    assert sink.builder.streams["audit"].msgid == "AUDIT"


@pytest.mark.parametrize(
    ("options", "key", "fragment"),
    [
        ({}, "sink.host", "Field required"),
        ({"host": "h", "transport": "sctp"}, "sink.transport", "'tcp', 'tls', 'udp' or 'relp'"),
        ({"host": "h", "port": 70000}, "sink.port", "less than or equal to 65535"),
        ({"host": "h", "framing": "nul"}, "sink.framing", "'octet-counting' or 'lf'"),
        ({"host": "h", "rfc": "5425"}, "sink.rfc", "'5424' or '3164'"),
        ({"host": "h", "facility": "local9"}, "sink.facility", "allowed 0-23 or a name"),
        ({"host": "h", "severity": "loud"}, "sink.severity", "allowed 0-7, auto, or a name"),
        ({"host": "h", "app_name": "has space"}, "sink.app_name", "printable US-ASCII"),
        ({"host": "h", "msgid": "x" * 33}, "sink.msgid", "1-32 printable"),
        ({"host": "h", "sd_id": "mimecast"}, "sink.sd_id", "name@<IANA enterprise number>"),
        ({"host": "h", "sd_id": "a b@1"}, "sink.sd_id", "without =, space"),
        ({"host": "h", "max_message_bytes": 100}, "sink.max_message_bytes", "greater than or equal to 480"),
        ({"host": "h", "streams": {"nope": {}}}, "sink.streams", "unknown stream 'nope'"),
        ({"host": "h", "oversize": "drop"}, "sink.oversize", "'truncate' or 'dead-letter'"),
        ({"host": "h", "colour": "blue"}, "sink.colour", "unknown key; allowed:"),
        ({"host": "h", "transport": "udp", "framing": "lf"}, "sink", "framing applies to transport tcp and tls only"),
        ({"host": "h", "transport": "udp", "max_message_bytes": 70000}, "sink", "exceeds the UDP limit of 65507"),
        ({"host": "h", "tls": {"verify": False}}, "sink", "tls settings apply to transport tls only"),
        (
            {"host": "h", "transport": "tls", "tls": {"ca_file": "/nonexistent/ca.pem"}},
            "sink.tls.ca_file",
            "does not exist",
        ),
        ({"host": "h", "transport": "tls", "tls": {"verfy": True}}, "sink.tls.verfy", "unknown key"),
    ],
)
def test_bad_options_name_key_and_allowed_values(
    tmp_path: Path, options: dict[str, Any], key: str, fragment: str
) -> None:
    found = problems(tmp_path, **options)
    assert any(p.startswith(key + ":") and fragment in p for p in found), found


def test_mutual_tls_needs_both_files(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    found = problems(tmp_path, host="h", transport="tls", tls={"cert_file": str(cert)})
    assert any("needs both cert_file and key_file" in p for p in found), found


def test_leef_delimiter_is_a_format_option(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, fmt="leef", host="h", format_options={"delimiter": "tab"})
    assert getattr(sink.encoder, "delimiter", None) == "\t"
    with pytest.raises(ConfigError) as info:
        make_sink(tmp_path, fmt="leef", host="h", format_options={"delimiter": "|"})
    assert info.value.problems[0].key == "format_options.delimiter"


def test_registry_validation_reports_syslog_problems_with_sink_index() -> None:
    class _Settings:
        sinks = [SinkSettings(name="s", type="syslog", format="cef", port=0)]

    found = {p.key for p in validate_sink_settings(_Settings())}
    assert {"sinks[0].host", "sinks[0].port"} <= found


def test_options_model_is_the_declared_one() -> None:
    assert SyslogSink.options_model is SyslogSinkOptions
    schema = SyslogSinkOptions.model_json_schema()
    assert all(prop.get("description") for name, prop in schema["properties"].items() if name != "tls"), schema
