"""Dyno processes: starting, watching, stopping, and the ports they get.

A dyno here is a process group: ``bash -c "<Procfile command>"`` started in
its own session, in a fresh copy of the release's slug and (where the
machine allows it) a network namespace of its own (``isolation.py``), with
the release's config vars, ``PORT``, ``DYNO``, the stack's ``PATH`` (the
slug's ``.profile.d`` puts its own Python first), and nothing else of the
sandbox's own environment (its API token must never reach an app). Every
run (a crash restart too) gets a new copy and namespace; both go when the
run ends.

- A web dyno is ``starting`` until its ``PORT`` accepts connections, then
  ``up`` and routable; one that never listens is killed after
  ``boot_timeout`` (Heroku's R10). A formation process that exits on its own
  is ``crashed`` and restarted after a short, growing backoff.
- **Stopping** is Heroku's: a web dyno first leaves the router and finishes
  its in-flight requests, then the dyno is ``down`` and its group gets
  SIGTERM and, after ``stop_grace`` seconds (30, as Heroku), SIGKILL. It is
  listed until its processes are gone: answering a scale to 0 says nothing
  about when the workers stopped.

Each dyno is a document of kind ``dyno`` in the store, in the schema's
shape (private ``_pid``, ``_pstart``, ``_port``, ``_kind`` besides).
Processes do not outlive the sandbox: ``close`` hands every dyno over to be
stopped, and :func:`kill_leftover` kills what a crashed sandbox left behind
(checked by process start time, so a reused pid is never hit).
"""

from __future__ import annotations

import codecs
import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from .. import fir
from ..platform import Platform, now
from . import isolation
from .dyno import Dyno, Ports, Timings
from .isolation import NetNamespace, SlugCopies
from .logs import DynoLogs
from .routers import Routers

#: A dyno up this long has its crash count forgotten.
STABLE_AFTER = 60.0
#: How often the fallback checks what dynos listen on.
WATCH_INTERVAL = 0.5
#: The only variables of the sandbox's environment a dyno inherits.
SAFE_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
#: A dyno's PATH before its slug's ``.profile.d``: the stack image's system
#: directories, nothing of the sandbox's environment.
STACK_PATH = "/usr/local/bin:/usr/bin:/bin"
#: Heroku runs .profile.d scripts and .profile before the command.
PROFILE = ('for f in .profile.d/*.sh; do [ -r "$f" ] && . "$f"; done; '
           '[ -r .profile ] && . ./.profile\n')
BASH = shutil.which("bash") or "/bin/bash"


