"""Aligned tables for the terminal and for Markdown (BENCHMARKS.md).

Numbers are right-aligned and text left-aligned, decided per column from
the values, so a caller passes raw numbers and gets consistent formatting:
floats with `digits` decimals, None as a dash.
"""

from __future__ import annotations

from collections.abc import Sequence


def cell(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _numeric(column: Sequence[object]) -> bool:
    values = [v for v in column if v is not None]
    return bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    )


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    markdown: bool = False,
    digits: int = 2,
) -> str:
    """Render rows under headers; every row must have one value per header."""
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {row!r} has {len(row)} values, not {len(headers)}")
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in headers]
    right = [_numeric(column) for column in columns]
    text = [[cell(v, digits) for v in row] for row in rows]
    widths = [
        max([len(h), *(len(r[i]) for r in text)]) for i, h in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ]
        if markdown:
            return "| " + " | ".join(padded) + " |"
        return "  ".join(padded).rstrip()

    if markdown:
        widths = [max(3, w) for w in widths]  # a delimiter cell needs hyphens
        rule = ["-" * (w - 1) + ":" if r else "-" * w for w, r in zip(widths, right, strict=True)]
    else:
        rule = ["-" * w for w in widths]
    return "\n".join([line(headers), line(rule), *(line(r) for r in text)])
