"""Which dynos should run: formation scaling, deploys and restarts.

N processes per process type, named ``web.1``, ``web.2``... (Fir:
``web-<hash>-<5 chars>``, fir.py). **Deploys**
(``deploy``) and restarts move every formation dyno to the current
release, one job at a time per app, off the API request that asked: other
types stop on the old release, then start on the new one; web dynos do the
same unless preboot is on, in which case new web dynos start, take traffic
once they listen, and only then are the old ones drained and stopped.
Starting and stopping the processes themselves is ``processes.py``'s job.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from typing import Any, Callable, Iterable

from .. import fir
from ..platform import Platform, not_found
from .dyno import Dyno, Timings, current
from .processes import Processes
from .routers import Routers

log = logging.getLogger("herotasks_sandbox")


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


class Formation:
    """Brings each app's running dynos in line with its formation and its
    current release, through one job queue per app."""

    def __init__(self, platform: Platform, timings: Timings, processes: Processes,
                 routers: Routers):
        self.platform = platform
        self.timings = timings
        self.processes = processes
        self.routers = routers
        self._lock = threading.Lock()
        self._workers: dict[str, _Serial] = {}

    # -- what the runtime asks for (async) ---------------------------------------------
    def converge(self, app_id: str) -> None:
        """Start or stop dynos so the formation's quantities run."""
        self._expect(app_id)
        self._worker(app_id).submit(self._converge, app_id)

    def deploy(self, app_id: str, release_id: str) -> None:
        """Move the app's dynos to its current release."""
        self._expect(app_id)
        self._worker(app_id).submit(self._deploy, app_id, release_id)

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

    def wait_idle(self, app_id: str | None = None, timeout: float = 60.0) -> bool:
        """Wait until the app's (or every app's) queued jobs are done."""
        deadline = time.monotonic() + timeout
        with self._lock:
            workers = [w for a, w in self._workers.items() if app_id in (None, a)]
        return all(w.wait_idle(max(deadline - time.monotonic(), 0)) for w in workers)

    def forget_app(self, app_id: str) -> None:
        """Drop the app's queued jobs; none are taken any more."""
        with self._lock:
            worker = self._workers.pop(app_id, None)
        if worker:
            worker.close()

    def close(self) -> list[_Serial]:
        """Drop every queued job; the queues, to wait for a running job."""
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for w in workers:
            w.close()
        return workers

    # -- helpers -----------------------------------------------------------------------
    def _worker(self, app_id: str) -> _Serial:
        with self._lock:
            w = self._workers.get(app_id)
            if w is None:
                w = self._workers[app_id] = _Serial(f"runtime-{app_id[:8]}")
                if not self.processes.accepting(app_id):
                    w.close()
            return w

    def _expect(self, app_id: str) -> None:
        """Tell the router at once whether web dynos are on their way, so a
        request in the meantime waits for them instead of failing."""
        router = self.routers.get(app_id)
        app = self.platform.store.get("app", app_id)
        if router is None or app is None:
            return
        release, slug = current(self.platform, app)
        quantity = 0
        if slug and "web" in (slug.get("process_types") or {}):
            quantity = sum(int(f["quantity"]) for f in self.platform.formation(app)
                           if f["type"] == "web")
        router.set_expected(quantity)

    def _resolve(self, app: dict, identity: str) -> list[Dyno]:
        live = [d for d in self.processes.dynos(app["id"]) if not d.stop.is_set()]
        found = [d for d in live if identity in (d.id, d.name)]
        if not found:
            found = [d for d in live if d.type == identity and d.kind != "release"]
        if not found and not any(f["type"] == identity
                                 for f in self.platform.formation(app)):
            raise not_found("dyno")
        return found

    def _formation_dynos(self, app_id: str) -> list[Dyno]:
        return [d for d in self.processes.dynos(app_id)
                if d.kind == "formation" and not d.stop.is_set()]

    # -- the jobs ----------------------------------------------------------------------
    def _converge(self, app_id: str, ignore: Iterable[str] = (),
                  types: set[str] | None = None, hold: bool = False) -> None:
        """Scale each process type to its formation quantity.

        :param ignore: dyno ids not to count (old dynos a deploy stops later)
        :param types: only these process types
        :param hold: dynos started here take no traffic until released
            (a preboot's new web dynos, until the switch)
        """
        app = self.platform.store.get("app", app_id)
        if app is None or self.processes.closed:
            return
        release, slug = current(self.platform, app)
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
        self.processes.stop_many(surplus)
        for t, (quantity, size) in wanted.items():
            if types is not None and t not in types:
                continue
            have = by_type.get(t, [])[:quantity]
            used = {d.index for d in have}
            free = (i for i in range(1, quantity + len(used) + 1) if i not in used)
            taken = {d.name for d in self.processes.dynos(app_id)}
            for _ in range(quantity - len(have)):
                if fir.is_fir(app):  # web-<template hash>-<5 chars> (fir.py)
                    name = fir.dyno_name(t, fir.template_hash(
                        release["id"], t, size, commands[t]), taken, random)
                else:
                    name = f"{t}.{next(free)}"
                taken.add(name)
                d = Dyno(app=app, release=release, name=name, type=t,
                         kind="formation", command=commands[t], size=size)
                d.held = hold
                self.processes.launch(d)
        router = self.routers.get(app_id)
        if router:
            router.set_expected(wanted.get("web", (0, ""))[0])

    def _deploy(self, app_id: str, release_id: str) -> None:
        app = self.platform.store.get("app", app_id)
        if app is None:
            return
        release, _ = current(self.platform, app)
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
        one_offs = [d for d in self.processes.dynos(app_id) if d.kind == "one-off"]
        self.processes.stop_many(one_offs)
        self._replace(app, self._formation_dynos(app_id))

    def _restart_some(self, app_id: str, ids: list[str]) -> None:
        self.processes.stop_many(self.processes.by_ids(ids))
        self._converge(app_id)

    def _replace(self, app: dict, old: list[Dyno]) -> None:
        """Replace ``old`` formation dynos by ones on the current release."""
        app_id = app["id"]
        old_web = [d for d in old if d.type == "web"]
        old_other = [d for d in old if d.type != "web"]
        if not (old_web and self.platform.preboot(app)):
            self.processes.stop_many(old)
            self._converge(app_id)
            return
        # Preboot, as Heroku does it: new web dynos start, unroutable, and only
        # they are listed; the old ones serve until the switch, which comes
        # ``preboot_switch`` after the release (and not before the new ones
        # listen); then the new ones take traffic and the old ones stop.
        switch_at = time.monotonic() + self.timings.preboot_switch
        ignore = {d.id for d in old}
        for d in old_web:
            d.unlisted = True
            self.processes.save(d)
        self._converge(app_id, ignore=ignore, types={"web"}, hold=True)
        self.processes.stop_many(old_other)
        self._converge(app_id, ignore=ignore)
        new_web = [d for d in self._formation_dynos(app_id)
                   if d.type == "web" and d.id not in ignore]
        deadline = (time.monotonic() + self.platform.delay("boot")
                    + self.timings.boot_timeout + 5)
        while time.monotonic() < deadline and not self.processes.closed:
            if all(d.state in ("up", "crashed") or d.stop.is_set() for d in new_web):
                break
            time.sleep(0.05)
        while time.monotonic() < switch_at and not self.processes.closed:
            time.sleep(min(0.05, max(switch_at - time.monotonic(), 0)))
        for d in new_web:
            self.processes.release_hold(d)
        self.processes.stop_many(old_web)
        self._converge(app_id)