class Processes:
    """The live dynos, their processes and their ports.

    Nothing starts once :meth:`close` was called, nor for an app
    :meth:`forget_app` was called for.
    """

    def __init__(self, platform: Platform, timings: Timings, logs: DynoLogs,
                 routers: Routers, ports: Ports):
        self.platform = platform
        self.timings = timings
        self.logs = logs
        self.routers = routers
        self.ports = ports
        self._lock = threading.Lock()
        self._dynos: dict[str, Dyno] = {}
        self._gone: set[str] = set()        # deleted apps: start nothing more
        self._closed = False
        self._empty: Path | None = None
        self._watching = False
        #: Each run's fresh copy of its slug (overlay or copy).
        self.copies = SlugCopies(Path(platform.root))
        #: Whether each run gets a network namespace of its own (else the
        #: fallback: sitecustomize for Python, and the listening check).
        self.netns = isolation.netns_supported()
        #: The sandbox's own loopback ports a dyno may reach (API, database,
        #: routers), asked at each start; the runtime sets it.
        self.reachable: Callable[[], list[int]] = list

    # -- the registry ---------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def accepting(self, app_id: str) -> bool:
        """Whether dynos may still start for this app."""
        with self._lock:
            return not self._closed and app_id not in self._gone

    def register(self, d: Dyno) -> bool:
        """Give ``d`` a port and count it as live; False when nothing may
        start for its app any more."""
        with self._lock:
            if self._closed or d.app_id in self._gone:
                return False
            d.port = self.ports.take()
            self._dynos[d.id] = d
            return True

    def dynos(self, app_id: str | None = None) -> list[Dyno]:
        """The live dynos (of one app), stopping ones included."""
        with self._lock:
            return [d for d in self._dynos.values() if app_id in (None, d.app_id)]

    def by_ids(self, ids: list[str]) -> list[Dyno]:
        with self._lock:
            return [self._dynos[i] for i in ids if i in self._dynos]

    def forget_app(self, app_id: str) -> list[Dyno]:
        """Start nothing more for the app; its dynos, to be stopped."""
        with self._lock:
            self._gone.add(app_id)
            return [d for d in self._dynos.values() if d.app_id == app_id]

    def close(self) -> list[Dyno]:
        """Start nothing more; every dyno, to be stopped."""
        with self._lock:
            self._closed = True
            return list(self._dynos.values())

    # -- starting ----------------------------------------------------------------------
    def launch(self, d: Dyno) -> bool:
        """Register ``d`` and start its supervising thread."""
        if not self.register(d):
            return False
        d.supervised = True
        self.save(d)
        self._watch_listeners()
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
                if not self.spawn(d):
                    if d.stop.is_set():
                        break
                    rc = 127
                else:
                    if d.type == "web" and d.kind == "formation":
                        self._await_port(d)
                    else:
                        self.set_state(d, "up")
                    rc = self.wait_exit(d)
                d.exit_code = rc
                if d.stop.is_set():
                    break
                # The process ended on its own: Heroku ends the whole dyno.
                self.signal(d, signal.SIGKILL)
                self._join_pump(d, 5.0)
                if d.kind != "formation":
                    self.remove(d, "complete")
                    break
                self._route(d, False)
                with d.lock:
                    d.proc = None  # crashed: no process until the restart
                self.release_isolation(d)
                if d.up_at and time.monotonic() - d.up_at > STABLE_AFTER:
                    crashes = 0
                backoff = self.timings.crash_backoff[
                    min(crashes, len(self.timings.crash_backoff) - 1)]
                crashes += 1
                self.set_state(d, "crashed")
                if d.stop.wait(backoff):
                    break
                d.port = self.ports.swap(d.port)  # the old one may be taken now
                self.set_state(d, "starting")
        finally:
            d.finished.set()

    def spawn(self, d: Dyno, attached: bool = False) -> bool:
        """Start ``d``'s process; False when it is being stopped or cannot
        start (the reason is logged). An attached one's stdin and stdout are
        left for the caller to pipe to its client."""
        self.release_isolation(d)  # a crashed run's copy is not reused
        try:
            if fir.runnable(d.release):  # a slug, or a Fir app's image
                slug = Path(self.platform.builder.slug_dir(fir.runnable(d.release)))
            else:
                slug = self._empty_dir()
            # A fresh copy of the slug for every run, as on Heroku.
            d.run_n += 1
            d.private, home, prefix = self.copies.prepare(slug, f"{d.id}.{d.run_n}")
            if self.netns:
                d.netns = NetNamespace(self.reachable())
            env = self._env(d, home)
        except Exception as exc:  # noqa: BLE001 - e.g. a slug with no tarball
            self.release_isolation(d)
            message = getattr(exc, "message", None) or str(exc)
            self.logs.event(d, f"Error: cannot start: {message}")
            if d.sink:
                d.sink(f"Error: cannot start the release dyno: {message}\n")
            return False
        # Fir: a one-off gets the buildpacks' environment only through
        # `launcher` (fir.py launched)
        script, profiled = fir.launched(
            self.platform.store.get("app", d.app_id) or {}, d.kind, d.run)
        if d.netns is None:
            # The fallback: Python's wildcard binds become loopback ones. Set
            # after .profile.d, whose python.sh defaults PYTHONPATH to $HOME.
            script = ('export PYTHONPATH='
                      f'{shlex.quote(str(isolation.LOOPBACK_SITE))}'
                      '"${PYTHONPATH:+:$PYTHONPATH}"\n' + script)
        if profiled and ((home / ".profile.d").is_dir() or (home / ".profile").is_file()):
            script = PROFILE + script
        self.logs.event(d, f"Starting process with command `{d.command}`")
        with d.lock:
            d.proc = None  # a crashed run's process is no target any more
            if d.stop.is_set() or self._closed:
                return False
            try:
                # Started from inside the dyno's network namespace, the
                # process is in it from its first instruction.
                with isolation.inside(d.netns.fd) if d.netns else _nothing():
                    d.proc = subprocess.Popen(
                        [*prefix, BASH, "-c", script], cwd=home, env=env,
                        stdin=subprocess.PIPE if attached else subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        start_new_session=True, close_fds=True)
            except OSError as exc:
                self.logs.event(d, f"Error: cannot start: {exc}")
                return False
            d.pstart = proc_start(d.proc.pid)
            d.spawned_at = time.monotonic()
            d.up_at = None
        self.save(d)
        if not attached:
            d.pump = threading.Thread(target=self._pump, args=(d, d.proc),
                                      daemon=True, name=f"pump-{d.name}")
            d.pump.start()
        return True

    def _watch_listeners(self) -> None:
        """The fallback's check (no network namespaces): a dyno listening
        beyond loopback is stopped, whatever its language."""
        with self._lock:
            if self.netns or self._watching:
                return
            self._watching = True
        threading.Thread(target=self._watch, daemon=True, name="dyno-listeners").start()

    def _watch(self) -> None:
        while not self._closed:
            running = [(d, d.proc) for d in self.dynos() if d.netns is None]
            running = [(d, p) for d, p in running if p is not None and p.poll() is None]
            wide = isolation.wide_listeners() if running else {}
            for d, proc in running if wide else ():
                found = isolation.exposed(proc.pid, wide)
                if found and not d.stop.is_set():
                    self.logs.event(d, "Error: the process listens on "
                                       f"{', '.join(found)}, beyond loopback; the "
                                       "sandbox's dynos are reached only through "
                                       "their router on 127.0.0.1")
                    self.logs.event(d, "Stopping process with SIGKILL")
                    self.signal(d, signal.SIGKILL)
            time.sleep(WATCH_INTERVAL)

    def _env(self, d: Dyno, home: Path) -> dict[str, str]:
        """A dyno's environment, built from nothing: the sandbox's own
        (its API token above all) must never reach an app."""
        env = {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
        env.setdefault("LANG", "C.UTF-8")
        # Only what the stack gives a dyno; the slug's .profile.d puts its
        # own (.heroku/python/bin) first. Never the sandbox's virtualenv: an
        # app with no code has no `python` on Heroku-24, whose system Python
        # exists at build time only (Dev Center, *Heroku-24 Stack*).
        env["PATH"] = STACK_PATH
        env["HOME"] = str(home)
        # The run's own temporary folder, gone with it (isolation.py).
        if d.private is not None:
            env["TMPDIR"] = str(d.private / "tmp")
        app = self.platform.store.get("app", d.app_id) or {}
        config = d.release.get("_config")
        env.update((app.get("_config") or {}) if config is None else config)
        if (app.get("_features") or {}).get("runtime-dyno-metadata", {}).get("enabled"):
            slug = (self.platform.store.get("slug", fir.runnable(d.release))
                    if fir.runnable(d.release) else None) or {}
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

    def _empty_dir(self) -> Path:
        """Where a dyno of a release without a slug runs (a fresh app)."""
        if self._empty is None:
            self._empty = Path(self.platform.root) / "slugs" / "_empty"
            self._empty.mkdir(parents=True, exist_ok=True)
        return self._empty

    def _await_port(self, d: Dyno) -> None:
        """``starting`` until $PORT accepts connections, then ``up`` and
        routable; R10 when it takes longer than ``boot_timeout``."""
        boot_timeout = self.timings.boot_timeout
        deadline = time.monotonic() + boot_timeout
        while not d.stop.is_set() and d.proc.poll() is None:
            if d.netns.listening(d.port) if d.netns else _listening(d.port):
                self.set_state(d, "up")
                self._route(d, True)
                return
            if time.monotonic() > deadline:
                self.logs.event(d, "Error R10 (Boot timeout) -> Web process failed to "
                                   f"bind to $PORT within {boot_timeout:g} seconds "
                                   "of launch")
                self.logs.event(d, "Stopping process with SIGKILL")
                self.signal(d, signal.SIGKILL)
                return
            d.stop.wait(0.05)

    def release_hold(self, d: Dyno) -> None:
        """A held web dyno (preboot) takes traffic now, if it is up."""
        d.held = False
        if d.state == "up":
            self._route(d, True)

    def _route(self, d: Dyno, on: bool) -> None:
        router = self.routers.get(d.app_id)
        if router is None:
            return
        with d.lock:
            # Checked under the dyno's lock: once a stop began, never add;
            # a held dyno joins at the preboot's switch (release_hold).
            if on and not d.stop.is_set() and not d.held:
                router.add(d.id, d.name, d.port,
                           connect=d.netns.connect if d.netns else None)
            elif not on:
                router.remove(d.id)

    def wait_exit(self, d: Dyno) -> int:
        """The process's exit status; one-offs are stopped at their TTL."""
        proc = d.proc
        try:
            left = None if d.ttl is None else max(d.ttl - (time.monotonic()
                                                           - d.spawned_at), 0)
            rc = proc.wait(left)
        except subprocess.TimeoutExpired:
            self.logs.event(d, "Stopping all processes with SIGTERM: time to live "
                               f"({d.ttl:g} seconds) expired")
            self.signal(d, signal.SIGTERM)
            try:
                rc = proc.wait(self.timings.stop_grace)
            except subprocess.TimeoutExpired:
                self.signal(d, signal.SIGKILL)
                rc = proc.wait()
        rc = _status(rc)
        self.logs.event(d, f"Process exited with status {rc}")
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
                        self.logs.write(d, "app", lines)
                if not data:
                    return
        finally:
            proc.stdout.close()

    def _join_pump(self, d: Dyno, timeout: float) -> None:
        if d.pump is not None:
            d.pump.join(timeout)

    # -- stopping ----------------------------------------------------------------------
    def stop_many(self, dynos: list[Dyno], drain: bool = True) -> None:
        if not dynos:
            return
        threads = [threading.Thread(target=self.stop, args=(d, drain), daemon=True)
                   for d in dynos]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def stop(self, d: Dyno, drain: bool = True) -> None:
        """Heroku's stop: leave the router and drain (web), SIGTERM to the
        process group, SIGKILL after the grace period; then forget the dyno."""
        stop_grace, drain_timeout = self.timings.stop_grace, self.timings.drain_timeout
        with d.lock:
            first = not d.stop.is_set()
            d.stop.set()
            proc = d.proc
        if not first:
            d.finished.wait(stop_grace + drain_timeout + 10)
            return
        router = self.routers.get(d.app_id)
        if router and d.type == "web" and d.kind == "formation":
            if drain:
                router.drain(d.id, drain_timeout)
            else:
                router.remove(d.id)
        if d.withdraw:
            d.withdraw()
        # As Heroku logs it: "State changed from up to down", then SIGTERM; the
        # dyno stays listed (``down``) until its processes are gone.
        self.set_state(d, "down")
        if proc is None:
            if not d.supervised:
                d.finished.set()
        elif proc.poll() is None:
            self.logs.event(d, "Stopping all processes with SIGTERM")
            self.signal(d, signal.SIGTERM)
        deadline = time.monotonic() + stop_grace
        if not d.finished.wait(stop_grace):
            if proc is not None:
                self.logs.event(d, "Error R12 (Exit timeout) -> At least one process "
                                   f"failed to exit within {stop_grace:g} seconds "
                                   "of SIGTERM")
                self.logs.event(d, "Stopping remaining processes with SIGKILL")
                self.signal(d, signal.SIGKILL)
            d.finished.wait(10)
        elif proc is not None:
            # The main process is gone; its children get the rest of the grace.
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.signal(d, signal.SIGKILL)  # no-op when the group is gone
        self._join_pump(d, 2.0)
        self.remove(d, "down")

    def signal(self, d: Dyno, sig: int) -> None:
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

    def remove(self, d: Dyno, final: str) -> None:
        """The dyno is over (``final`` is its last state): out of the
        router, the store and the live dynos."""
        self._route(d, False)
        if d.state != final:
            self.logs.event(d, f"State changed from {d.state} to {final}")
        with d.lock:
            d.removed = True
            self.platform.store.delete("dyno", d.id)
        with self._lock:
            self._dynos.pop(d.id, None)
        self.ports.release(d.port)
        self.release_isolation(d)

    def release_isolation(self, d: Dyno) -> None:
        """The run is over: its copy of the slug goes, and its namespace
        takes no new connections."""
        with d.lock:
            netns, private = d.netns, d.private
            d.netns = d.private = None
        if netns is not None:
            netns.close()
        self.copies.remove(private)

    # -- state -------------------------------------------------------------------------
    def set_state(self, d: Dyno, state: str) -> None:
        if d.state == state:
            return
        self.logs.event(d, f"State changed from {d.state} to {state}")
        d.state, d.updated_at = state, now()
        if state == "up":
            d.up_at = time.monotonic()
        self.save(d)

    def save(self, d: Dyno) -> None:
        with d.lock:
            if not d.removed:
                self.platform.store.put("dyno", d.doc(), app_id=d.app_id)


@contextlib.contextmanager
def _nothing():
    yield


def _status(rc: int) -> int:
    """Exit status as a shell reports it (SIGTERM is 143)."""
    return 128 - rc if rc < 0 else rc


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


def proc_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot): with the pid, it
    names one process for good, reused pids aside."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def kill_leftover(doc: dict) -> None:
    """Kill a dyno process a previous sandbox run left behind, if it is
    still the same process (pid and start time both match)."""
    pid, started = doc.get("_pid"), doc.get("_pstart")
    if pid and started and proc_start(pid) == started:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
