"""Dynos as real processes: the sandbox's dyno manager.

A dyno here is a process group: ``bash -c "<Procfile command>"`` started in
its own session, in the release's slug directory, with the release's config
vars, ``PORT``, ``DYNO``, a ``PATH`` that finds this Python first, and
nothing else of the sandbox's own environment (its API token must never
reach an app). What Heroku's dyno manager does, this does on loopback:

- **formation**: N processes per process type, named ``web.1``, ``web.2``...
  A web dyno is ``starting`` until its ``PORT`` accepts connections, then
  ``up`` and routable (``router.py``); a web dyno that never listens is
  killed after ``boot_timeout`` (Heroku's R10). A process that exits on its
  own is ``crashed`` and restarted after a short, growing backoff.
- **deploys** (``deploy``) and restarts move every formation dyno to the
  current release, one job at a time per app: other types stop on the old
  release, then start on the new one; web dynos do the same unless preboot
  is on, in which case new web dynos start, take traffic once they listen,
  and only then are the old ones drained and stopped.
- **stopping** is Heroku's: a web dyno first leaves the router and finishes
  its in-flight requests, then the group gets SIGTERM and, after
  ``stop_grace`` seconds, SIGKILL.
- **release phase** (``run_release_phase``): the slug's ``release`` command
  in a ``release.NNNN`` dyno, its output in the release's log.
- **one-off dynos** (``create_one_off``): detached ones log to their file;
  attached ones wait for a client on the TLS rendezvous server
  (``rendezvous.py``) and start when it connects.

Each dyno is a document of kind ``dyno`` in the store, in the schema's
shape (private ``_pid``, ``_pstart``, ``_port``, ``_kind`` besides), and
writes Heroku-style lines (``2024-...+00:00 heroku[web.1]: State changed
from starting to up``, ``... app[web.1]: <output>``) to
``ROOT/logs/apps/<app>/<dyno>.log``; the router writes ``router.log`` there.

Processes do not outlive the sandbox: ``shutdown`` stops them all, and
``start`` kills what a crashed sandbox left behind (checked by process start
time, so a reused pid is never hit) and forgets those dynos.
"""

from __future__ import annotations

import codecs
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from .platform import DEFAULT_SIZE, DYNO_SIZES, Platform, invalid, new_id, not_found, now
from .rendezvous import RendezvousServer
from .router import DYNO_WAIT, REQUEST_TIMEOUT, Router

log = logging.getLogger("herotasks.sandbox")

#: Longest wait for a stopping web dyno's in-flight requests (Heroku's
#: router timeout: no request can take longer anyway).
DRAIN_TIMEOUT = REQUEST_TIMEOUT
#: SIGTERM to SIGKILL. Heroku allows 30 s; the sandbox is a rehearsal and
#: API calls such as app deletion wait for it, so it is shorter by default.
STOP_GRACE = 10.0
#: A web dyno must listen on $PORT this long after its process started (R10).
BOOT_TIMEOUT = 60.0
#: An attach_url nobody connects to is given up after this long.
ATTACH_TTL = 300.0
#: Heroku's one-off default and maximum time to live.
ONE_OFF_TTL = 86400
#: Heroku stops a release phase after an hour.
RELEASE_TIMEOUT = 3600.0
#: Seconds before restarting a crashed dyno, by crash count.
CRASH_BACKOFF = (1.0, 2.0, 5.0, 10.0, 20.0)
#: A dyno up this long has its crash count forgotten.
STABLE_AFTER = 60.0
#: The only variables of the sandbox's environment a dyno inherits.
SAFE_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
#: Heroku runs .profile.d scripts and .profile before the command.
PROFILE = ('for f in .profile.d/*.sh; do [ -r "$f" ] && . "$f"; done; '
           '[ -r .profile ] && . ./.profile\n')
BASH = shutil.which("bash") or "/bin/bash"


def _stamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _status(rc: int) -> int:
    """Exit status as a shell reports it (SIGTERM is 143)."""
    return 128 - rc if rc < 0 else rc


