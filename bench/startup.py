"""Start-up benchmark: what listing the tasks costs against invoke itself.

    python -m bench.startup [--runs N] [--markdown BENCHMARKS.md]

Runs ``inv --version`` (invoke's own start-up, the floor) and ``herotasks
--list`` (the whole collection, in a project with one configured stage) N
times each, alternating, and prints the median and best wall time of each
and their ratio. The target: listing tasks costs at most 1.3× ``inv
--version``, which holds only while requests, the API client, the engine
and the sandbox are imported by the tasks that need them, not at start-up.

It is a benchmark, not a test: it prints what it measured and asserts
nothing. ``--markdown`` rewrites BENCHMARKS.md between its
``bench:startup`` markers.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.table import format_table

MARKERS = ("<!-- bench:startup -->", "<!-- /bench:startup -->")
TARGET = 1.3


def _time(argv: list[str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(runs: int) -> list[dict]:
    """Median and best seconds of each command over ``runs`` alternating runs."""
    bindir = Path(sys.executable).parent
    commands = {"inv --version": [str(bindir / "inv"), "--version"],
                "herotasks --list": [str(bindir / "herotasks"), "--list"]}
    times: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as project:
        Path(project, "invoke.yaml").write_text(
            "herotasks:\n  stages:\n    production: {app: tally-prod}\n")
        for argv in commands.values():  # warm the file cache once
            _time(argv, project)
        for _ in range(runs):
            for name, argv in commands.items():
                times[name].append(_time(argv, project))
    floor = statistics.median(times["inv --version"])
    return [{"command": name, "median": statistics.median(t), "best": min(t),
             "ratio": statistics.median(t) / floor} for name, t in times.items()]


def table(rows: list[dict], *, markdown: bool = False) -> str:
    return format_table(["command", "median s", "best s", "÷ inv --version"],
                        [[r["command"], r["median"], r["best"], r["ratio"]]
                         for r in rows], markdown=markdown, digits=3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--markdown", help="rewrite this file's bench:startup section")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    rows = measure(args.runs)
    text = table(rows)
    print(text)
    ratio = rows[-1]["ratio"]
    verdict = (f"target ≤ {TARGET}× inv --version: "
               + ("met" if ratio <= TARGET else "NOT met") + f" ({ratio:.2f}×)")
    print(verdict)
    if args.markdown:
        path = Path(args.markdown)
        doc = path.read_text()
        start, end = MARKERS
        if start not in doc or end not in doc:
            parser.error(f"{path} has no {start} ... {end} section")
        head, rest = doc.split(start, 1)
        _, tail = rest.split(end, 1)
        body = (f"\n`python -m bench.startup --runs {args.runs}` "
                f"({time.strftime('%Y-%m-%d')}, Python "
                f"{sys.version.split()[0]}):\n\n{table(rows, markdown=True)}"
                f"\n\n{verdict}\n")
        path.write_text(head + start + body + end + tail)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
