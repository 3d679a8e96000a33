"""Dynos that run once: one-off dynos and the release phase.

- **one-off dynos** (``create``): detached ones start now and log to their
  file; attached ones get an ``attach_url`` on the TLS rendezvous server
  (``rendezvous.py``) and start when a client connects, piped to it.
- **release phase** (``run_release_phase``): the slug's ``release`` command
  in a ``release.NNNN`` dyno (Fir: ``release-<hash>-<5>``), its output in
  the release's log.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
from functools import partial
from typing import Any

from .. import fir
from ..platform import Platform, invalid, new_id, not_found, public
from ..platform.formation import app_size, default_size
from ..rendezvous import RendezvousServer
from .dyno import Dyno, Timings, current
from .processes import Processes

#: Heroku's one-off default and maximum time to live.
ONE_OFF_TTL = 86400
#: Heroku stops a release phase after an hour.
RELEASE_TIMEOUT = 3600.0


class OneOffs:
    """Starts one-off and release dynos; owns the rendezvous server."""

    def __init__(self, platform: Platform, tls: Any, timings: Timings,
                 processes: Processes):
        self.platform = platform
        self.tls = tls
        self.timings = timings
        self.processes = processes
        self._lock = threading.Lock()
        self._rendezvous: RendezvousServer | None = None

    def pop_rendezvous(self) -> RendezvousServer | None:
        """Forget the rendezvous server (no attach is offered or withdrawn
        any more); the caller closes it once the dynos are stopped."""
        with self._lock:
            rdv, self._rendezvous = self._rendezvous, None
        return rdv

    # -- release phase -----------------------------------------------------------------
    def run_release_phase(self, app: dict, release: dict) -> int:
        """Run the slug's ``release`` command in a release dyno (blocking);
        its output goes to the release's log. Returns its exit status."""
        slug = self.platform.slug(fir.runnable(release))
        command = (slug.get("process_types") or {})["release"]
        d = Dyno(app=app, release=release,
                 name=self._name(app, "release", release, command),
                 type="release", kind="release", command=command,
                 size=default_size(app))
        d.sink = lambda text: self.platform.log_release(release, text)
        if not self.processes.launch(d):
            self.platform.log_release(release, "The sandbox is shutting down.\n")
            return 1
        if not d.finished.wait(RELEASE_TIMEOUT):
            self.platform.log_release(
                release, f"Release command timed out after {RELEASE_TIMEOUT:g}s.\n")
            self.processes.stop(d, drain=False)
        return 1 if d.exit_code is None else d.exit_code

    # -- one-off dynos -----------------------------------------------------------------
    def create(self, app: dict, body: dict) -> dict:
        """``POST /apps/{app}/dynos``: a detached run starts now; an attached
        one gets an ``attach_url`` and starts when a client connects."""
        command = body["command"]
        if not isinstance(command, str) or not command.strip():
            raise invalid("command: must be a non-empty string")
        # no size: the app's generation's default; another generation's: 422
        size = app_size(app, body.get("size") or default_size(app))["name"]
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
        release, slug = current(self.platform, app)
        if release is None:
            raise not_found("release")
        d = Dyno(app=app, release=release, name=self._name(app, ptype, release, command),
                 type=ptype, kind="one-off", command=command, size=size,
                 env=body.get("env") or {}, ttl=float(ttl),
                 run=_resolve_process_type(command,
                                           (slug or {}).get("process_types") or {}))
        if not body.get("attach"):
            if not self.processes.launch(d):
                raise invalid("The sandbox is shutting down.")
            return public(d.doc())
        rdv = self._rendezvous_server()
        if not self.processes.register(d):
            raise invalid("The sandbox is shutting down.")
        secret = rdv.offer(lambda query: self._attach(d),
                           lambda client_gone: self._attach_ended(d, client_gone),
                           lambda: self._attach_expired(d), self.timings.attach_ttl)
        d.withdraw = partial(self._withdraw, secret)
        d.attach_url = rdv.url(secret)
        if (app.get("space") or {}).get("shield"):
            # A Shield Private Space attaches over SSH: an https attach_url
            # (heroku/cli's dyno.js attach(): http(s) means _ssh(), anything
            # else the rendezvous protocol). The sandbox speaks no SSH: that
            # URL answers 501 and the offer lapses unattached.
            d.attach_url = f"{self.platform.api_url}/_sandbox/ssh/{new_id()}"
        self.processes.save(d)
        return public(d.doc())

    def _rendezvous_server(self) -> RendezvousServer:
        with self._lock:
            if self.processes.closed:
                raise invalid("The sandbox is shutting down.")
            if self._rendezvous is None:
                self._rendezvous = RendezvousServer(self.tls.server_context())
            return self._rendezvous

    def _withdraw(self, secret: str) -> None:
        with self._lock:
            rdv = self._rendezvous
        if rdv:
            rdv.revoke(secret)

    def _attach(self, d: Dyno) -> subprocess.Popen | None:
        """A client connected: boot and start the process, piped to it."""
        if d.stop.wait(self.platform.delay("boot")):
            return None
        d.supervised = True
        if not self.processes.spawn(d, attached=True):
            d.finished.set()
            return None
        self.processes.set_state(d, "up")
        threading.Thread(target=self._reap, args=(d,), daemon=True,
                         name=f"reap-{d.name}").start()
        return d.proc

    def _reap(self, d: Dyno) -> None:
        try:
            d.exit_code = self.processes.wait_exit(d)
        finally:
            d.finished.set()

    def _attach_ended(self, d: Dyno, client_gone: bool) -> None:
        if d.stop.is_set():
            return  # someone else is stopping it
        if client_gone and not d.finished.is_set():
            self.processes.logs.event(d, "Client disconnected")
            self.processes.stop(d, drain=False)
            return
        d.finished.wait(self.timings.stop_grace)
        self.processes.signal(d, signal.SIGKILL)  # what the command left running
        self.processes.remove(d, "complete")

    def _attach_expired(self, d: Dyno) -> None:
        self.processes.logs.event(
            d, "Error R13 (Attach error) -> Failed to attach to process")
        with d.lock:
            d.stop.set()
        d.finished.set()
        self.processes.remove(d, "down")

    def _name(self, app: dict, ptype: str, release: dict, command: str) -> str:
        """Cedar: ``run.NNNN``; Fir: ``run-<hash>-<5 chars>`` (fir.py)."""
        taken = {d.name for d in self.processes.dynos(app["id"])}
        if fir.is_fir(app):
            return fir.dyno_name(ptype, fir.template_hash(release["id"], ptype, command),
                                 taken, random)
        while True:
            name = f"{ptype}.{random.randint(1000, 9999)}"
            if name not in taken:
                return name


def _resolve_process_type(command: str, process_types: dict) -> str:
    """``heroku run web`` runs the web command, as on Heroku: a first word
    naming a process type stands for its command."""
    first, sep, rest = command.strip().partition(" ")
    if first in process_types:
        return process_types[first] + (sep + rest if rest else "")
    return command