class Dyno:
    """One dyno: the process (when running) and what the API shows of it."""

    def __init__(self, *, app: dict, release: dict, name: str, type: str,
                 kind: str, command: str, size: str, env: dict | None = None,
                 ttl: float | None = None, run: str | None = None):
        self.id = new_id()
        self.app_id, self.app_name = app["id"], app["name"]
        self.release = release
        self.name, self.type, self.kind = name, type, kind
        self.command, self.size = command, size
        #: What runs (a one-off's ``web ...`` becomes the web command).
        self.run = run or command
        self.env = dict(env or {})
        self.ttl = ttl
        self.port = 0
        self.state = "starting"
        self.created_at = self.updated_at = now()
        self.attach_url: str | None = None
        self.secret: str | None = None
        self.proc: subprocess.Popen | None = None
        self.pstart: str | None = None
        self.spawned_at = 0.0
        self.up_at: float | None = None
        self.exit_code: int | None = None
        self.pump: threading.Thread | None = None
        #: Where output goes instead of the dyno's log (the release phase).
        self.sink: Callable[[str], None] | None = None
        self.lock = threading.Lock()
        self.stop = threading.Event()       # someone is stopping this dyno
        self.finished = threading.Event()   # its supervising thread is done
        self.supervised = False
        self.removed = False

    @property
    def index(self) -> int:
        tail = self.name.rpartition(".")[2]
        return int(tail) if tail.isdigit() else 0

    def doc(self) -> dict:
        return {
            "attach_url": self.attach_url, "command": self.command,
            "created_at": self.created_at, "id": self.id, "name": self.name,
            "release": {"id": self.release["id"], "version": self.release["version"]},
            "app": {"id": self.app_id, "name": self.app_name},
            "size": self.size, "state": self.state, "type": self.type,
            "updated_at": self.updated_at,
            "_pid": self.proc.pid if self.proc else None, "_pstart": self.pstart,
            "_port": self.port, "_kind": self.kind,
        }


class _Serial:
    """An app's runtime jobs (converge, deploy, restart), one at a time and
    in order, off the API request that asked for them."""

    def __init__(self, name: str):
        self._cond = threading.Condition()
        self._jobs: deque[tuple[Callable, tuple]] = deque()
        self._busy = False
        self._closed = False
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, fn: Callable, *args: Any) -> None:
        with self._cond:
            if not self._closed:
                self._jobs.append((fn, args))
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and not self._busy,
                                       timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._jobs.clear()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._jobs or self._closed)
                if not self._jobs:
                    return
                fn, args = self._jobs.popleft()
                self._busy = True
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - one failed job must not stop the app's
                log.exception("runtime job %s failed", getattr(fn, "__name__", fn))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


