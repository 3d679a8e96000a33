"""A deploy on a time axis: an SVG picture, and a compact terminal version.

Both show the same story for one or more deploy reports: each step as a bar,
the maintenance and workers-down windows, what visitors got (request outcomes
from bench.load, counted per time bucket) and when the worker failed jobs
(bench.worklog). Time 0 is the start of the first deploy.

    svg = render_svg([report], records, failures, title="v2 with herotasks")
    Path("deploy.svg").write_text(svg)
    print(render_text([report], records, failures))

The SVG is written by hand (no plotting library): a few rects, lines and
texts, with a <title> on each step bar so a browser shows exact times on hover.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from bench.load import FAILED, OUTCOMES, Record, load_records, summarise
from bench.report import ReportError, load_report, window
from bench.worklog import JobFailure, job_failures

# Colour-blind-safe-ish hues (Tableau 10), one meaning each.
OUTCOME_COLORS = {
    "ok": "#59a14f",
    "maintenance": "#edc948",
    "app_error": "#e15759",
    "unavailable": "#b07aa1",
    "conn_error": "#4e4e4e",
    "unexpected": "#9c755f",
}
OUTCOME_LABELS = {
    "ok": "answered by the app",
    "maintenance": "maintenance page",
    "app_error": "app error (5xx)",
    "unavailable": "no web dyno (503)",
    "conn_error": "connection error",
    "unexpected": "unexpected status",
}
STEP_COLORS = {"ok": "#4e79a7", "failed": "#e15759", "skipped": "#bab0ac"}
WINDOWS = {"maintenance": "maintenance window", "workers_down": "workers down"}
WINDOW_COLORS = {"maintenance": "#f28e2b", "workers_down": "#76b7b2"}
FAILURE_COLOR = "#e15759"

PAD = 2.0  # seconds of load shown before and after the deploys


def _span(reports: Sequence[Mapping], pad: float) -> tuple[float, float]:
    if not reports:
        raise ValueError("a timeline needs at least one deploy report")
    start = min(r["started_at"] for r in reports) - pad
    end = max(r["finished_at"] for r in reports) + pad
    return start, max(end, start + 1.0)


def _state(step: Mapping) -> str:
    if step["skipped"]:
        return "skipped"
    return "ok" if step["ok"] else "failed"


def _timed(step: Mapping) -> bool:
    """Whether a step has a bar to draw (a skipped step took no time)."""
    return not step["skipped"] and None not in (step["started_at"], step["finished_at"])


def _found(report: Mapping) -> str | None:
    """What the check before the release found (None: it did not run)."""
    check = report.get("precheck")
    if not check:
        return None
    what = "answers" if check.get("asked") else "boot only"
    last = (check.get("found") or ["no word from its dyno"])[-1].removeprefix(
        "FAILED: ")
    return f"{'ok' if check.get('ok') else 'FAILED'} ({what}): {last}"


def _step_note(step: Mapping) -> str:
    """The right-hand text of a step row: its duration, and whether it failed."""
    state = _state(step)
    if not _timed(step):
        return state if state != "ok" else "-"
    took = _seconds(step["finished_at"] - step["started_at"])
    return took if state == "ok" else f"FAILED {took}"


def _buckets(
    records: Sequence[Record], start: float, end: float, n: int
) -> list[Counter]:
    """Outcome counts in n equal slices of [start, end), by request start time."""
    slices = [Counter() for _ in range(n)]
    width = (end - start) / n
    for record in records:
        if start <= record.t_start < end:
            index = min(n - 1, int((record.t_start - start) / width))
            slices[index][record.outcome] += 1
    return slices


def _tick_step(span: float, most: int) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800):
        if span / step <= most:
            return step
    return 3600.0


def _ticks(start: float, end: float, zero: float, most: int) -> list[float]:
    """Round times (relative to zero) between start and end, as absolute times."""
    step = _tick_step(end - start, most)
    first = math.ceil((start - zero) / step) * step
    count = int(math.floor((end - zero - first) / step)) + 1
    return [zero + first + i * step for i in range(count)]


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if abs(value) < 10 else f"{value:.1f} s"


def _tick_label(offset: float) -> str:
    return f"{offset:g} s"


def _headline(report: Mapping) -> str:
    commit = report.get("commit") or {}
    moved = ""
    if commit.get("to"):
        moved = f" · {(commit.get('from') or 'none')[:7]} → {commit['to'][:7]}"
    state = "ok" if report["ok"] else f"FAILED: {report.get('error') or 'error'}"
    took = report["finished_at"] - report["started_at"]
    return (
        f"{report['app']} · {report['stage']} · {report['strategy']} · {state} "
        f"in {_seconds(took)}{moved}"
    )


def _in_span(failures: Sequence[JobFailure], start: float, end: float) -> list[float]:
    return [f.at for f in failures if f.at is not None and start <= f.at <= end]


def _caption(
    records: Sequence[Record], reports: Sequence[Mapping], failures: int
) -> tuple[str, str]:
    """Two lines: what the requests got, then what failed and where."""
    summary = summarise(records, [window(r, "maintenance") for r in reports])
    seen = ", ".join(
        f"{summary['overall'][name]} {OUTCOME_LABELS[name]}"
        for name in OUTCOMES
        if summary["overall"][name] or name in ("ok", "maintenance")
    )
    return (
        f"{summary['requests']} requests: {seen}",
        f"failed requests outside maintenance: {summary['failed']['outside']}, "
        f"inside: {summary['failed']['inside']} · worker job failures: {failures}",
    )


# --- SVG -------------------------------------------------------------------

WIDTH = 1000
LEFT = 190  # label column
RIGHT = 110  # duration and count column
PLOT = WIDTH - LEFT - RIGHT
ROW = 20
BAR = 12
CHART = 120  # height of the request chart
FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"


def _attrs(attrs: Mapping[str, object]) -> str:
    return "".join(
        f" {name.rstrip('_').replace('_', '-')}={quoteattr(str(value))}"
        for name, value in attrs.items()
    )


def _tag(
    name: str, text: str | None = None, *, inner: str = "", **attrs: object
) -> str:
    """One element; `text` is escaped, `inner` is markup (child elements)."""
    body = (escape(text) if text is not None else "") + inner
    if not body:
        return f"<{name}{_attrs(attrs)}/>"
    return f"<{name}{_attrs(attrs)}>{body}</{name}>"


class _Svg:
    """Collects elements; x() maps a time to a pixel column in the plot."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.back: list[str] = []  # drawn first: grid and window shading
        self.front: list[str] = []
        self.shading: list[tuple[float, float, str]] = []  # (x0, x1, window name)

    def x(self, t: float) -> float:
        t = min(max(t, self.start), self.end)
        return round(LEFT + (t - self.start) / (self.end - self.start) * PLOT, 2)

    def add(self, name: str, text: str | None = None, **attrs: object) -> None:
        self.front.append(_tag(name, text, **attrs))

    def label(self, y: float, text: str, **attrs: object) -> None:
        """Text in the left column, right-aligned against the plot."""
        self.add("text", text, x=LEFT - 8, y=y, text_anchor="end", **attrs)

    def note(self, y: float, text: str, **attrs: object) -> None:
        """Text in the right column (durations, counts)."""
        self.add("text", text, x=WIDTH - RIGHT + 8, y=y, **attrs)


