"""``python -m bench``: run the benchmarks, print their tables, write bench/RESULTS.md.

Usage (from the repository root, with the project's virtualenv)::

    python -m bench                      # everything (about 20 minutes); writes bench/RESULTS.md
    python -m bench --only 1,5           # some of them
    python -m bench --quick              # a tiny smoke (CI): small data, targets not judged
    python -m bench --quick --results /tmp/r.md

Exit code: 0 when every benchmark ran (missed targets are reported, not failures), 1 when one
crashed, 2 for bad flags.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import (
    api_efficiency,
    compare,
    cpu_floor,
    memory,
    queue_throughput,
    scaling,
    siem_files,
    sink_matrix,
    sink_throughput,
    throughput,
)
from bench.machine import Machine, describe_machine
from bench.report import Section, Table, all_targets
from bench.settings import BenchOptions

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "bench" / "RESULTS.md"
HISTORY = REPO / "bench" / "history.md"

BENCHMARKS: dict[int, tuple[str, Callable[[BenchOptions], Section]]] = {
    1: ("per-event CPU vs the orjson floor", cpu_floor.run),
    2: ("end-to-end throughput", throughput.run),
    3: ("memory of a 1,000,000-event backfill", memory.run),
    4: ("API efficiency", api_efficiency.run),
    5: ("sinks", sink_throughput.run),
    6: ("scaling with tenants", scaling.run),
    7: ("every sink vs the file sink", sink_matrix.run),
    8: ("SIEM batch files: events/s and memory of one 1 GB file", siem_files.run),
    9: ("like with like: a reference pager vs our backfill and daemon", compare.run),
    10: ("durable queues: with a queue in the path vs without", queue_throughput.run),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run: small data, targets not judged")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated benchmark numbers ({min(BENCHMARKS)}-{max(BENCHMARKS)}); default all",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help=f"Markdown report to write (default {DEFAULT_RESULTS.relative_to(REPO)} for a full run; none for --quick)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, configs, outputs)")
    args = parser.parse_args(argv)
    try:
        args.numbers = sorted({int(n) for n in args.only.split(",") if n.strip()} or BENCHMARKS)
    except ValueError:
        parser.error(f"--only takes benchmark numbers such as 1,5; got {args.only!r}")
    unknown = [n for n in args.numbers if n not in BENCHMARKS]
    if unknown:
        parser.error(f"--only: no benchmark {unknown[0]}; there are {', '.join(map(str, BENCHMARKS))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks; see the module docstring."""
    args = parse_args(argv)
    machine = describe_machine(REPO)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mimecast-siem-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    options = BenchOptions(quick=args.quick, workdir=workdir, repo=REPO)
    print("\n".join(machine.lines()), flush=True)
    sections: list[Section] = []
    crashed = False
    try:
        for number in args.numbers:
            title, bench = BENCHMARKS[number]
            print(f"\n>>> benchmark {number}: {title}{' (quick)' if args.quick else ''}", flush=True)
            started = time.monotonic()
            try:
                section = bench(options)
            except Exception as exc:
                crashed = True
                traceback.print_exc()
                section = Section(number, f"{title} (crashed)")
                section.summary.append(f"The benchmark crashed: {type(exc).__name__}: {exc}")
            section.seconds = time.monotonic() - started
            sections.append(section)
            print(section.text(), flush=True)
    finally:
        machine.finish()
        if args.keep:
            print(f"\nScratch directory kept: {workdir}")
        elif args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n" + summary_table(sections).text())
    results = args.results if args.results is not None else (None if args.quick else DEFAULT_RESULTS)
    if results is not None:
        results.write_text(render_results(machine, sections, quick=args.quick))
        print(f"\nWrote {results}")
    return 1 if crashed else 0


def summary_table(sections: Sequence[Section]) -> Table:
    """Every target of the run, one row each."""
    table = Table("All targets", ["benchmark", "target", "measured", "bound", "verdict"])
    for section in sections:
        for target in section.targets:
            table.add(section.number, target.name, target.measured, target.bound, target.verdict)
    return table


def render_results(machine: Machine, sections: Sequence[Section], *, quick: bool) -> str:
    """RESULTS.md: machine, summary of targets, every section, the profiling history."""
    targets = all_targets(sections)
    met = sum(1 for t in targets if t.met is True)
    missed = sum(1 for t in targets if t.met is False)
    parts = [
        "# Benchmark results",
        "",
        "Generated by `python -m bench`"
        + (" --quick (smoke: small data, targets not judged)" if quick else "")
        + ". Benchmarks, not tests: each prints absolute figures and ratios; targets are what we hold "
        "ourselves to (issue 8), reported as met or MISSED with the reason.",
        "",
        "## Machine",
        "",
        *(f"* {line}" for line in machine.lines()),
        "",
        f"## Summary: {met} targets met, {missed} missed, {len(targets) - met - missed} not judged",
        "",
        summary_table(sections).markdown(),
        "",
        "## Results",
        "",
    ]
    parts.extend(section.markdown() for section in sections)
    if HISTORY.exists():
        parts += ["", HISTORY.read_text().rstrip(), ""]
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