class Runtime:
    """Runs what the platform's state asks for.

    :param router_wait: seconds a request waits for a routable web dyno
    :param stop_grace: seconds from SIGTERM to SIGKILL
    :param drain_timeout: longest wait for a stopping web dyno's in-flight
        requests
    :param boot_timeout: seconds a web process has to listen on $PORT
    :param attach_ttl: seconds an attach_url stays valid, unused
    :param crash_backoff: seconds before each successive crash restart
    """

    def __init__(self, platform: Platform, tls: Any, *,
                 router_wait: float = DYNO_WAIT, stop_grace: float = STOP_GRACE,
                 drain_timeout: float = DRAIN_TIMEOUT,
                 boot_timeout: float = BOOT_TIMEOUT, attach_ttl: float = ATTACH_TTL,
                 crash_backoff: Iterable[float] = CRASH_BACKOFF):
        self.platform = platform
        self.tls = tls
        self.router_wait = router_wait
        self.stop_grace = stop_grace
        self.drain_timeout = drain_timeout
        self.boot_timeout = boot_timeout
        self.attach_ttl = attach_ttl
        self.crash_backoff = tuple(crash_backoff) or (1.0,)
        self.logs_dir = Path(platform.root) / "logs" / "apps"
        self._lock = threading.RLock()
        self._dynos: dict[str, Dyno] = {}
        self._routers: dict[str, Router] = {}
        self._workers: dict[str, _Serial] = {}
        self._gone: set[str] = set()        # deleted apps: start nothing more
        self._ports: set[int] = set()
        self._closed = False
        self._rendezvous: RendezvousServer | None = None
        self._empty: Path | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """On sandbox start: forget (and kill) dynos of a previous run, give
        every app its router on its remembered port, run its formation."""
        store = self.platform.store
        with self._lock:
            live = set(self._dynos)
        for doc in store.find("dyno"):
            if doc["id"] in live:
                continue
            _kill_leftover(doc)
            store.delete("dyno", doc["id"])
        for app in self.platform.apps():
            with self._lock:
                has_router = app["id"] in self._routers
            if not has_router:
                wanted = app.get("_router_port") or 0
                router = self._open_router(app, wanted)
                if router.port != wanted:
                    self._save_router_port(app["id"], router.port)
            self.converge(app["id"])

    def shutdown(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after the grace period)
        and close every listener."""
        with self._lock:
            self._closed = True
            dynos = list(self._dynos.values())
            routers, self._routers = list(self._routers.values()), {}
            workers, self._workers = list(self._workers.values()), {}
            rdv, self._rendezvous = self._rendezvous, None
        for w in workers:
            w.close()
        self._stop_many(dynos, drain=False)
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
        deadline = time.monotonic() + timeout
        with self._lock:
            workers = [w for a, w in self._workers.items() if app_id in (None, a)]
        return all(w.wait_idle(max(deadline - time.monotonic(), 0)) for w in workers)

    # -- apps ---------------------------------------------------------------------------
    def app_created(self, app: dict) -> None:
        router = self._open_router(app, 0)
        self._save_router_port(app["id"], router.port)

    def app_deleted(self, app: dict) -> None:
        with self._lock:
            self._gone.add(app["id"])
            dynos = [d for d in self._dynos.values() if d.app_id == app["id"]]
            router = self._routers.pop(app["id"], None)
            worker = self._workers.pop(app["id"], None)
        if worker:
            worker.close()
        self._stop_many(dynos, drain=False)
        if router:
            router.close()

    def router(self, app_id: str) -> Router | None:
        with self._lock:
            return self._routers.get(app_id)

    def _open_router(self, app: dict, port: int) -> Router:
        app_id = app["id"]

        def maintenance() -> bool:
            doc = self.platform.store.get("app", app_id)
            return bool(doc and doc.get("maintenance"))

        router = None
        for candidate in ([port] if port else []) + [self._free_port(), 0]:
            try:
                router = Router(app["name"], candidate, maintenance=maintenance,
                                wait=self.router_wait,
                                log_path=self.logs_dir / app["name"] / "router.log",
                                tls=self.tls.server_context())
                break
            except OSError:
                continue
        assert router is not None  # port 0 always binds
        with self._lock:
            old = self._routers.pop(app_id, None)
            self._routers[app_id] = router
        if old:
            old.close()
        return router

    def _save_router_port(self, app_id: str, port: int) -> None:
        store = self.platform.store
        with store.transaction():
            doc = store.get("app", app_id)
            if doc is None:
                return
            doc["web_url"] = f"http://127.0.0.1:{port}/"
            doc["_router_port"] = port
            store.put("app", doc)

    # -- formation ----------------------------------------------------------------------
    def converge(self, app_id: str) -> None:
        """Start or stop dynos so the formation's quantities run (async)."""
        self._expect(app_id)
        self._worker(app_id).submit(self._converge, app_id)

    def deploy(self, app_id: str, release_id: str) -> None:
        """Move the app's dynos to its current release (async)."""
        self._expect(app_id)
        self._worker(app_id).submit(self._deploy, app_id, release_id)

    def _expect(self, app_id: str) -> None:
        """Tell the router at once whether web dynos are on their way, so a
        request in the meantime waits for them instead of failing."""
        router = self.router(app_id)
        app = self.platform.store.get("app", app_id)
        if router is None or app is None:
            return
        release, slug = self._current(app)
        quantity = 0
        if slug and "web" in (slug.get("process_types") or {}):
            quantity = sum(int(f["quantity"]) for f in self.platform.formation(app)
                           if f["type"] == "web")
        router.set_expected(quantity)

    def restart(self, app: dict, name: str | None) -> None:
        """Restart every dyno (None) or those named (name, id or type)."""
        if name is None:
            self._worker(app["id"]).submit(self._restart_all, app["id"])
        else:
            ids = [d.id for d in self._resolve(app, name)]
            self._worker(app["id"]).submit(self._restart_some, app["id"], ids)

    def stop_dyno(self, app: dict, name: str) -> None:
        """Stop dynos (name, id or type). As on Heroku, a stopped formation
        dyno is started again by the dyno manager; a one-off is gone."""
        ids = [d.id for d in self._resolve(app, name)]
        self._worker(app["id"]).submit(self._restart_some, app["id"], ids)

    def _worker(self, app_id: str) -> _Serial:
        with self._lock:
            w = self._workers.get(app_id)
            if w is None:
                w = self._workers[app_id] = _Serial(f"runtime-{app_id[:8]}")
                if self._closed or app_id in self._gone:
                    w.close()
            return w

    def _resolve(self, app: dict, identity: str) -> list[Dyno]:
        with self._lock:
            live = [d for d in self._dynos.values()
                    if d.app_id == app["id"] and not d.stop.is_set()]
        found = [d for d in live if identity in (d.id, d.name)]
        if not found:
            found = [d for d in live if d.type == identity and d.kind != "release"]
        if not found and not any(f["type"] == identity
                                 for f in self.platform.formation(app)):
            raise not_found("dyno")
        return found

    def _current(self, app: dict) -> tuple[dict | None, dict | None]:
        """The current release and its slug (either may be None)."""
        try:
            release = self.platform.current_release(app)
        except Exception:  # noqa: BLE001 - no release: nothing to run
            return None, None
        slug = None
        if release.get("slug"):
            slug = self.platform.store.get("slug", release["slug"]["id"])
        return release, slug

    def _formation_dynos(self, app_id: str) -> list[Dyno]:
        with self._lock:
            return [d for d in self._dynos.values() if d.app_id == app_id
                    and d.kind == "formation" and not d.stop.is_set()]

    def _converge(self, app_id: str, ignore: Iterable[str] = (),
                  types: set[str] | None = None) -> None:
        """Scale each process type to its formation quantity.

        :param ignore: dyno ids not to count (old dynos a deploy stops later)
        :param types: only these process types
        """
        app = self.platform.store.get("app", app_id)
        if app is None or self._closed:
            return
        release, slug = self._current(app)
        commands = dict((slug or {}).get("process_types") or {})
        commands.pop("release", None)
        wanted: dict[str, tuple[int, str]] = {}
        if slug:
            for f in self.platform.formation(app):
                if f["type"] in commands:
                    wanted[f["type"]] = (int(f["quantity"]), f["size"])
        ignore = set(ignore)
        by_type: dict[str, list[Dyno]] = {}
        for d in self._formation_dynos(app_id):
            if d.id not in ignore and (types is None or d.type in types):
                by_type.setdefault(d.type, []).append(d)
        surplus = []
        for t, dynos in by_type.items():
            dynos.sort(key=lambda d: d.index)
            surplus += dynos[wanted.get(t, (0, ""))[0]:]
        self._stop_many(surplus)
        for t, (quantity, size) in wanted.items():
            if types is not None and t not in types:
                continue
            have = by_type.get(t, [])[:quantity]
            used = {d.index for d in have}
            free = (i for i in range(1, quantity + len(used) + 1) if i not in used)
            for _ in range(quantity - len(have)):
                self._launch(Dyno(app=app, release=release, name=f"{t}.{next(free)}",
                                  type=t, kind="formation", command=commands[t],
                                  size=size))
        router = self.router(app_id)
        if router:
            router.set_expected(wanted.get("web", (0, ""))[0])

    def _deploy(self, app_id: str, release_id: str) -> None:
        app = self.platform.store.get("app", app_id)
        if app is None:
            return
        release, _ = self._current(app)
        if release is None:
            return
        # A later deploy may already be current: moving to *that* one is right.
        old = [d for d in self._formation_dynos(app_id)
               if d.release["id"] != release["id"]]
        self._replace(app, old)

    def _restart_all(self, app_id: str) -> None:
        app = self.platform.store.get("app", app_id)
        if app is None:
            return
        with self._lock:
            one_offs = [d for d in self._dynos.values()
                        if d.app_id == app_id and d.kind == "one-off"]
        self._stop_many(one_offs)
        self._replace(app, self._formation_dynos(app_id))

    def _restart_some(self, app_id: str, ids: list[str]) -> None:
        with self._lock:
            dynos = [self._dynos[i] for i in ids if i in self._dynos]
        self._stop_many(dynos)
        self._converge(app_id)

    def _replace(self, app: dict, old: list[Dyno]) -> None:
        """Replace ``old`` formation dynos by ones on the current release."""
        app_id = app["id"]
        old_web = [d for d in old if d.type == "web"]
        old_other = [d for d in old if d.type != "web"]
        if not (old_web and self.platform.preboot(app)):
            self._stop_many(old)
            self._converge(app_id)
            return
        # Preboot: new web dynos first; the old ones serve until those listen.
        ignore = {d.id for d in old}
        self._converge(app_id, ignore=ignore, types={"web"})
        self._stop_many(old_other)
        self._converge(app_id, ignore=ignore)
        new_web = [d for d in self._formation_dynos(app_id)
                   if d.type == "web" and d.id not in ignore]
        deadline = (time.monotonic() + self.platform.delay("boot")
                    + self.boot_timeout + 5)
        while time.monotonic() < deadline and not self._closed:
            if all(d.state in ("up", "crashed") or d.stop.is_set() for d in new_web):
                break
            time.sleep(0.05)
        self._stop_many(old_web)
        self._converge(app_id)

    # -- dyno processes ---------------------------------------------------------------
    def _launch(self, d: Dyno) -> bool:
        """Register ``d`` and start its supervising thread."""
        with self._lock:
            if self._closed or d.app_id in self._gone:
                return False
            d.port = self._free_port()
            self._dynos[d.id] = d
        d.supervised = True
        self._save(d)
        threading.Thread(target=self._supervise, args=(d,), daemon=True,
                         name=f"dyno-{d.app_name}-{d.name}").start()
        return True

    def _supervise(self, d: Dyno) -> None:
        """Boot, watch, and (formation dynos) restart after crashes."""
        crashes = 0
        try:
            while not d.stop.is_set():
                if d.stop.wait(self.platform.delay("boot")):
                    break
                if not self._spawn(d):
                    if d.stop.is_set():
                        break
                    rc = 127
                else:
                    if d.type == "web" and d.kind == "formation":
                        self._await_port(d)
                    else:
                        self._set_state(d, "up")
                    rc = self._wait_exit(d)
                d.exit_code = rc
                if d.stop.is_set():
                    break
                # The process ended on its own: Heroku ends the whole dyno.
                self._signal(d, signal.SIGKILL)
                self._join_pump(d, 5.0)
                if d.kind != "formation":
                    self._remove(d, "complete")
                    break
                self._route(d, False)
                with d.lock:
                    d.proc = None  # crashed: no process until the restart
                if d.up_at and time.monotonic() - d.up_at > STABLE_AFTER:
                    crashes = 0
                backoff = self.crash_backoff[min(crashes, len(self.crash_backoff) - 1)]
                crashes += 1
                self._set_state(d, "crashed")
                if d.stop.wait(backoff):
                    break
                with self._lock:
                    self._ports.discard(d.port)
                    d.port = self._free_port()  # the old one may be taken now
                self._set_state(d, "starting")
        finally:
            d.finished.set()

    def _spawn(self, d: Dyno, attached: bool = False) -> bool:
        """Start ``d``'s process; False when it is being stopped or cannot
        start (the reason is logged)."""
        try:
            if d.release.get("slug"):
                home = Path(self.platform.builder.slug_dir(d.release["slug"]["id"]))
            else:
                home = self._empty_dir()
            env = self._env(d, home)
        except Exception as exc:  # noqa: BLE001 - e.g. a slug with no tarball
            message = getattr(exc, "message", None) or str(exc)
            self._event(d, f"Error: cannot start: {message}")
            if d.sink:
                d.sink(f"Error: cannot start the release dyno: {message}\n")
            return False
        script = d.run
        if (home / ".profile.d").is_dir() or (home / ".profile").is_file():
            script = PROFILE + script
        self._event(d, f"Starting process with command `{d.command}`")
        with d.lock:
            d.proc = None  # a crashed run's process is no target any more
            if d.stop.is_set() or self._closed:
                return False
            try:
                d.proc = subprocess.Popen(
                    [BASH, "-c", script], cwd=home, env=env,
                    stdin=subprocess.PIPE if attached else subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    start_new_session=True, close_fds=True)
            except OSError as exc:
                self._event(d, f"Error: cannot start: {exc}")
                return False
            d.pstart = _proc_start(d.proc.pid)
            d.spawned_at = time.monotonic()
            d.up_at = None
        self._save(d)
        if not attached:
            d.pump = threading.Thread(target=self._pump, args=(d, d.proc),
                                      daemon=True, name=f"pump-{d.name}")
            d.pump.start()
        return True

    def _env(self, d: Dyno, home: Path) -> dict[str, str]:
        """A dyno's environment, built from nothing: the sandbox's own
        (its API token above all) must never reach an app."""
        env = {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
        env.setdefault("LANG", "C.UTF-8")
        path = [str(Path(sys.executable).parent)]
        path += [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep)
                 if p and p not in path]
        env["PATH"] = os.pathsep.join(path)
        env["HOME"] = str(home)
        app = self.platform.store.get("app", d.app_id) or {}
        config = d.release.get("_config")
        env.update((app.get("_config") or {}) if config is None else config)
        if (app.get("_features") or {}).get("runtime-dyno-metadata", {}).get("enabled"):
            slug = (self.platform.store.get("slug", d.release["slug"]["id"])
                    if d.release.get("slug") else None) or {}
            env.update({
                "HEROKU_APP_ID": d.app_id, "HEROKU_APP_NAME": d.app_name,
                "HEROKU_DYNO_ID": d.id,
                "HEROKU_RELEASE_VERSION": f"v{d.release['version']}",
                "HEROKU_RELEASE_CREATED_AT": d.release.get("created_at", ""),
                "HEROKU_SLUG_COMMIT": slug.get("commit") or "",
                "HEROKU_SLUG_DESCRIPTION": d.release.get("description", ""),
            })
        env.update(d.env)
        env["PORT"] = str(d.port)
        env["DYNO"] = d.name
        return env

    def _await_port(self, d: Dyno) -> None:
        """``starting`` until $PORT accepts connections, then ``up`` and
        routable; R10 when it takes longer than ``boot_timeout``."""
        deadline = time.monotonic() + self.boot_timeout
        while not d.stop.is_set() and d.proc.poll() is None:
            if _listening(d.port):
                self._set_state(d, "up")
                self._route(d, True)
                return
            if time.monotonic() > deadline:
                self._event(d, "Error R10 (Boot timeout) -> Web process failed to "
                               f"bind to $PORT within {self.boot_timeout:g} seconds "
                               "of launch")
                self._event(d, "Stopping process with SIGKILL")
                self._signal(d, signal.SIGKILL)
                return
            d.stop.wait(0.05)

    def _route(self, d: Dyno, on: bool) -> None:
        router = self.router(d.app_id)
        if router is None:
            return
        with d.lock:
            # Checked under the dyno's lock: once a stop began, never add.
            if on and not d.stop.is_set():
                router.add(d.id, d.name, d.port)
            elif not on:
                router.remove(d.id)

    def _wait_exit(self, d: Dyno) -> int:
        """The process's exit status; one-offs are stopped at their TTL."""
        proc = d.proc
        try:
            left = None if d.ttl is None else max(d.ttl - (time.monotonic()
                                                           - d.spawned_at), 0)
            rc = proc.wait(left)
        except subprocess.TimeoutExpired:
            self._event(d, "Stopping all processes with SIGTERM: time to live "
                           f"({d.ttl:g} seconds) expired")
            self._signal(d, signal.SIGTERM)
            try:
                rc = proc.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                self._signal(d, signal.SIGKILL)
                rc = proc.wait()
        rc = _status(rc)
        self._event(d, f"Process exited with status {rc}")
        return rc

    def _pump(self, d: Dyno, proc: subprocess.Popen) -> None:
        """The process's output, to the release log or the dyno's log."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        partial = ""
        fd = proc.stdout.fileno()
        try:
            while True:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                text = decoder.decode(data, final=not data)
                if d.sink:
                    if text:
                        d.sink(text)
                else:
                    lines = (partial + text).split("\n")
                    partial = lines.pop()
                    if not data and partial:
                        lines, partial = lines + [partial], ""
                    if lines:
                        self._write(d, "app", lines)
                if not data:
                    return
        finally:
            proc.stdout.close()

    def _join_pump(self, d: Dyno, timeout: float) -> None:
        if d.pump is not None:
            d.pump.join(timeout)

    # -- stopping ------------------------------------------------------------------------
    def _stop_many(self, dynos: list[Dyno], drain: bool = True) -> None:
        if not dynos:
            return
        threads = [threading.Thread(target=self._stop, args=(d, drain), daemon=True)
                   for d in dynos]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _stop(self, d: Dyno, drain: bool = True) -> None:
        """Heroku's stop: leave the router and drain (web), SIGTERM to the
        process group, SIGKILL after the grace period; then forget the dyno."""
        with d.lock:
            first = not d.stop.is_set()
            d.stop.set()
            proc = d.proc
        if not first:
            d.finished.wait(self.stop_grace + self.drain_timeout + 10)
            return
        router = self.router(d.app_id)
        if router and d.type == "web" and d.kind == "formation":
            if drain:
                router.drain(d.id, self.drain_timeout)
            else:
                router.remove(d.id)
        if d.secret and self._rendezvous:
            self._rendezvous.revoke(d.secret)
        if proc is None:
            if not d.supervised:
                d.finished.set()
        elif proc.poll() is None:
            self._event(d, "Stopping all processes with SIGTERM")
            self._signal(d, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        if not d.finished.wait(self.stop_grace):
            if proc is not None:
                self._event(d, "Error R12 (Exit timeout) -> At least one process "
                               f"failed to exit within {self.stop_grace:g} seconds "
                               "of SIGTERM")
                self._event(d, "Stopping remaining processes with SIGKILL")
                self._signal(d, signal.SIGKILL)
            d.finished.wait(10)
        elif proc is not None:
            # The main process is gone; its children get the rest of the grace.
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            self._signal(d, signal.SIGKILL)  # no-op when the group is gone
        self._join_pump(d, 2.0)
        self._remove(d, "down")

    def _signal(self, d: Dyno, sig: int) -> None:
        """Signal the dyno's process group. Once the leader is reaped its
        pid may be reused, but not while its group lives on: so a reaped
        leader's group is signalled only if it still exists."""
        proc = d.proc
        if proc is None:
            return
        if proc.returncode is not None and not _group_alive(proc.pid):
            return
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _remove(self, d: Dyno, final: str) -> None:
        self._route(d, False)
        self._event(d, f"State changed from {d.state} to {final}")
        with d.lock:
            d.removed = True
            self.platform.store.delete("dyno", d.id)
        with self._lock:
            self._dynos.pop(d.id, None)
            self._ports.discard(d.port)

    # -- release phase ---------------------------------------------------------------------
    def run_release_phase(self, app: dict, release: dict) -> int:
        """Run the slug's ``release`` command in a release dyno (blocking);
        its output goes to the release's log. Returns its exit status."""
        slug = self.platform.slug(release["slug"]["id"])
        command = (slug.get("process_types") or {})["release"]
        d = Dyno(app=app, release=release, name=self._one_off_name(app, "release"),
                 type="release", kind="release", command=command,
                 size=DYNO_SIZES[DEFAULT_SIZE.lower()]["name"])
        d.sink = lambda text: self.platform.log_release(release, text)
        if not self._launch(d):
            self.platform.log_release(release, "The sandbox is shutting down.\n")
            return 1
        if not d.finished.wait(RELEASE_TIMEOUT):
            self.platform.log_release(
                release, f"Release command timed out after {RELEASE_TIMEOUT:g}s.\n")
            self._stop(d, drain=False)
        return 1 if d.exit_code is None else d.exit_code

    # -- one-off dynos -------------------------------------------------------------------
    def create_one_off(self, app: dict, body: dict) -> dict:
        """``POST /apps/{app}/dynos``: a detached run starts now; an attached
        one gets an ``attach_url`` and starts when a client connects."""
        command = body["command"]
        if not isinstance(command, str) or not command.strip():
            raise invalid("command: must be a non-empty string")
        size = body.get("size") or DEFAULT_SIZE
        if str(size).lower() not in DYNO_SIZES:
            raise invalid(f"size: no such dyno size ({size}); use one of "
                          + ", ".join(s["name"] for s in DYNO_SIZES.values()))
        size = DYNO_SIZES[str(size).lower()]["name"]
        ttl = body.get("time_to_live")
        if ttl is None:
            ttl = ONE_OFF_TTL
        if isinstance(ttl, bool) or not isinstance(ttl, int) or \
                not 0 < ttl <= ONE_OFF_TTL:
            raise invalid(f"time_to_live: must be 1 to {ONE_OFF_TTL} seconds")
        ptype = body.get("type") or "run"
        if not isinstance(ptype, str) or not ptype.replace("-", "").replace(
                "_", "").isalnum():
            raise invalid("type: must be a process type name")
        release, slug = self._current(app)
        if release is None:
            raise not_found("release")
        d = Dyno(app=app, release=release, name=self._one_off_name(app, ptype),
                 type=ptype, kind="one-off", command=command, size=size,
                 env=body.get("env") or {}, ttl=float(ttl),
                 run=_resolve_process_type(command,
                                           (slug or {}).get("process_types") or {}))
        if not body.get("attach"):
            if not self._launch(d):
                raise invalid("The sandbox is shutting down.")
            return _public(d.doc())
        rdv = self._rendezvous_server()
        with self._lock:
            if self._closed or d.app_id in self._gone:
                raise invalid("The sandbox is shutting down.")
            d.port = self._free_port()
            self._dynos[d.id] = d
        d.secret = rdv.offer(lambda query: self._attach(d),
                             lambda client_gone: self._attach_ended(d, client_gone),
                             lambda: self._attach_expired(d), self.attach_ttl)
        d.attach_url = rdv.url(d.secret)
        self._save(d)
        return _public(d.doc())

    def _rendezvous_server(self) -> RendezvousServer:
        with self._lock:
            if self._closed:
                raise invalid("The sandbox is shutting down.")
            if self._rendezvous is None:
                self._rendezvous = RendezvousServer(self.tls.server_context())
            return self._rendezvous

    def _attach(self, d: Dyno) -> subprocess.Popen | None:
        """A client connected: boot and start the process, piped to it."""
        if d.stop.wait(self.platform.delay("boot")):
            return None
        d.supervised = True
        if not self._spawn(d, attached=True):
            d.finished.set()
            return None
        self._set_state(d, "up")
        threading.Thread(target=self._reap, args=(d,), daemon=True,
                         name=f"reap-{d.name}").start()
        return d.proc

    def _reap(self, d: Dyno) -> None:
        try:
            d.exit_code = self._wait_exit(d)
        finally:
            d.finished.set()

    def _attach_ended(self, d: Dyno, client_gone: bool) -> None:
        if d.stop.is_set():
            return  # someone else is stopping it
        if client_gone and not d.finished.is_set():
            self._event(d, "Client disconnected")
            self._stop(d, drain=False)
            return
        d.finished.wait(self.stop_grace)
        self._signal(d, signal.SIGKILL)  # what the command left running
        self._remove(d, "complete")

    def _attach_expired(self, d: Dyno) -> None:
        self._event(d, "Error R13 (Attach error) -> Failed to attach to process")
        with d.lock:
            d.stop.set()
        d.finished.set()
        self._remove(d, "down")

    def _one_off_name(self, app: dict, ptype: str) -> str:
        with self._lock:
            taken = {d.name for d in self._dynos.values() if d.app_id == app["id"]}
        while True:
            name = f"{ptype}.{random.randint(1000, 9999)}"
            if name not in taken:
                return name

    # -- what the API reads --------------------------------------------------------------
    def list_dynos(self, app: dict) -> list[dict]:
        return [_public(doc) for doc in self.platform.store.find("dyno",
                                                                 app_id=app["id"])]

    def dyno(self, app: dict, identity: str) -> dict:
        # Newest first: during a preboot both an old and a new web.1 exist.
        for doc in reversed(self.platform.store.find("dyno", app_id=app["id"])):
            if identity in (doc["id"], doc["name"]):
                return _public(doc)
        raise not_found("dyno")

    # -- state, logs, ports -----------------------------------------------------------------
    def _set_state(self, d: Dyno, state: str) -> None:
        if d.state == state:
            return
        self._event(d, f"State changed from {d.state} to {state}")
        d.state, d.updated_at = state, now()
        if state == "up":
            d.up_at = time.monotonic()
        self._save(d)

    def _save(self, d: Dyno) -> None:
        with d.lock:
            if not d.removed:
                self.platform.store.put("dyno", d.doc(), app_id=d.app_id)

    def _event(self, d: Dyno, message: str) -> None:
        self._write(d, "heroku", [message])

    def _write(self, d: Dyno, source: str, lines: list[str]) -> None:
        folder = self.logs_dir / d.app_name
        folder.mkdir(parents=True, exist_ok=True)
        ts = _stamp()
        text = "".join(f"{ts} {source}[{d.name}]: {line}\n" for line in lines)
        with open(folder / f"{d.name}.log", "a") as f:
            f.write(text)

    def log_path(self, app: dict, dyno_name: str) -> Path:
        """Where a dyno's lines go (``router`` for the router's)."""
        return self.logs_dir / app["name"] / f"{dyno_name}.log"

    def _empty_dir(self) -> Path:
        """Where a dyno of a release without a slug runs (a fresh app)."""
        if self._empty is None:
            self._empty = Path(self.platform.root) / "slugs" / "_empty"
            self._empty.mkdir(parents=True, exist_ok=True)
        return self._empty

    def _free_port(self) -> int:
        """A free loopback port, below the kernel's ephemeral range when it
        can be, so no outgoing connection takes it before the dyno binds."""
        low, _ = _ephemeral_range()
        with self._lock:
            for _ in range(200):
                port = random.randint(10000, low - 1) if low > 11000 else 0
                try:
                    with socket.socket() as s:
                        s.bind(("127.0.0.1", port))
                        port = s.getsockname()[1]
                except OSError:
                    continue
                if port not in self._ports:
                    self._ports.add(port)
                    return port
        raise RuntimeError("no free loopback port")


def _public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _resolve_process_type(command: str, process_types: dict) -> str:
    """``heroku run web`` runs the web command, as on Heroku: a first word
    naming a process type stands for its command."""
    first, sep, rest = command.strip().partition(" ")
    if first in process_types:
        return process_types[first] + (sep + rest if rest else "")
    return command


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _proc_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot): with the pid, it
    names one process for good, reused pids aside."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _kill_leftover(doc: dict) -> None:
    """Kill a dyno process a previous sandbox run left behind, if it is
    still the same process (pid and start time both match)."""
    pid, started = doc.get("_pid"), doc.get("_pstart")
    if pid and started and _proc_start(pid) == started:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999
