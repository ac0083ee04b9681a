"""Benchmarks of mimecast-siem (issue 8): speed, memory and API efficiency against hard targets.

Run them with ``python -m bench`` (see :mod:`bench.__main__`); each benchmark module exposes
``run(options) -> Section``. They start real processes (the simulator, ``mimecast-siem run`` and
``backfill``, rsyslog, the test HEC receiver) on 127.0.0.1 and stop them by pid. Benchmarks, not
tests: ``tests/bench`` only runs ``--quick`` to keep them from rotting.

``python -m bench.output_digest`` is the companion of every CPU change: one SHA-256 per stream and
format over golden, generated and hostile records, to show that a faster path writes the same bytes.
"""
