"""The reusable sink contract suite (mimecast_siem/sinks/contract.py) run by the built-in file, hec and syslog sinks.

The new sinks run it in their own modules (test_elasticsearch_sink, test_kafka_sink, test_s3_sink,
test_sentinel_sink). Outages are cut at the network (a TCP relay) so the receivers keep what they stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from mimecast_siem.events import Event
from mimecast_siem.sinks.contract import ContractTarget, SinkContractSuite
from tests.fixtures.receivers import SyslogReceiver
from tests.fixtures.servers import TcpRelay
from tests.sinks.conftest import HEC_TOKEN
from tests.sinks.hec_receiver import HecReceiver


def oversized(like: Event, size: int) -> Event:
    """An event larger than the sink's request limit: refused, one by one, with a reason."""
    document = {**like.document, "padding": "x" * size}
    return Event(like.event_id + "big", like.tenant, like.stream, like.timestamp, document, like.raw)


class FileTarget(ContractTarget):
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def sink_block(self) -> dict[str, Any]:
        return {"type": "file", "format": "json", "path": str(self.directory)}

    async def read_back(self) -> list[str]:
        ids = []
        for path in sorted(self.directory.rglob("*.ndjson*")):
            for line in path.read_bytes().splitlines():
                if line.strip():
                    ids.append(orjson.loads(line)["event"]["id"])
        return ids


class TestFileContract(SinkContractSuite):
    @pytest.fixture
    def contract_target(self, tmp_path_factory: pytest.TempPathFactory) -> FileTarget:
        return FileTarget(tmp_path_factory.mktemp("file-sink"))


class HecTarget(ContractTarget):
    def __init__(self, receiver: HecReceiver, relay: TcpRelay) -> None:
        self.receiver = receiver
        self.relay = relay

    def sink_block(self) -> dict[str, Any]:
        return {
            "type": "hec",
            "format": "json",
            "url": f"http://{self.relay.address}",
            "token": HEC_TOKEN,
            "max_request_bytes": 16384,
            "timeout": "20s",
            "connect_timeout": "2s",
        }

    async def read_back(self) -> list[str]:
        return [indexed.event["event"]["id"] for indexed in self.receiver.events]

    def refused_event(self, like: Event) -> Event | None:
        return oversized(like, 20_000)

    async def outage(self) -> None:
        await self.relay.stop()

    async def recover(self) -> None:
        await self.relay.start()


class TestHecContract(SinkContractSuite):
    @pytest.fixture
    async def contract_target(self, hec: HecReceiver) -> AsyncIterator[HecTarget]:
        relay = TcpRelay(int(hec.url.rsplit(":", 1)[1]))
        await relay.start()
        yield HecTarget(hec, relay)
        await relay.stop()


class SyslogTarget(ContractTarget):
    def __init__(self, receiver: SyslogReceiver, relay: TcpRelay) -> None:
        self.receiver = receiver
        self.relay = relay

    def sink_block(self) -> dict[str, Any]:
        return {
            "type": "syslog",
            "format": "json",
            "host": "127.0.0.1",
            "port": self.relay.port,
            "transport": "tcp",
        }

    async def read_back(self) -> list[str]:
        return [r.param("event_id") or "" for r in self.receiver.records()]

    async def outage(self) -> None:
        await self.relay.stop()

    async def recover(self) -> None:
        await self.relay.start()


class TestSyslogContract(SinkContractSuite):
    @pytest.fixture
    async def contract_target(self, rsyslog_receiver: SyslogReceiver) -> AsyncIterator[SyslogTarget]:
        relay = TcpRelay(rsyslog_receiver.ports["ptcp"])
        await relay.start()
        yield SyslogTarget(rsyslog_receiver, relay)
        await relay.stop()
