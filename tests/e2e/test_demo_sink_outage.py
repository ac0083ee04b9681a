"""``mimecast-siem demo --scenario sink-outage``: a newcomer sees a SIEM go down, its queue grow and drain.

The demo is run as a user runs it (a subprocess, real simulator, real HEC sink and receiver on
127.0.0.1); the test reads what it printed and what both sinks wrote.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.collector.helpers import read_documents

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LINE = re.compile(
    r"^\s*(?P<t>\d+)s\s+file\s+(?P<file>[\d,]+) events \| siem \(receiver (?P<state>up|DOWN)\)\s+"
    r"(?P<delivered>[\d,]+) delivered, queue (?P<queue>[\d,]+) events"
)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_siem_goes_down_the_file_sink_carries_on_and_the_queue_drains_with_nothing_lost(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_SIEM")}
    out = tmp_path / "demo-out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mimecast_siem",
            "demo",
            "--scenario",
            "sink-outage",
            "--outage-start",
            "4s",
            "--outage-length",
            "8s",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
        check=False,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    lines = [m.groupdict() for m in map(LINE.match, proc.stdout.splitlines()) if m]
    down = [line for line in lines if line["state"] == "DOWN"]
    assert len(down) >= 2, text
    # During the outage: the file sink keeps filling, the SIEM receives nothing, its queue grows.
    assert _number(down[-1]["file"]) > _number(down[0]["file"]), text
    assert _number(down[-1]["delivered"]) == _number(down[0]["delivered"]), text
    assert _number(down[-1]["queue"]) > _number(down[0]["queue"]) > 0, text
    assert "the SIEM is DOWN" in text
    assert "the SIEM is BACK" in text
    assert "the queue is empty again" in text
    assert _number(lines[-1]["queue"]) == 0, text
    assert "duplicates 0" in text
    assert "lost (in the file, neither received by the SIEM nor queued): 0 - nothing lost" in text
    # The files agree with the summary: every event of the file sink reached the SIEM once.
    file_ids = Counter(doc["event"]["id"] for doc in read_documents(out, tenant="demo"))
    received = Counter(
        json.loads(line)["event"]["event"]["id"]
        for line in (out / "siem-receiver" / "events.ndjson").read_text().splitlines()
    )
    assert file_ids, text
    assert max(received.values()) == 1
    assert max(file_ids.values()) == 1
    assert set(received) <= set(file_ids)
    # A window delivered while the daemon stopped may still wait in the queue (sent at the next start).
    queued = re.search(r"still in siem's queue \(sent at the next start\): ([\d,]+)", text)
    assert queued is not None, text
    assert len(file_ids) - len(received) == _number(queued.group(1)), text
    assert f"{len(file_ids):,} events this run ({len(file_ids):,} distinct ids)" in text
    assert "Stopped." in text
