"""Dynos as real processes: the sandbox's dyno manager.

What Heroku's dyno manager does, this does on loopback, in parts with one
job each; :class:`Runtime` puts them together and is what the platform,
the API and the server talk to:

- ``formation.py``: which dynos should run (scaling to the formation,
  deploys, restarts, preboot), one job at a time per app;
- ``processes.py``: the dyno processes themselves (spawn, watch, crash
  restarts, Heroku's stop), their environment and ports;
- ``isolation.py``: each run's fresh copy of its slug (an overlay, or a
  copy) and its network namespace (loopback only), or the fallback;
- ``oneoffs.py``: one-off dynos (detached, or attached through the TLS
  rendezvous server) and the release phase;
- ``logs.py``: each dyno's Heroku-style log file;
- ``routers.py``: each app's router on its remembered port;
- ``dyno.py``: the ``Dyno`` itself and what the parts share.

Processes do not outlive the sandbox: ``shutdown`` stops them all, and
``start`` kills what a crashed sandbox left behind and forgets those dynos.
"""

from __future__ import annotations

from typing import Any, Iterable
from urllib.parse import urlsplit

from ..platform import Platform, not_found, public
from ..router import DYNO_WAIT, Router
from .dyno import (
    ATTACH_TTL,
    BOOT_TIMEOUT,
    DRAIN_TIMEOUT,
    PREBOOT_SWITCH,
    STOP_GRACE,
    Ports,
    Timings,
)
from .formation import Formation
from .logs import DynoLogs
from .oneoffs import OneOffs
from .processes import Processes, kill_leftover
from .routers import Routers

#: Heroku's crash restart policy for the Common Runtime (Dev Center, "Dynos
#: and the Dyno Manager", automatic restarts / dyno crash restart policy):
#: the first crash restarts the dyno at once; each further crash in a row
#: waits a cool-off "of up to" 20, 40, 60, 180 and then 320 minutes, and 320
#: minutes after that. The sandbox waits the whole "up to", the harsh
#: reading. The count starts again for a new dyno (a release, a restart, a
#: scale to 0 and back) and once a dyno has stayed up (``STABLE_AFTER``).
CRASH_COOLOFF = 20 * 60.0
#: The later cool-offs as multiples of the first (40, 60, 180, 320 minutes).
COOLOFF_STEPS = (1, 2, 3, 9, 16)


def heroku_backoff(first_cooloff: float) -> tuple[float, ...]:
    """Seconds before each successive crash restart: 0 for the first crash,
    then the cool-offs, Heroku's proportions scaled to ``first_cooloff``."""
    return (0.0, *(first_cooloff * k for k in COOLOFF_STEPS))


