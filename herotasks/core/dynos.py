"""What runs on the app: one-off migrate dynos, restarts, "are the new dynos up",
and the state a window changes (maintenance, preboot, workers).

Migrations run through the Platform API plus the rendezvous protocol
(:mod:`herotasks.adapters.rendezvous`), the way ``heroku run --exit-code``
does it, but without the Node CLI: no extra install, the token never reaches
a child process or argv, and the exit code comes back as a number.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from herotasks.adapters import rendezvous
from herotasks.core import poll
from herotasks.core.state import Process, formation_from_api
from herotasks.errors import ApiError, CommandError, HerotasksError

#: Dyno types that are not part of the formation we wait for.
ONE_OFF_TYPES = ("run", "release", "scheduler")
#: The longest pause between two looks at booting dynos, in seconds. The
#: pauses grow by half each time, so the look that sees them up comes at
#: most ~half the time waited so far after they were (and never more than
#: 60 s, Heroku's own web boot timeout, R10); a boot as long as the default
#: 300 s timeout costs 13 requests, which keeps the whole deploy, the check
#: before the release included, within its 60 (Heroku's rate limit is
#: shared by everything on the account).
BOOT_POLL_MOST = 60.0


def migrate(api: Any, app: str, command: str, *, cabundle: str | None,
            timeout: float, out: Callable[[str], Any] = print,
            env: dict[str, str] | None = None) -> None:
    """Run ``command`` in a one-off dyno attached through rendezvous.

    :param env: extra environment of the dyno (over the app's config).
    :raises CommandError: the command exited non-zero.
    """
    code, dyno = run_attached(api, app, command, cabundle=cabundle,
                              timeout=timeout, out=out, env=env)
    if code != 0:
        raise CommandError(
            f"`{command}` exited {code} on {app} ({dyno.get('name', 'one-off dyno')})",
            "see its output above",
        )


def run_attached(api: Any, app: str, command: str, *, cabundle: str | None,
                 timeout: float, out: Callable[[str], Any] = print,
                 env: dict[str, str] | None = None) -> tuple[int, dict]:
    """Run ``command`` in a one-off dyno of ``app``, attached; its exit code
    and the dyno. ``env`` is sent with the dyno only (never set as config).

    :raises HerotasksError: Heroku started no attachable dyno.
    """
    dyno = api.create_dyno(app, rendezvous.wrap_command(command), attach=True,
                           type="run", time_to_live=int(timeout),
                           env={**(env or {}), "TERM": "dumb"})
    if not dyno or not dyno.get("attach_url"):
        raise HerotasksError(f"Heroku started no attachable dyno on {app}")
    return rendezvous.attach(dyno["attach_url"], out, cabundle=cabundle,
                             timeout=timeout), dyno


#: The longest ``time_to_live`` a dyno may be given (Platform API schema, dyno).
MOST_TTL = 86400
#: The line a held migration dyno says once its app has booted, and the one
#: it reads before migrating (anything else, or its input ending, and it
#: exits without migrating: see :class:`Held`).
READY = "herotasks: ready to migrate"
GO = b"go\n"
#: The exit code of a held dyno that was never told to go.
NO_GO = 75
#: The line a preset's held dyno says after migrating (config.Preset.
#: migrate_hold), followed by a number: the other connections to its
#: database opened from ~2 s before it read ``go`` to the migration's end
#: (PostgreSQL's ``pg_stat_activity``). Said only when it could count.
CONNECTIONS = "herotasks: connections since go: "


class ConnectionCount:
    """An output writer that passes text on and keeps the count of the
    :data:`CONNECTIONS` line (the last one said; None when none was, or it
    did not end in a number)."""

    def __init__(self, out: Callable[[str], Any] = lambda text: None) -> None:
        self.out, self.count, self._line = out, None, ""

    def write(self, text: str) -> None:
        self.out(text)
        self._line += text
        *lines, self._line = self._line.split("\n")
        for line in lines:
            said = line.rstrip("\r")
            if said.startswith(CONNECTIONS):
                number = said[len(CONNECTIONS):].strip()
                self.count = int(number) if number.isdigit() else None


def restart_needed(connections_since_go: int | None) -> bool:
    """Whether the dynos booted by the promotion must be restarted after the
    migration: unless the migration's dyno counted no connection to the
    database opened since just before it migrated. A dyno that never
    connected never read the schema (Rails reads it through a connection
    its pool keeps open); unknown (no count) restarts."""
    return connections_since_go != 0


class Held:
    """A one-off dyno that booted the app and waits on its input to migrate.

    Started before the window (:func:`hold`), told to go inside it
    (:meth:`migrate`), so only the migration itself runs in the window. It
    reads one line: ``go`` runs the migration; anything else, or the end of
    its input (this process died, the connection closed), makes it exit
    without migrating. Heroku stops an attached dyno whose client left.
    """

    def __init__(self, session: Any, dyno: dict, app: str, command: str) -> None:
        self.session, self.dyno, self.app, self.command = session, dyno, app, command

    def migrate(self, *, timeout: float,
                out: Callable[[str], Any] = print) -> int | None:
        """Tell the dyno to go and wait for its exit code.

        :returns: the count of other connections to the database opened
            since ``go`` that the dyno said (:data:`CONNECTIONS`), or None.
        :raises CommandError: the migration exited non-zero.
        :raises HerotasksError: the connection was lost (no exit code).
        """
        seen = ConnectionCount(out)
        try:
            self.session.send(GO + rendezvous.EOT)
            code = self.session.finish(seen.write, timeout=timeout, send_eot=False)
        finally:
            self.session.close()
        if code != 0:
            raise CommandError(
                f"`{self.command}` exited {code} on {self.app} "
                f"({self.dyno.get('name', 'one-off dyno')})", "see its output above")
        return seen.count

    def close(self) -> None:
        """Hang up: the dyno's input ends, it exits without migrating."""
        self.session.close()


def hold(api: Any, app: str, command: str, hold_command: str, *,
         cabundle: str | None, boot_timeout: float, timeout: float,
         out: Callable[[str], Any] = print, env: dict[str, str] | None = None,
         started: Callable[[dict], Any] = lambda dyno: None) -> Held:
    """Start ``hold_command`` (which boots the app, says :data:`READY` and
    waits for :data:`GO` before it runs ``command``) in an attached one-off
    dyno of ``app``; return once it is ready.

    :param started: told the dyno as soon as Heroku answers (the journal
        keeps it, so the dyno can be stopped from anywhere).
    :param timeout: the dyno's whole life (boot, wait and migration).
    :raises HerotasksError: no attachable dyno, or it did not get ready in
        ``boot_timeout`` seconds (its last output shown).
    """
    dyno = api.create_dyno(app, rendezvous.wrap_command(hold_command), attach=True,
                           type="run", time_to_live=int(timeout),
                           env={**(env or {}), "TERM": "dumb"})
    if not dyno or not dyno.get("attach_url"):
        raise HerotasksError(f"Heroku started no attachable dyno on {app}")
    started(dyno)
    session = rendezvous.Session(dyno["attach_url"], cabundle=cabundle)
    try:
        code = session.until(out, READY, timeout=boot_timeout)
    except BaseException:
        session.close()
        raise
    if code is not None:
        session.close()
        raise CommandError(
            f"the migration's dyno on {app} exited {code} before it was ready "
            f"({dyno.get('name', 'one-off dyno')})", "see its output above")
    return Held(session, dyno, app, command)


def stop(api: Any, app: str, dyno: str) -> bool:
    """Stop one dyno; False when it (or its app) is gone already."""
    try:
        api.stop_dyno(app, dyno)
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def restart(api: Any, app: str) -> tuple[str, ...]:
    """Restart every dyno of ``app`` (they come back on the current release).

    :returns: the ids of the dynos that ran before: a restart is asynchronous,
        so until they are replaced they still show ``up`` on the same release,
        and :func:`wait_up` must not count them.
    """
    before = tuple(d["id"] for d in api.dynos(app) or () if d.get("id"))
    api.restart_dynos(app)
    return before


def wait_up(api: Any, app: str, version: int | None, *, timeout: float,
            sleep: Callable[[float], Any] = time.sleep,
            replaced: Iterable[str] = (),
            pauses: Iterable[float] | None = None) -> None:
    """Wait until every formation dyno of release ``version`` is ``up``.

    What must run is read from the formation once, now (workers stopped for
    a window are at zero then, so only web is waited for). A dyno of the
    release seen ``crashed`` fails the wait when it is seen: Heroku restarts
    a crashed dyno at once, and after a second crash cools off for 20
    minutes, so a release that dies at boot never comes up before the
    deadline; waiting it out only kept a broken release longer.
    Dynos whose ids are in ``replaced`` (see :func:`restart`) do not count.
    The dyno list is polled at :func:`herotasks.core.poll.pauses` (2 s,
    growing to 60 s): a 10 s boot costs a handful of requests, and a boot
    as long as the timeout a few dozen at most, not one every moment.

    :raises HerotasksError: a dyno of the release crashed, or not all up
        within ``timeout`` seconds, naming the dynos and their states.
    """
    deadline = time.monotonic() + timeout
    replaced = set(replaced)
    want = {p.type: p.quantity for p in formation_from_api(api.formation(app))
            if p.quantity > 0}
    for pause in pauses if pauses is not None else poll.pauses(2.0, BOOT_POLL_MOST):
        dynos = [d for d in api.dynos(app) if d.get("type") not in ONE_OFF_TYPES
                 and d.get("id") not in replaced]
        missing = _not_up(want, dynos, version)
        if not missing:
            return
        crashed = sorted(d.get("name") or d.get("type") for d in dynos
                         if d.get("state") == "crashed" and d.get("type") in want
                         and (version is None or (d.get("release") or {}).get(
                             "version") == version))
        if crashed:
            raise HerotasksError(
                f"{', '.join(crashed)} of v{version} on {app} crashed while "
                f"booting ({'; '.join(missing)})",
                f"see `heroku logs -a {app}`")
        if time.monotonic() > deadline:
            raise HerotasksError(
                f"dynos of v{version} on {app} not up after {timeout:g}s: "
                + ", ".join(missing),
                f"check `heroku ps -a {app}` and the app's logs",
            )
        sleep(min(pause, max(deadline - time.monotonic(), 0.0) + 0.01))


def wait_old_gone(api: Any, app: str, version: int | None, *, timeout: float,
                  sleep: Callable[[float], Any] = time.sleep,
                  pauses: Iterable[float] | None = None) -> None:
    """Wait until no web or worker dyno of a release other than ``version``
    is left (after a preboot switch Heroku stops the old dynos, which may
    take up to 30 s each to exit: Dev Center, *Preboot*, *Dynos and the
    Dyno Manager*, "Graceful shutdown with SIGTERM").

    :raises HerotasksError: some still run after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    for pause in pauses if pauses is not None else poll.pauses(2.0, BOOT_POLL_MOST):
        old = sorted(f"{d.get('name') or d.get('type')} (v{_version(d)})"
                     for d in api.dynos(app) if d.get("type") not in ONE_OFF_TYPES
                     and _version(d) != version)
        if not old:
            return
        if time.monotonic() > deadline:
            raise HerotasksError(
                f"dynos of an older release still run on {app} after {timeout:g}s: "
                + ", ".join(old),
                f"check `heroku ps -a {app}`; the contract migrations did not run")
        sleep(min(pause, max(deadline - time.monotonic(), 0.0) + 0.01))


def _version(dyno: dict) -> int | None:
    return (dyno.get("release") or {}).get("version")


def _not_up(want: dict[str, int], dynos: list[dict], version: int | None) -> list[str]:
    """Descriptions of what is still missing (empty when all are up)."""
    missing = []
    for kind, quantity in sorted(want.items()):
        mine = [d for d in dynos if d.get("type") == kind and (
            version is None or (d.get("release") or {}).get("version") == version)]
        up = [d for d in mine if d.get("state") == "up"]
        if len(up) < quantity:
            states = ", ".join(f"{d.get('name')} {d.get('state')}" for d in mine
                               if d.get("state") != "up") or "none started"
            missing.append(f"{kind} {len(up)}/{quantity} up ({states})")
    return missing


# -- maintenance, preboot, workers ------------------------------------------------


def maintenance(api: Any, app: str, on: bool) -> None:
    """Set maintenance mode."""
    api.set_maintenance(app, on)


def preboot(api: Any, app: str) -> bool:
    """Whether preboot is enabled (False when the app has no such feature)."""
    try:
        return bool((api.feature(app, "preboot") or {}).get("enabled"))
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise


def set_preboot(api: Any, app: str, enabled: bool) -> None:
    """Turn preboot on or off (toggling does not restart anything)."""
    api.set_feature(app, "preboot", enabled)


def workers(api: Any, app: str) -> tuple[Process, ...]:
    """The running non-web processes, recorded exactly (type, quantity, size)."""
    return tuple(p for p in formation_from_api(api.formation(app))
                 if p.type != "web" and p.quantity > 0)


def stop_workers(api: Any, app: str, recorded: Iterable[Process]) -> None:
    """Scale the recorded processes to zero in one batch call."""
    updates = [{"type": p.type, "quantity": 0} for p in recorded]
    if updates:
        api.update_formation(app, updates)


def wait_stopped(api: Any, app: str, *, timeout: float,
                 sleep: Callable[[float], Any] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
    """Wait until no worker dyno (neither web nor one-off) is listed.

    Heroku answers a scale to zero at once, then sends SIGTERM and gives
    each dyno 30 s before SIGKILL; until its processes exit the dyno is
    listed and may still be working (on the old schema, say). Polled every
    2-3 s: Heroku takes seconds here, not moments.

    :raises HerotasksError: some are still listed after ``timeout`` seconds,
        naming them.
    """
    deadline = clock() + timeout
    for pause in poll.pauses(2.0, 3.0):
        left = [d for d in api.dynos(app) or ()
                if d.get("type") != "web" and d.get("type") not in ONE_OFF_TYPES]
        if not left:
            return
        if clock() >= deadline:
            names = ", ".join(f"{d.get('name')} ({d.get('state')})" for d in left)
            raise HerotasksError(
                f"worker dyno{'s' if len(left) > 1 else ''} {names} still running "
                f"on {app} {timeout:g}s after scaling to zero",
                f"check `heroku ps -a {app}` and its logs; "
                "herotasks.timeouts.stop sets how long to wait")
        sleep(min(pause, max(deadline - clock(), 0.0) + 0.01))


def restore_workers(api: Any, app: str, recorded: Iterable[Process]) -> None:
    """Put back exactly the recorded quantities and sizes."""
    updates = [{"type": p.type, "quantity": p.quantity, "size": p.size}
               for p in recorded]
    if updates:
        api.update_formation(app, updates)


def to_json(processes: Iterable[Process]) -> list[dict]:
    """Recorded formation as the journal stores it."""
    return [{"type": p.type, "quantity": p.quantity, "size": p.size}
            for p in processes]


def from_json(items: Iterable[dict]) -> tuple[Process, ...]:
    """The journal's formation back as :class:`Process` tuples."""
    return tuple(Process(i["type"], int(i["quantity"]), i.get("size") or "")
                 for i in items)
