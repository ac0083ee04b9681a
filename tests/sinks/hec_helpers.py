"""Helpers of the HEC sink tests: build a configured HecSink against a receiver."""

from __future__ import annotations

from typing import Any

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.sinks.base import SinkContext
from mimecast_siem.sinks.hec import HecSink
from tests.sinks.conftest import HEC_TOKEN


def hec_settings(url: str, *, fmt: str = "json", name: str = "splunk", **options: Any) -> SinkSettings:
    data: dict[str, Any] = {"name": name, "type": "hec", "format": fmt, "url": url}
    if not any(k in options for k in ("token", "token_file", "token_env")):
        data["token"] = HEC_TOKEN
    data.update(options)
    return SinkSettings.model_validate(data)


def hec_sink(context: SinkContext, url: str, *, fmt: str = "json", **options: Any) -> HecSink:
    return HecSink(hec_settings(url, fmt=fmt, **options), context)
