"""Binary downloads against the simulator's archive: complete files only, size cap, JSON fail mapped."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest

from mimecast_siem.errors import PermanentError
from mimecast_siem.mimecast import DownloadResult, MimecastClient
from mimecast_siem.simulator import FaultSettings, RunningSimulator, ScriptedFault

GET_FILE = "/api/archive/get-file"


async def attachments(client: MimecastClient) -> list[dict[str, Any]]:
    """Every attachment of the simulated archive, found the way an analyst would: list, then detail."""
    found: list[dict[str, Any]] = []
    async for page in client.pages("/api/archive/get-message-list", item={"view": "INBOX"}, page_size=50):
        for message in page.records:
            detail = await client.request("/api/archive/get-message-detail", data=[{"id": message["id"]}])
            found.extend(detail.data[0]["attachments"])
    assert found, "the simulator's archive has attachments"
    return found


async def test_download_writes_the_whole_file(client: MimecastClient) -> None:
    attachment = min(await attachments(client), key=lambda a: a["size"])
    dest = io.BytesIO()
    result = await client.download(GET_FILE, [{"id": attachment["id"]}], dest, max_bytes=10_000_000)
    assert isinstance(result, DownloadResult)
    data = dest.getvalue()
    assert len(data) == result.bytes_written == attachment["size"]
    assert hashlib.sha256(data).hexdigest() == result.sha256 == attachment["sha256"]
    assert result.filename == attachment["filename"]
    assert result.content_type == "application/octet-stream"


async def test_gateway_get_file_too(client: MimecastClient) -> None:
    attachment = (await attachments(client))[0]
    dest = io.BytesIO()
    result = await client.download("/api/gateway/message/get-file", [{"id": attachment["id"]}], dest, max_bytes=10**8)
    assert result.sha256 == attachment["sha256"]


async def test_a_file_over_the_cap_is_refused_and_nothing_is_written(client: MimecastClient) -> None:
    largest = max(await attachments(client), key=lambda a: a["size"])
    dest = io.BytesIO()
    with pytest.raises(PermanentError) as info:
        await client.download(GET_FILE, [{"id": largest["id"]}], dest, max_bytes=largest["size"] - 1)
    assert "limit" in str(info.value)
    assert str(largest["size"] - 1) in str(info.value)
    assert dest.getvalue() == b""


async def test_a_json_fail_instead_of_a_file_is_the_mapped_error(sim: RunningSimulator, client: MimecastClient) -> None:
    dest = io.BytesIO()
    with pytest.raises(PermanentError) as info:
        await client.download(GET_FILE, [{"id": "no-such-file"}], dest, max_bytes=10**6)
    assert info.value.failures
    assert info.value.endpoint == GET_FILE
    assert dest.getvalue() == b""
    assert sim.stats().count(path=GET_FILE) == 1


async def test_a_broken_transfer_is_retried_and_written_once(sim: RunningSimulator, client: MimecastClient) -> None:
    attachment = min(await attachments(client), key=lambda a: a["size"])
    sim.set_faults(FaultSettings(script=[ScriptedFault(path=GET_FILE, count=1, kind="drop")]))
    dest = io.BytesIO()
    result = await client.download(GET_FILE, [{"id": attachment["id"]}], dest, max_bytes=10**6)
    assert dest.getvalue().__len__() == attachment["size"]
    assert result.sha256 == attachment["sha256"]
    assert sim.stats().count(path=GET_FILE) == 2
