"""Heroku's ``Range`` paging for list endpoints.

Clients send ``Range: <field> [first]..[last]; max=N, order=asc|desc`` (a
leading ``]`` on ``first`` makes it exclusive, as in ``Next-Range``). A
truncated list answers ``206 Partial Content`` with ``Next-Range`` naming
where the next page starts, which clients (the CLI's http-call, heroku3)
follow. Pages hold 200 items by default and 1000 at most.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_MAX = 200
LIMIT_MAX = 1000

_RANGE = re.compile(
    r"^\s*(?P<field>[\w.]+)\s*(?P<excl>\]?)(?P<first>[^.;\s]*)\.\.(?P<last>[^;\s]*)"
    r"\s*(?:;\s*(?P<opts>.*))?$")


class RangeError(ValueError):
    pass


@dataclass
class Range:
    field: str = "id"
    first: str = ""
    exclusive: bool = False
    last: str = ""
    max: int = DEFAULT_MAX
    order: str = "asc"


def parse(header: str | None) -> Range | None:
    if not header:
        return None
    m = _RANGE.match(header)
    if not m:
        raise RangeError(f"Invalid Range header: {header}")
    r = Range(field=m["field"], first=m["first"], exclusive=bool(m["excl"]),
              last=m["last"])
    for opt in re.split(r"[,;]", m["opts"] or ""):
        if "=" not in opt:
            continue
        key, value = (s.strip() for s in opt.split("=", 1))
        if key == "max":
            if not value.isdigit() or int(value) < 1:
                raise RangeError(f"Invalid Range max: {value}")
            r.max = min(int(value), LIMIT_MAX)
        elif key == "order":
            if value not in ("asc", "desc"):
                raise RangeError(f"Invalid Range order: {value}")
            r.order = value
    return r


def _key(item: dict, field: str):
    value = item.get(field)
    # Numbers sort as numbers (release versions), the rest as text.
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def page(items: list[dict], rng: Range | None) -> tuple[list[dict], str | None]:
    """The page of ``items`` the range asks for, and the ``Next-Range``
    value when more remain."""
    if rng is None:
        rng = Range(field="id")
        ordered = list(items)       # no Range: natural (creation) order
    else:
        if items and rng.field not in items[0]:
            raise RangeError(f"Invalid Range field: {rng.field}")
        ordered = sorted(items, key=lambda i: _key(i, rng.field),
                         reverse=rng.order == "desc")
        if rng.first:
            ordered = _after(ordered, rng, rng.first, rng.exclusive)
        if rng.last:
            ordered = [i for i in ordered if not _beyond(i, rng, rng.last)]
    chunk = ordered[: rng.max]
    if len(ordered) <= rng.max:
        return chunk, None
    last_value = chunk[-1].get(rng.field)
    nxt = f"{rng.field} ]{last_value}..; max={rng.max}"
    if rng.order == "desc":
        nxt += ", order=desc"
    return chunk, nxt


def _cmp_value(item: dict, rng: Range, bound: str):
    value = item.get(rng.field)
    if isinstance(value, (int, float)):
        try:
            return value, float(bound)
        except ValueError:
            return str(value), bound
    return str(value), bound


def _after(items, rng, bound, exclusive):
    out = []
    for i in items:
        v, b = _cmp_value(i, rng, bound)
        if rng.order == "desc":
            keep = v < b if exclusive else v <= b
        else:
            keep = v > b if exclusive else v >= b
        if keep:
            out.append(i)
    return out


def _beyond(item, rng, bound):
    v, b = _cmp_value(item, rng, bound)
    return v < b if rng.order == "desc" else v > b
