"""Child process of test_queue_crash: appends numbered events to a queue and prints each acknowledged batch.

Usage: python -m tests.sinks.queue_child <queue dir> <first number> <batch size>
"""

from __future__ import annotations

import sys
from pathlib import Path

from mimecast_siem.sinks.queue import SegmentQueue
from tests.sinks.builders import batch


def main() -> None:
    """Append batches forever; after each acknowledged append print the last number it held."""
    directory, first, size = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    queue = SegmentQueue(directory, max_bytes=1 << 34, segment_max_bytes=64 * 1024)
    number = first
    while True:
        queue.append(batch(size, start=number))
        number += size
        print(number - 1, flush=True)


if __name__ == "__main__":
    main()
