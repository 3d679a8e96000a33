"""Is the new release healthy? The check after a release (``health.check``).

Two signals, both from outside the app's code:

* the dyno states: no web or worker dyno of the new release is ``crashed``
  during the watch (Heroku restarts a crashed dyno, so a crash loop shows up
  as ``crashed`` now and then, never as a steady state the wait before would
  have caught);
* when ``herotasks.health.path`` is set, ``GET`` on the app's URL answers the
  expected status within the time limit (a redirect counts as its own status:
  an app that redirects ``/up`` is checked as configured, not followed).

The dyno list is polled every few seconds only: Heroku's rate limit refills
at about 75 requests a minute, and a deploy should spend few of them.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from herotasks.core.config import Health
from herotasks.core.dynos import ONE_OFF_TYPES
from herotasks.errors import ApiError, CouldNotCheck, HerotasksError

#: Seconds between two looks at the dynos, and between two HTTP tries.
DYNO_POLL = 5.0
HTTP_POLL = 1.0


def check(api: Any, app: dict, health: Health, version: int | None, *,
          cabundle: str | None = None, out: Callable[[str], Any] = print,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], Any] = time.sleep) -> str:
    """Watch the new release; a line saying what was checked.

    :raises HerotasksError: a dyno crashed, or the app did not answer as
        expected in time; the message names which and how.
    """
    name = app["name"]
    said = []
    if health.path:
        url = (app.get("web_url") or "").rstrip("/") + health.path
        _http(url, health, cabundle=cabundle, clock=clock, sleep=sleep)
        said.append(f"GET {health.path} answered {health.status}")
    deadline = clock() + health.watch
    if health.watch > 0:
        # the wait before has just seen every dyno up: the first look is
        # one pause in (a request fewer), the last at the watch's end
        sleep(min(DYNO_POLL, health.watch))
    while True:
        try:
            listed = api.dynos(name)
        except ApiError as exc:
            # Heroku did not say (a 503 after the retries): nothing is known
            # about the release, which is no reason to roll it back
            raise CouldNotCheck(
                f"health check: could not list the dynos of {name} ({exc}); "
                f"v{version} was not checked and is kept",
                f"look at it yourself: `heroku ps -a {name}`") from None
        crashed = [d.get("name") or d.get("type") for d in listed
                   if d.get("state") == "crashed"
                   and d.get("type") not in ONE_OFF_TYPES
                   and (version is None
                        or (d.get("release") or {}).get("version") == version)]
        if crashed:
            raise HerotasksError(
                f"health check: {', '.join(sorted(crashed))} of v{version} on "
                f"{name} crashed",
                f"see `heroku logs -a {name}`")
        if clock() >= deadline:
            break
        sleep(min(DYNO_POLL, max(0.0, deadline - clock())))
    said.append(f"no dyno of v{version} crashed in {health.watch:g}s")
    line = "health: " + "; ".join(said)
    out(line)
    return line


def _http(url: str, health: Health, *, cabundle: str | None,
          clock: Callable[[], float], sleep: Callable[[float], Any]) -> None:
    import requests  # only a deploy that checks a path needs it

    deadline = clock() + health.timeout
    last = "no answer"
    while True:
        try:
            answer = requests.get(url, timeout=min(10.0, max(1.0, health.timeout)),
                                  allow_redirects=False, verify=cabundle or True)
            if answer.status_code == health.status:
                return
            last = f"HTTP {answer.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        if clock() >= deadline:
            raise HerotasksError(
                f"health check: GET {url} answered {last}, not {health.status}, "
                f"for {health.timeout:g}s",
                "fix the app or herotasks.health.path/status")
        sleep(HTTP_POLL)
