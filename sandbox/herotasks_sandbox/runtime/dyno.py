"""What every part of the runtime shares: a dyno, the timings, the ports.

A :class:`Dyno` is one dyno: its process while it runs and what the API
shows of it. :class:`Timings` holds the runtime's tunable waits in one
object every part reads when it needs them, so a change (tests shorten
``stop_grace``, ``boot_timeout``...) reaches them all. :class:`Ports` hands
out the loopback ports of dynos and routers, never one twice.
"""

from __future__ import annotations

import random
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import fir
from ..platform import Platform, new_id, now
from ..router import DYNO_WAIT, REQUEST_TIMEOUT

#: Longest wait for a stopping web dyno's in-flight requests (Heroku's
#: router timeout: no request can take longer anyway).
DRAIN_TIMEOUT = REQUEST_TIMEOUT
#: SIGTERM to SIGKILL: Heroku's 30 s (Dev Center, "Dynos and the Dyno
#: Manager", graceful shutdown). A client must not take a scale to 0 for the
#: dynos being gone; tests shorten it (admin setting ``stop_grace``).
STOP_GRACE = 30.0
#: A web dyno must listen on $PORT this long after its process started (R10).
BOOT_TIMEOUT = 60.0
#: With preboot, traffic moves to the new web dynos this long after the
#: release (Dev Center, *Preboot*: about 3 minutes, the 60 s boot timeout
#: plus 2); tests and the benchmark scale it (admin setting).
PREBOOT_SWITCH = 180.0
#: An attach_url nobody connects to is given up after this long.
ATTACH_TTL = 300.0
#: Seconds before restarting a crashed dyno, by crash count.
CRASH_BACKOFF = (1.0, 2.0, 5.0, 10.0, 20.0)


@dataclass
class Timings:
    """The runtime's waits, in seconds (see ``Runtime``'s parameters)."""

    router_wait: float = DYNO_WAIT
    stop_grace: float = STOP_GRACE
    drain_timeout: float = DRAIN_TIMEOUT
    boot_timeout: float = BOOT_TIMEOUT
    preboot_switch: float = PREBOOT_SWITCH
    attach_ttl: float = ATTACH_TTL
    crash_backoff: tuple[float, ...] = CRASH_BACKOFF


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
        #: Withdraws the attach_url offer (an attached one-off stopped early).
        self.withdraw: Callable[[], None] | None = None
        self.proc: subprocess.Popen | None = None
        self.pstart: str | None = None
        self.spawned_at = 0.0
        self.up_at: float | None = None
        self.exit_code: int | None = None
        self.pump: threading.Thread | None = None
        #: This run's network namespace (None: the machine allows none) and
        #: its private directory (its copy or overlay layer of the slug).
        self.netns = None
        self.private: Path | None = None
        self.run_n = 0
        #: Where output goes instead of the dyno's log (the release phase).
        self.sink: Callable[[str], None] | None = None
        self.lock = threading.Lock()
        self.stop = threading.Event()       # someone is stopping this dyno
        self.finished = threading.Event()   # its supervising thread is done
        self.supervised = False
        self.removed = False
        #: Up but not routed yet: a preboot's new web dyno before the switch.
        self.held = False
        #: Not in ``GET /apps/{app}/dynos``: a preboot's old web dyno, still
        #: serving until the switch (Heroku lists only the new ones).
        self.unlisted = False

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
            "_port": self.port, "_kind": self.kind, "_unlisted": self.unlisted,
        }


class Ports:
    """The loopback ports given out to dynos and routers."""

    def __init__(self):
        self._lock = threading.Lock()
        self._taken: set[int] = set()

    def take(self) -> int:
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
                if port not in self._taken:
                    self._taken.add(port)
                    return port
        raise RuntimeError("no free loopback port")

    def release(self, port: int) -> None:
        with self._lock:
            self._taken.discard(port)

    def swap(self, port: int) -> int:
        """A new port for one given back (a crashed dyno's may be taken now)."""
        self.release(port)
        return self.take()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def current(platform: Platform, app: dict) -> tuple[dict | None, dict | None]:
    """The app's current release and its slug (either may be None)."""
    try:
        release = platform.current_release(app)
    except Exception:  # noqa: BLE001 - no release: nothing to run
        return None, None
    slug = None
    if fir.runnable(release):  # a slug, or a Fir app's image
        slug = platform.store.get("slug", fir.runnable(release))
    return release, slug
