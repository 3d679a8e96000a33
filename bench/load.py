"""Steady HTTP load on a loopback URL, with every request's outcome recorded.

The load is open-loop: request i is due at start + i/rate whatever happened to
the earlier ones, so a slow or failing site still gets asked as often as a
healthy one and every failure is counted. Each request is a new connection
(as a fresh visitor's would be), so a router that stops listening shows up as
a connection error rather than a stuck keep-alive socket.

    with Load("http://127.0.0.1:5000/", rate=50) as load:
        run_the_deploy()
    summary = summarise(load.records, [window(report, "maintenance")])

Outcomes, from the point of view of someone visiting the site:
    ok           2xx from the app
    maintenance  the sandbox router's maintenance page (503, marked)
    app_error    5xx from the app itself
    unavailable  503 from the router with no maintenance: no web dyno answered
    conn_error   no HTTP answer at all (refused, reset, timed out)
    unexpected   any other status (a 404 or 400 means the benchmark is broken)
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

OUTCOMES = ("ok", "maintenance", "app_error", "unavailable", "conn_error", "unexpected")
# What counts as a failed request. The maintenance page is not one by itself:
# whether it is acceptable depends on when it was served (see summarise).
FAILED = ("app_error", "unavailable", "conn_error", "unexpected")

# The sandbox router marks the answers it makes itself (sandbox/docs/sandbox.md).
SANDBOX_HEADER = "X-Herotasks-Sandbox"
MAINTENANCE_MARKER = b"herotasks-sandbox-maintenance"
USER_AGENT = "herotasks-bench/1"


class Record(NamedTuple):
    """One request. Times are epoch seconds, the clock deploy reports use."""

    t_start: float
    t_end: float
    outcome: str
    status: int | None = None  # None when there was no HTTP answer


class LoadError(ValueError):
    """A load that cannot be run as asked (say, a URL off this machine)."""


def classify(status: int, headers: Mapping[str, str], body: bytes) -> str:
    """Name the outcome of one HTTP answer.

    `headers` must look names up case-insensitively (http.client's do).
    """
    marker = (headers.get(SANDBOX_HEADER) or "").strip().lower()
    if marker == "maintenance" or (status == 503 and MAINTENANCE_MARKER in body):
        return "maintenance"
    if marker or status == 503:  # the router answered for a missing web dyno
        return "unavailable"
    if 200 <= status < 300:
        return "ok"
    if 500 <= status < 600:
        return "app_error"
    return "unexpected"


def loopback_target(url: str) -> tuple[str, str, int, str]:
    """Split `url` into (scheme, host, port, path), refusing anything off loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise LoadError(f"{url!r} is not an http(s) URL; pass the app's web_url")
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise LoadError(
            f"{url!r} is not on this machine; load goes to 127.0.0.1 or localhost only"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port, path


class Load:
    """Requests at a steady rate from a pool of threads until stopped.

    `threads` bounds how many requests can be in flight. The default keeps
    50/s going while every answer takes 5 s (a router waiting for a dyno);
    past that the schedule slips, which summarise shows as a lower rate.
    """

    def __init__(
        self,
        url: str,
        *,
        rate: float = 50.0,
        max_duration: float = 600.0,
        timeout: float = 10.0,
        threads: int = 256,
        cafile: str | None = None,
    ) -> None:
        if rate <= 0 or max_duration <= 0 or timeout <= 0 or threads < 1:
            raise LoadError("rate, max_duration, timeout and threads must be positive")
        self.url = url
        self.scheme, self.host, self.port, self.path = loopback_target(url)
        self.rate = rate
        self.max_duration = max_duration
        self.timeout = timeout
        https = self.scheme == "https"
        self.context = ssl.create_default_context(cafile=cafile) if https else None
        self._threads = [
            threading.Thread(target=self._run, name=f"load-{n}", daemon=True)
            for n in range(threads)
        ]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._records: list[Record] = []
        self._next = 0
        self._t0 = 0.0

    def start(self) -> Load:
        self._t0 = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Record]:
        """Send no more requests, wait for those in flight, return all records."""
        self._stopping.set()
        return self.wait()

    def wait(self) -> list[Record]:
        """Wait until stopped or `max_duration` is over; return all records."""
        for thread in self._threads:
            thread.join()
        return self.records

    @property
    def records(self) -> list[Record]:
        """The requests answered so far, in order of their start."""
        with self._lock:
            return sorted(self._records, key=lambda record: record.t_start)

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _run(self) -> None:
        while True:
            with self._lock:
                due = self._next / self.rate
                self._next += 1
            if due >= self.max_duration:
                return
            if self._stopping.wait(max(0.0, self._t0 + due - time.monotonic())):
                return
            record = self._request()
            with self._lock:
                self._records.append(record)

    def _request(self) -> Record:
        """One GET on a new connection, classified."""
        if self.context is not None:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        else:
            conn = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout
            )
        t_start = time.time()
        try:
            headers = {"User-Agent": USER_AGENT, "Connection": "close"}
            conn.request("GET", self.path, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            return Record(t_start, time.time(), "conn_error")
        finally:
            conn.close()
        outcome = classify(response.status, response.headers, body)
        return Record(t_start, time.time(), outcome, response.status)


def _inside(record: Record, windows: list[tuple[float, float]]) -> bool:
    return any(record.t_start <= b and a <= record.t_end for a, b in windows)


def summarise(
    records: Iterable[Record],
    windows: Iterable[tuple[float, float] | None] = (),
) -> dict:
    """Count outcomes overall, inside the windows and outside them.

    A request is inside when its lifetime overlaps a window at all: one that
    started just before maintenance began and got the maintenance page is the
    window's doing, not a failure outside it. `None` windows (a deploy that had
    no maintenance) are skipped, so a report's windows can be passed as they are.

    Returns {"requests", "span", "rate", "overall", "inside", "outside",
    "failed": {"overall", "inside", "outside"}}; each outcome count is a dict
    holding every name in OUTCOMES.
    """
    records = list(records)
    spans = [w for w in windows if w is not None]
    inside, outside = Counter(), Counter()
    for record in records:
        (inside if _inside(record, spans) else outside)[record.outcome] += 1
    tallies = {"overall": inside + outside, "inside": inside, "outside": outside}
    span = 0.0
    if records:
        span = max(r.t_end for r in records) - min(r.t_start for r in records)
    return {
        "requests": len(records),
        "span": span,
        "rate": len(records) / span if span > 0 else 0.0,
        **{part: {name: n[name] for name in OUTCOMES} for part, n in tallies.items()},
        "failed": {part: sum(n[f] for f in FAILED) for part, n in tallies.items()},
    }


def save_records(path: str | Path, records: Iterable[Record]) -> None:
    """Write records as JSON lines, so a timeline can be drawn again later."""
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record._asdict()) + "\n")


def load_records(path: str | Path) -> list[Record]:
    with open(path, encoding="utf-8") as lines:
        return [Record(**json.loads(line)) for line in lines if line.strip()]


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.load URL`: put load on a URL for a while, print the counts."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=main.__doc__
    )
    parser.add_argument("url", help="a loopback URL, e.g. the app's web_url")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--cafile", help="CA bundle for an https URL")
    parser.add_argument("--out", help="write every request as JSON lines to this file")
    args = parser.parse_args(argv)
    try:
        load = Load(
            args.url, rate=args.rate, max_duration=args.duration, cafile=args.cafile
        )
    except LoadError as exc:
        print(f"bench.load: {exc}", file=sys.stderr)
        return 2
    try:
        records = load.start().wait()
    except KeyboardInterrupt:
        records = load.stop()
    if args.out:
        save_records(args.out, records)
    summary = summarise(records)
    counts = ", ".join(f"{summary['overall'][name]} {name}" for name in OUTCOMES)
    print(f"{summary['requests']} requests in {summary['span']:.1f} s "
          f"({summary['rate']:.1f}/s): {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
