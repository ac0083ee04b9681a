"""Child process for the file sink crash test: writes numbered events forever, reporting each acked batch.

Usage: ``python -m tests.sinks.file_writer_child OUT_DIR FIRST_SEQ BATCH_SIZE PADDING_BYTES``. After every ``send``
returns it prints ``acked <last seq>`` and flushes, so the parent knows what the sink acknowledged.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mimecast_siem.config.models import SinkSettings
from mimecast_siem.sinks.base import SinkContext
from mimecast_siem.sinks.file import FileSink
from tests.sinks.builders import make_event, record


async def main(out_dir: Path, first: int, size: int, pad: int) -> None:
    settings = SinkSettings.model_validate(
        {"name": "crash", "type": "file", "path": str(out_dir), "file_name": "events.ndjson", "rotate_max_bytes": None}
    )
    sink = FileSink(settings, SinkContext(data_dir=out_dir, instance_id="child", version="test"))
    await sink.start()
    # Big lines make batches of megabytes, so a SIGKILL often lands inside write(): Linux then
    # stops the write between pages and leaves a partial last line.
    padding = "p" * pad
    seq = first
    while True:
        events = [
            make_event("ttp-url", record("ttp-url", subject=f"{n}", tagMap={"pad": padding}), seq=n)
            for n in range(seq, seq + size)
        ]
        await sink.send(events)
        seq += size
        sys.stdout.write(f"acked {seq - 1}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
