"""The stdout sink: JSON lines (or text lines) on the real standard output of a process, flushed per batch."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.sinks.base import SinkContext, SinkTransientError
from mimecast_siem.sinks.stdout import StdoutSink
from tests.sinks.builders import batch

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from mimecast_siem.config.models import SinkSettings
    from mimecast_siem.sinks.base import SinkContext
    from mimecast_siem.sinks.stdout import StdoutSink
    from tests.sinks.builders import batch

    async def main():
        sink = StdoutSink(SinkSettings.model_validate({"name": "out", "type": "stdout", "format": sys.argv[1]}),
                          SinkContext(data_dir=".", instance_id="child", version="test"))
        await sink.start()
        await sink.send(batch(3))
        sys.stderr.write("sent\\n"); sys.stderr.flush()
        time.sleep(30)  # the parent reads the batch while we are still alive: it was flushed

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("fmt", ["json", "raw", "ocsf"])
def test_batch_is_flushed_to_the_real_stdout(fmt: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, fmt], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert child.stderr is not None
        assert child.stdout is not None
        assert child.stderr.readline() == b"sent\n"
        expected = len(batch(3)) if fmt != "ocsf" else 6  # OCSF adds a Detection Finding per malicious click
        lines = [child.stdout.readline() for _ in range(expected)]
    finally:
        child.kill()
        child.wait(timeout=10)
    records = [orjson.loads(line) for line in lines]
    if fmt == "json":
        assert [r["event"]["id"] for r in records] == [e.event_id for e in batch(3)]
    elif fmt == "raw":
        assert [r["subject"] for r in records] == ["message 0", "message 1", "message 2"]
    else:
        assert [r["class_uid"] for r in records] == [4012, 2004] * 3


async def test_text_formats_and_closed_streams(context: SinkContext) -> None:
    output = io.BytesIO()
    sink = StdoutSink(
        SinkSettings.model_validate({"name": "o", "type": "stdout", "format": "leef"}), context, output=output
    )
    result = await sink.send(batch(2))
    assert result.accepted == 2
    lines = output.getvalue().decode().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("LEEF:2.0|") for line in lines)
    assert (await sink.healthcheck()).ok
    output.close()
    assert not (await sink.healthcheck()).ok
    with pytest.raises(SinkTransientError):
        await sink.send(batch(1))
