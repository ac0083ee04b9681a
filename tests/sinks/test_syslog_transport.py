"""Pure parts of the syslog transport: the replay buffer (the backoff is in test_syslog_render.py)."""

from __future__ import annotations

import pytest

from mimecast_siem.sinks.syslog_transport import ReplayBuffer


def test_replay_buffer_keeps_the_newest_whole_frames_within_its_bound() -> None:
    buffer = ReplayBuffer(max_bytes=10)
    buffer.extend([b"aaaa", b"bbbb"])
    buffer.extend([b"cccc"])  # 12 bytes: the oldest whole frame goes
    assert buffer.size == 8
    assert buffer.frames() == [b"bbbb", b"cccc"]  # a look that keeps them
    assert buffer.take() == [b"bbbb", b"cccc"]
    assert buffer.size == 0
    assert len(buffer) == 0


def test_replay_buffer_never_keeps_part_of_a_frame() -> None:
    buffer = ReplayBuffer(max_bytes=5)
    buffer.extend([b"123", b"4567890"])  # the newest frame alone is over the bound
    assert buffer.take() == []


@pytest.mark.parametrize("bound", [0, -1])
def test_replay_buffer_off(bound: int) -> None:
    buffer = ReplayBuffer(max_bytes=bound)
    buffer.extend([b"x"])
    assert len(buffer) == 0