class _Timing:
    """A timing read and set on the runtime, kept in the ``Timings`` every
    part reads, so ``runtime.stop_grace = 0.5`` reaches them all."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, runtime: Any, owner: type | None = None) -> Any:
        if runtime is None:
            return self  # looked up on the class
        return getattr(runtime.timings, self.name)

    def __set__(self, runtime: Any, value: float) -> None:
        setattr(runtime.timings, self.name, value)


class Runtime:
    """Runs what the platform's state asks for.

    :param router_wait: seconds a request waits for a routable web dyno
    :param stop_grace: seconds from SIGTERM to SIGKILL
    :param drain_timeout: longest wait for a stopping web dyno's in-flight
        requests
    :param boot_timeout: seconds a web process has to listen on $PORT
    :param preboot_switch: seconds from a release until preboot moves the
        traffic to the new web dynos
    :param attach_ttl: seconds an attach_url stays valid, unused
    :param crash_backoff: seconds before each successive crash restart
        (default: Heroku's policy, ``heroku_backoff(crash_cooloff)``)
    :param crash_cooloff: the policy's first cool-off (Heroku's 20 minutes);
        settable later as ``runtime.crash_cooloff``

    The timings stay settable on the runtime (``runtime.stop_grace = 0.5``)
    and every part sees the change.
    """

    def __init__(self, platform: Platform, tls: Any, *,
                 router_wait: float = DYNO_WAIT, stop_grace: float = STOP_GRACE,
                 drain_timeout: float = DRAIN_TIMEOUT,
                 boot_timeout: float = BOOT_TIMEOUT, attach_ttl: float = ATTACH_TTL,
                 crash_backoff: Iterable[float] | None = None,
                 crash_cooloff: float = CRASH_COOLOFF,
                 preboot_switch: float = PREBOOT_SWITCH):
        if crash_backoff is None:
            crash_backoff = heroku_backoff(crash_cooloff)
        self.platform = platform
        self.tls = tls
        self.timings = Timings(router_wait=router_wait, stop_grace=stop_grace,
                               drain_timeout=drain_timeout, boot_timeout=boot_timeout,
                               preboot_switch=preboot_switch, attach_ttl=attach_ttl,
                               crash_backoff=tuple(crash_backoff) or (1.0,))
        self.logs = DynoLogs(platform.root)
        ports = Ports()
        self.routers = Routers(platform, self.timings, self.logs, ports, tls)
        self.processes = Processes(platform, self.timings, self.logs, self.routers,
                                   ports)
        self.formation = Formation(platform, self.timings, self.processes,
                                   self.routers)
        self.one_offs = OneOffs(platform, tls, self.timings, self.processes)
        self.processes.reachable = self.reachable

    def reachable(self) -> list[int]:
        """The sandbox's loopback ports a dyno may reach from its network
        namespace: the API and git server, PostgreSQL, every app's router
        (apps call each other through their web_url, as on Heroku)."""
        ports = self.routers.open_ports()
        api = urlsplit(self.platform.api_url).port
        if api:
            ports.append(api)
        postgres = getattr(getattr(self.platform, "addons", None), "postgres", None)
        if postgres is not None and postgres.port:
            ports.append(postgres.port)
        return ports

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """On sandbox start: forget (and kill) dynos of a previous run, give
        every app its router on its remembered port, run its formation."""
        store = self.platform.store
        live = {d.id for d in self.processes.dynos()}
        if not live:
            self.processes.copies.clear()  # a crashed run's slug copies
        for doc in store.find("dyno"):
            if doc["id"] in live:
                continue
            kill_leftover(doc)
            store.delete("dyno", doc["id"])
        for app in self.platform.apps():
            if self.routers.get(app["id"]) is None:
                self.routers.open(app, app.get("_router_port") or 0)
            self.converge(app["id"])

    def shutdown(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after the grace period)
        and close every listener."""
        dynos = self.processes.close()
        routers = self.routers.pop_all()
        rdv = self.one_offs.pop_rendezvous()
        workers = self.formation.close()
        self.processes.stop_many(dynos, drain=False)
        for r in routers:
            r.close()
        if rdv:
            rdv.close()
        # A job that was running (a preboot waiting for new dynos) sees the
        # close and ends; let it, before the server closes the store.
        for w in workers:
            w.wait_idle(5.0)

    def wait_idle(self, app_id: str | None = None, timeout: float = 60.0) -> bool:
        """Wait until the app's (or every app's) queued runtime work is done:
        a deploy has replaced its dynos, a scale has started or stopped them.
        Dynos may still be booting."""
        return self.formation.wait_idle(app_id, timeout)

    # -- apps --------------------------------------------------------------------------
    def app_created(self, app: dict) -> None:
        self.routers.open(app)

    def app_deleted(self, app: dict) -> None:
        dynos = self.processes.forget_app(app["id"])
        router = self.routers.pop(app["id"])
        self.formation.forget_app(app["id"])
        self.processes.stop_many(dynos, drain=False)
        if router:
            router.close()

    def router(self, app_id: str) -> Router | None:
        return self.routers.get(app_id)

    # -- what the platform and the API ask for -----------------------------------------
    def converge(self, app_id: str) -> None:
        """Start or stop dynos so the formation's quantities run (async)."""
        self.formation.converge(app_id)

    def deploy(self, app_id: str, release_id: str) -> None:
        """Move the app's dynos to its current release (async)."""
        self.formation.deploy(app_id, release_id)

    def restart(self, app: dict, name: str | None) -> None:
        """Restart every dyno (None) or those named (name, id or type)."""
        self.formation.restart(app, name)

    def stop_dyno(self, app: dict, name: str) -> None:
        """Stop dynos (name, id or type); a formation dyno comes back."""
        self.formation.stop_dyno(app, name)

    def run_release_phase(self, app: dict, release: dict) -> int:
        """Run the slug's ``release`` command (blocking); its exit status."""
        return self.one_offs.run_release_phase(app, release)

    def create_one_off(self, app: dict, body: dict) -> dict:
        """``POST /apps/{app}/dynos``: a detached or attached one-off dyno."""
        return self.one_offs.create(app, body)

    def list_dynos(self, app: dict) -> list[dict]:
        # A preboot's old web dynos still serve but are not listed (Heroku).
        return [public(doc) for doc in self.platform.store.find("dyno",
                                                                app_id=app["id"])
                if not doc.get("_unlisted")]

    def dyno(self, app: dict, identity: str) -> dict:
        # Newest first: during a preboot both an old and a new web.1 exist.
        for doc in reversed(self.platform.store.find("dyno", app_id=app["id"])):
            if identity in (doc["id"], doc["name"]):
                return public(doc)
        raise not_found("dyno")

    # -- the timings, settable here for every part ------------------------------------
    router_wait = _Timing()
    stop_grace = _Timing()
    drain_timeout = _Timing()
    boot_timeout = _Timing()
    preboot_switch = _Timing()
    attach_ttl = _Timing()

    @property
    def crash_cooloff(self) -> float:
        """The crash restart policy's first cool-off, in seconds."""
        backoff = self.timings.crash_backoff
        return backoff[1] if len(backoff) > 1 else backoff[0]

    @crash_cooloff.setter
    def crash_cooloff(self, seconds: float) -> None:
        self.timings.crash_backoff = heroku_backoff(seconds)

