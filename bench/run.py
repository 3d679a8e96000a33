"""The downtime benchmark: the same scenario for each strategy, in one run.

    python -m bench.run [--root DIR] [--strategies naive,conditional,herotasks]
                        [--markdown BENCHMARKS.md]

Each strategy gets a fresh sandbox and the same app, load and scaled delays
(``bench.scenario.Timing``), deploys v2 (a migration) and v3 (code only)
under load, and the table compares what each cost: the maintenance window,
the window minus the migration itself, failed requests by kind, worker job
failures, total deploy time, and each window's ratio to the default's.

It is a benchmark, not a test: it prints what it measured and asserts
nothing. ``--markdown`` rewrites the results section of BENCHMARKS.md
(between its ``bench:results`` markers) with the table, the command and the
machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench.scenario import APPS, STRATEGIES, Scenario, Timing, describe
from bench.table import format_table

COLUMNS = [
    ("strategy", "strategy"), ("deploy", "deploy"), ("outcome", "outcome"),
    ("window", "window s"),
    ("window_minus_migration", "window − migration s"),
    ("ratio", "window ÷ herotasks"), ("maintenance_page", "maintenance pages"),
    ("app_error", "5xx app"), ("unavailable", "503 no dyno"),
    ("conn_error", "conn errors"), ("failed_outside_window", "failed outside window"),
    ("worker_failures", "worker failures"), ("back_in", "back on previous s"),
    ("total", "deploy s"),
]
MARKERS = ("<!-- bench:results -->", "<!-- /bench:results -->")


def markers(app: str) -> tuple[str, str]:
    """The results section of ``app`` in BENCHMARKS.md (tally's is the first)."""
    if app == "tally":
        return MARKERS
    return (f"<!-- bench:results-{app} -->", f"<!-- /bench:results-{app} -->")


def rows(results: dict[str, list]) -> list[dict]:
    """One row per strategy and deploy, with each window's ratio to the
    default strategy's window for the same deploy."""
    base = {r.tag: r.row()["window"] for r in results.get("herotasks", [])}
    out = []
    for strategy, deploys in results.items():
        for res in deploys:
            row = {"strategy": strategy, **res.row()}
            ref = base.get(res.tag)
            if ref:
                row["ratio"] = f"{row['window'] / ref:.1f}×"
            else:
                row["ratio"] = "—" if not row["window"] else "∞ (herotasks: none)"
            out.append(row)
    return out


def table(rows_: list[dict], markdown: bool = False) -> str:
    return format_table([title for _, title in COLUMNS],
                        [[row[key] for key, _ in COLUMNS] for row in rows_],
                        markdown=markdown)


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores "
            f"({cpu}), Python {platform.python_version()}")


def write_markdown(path: Path, rows_: list[dict], command: str, timing: Timing,
                   rate: float, app: str = "tally") -> None:
    start, end = markers(app)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = "\n".join([
        start,
        f"Measured {stamp} with `{command}` on {machine()}.",
        f"Timing (seconds here): {asdict(timing)}; load {rate:g} requests/s "
        "on web_url, one worker dyno busy.",
        "",
        table(rows_, markdown=True),
        end,
    ])
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{start}\n{end}\n"
    if start not in text:
        text += f"\n{start}\n{end}\n"
    pattern = re.escape(start) + r".*?" + re.escape(end)
    path.write_text(re.sub(pattern, lambda _: section, text, flags=re.S))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=".herotasks/bench")
    parser.add_argument("--app", default="tally", choices=tuple(APPS),
                        help="the example app (default %(default)s)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="comma-separated (default %(default)s)")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--build", type=float, default=Timing.build,
                        help="slug compile seconds (default %(default)s)")
    parser.add_argument("--assets", type=float, default=Timing.assets,
                        help="asset compile seconds (default %(default)s)")
    parser.add_argument("--migration", type=float, default=Timing.migration,
                        help="migration seconds (default %(default)s)")
    parser.add_argument("--good-requests", type=int, metavar="N",
                        help="requests each web dyno of the release that breaks "
                        "under traffic (tally's v7) serves before it breaks "
                        "(default: the app's, 200; fewer at a low --rate, so it "
                        "breaks within the watch)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds of load before and after each deploy")
    parser.add_argument("--markdown", metavar="PATH",
                        help="write the results into this markdown file")
    parser.add_argument("--quiet", action="store_true",
                        help="do not echo each deploy's output")
    args = parser.parse_args(argv)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategy {unknown[0]!r}: use {', '.join(STRATEGIES)}")
    timing = Timing(build=args.build, assets=args.assets, migration=args.migration)
    echo = (lambda *a, **k: None) if args.quiet else print

    results = {}
    for strategy in strategies:
        print(f"\n=== {strategy} ===", flush=True)
        scenario = Scenario(Path(args.root) / strategy, strategy, rate=args.rate,
                            timing=timing, settle=args.settle, echo=echo, app=args.app,
                            good_requests=args.good_requests)
        results[strategy] = scenario.run()
        print(describe(strategy, results[strategy], scenario.app.deploys), flush=True)
        scenario.draw(results[strategy])
    all_rows = rows(results)
    print("\n" + table(all_rows))
    if args.markdown:
        command = "python -m bench.run " + " ".join(argv if argv is not None
                                                    else sys.argv[1:])
        write_markdown(Path(args.markdown), all_rows, command.strip(), timing, args.rate,
                       args.app)
        print(f"\nresults written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