def render_svg(
    reports: Sequence[Mapping],
    records: Sequence[Record] = (),
    failures: Sequence[JobFailure] = (),
    *,
    title: str = "Deploy timeline",
    bucket: float = 0.25,
    pad: float = PAD,
) -> str:
    """The whole picture as an SVG document (a string).

    `failures` are all worker failures to report; those without a time are
    counted in the caption but cannot be placed on the axis.
    """
    start, end = _span(reports, pad)
    zero = min(r["started_at"] for r in reports)
    shown = [r for r in records if start <= r.t_start < end]
    svg = _Svg(start, end)
    svg.add("text", title, x=16, y=26, font_size=17, font_weight="bold")
    for n, line in enumerate(_caption(shown, reports, len(failures))):
        svg.add("text", line, x=16, y=46 + 16 * n, fill="#444")

    y = 86
    top = y
    for report in reports:
        svg.add("text", _headline(report), x=16, y=y + 14, font_weight="bold")
        y += ROW + 2
        for step in report["steps"]:
            found = _found(report) if step["name"] == "health.precheck" else None
            _svg_step(svg, step, y, found)
            y += ROW
        for name, label in WINDOWS.items():
            span = window(report, name)
            if span is None:
                continue
            svg.label(y + 14, label, fill=WINDOW_COLORS[name])
            x0, x1 = svg.x(span[0]), svg.x(span[1])
            svg.add("rect", x=x0, y=y + 4, width=max(x1 - x0, 1), height=BAR,
                    fill=WINDOW_COLORS[name])
            svg.note(y + 14, _seconds(span[1] - span[0]))
            svg.shading.append((x0, x1, name))
            y += ROW
        y += 8

    y += 6
    _svg_requests(svg, shown, y, bucket)
    y += CHART + 10
    placed = _in_span(failures, start, end)
    lane = y
    svg.label(y + 14, "worker job failures")
    for at in placed:
        svg.add("line", x1=svg.x(at), x2=svg.x(at), y1=y + 2, y2=y + 18,
                stroke=FAILURE_COLOR, stroke_width=2, class_="job-failure")
    svg.note(y + 14, str(len(placed)), fill=FAILURE_COLOR if placed else "#444")
    y += ROW + 4
    bottom = y
    # Maintenance is shaded across every lane (it is what visitors see), the
    # workers-down window only on the worker lane; drawn now that y is known.
    for x0, x1, name in svg.shading:
        y0, y1 = (top, bottom) if name == "maintenance" else (lane, lane + ROW)
        svg.back.append(_tag("rect", x=x0, y=y0, width=max(x1 - x0, 1),
                             height=y1 - y0, fill=WINDOW_COLORS[name],
                             fill_opacity=0.18, class_=f"window-{name}"))
    for t in _ticks(start, end, zero, 12):
        svg.back.append(_tag("line", x1=svg.x(t), x2=svg.x(t), y1=top, y2=bottom,
                             stroke="#e6e6e6"))
        svg.add("text", _tick_label(round(t - zero, 3)), x=svg.x(t), y=bottom + 14,
                text_anchor="middle", fill="#444")
    svg.add("line", x1=LEFT, x2=LEFT + PLOT, y1=bottom, y2=bottom, stroke="#888")
    height = _svg_legend(svg, bottom + 36)

    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family={quoteattr(FONT)} font-size="12">',
        _tag("title", title),
        _tag("rect", x=0, y=0, width=WIDTH, height=height, fill="white"),
        *svg.back,
        *svg.front,
        "</svg>",
        "",
    ])


