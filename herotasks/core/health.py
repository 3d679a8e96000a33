"""Is the new release healthy? The check after a release (``health.check``).

Two signals, both from outside the app's code:

* the dyno states: no web or worker dyno of the new release is ``crashed``
  during the watch (Heroku restarts a crashed dyno, so a crash loop shows up
  as ``crashed`` now and then, never as a steady state the wait before would
  have caught);
* when ``herotasks.health.path`` is set, ``GET`` on the app's URL answers the
  expected status within the time limit (a redirect counts as its own status:
  an app that redirects ``/up`` is checked as configured, not followed), and
  keeps answering it, asked every second, for the whole watch.

The dyno list is polled every 5 s only: Heroku's rate limit refills at about
75 requests a minute, and a deploy should spend few of them (a 10 s watch
costs 2; the path's GETs go to the app, not the API). Three failing answers
in a row (asked every second) or a crashed dyno seen fail the check at once:
the rollback starts within about 3 s of the first failing answer, or 5 s of a
crash.

The check *before* the release (``health.precheck``, below) boots the new
slug's web process in a one-off dyno and asks it there, so a release that
fails outright never takes traffic; the watch is for what shows only under
real traffic.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from herotasks.core.config import Health
from herotasks.core.dynos import ONE_OFF_TYPES
from herotasks.errors import ApiError, CouldNotCheck, HerotasksError

#: Seconds between two looks at the dynos (the API's rate limit: no
#: faster than every 2 s), and between two HTTP tries.
DYNO_POLL = 5.0
HTTP_POLL = 1.0


def check(api: Any, app: dict, health: Health, version: int | None, *,
          cabundle: str | None = None, out: Callable[[str], Any] = print,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], Any] = time.sleep) -> str:
    """Watch the new release; a line saying what was checked.

    With a path, it must first answer as expected (within ``timeout``: the
    app may still be warming up); then, for the whole watch, it is asked
    every second and three failures in a row fail the check at once, as
    does a dyno of the release seen crashed (looked at every 5 s): some
    faults show only under real traffic, and each second they are left to
    serve costs users failed requests.

    :raises HerotasksError: a dyno crashed, or the app did not answer as
        expected; the message names which and how.
    """
    name = app["name"]
    said = []
    url = None
    if health.path:
        url = (app.get("web_url") or "").rstrip("/") + health.path
        _http(url, health, cabundle=cabundle, clock=clock, sleep=sleep)
        said.append(f"GET {health.path} answered {health.status}")
    deadline = clock() + health.watch
    # the wait before has just seen every dyno up: the first look at them
    # is one pause in (a request fewer), the last at the watch's end
    look_at = clock() + min(DYNO_POLL, health.watch)
    wrong = 0
    asked_at = clock()
    while True:
        if url is not None and health.watch > 0:
            asked_at = clock()
            last = _ask(url, health, cabundle=cabundle)
            # one blip (a slow answer on a busy dyno) is not a broken release;
            # three in a row, a second apart, are
            wrong = 0 if last is None else wrong + 1
            if wrong >= WRONG_IN_A_ROW:
                raise HerotasksError(
                    f"health check: GET {url} answered {last}, not "
                    f"{health.status}, {wrong} times in a row during the watch "
                    f"of v{version}", "fix the app or herotasks.health.path/status")
        now = clock()
        if now >= look_at or now >= deadline:
            _crashed(api, name, version)
            look_at = now + DYNO_POLL
        if now >= deadline:
            break
        # a second between two asks, start to start: a slow answer (a busy
        # dyno) does not push the next ask a whole second further
        pause = (HTTP_POLL - (now - asked_at)) if url is not None else DYNO_POLL
        sleep(max(0.0, min(pause, look_at - now, deadline - now)))
    if url is not None and health.watch > 0:
        said.append(f"kept answering it for {health.watch:g}s")
    said.append(f"no dyno of v{version} crashed in {health.watch:g}s")
    line = "health: " + "; ".join(said)
    out(line)
    return line


def _crashed(api: Any, name: str, version: int | None) -> None:
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


def _ask(url: str, health: Health, *, cabundle: str | None) -> str | None:
    """One GET: None when it answered ``health.status``, else what it did."""
    import requests  # only a deploy that checks a path needs it

    try:
        answer = requests.get(url, timeout=min(10.0, max(1.0, health.timeout)),
                              allow_redirects=False, verify=cabundle or True)
    except requests.RequestException as exc:
        return type(exc).__name__
    return None if answer.status_code == health.status else f"HTTP {answer.status_code}"


#: Wrong answers in a row (one a second) that fail the first phase at once:
#: an app that answers, and answers wrong, is not warming up.
WRONG_IN_A_ROW = 3


def _http(url: str, health: Health, *, cabundle: str | None,
          clock: Callable[[], float], sleep: Callable[[float], Any]) -> None:
    """Wait until ``url`` answers ``health.status``. No answer yet (or the
    router's 503 while dynos boot) is waited for up to ``health.timeout``;
    an app that answers another status three times in a row fails at once
    (a release already failing under traffic is rolled back seconds after
    the check starts, not at the end of its time limit)."""
    deadline = clock() + health.timeout
    wrong = 0
    while True:
        last = _ask(url, health, cabundle=cabundle)
        if last is None:
            return
        answered = last.startswith("HTTP ") and last != "HTTP 503"
        wrong = wrong + 1 if answered else 0
        if wrong >= WRONG_IN_A_ROW or clock() >= deadline:
            how = (f"{wrong} times in a row" if wrong >= WRONG_IN_A_ROW
                   else f"for {health.timeout:g}s")
            raise HerotasksError(
                f"health check: GET {url} answered {last}, not {health.status}, "
                f"{how}", "fix the app or herotasks.health.path/status")
        sleep(HTTP_POLL)


# -- the check before the release (health.precheck) ---------------------------------

#: The line prefix the precheck's script speaks with (what it found).
SAID = "precheck: "

# Run as ``bash -c`` in a one-off dyno of the new slug. The web command runs
# in the background in its own process group (set -m), its output kept in a
# file and shown only when the check fails; the script asks it on the dyno's
# own $PORT over loopback (nothing outside the dyno is involved), as the
# router would: Host and X-Forwarded-* headers (Dev Center, HTTP Routing).
# bash's /dev/tcp tells when the port is bound; curl asks (both are in
# Heroku's stack images). Times are in milliseconds since the script began.
_SCRIPT = r'''set -m
t0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - t0) / 1000000 )); }
say() { echo "precheck: $*"; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT  # a dyno's filesystem goes with it; a shell's does not
bash -c "$HT_WEB" </dev/null >"$log" 2>&1 &
web=$!
set +m  # its own process group stays; no job notices in the output
gone() { ! kill -0 "$web" 2>/dev/null; }
fail() {
  took=$(ms)
  if [ -s "$log" ]; then
    say "the web process's last lines:"; tail -n 20 "$log" | sed 's/^/  web| /'
  fi
  say "FAILED: $* ($took ms)"  # last: what the report shows
  kill -KILL -- "-$web" 2>/dev/null; exit 1
}
until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
  if gone; then
    wait "$web"; fail "the web process exited with status $? before binding \$PORT"
  fi
  [ "$(ms)" -ge $(( HT_BOOT * 1000 )) ] &&
    fail "the web process did not bind \$PORT within ${HT_BOOT}s"
  sleep 0.1
done
say "bound \$PORT in $(ms) ms"
if [ -n "$HT_PATH" ]; then
  command -v curl >/dev/null || fail "no curl in the dyno to ask $HT_PATH with"
  deadline=$(( $(ms) + HT_TIMEOUT * 1000 ))
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
      -H "Host: $HT_HOST" -H "X-Forwarded-Proto: https" -H "X-Forwarded-Port: 443" \
      -H "X-Forwarded-For: 127.0.0.1" -H "X-Request-Id: herotasks-precheck" \
      "http://127.0.0.1:$PORT$HT_PATH")
    if [ -n "$HT_STATUS" ]; then [ "$code" = "$HT_STATUS" ] && break
    else [ "$code" != 000 ] && [ "$code" -lt 500 ] && break; fi
    if gone; then
      wait "$web"; fail "the web process exited with status $? (GET $HT_PATH: $code)"
    fi
    [ "$(ms)" -ge "$deadline" ] &&
      fail "GET $HT_PATH answered $code, not ${HT_STATUS:-below 500}, for ${HT_TIMEOUT}s"
    sleep 0.5
  done
  say "GET $HT_PATH answered $code in $(ms) ms"
fi
if [ -n "$HT_SMOKE" ]; then
  bash -c "$HT_SMOKE" </dev/null 2>&1 | sed 's/^/  smoke| /'
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || fail "health.smoke \`$HT_SMOKE\` exited $rc"
  say "health.smoke passed"
fi
gone && { wait "$web"; fail "the web process exited with status $?"; }
kill -TERM -- "-$web" 2>/dev/null
say "ok in $(ms) ms"
'''


def precheck_asks(*, pending: bool, premigrated: bool) -> bool:
    """Whether the precheck judges the app's answers, or only its boot.

    The new code is asked only on the schema it was written for: nothing
    pending, or the online migrations already run (``db.premigrate``). A
    window-class migration (or one the release phase runs) comes after the
    check: on the old schema a page of the new code may fail for no fault
    of the release, so then the check only boots the web process (it binds
    ``$PORT`` and does not die), and the watch after the release judges the
    rest.
    """
    return not pending or premigrated


def precheck_command(web: str, health: Health, *, boot: float, host: str,
                     asks: bool) -> str:
    """The one-off dyno's command: boot ``web`` and ask it on ``$PORT``."""
    import shlex

    env = {"HT_WEB": web, "HT_BOOT": str(int(max(boot, 1))),
           "HT_TIMEOUT": str(int(max(health.timeout, 1))), "HT_HOST": host,
           "HT_PATH": (health.path or "/") if asks else "",
           "HT_STATUS": str(health.status) if asks and health.path else "",
           "HT_SMOKE": (health.smoke or "") if asks else ""}
    assign = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    # `env`, not bare assignments: a command that starts with a program is
    # what Fir's `launcher` takes in front of it (core/generations.py)
    return f"env {assign} bash -c {shlex.quote(_SCRIPT)}"


def precheck_found(output: str) -> list[str]:
    """What the precheck's script said (its own lines, prefix removed)."""
    return [line[len(SAID):] for line in output.splitlines() if line.startswith(SAID)]