def _svg_step(svg: _Svg, step: Mapping, y: float, found: str | None = None) -> None:
    state = _state(step)
    quiet = "#999" if state == "skipped" else "#222"
    svg.label(y + 14, step["name"], fill=quiet)
    svg.note(y + 14, _step_note(step), fill=STEP_COLORS["failed"] if state == "failed"
             else quiet)
    if _timed(step):
        x0, x1 = svg.x(step["started_at"]), svg.x(step["finished_at"])
        tip = _tag("title", f"{step['name']}: {_step_note(step)}"
                   + (f" · {found}" if found else ""))
        svg.front.append(_tag("rect", x=x0, y=y + 4, width=max(x1 - x0, 1.5),
                              height=BAR, fill=STEP_COLORS[state], class_="step",
                              inner=tip))


def _svg_requests(
    svg: _Svg, records: Sequence[Record], y: float, bucket: float
) -> None:
    n = max(1, math.ceil((svg.end - svg.start) / bucket))
    slices = _buckets(records, svg.start, svg.start + n * bucket, n)
    most = max((sum(s.values()) for s in slices), default=0) or 1
    width = PLOT * bucket / (svg.end - svg.start)
    svg.label(y + CHART / 2, "requests")
    svg.label(y + CHART / 2 + 15, f"per {bucket * 1000:g} ms", fill="#777",
              font_size=11)
    for count, at in ((most, y + 9), (0, y + CHART)):
        svg.add("text", str(count), x=LEFT - 4, y=at, text_anchor="end", fill="#777",
                font_size=10)
    svg.add("line", x1=LEFT, x2=LEFT + PLOT, y1=y + CHART, y2=y + CHART, stroke="#888")
    for i, counts in enumerate(slices):
        x = LEFT + i * width
        # A gap between bars keeps buckets apart; the last one stops at the edge.
        w = min(width - 0.5, LEFT + PLOT - x)
        if w <= 0:
            break
        base = y + CHART
        for name in OUTCOMES:
            if counts[name]:
                h = CHART * counts[name] / most
                base -= h
                svg.add("rect", x=round(x, 2), y=round(base, 2), width=round(w, 2),
                        height=round(h, 2), fill=OUTCOME_COLORS[name], class_=name)
    failed = sum(r.outcome in FAILED for r in records)
    svg.note(y + 12, f"{len(records)} sent")
    svg.note(y + 27, f"{failed} failed", fill=FAILURE_COLOR if failed else "#444")


def _svg_legend(svg: _Svg, y: float) -> int:
    """Draw the legend from y; return the picture's total height."""
    entries = (
        [(STEP_COLORS[s], f"step {s}") for s in ("ok", "failed", "skipped")]
        + [(WINDOW_COLORS[w], label) for w, label in WINDOWS.items()]
        + [(OUTCOME_COLORS[o], OUTCOME_LABELS[o]) for o in OUTCOMES]
        + [(FAILURE_COLOR, "worker job failure")]
    )
    x = 16
    for color, label in entries:
        advance = 22 + 6.5 * len(label) + 14
        if x + advance > WIDTH - 16:
            x, y = 16, y + 20
        svg.add("rect", x=x, y=y - 10, width=14, height=12, fill=color,
                class_="legend")
        svg.add("text", label, x=x + 20, y=y, fill="#333")
        x += advance
    return int(y + 16)


def write_svg(path: str | Path, *args, **kwargs) -> Path:
    """render_svg(*args, **kwargs) written to path."""
    path = Path(path)
    path.write_text(render_svg(*args, **kwargs), encoding="utf-8")
    return path


# --- terminal -------------------------------------------------------------

LEVELS = " ▁▂▃▄▅▆▇█"
LABEL = 18  # width of the row labels
TEXT_OUTCOMES = (("ok", "answered by app"), ("maintenance", "maintenance page"))


def render_text(
    reports: Sequence[Mapping],
    records: Sequence[Record] = (),
    failures: Sequence[JobFailure] = (),
    *,
    width: int = 60,
    pad: float = PAD,
) -> str:
    """A few lines per deploy: step bars, windows, request outcomes, failures.

    Each deploy gets its own time axis (a terminal is too narrow to share one).
    """
    blocks = []
    for report in reports:
        start, end = _span([report], pad)
        col = _columns(start, end, width)
        shown = [r for r in records if start <= r.t_start < end]
        placed = _in_span(failures, start, end)
        lines = [_headline(report), _text_axis(start, end, report["started_at"], width)]
        for step in report["steps"]:
            bar = " " * width
            if _timed(step):
                char = "█" if step["ok"] else "▒"
                first, last = col(step["started_at"]), col(step["finished_at"])
                bar = _bar(first, last, width, char)
            lines.append(_row(step["name"], bar, _step_note(step)))
            if step["name"] == "health.precheck" and _found(report):
                lines.append(f"  {_found(report)}")
        for name, label in WINDOWS.items():
            span = window(report, name)
            if span is not None:
                bar = _bar(col(span[0]), col(span[1]), width, "░")
                lines.append(_row(label, bar, _seconds(span[1] - span[0])))
        slices = _buckets(shown, start, end, width)
        most = max((sum(s.values()) for s in slices), default=0) or 1
        for name, label in TEXT_OUTCOMES:
            spark = "".join(_level(s[name], most) for s in slices)
            lines.append(_row(label, spark, str(sum(s[name] for s in slices))))
        failed = "".join("×" if any(s[f] for f in FAILED) else " " for s in slices)
        lines.append(_row("failed requests", failed, _failed_note(shown)))
        marks = [" "] * width
        for at in placed:
            marks[col(at)] = "×"
        lines.append(_row("worker failures", "".join(marks), str(len(placed))))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _failed_note(records: Sequence[Record]) -> str:
    """`0`, or the total and its kinds: `7: 2 app_error, 5 conn_error`."""
    kinds = Counter(r.outcome for r in records if r.outcome in FAILED)
    detail = ", ".join(f"{kinds[name]} {name}" for name in FAILED if kinds[name])
    return f"{kinds.total()}: {detail}" if detail else "0"


def _columns(start: float, end: float, width: int):
    def col(t: float) -> int:
        return min(width - 1, max(0, int((t - start) / (end - start) * width)))

    return col


def _bar(first: int, last: int, width: int, char: str) -> str:
    return " " * first + char * (last - first + 1) + " " * (width - last - 1)


def _level(count: int, most: int) -> str:
    if not count:
        return " "
    return LEVELS[max(1, round(count / most * (len(LEVELS) - 1)))]


def _row(label: str, bar: str, note: str) -> str:
    return f"  {label[:LABEL]:<{LABEL}} │{bar}│ {note}".rstrip()


def _text_axis(start: float, end: float, zero: float, width: int) -> str:
    """Tick labels placed at their columns, like `0 s       5 s`."""
    col = _columns(start, end, width)
    axis = [" "] * (width + 8)
    for t in _ticks(start, end, zero, max(2, width // 10)):
        text = _tick_label(round(t - zero, 3))
        at = col(t)
        if all(c == " " for c in axis[max(0, at - 1):at + len(text) + 1]):
            axis[at:at + len(text)] = text
    return " " * (LABEL + 4) + "".join(axis).rstrip()


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.timeline REPORT...`: draw deploys from saved files."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.timeline", description=main.__doc__
    )
    parser.add_argument("reports", nargs="+", help="deploy report JSON files")
    parser.add_argument("--records", help="request records (bench.load --out)")
    parser.add_argument("--logs", nargs="*", default=[], help="dyno log files")
    parser.add_argument("--svg", help="write the picture to this file")
    parser.add_argument("--title", default="Deploy timeline")
    args = parser.parse_args(argv)
    try:
        reports = [load_report(path) for path in args.reports]
        records = load_records(args.records) if args.records else []
        failures = job_failures(args.logs)
    except (ReportError, OSError, ValueError, TypeError) as exc:
        print(f"bench.timeline: {exc}", file=sys.stderr)
        return 2
    print(render_text(reports, records, failures))
    if args.svg:
        path = write_svg(args.svg, reports, records, failures, title=args.title)
        print(f"picture: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
