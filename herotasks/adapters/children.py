"""Local commands die with herotasks, even when herotasks is killed with -9.

A ``git push`` that outlives a killed deploy finishes on its own and releases
the new code after ``deploy.recover`` has decided to undo the deploy (issue 8).
A SIGKILL runs no Python code, so cleanup in herotasks cannot help; two things
outside it do:

* each command starts as the leader of its **own process group** and, on
  Linux, with ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills it the
  moment herotasks dies;
* the group's other members (``git-remote-https``, ``git send-pack``, what an
  asset command or a hook starts) are not covered by that, so one small
  **watchdog** process per herotasks run holds the read end of a pipe whose
  write end only herotasks holds. Each command registers its group there
  itself, before it runs (between fork and exec), and herotasks forgets
  each that ends; when the pipe closes (herotasks exited, however it died)
  the watchdog kills every group still registered, then exits.

Other POSIX systems (macOS) have no PDEATHSIG: there the watchdog alone does
it, a few milliseconds later. Windows has neither process groups nor the
watchdog here: commands run as invoke runs them, unguarded. ``pty=True``
commands are left to invoke too: ``pty.fork`` makes each its own session,
and the kernel hangs it up when herotasks, holding the pty's master, dies.

Being in its own group, a command no longer gets the terminal's Ctrl-C, so
:class:`GuardedLocal` passes invoke's interrupt on to the whole group as
SIGINT (and invoke's timeout kill to the whole group as SIGKILL). A command
that reads the terminal itself (not its stdin) would be stopped as a
background job; herotasks' commands do not (git gets ``GIT_TERMINAL_PROMPT=0``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from typing import Any, Iterator

from invoke import runners
from invoke.runners import Local

#: Process groups and the watchdog need POSIX.
SUPPORTED = os.name == "posix" and hasattr(os, "setpgid") and hasattr(os, "killpg")
_PR_SET_PDEATHSIG = 1

# The watchdog: "+PGID" registers a group, "-PGID" forgets it; end of input
# means herotasks is gone, so every group still registered is killed. It runs
# `python -I -S` (isolated, no site): no user code, quick to start.
WATCHDOG_SOURCE = r"""
import os, signal, sys
groups = set()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        groups.add(int(line[1:]))
    elif line[:1] == "-":
        groups.discard(int(line[1:]))
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
"""


def _load_prctl() -> Any:
    """libc's ``prctl`` (Linux only), loaded in the parent: the child between
    fork and exec should do as little as possible."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _child_setup(parent: int, watchdog: int | None) -> None:
    """``preexec_fn``: own process group; die with ``parent`` (Linux); the
    group registered with the watchdog (its pipe, ``watchdog``) before the
    command runs.

    PDEATHSIG fires when the *thread* that started the child ends; herotasks
    starts each command from the thread that then waits for it, so that is
    the same moment.

    The child registers its own group, between fork and exec, so no moment
    exists when the command (and what it starts) runs unregistered: herotasks
    registering it once ``Popen`` returned left one, and a kill -9 in it (a
    loaded machine descheduling herotasks right after the fork) left the
    command's background children running. The pipe's descriptor is still
    open here and closed before exec (``close_fds``), so the command never
    holds it. One ``write`` of one short line is atomic on a pipe.
    """
    os.setpgid(0, 0)
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # it died before the prctl took effect
            os._exit(137)
    if watchdog is not None:
        # Popen has already restored SIGPIPE's default: a watchdog gone
        # must not kill the command (the PDEATHSIG still holds).
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        try:
            os.write(watchdog, f"+{os.getpid()}\n".encode())
        except OSError:
            pass
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


class Watchdog:
    """The one watchdog process of this herotasks process (started lazily)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._owner = 0

    def _pipe(self) -> Any:
        if self._proc is None or self._owner != os.getpid() or \
                self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", WATCHDOG_SOURCE],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, cwd="/", start_new_session=True,
                text=True)
            self._owner = os.getpid()
        return self._proc.stdin

    def _say(self, line: str) -> None:
        with self._lock:
            try:
                pipe = self._pipe()
                pipe.write(line + "\n")
                pipe.flush()
            except OSError:  # it died: the PDEATHSIG of the leader still holds
                self._proc = None

    def fileno(self) -> int | None:
        """The pipe's descriptor, the watchdog started if need be, for a
        child to register its own group (:func:`_child_setup`); None when no
        watchdog can be started."""
        with self._lock:
            try:
                return self._pipe().fileno()
            except OSError:
                self._proc = None
                return None

    def forget(self, group: int) -> None:
        """``group``'s command finished."""
        self._say(f"-{group}")


WATCHDOG = Watchdog()


class GuardedLocal(Local):
    """invoke's local runner, with each command in a process group that dies
    with herotasks (see the module docstring)."""

    _group: int | None = None

    def start(self, command: str, shell: str, env: dict[str, Any]) -> None:
        if self.using_pty or not SUPPORTED:
            return super().start(command, shell, env)
        parent, watchdog = os.getpid(), WATCHDOG.fileno()
        # invoke's own Popen name, as its Local uses it: the same process start
        self.process = runners.Popen(
            command, shell=True, executable=shell, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE,
            preexec_fn=lambda: _child_setup(parent, watchdog))
        self._group = self.process.pid

    def _signal_group(self, sig: int) -> bool:
        if self._group is None:
            return False
        try:
            os.killpg(self._group, sig)
        except ProcessLookupError:
            pass
        return True

    def send_interrupt(self, interrupt: KeyboardInterrupt) -> None:
        # the terminal's Ctrl-C reaches only its foreground group, not ours
        if not self._signal_group(signal.SIGINT):
            super().send_interrupt(interrupt)

    def kill(self) -> None:
        if not self._signal_group(signal.SIGKILL):
            super().kill()

    def stop(self) -> None:
        super().stop()
        if self._group is not None:
            WATCHDOG.forget(self._group)
            self._group = None


@contextlib.contextmanager
def guarded(c: Any) -> Iterator[None]:
    """Run ``c``'s local commands through :class:`GuardedLocal` meanwhile.

    Only invoke's own ``Local`` is replaced (a runner the user configured is
    theirs), and only for the duration, so other tasks sharing ``c`` see
    their configuration unchanged.
    """
    runners = getattr(getattr(c, "config", None), "runners", None)
    try:
        current = runners.local if runners is not None else None
    except (AttributeError, KeyError):
        current = None
    if current is not Local:
        yield
        return
    runners.local = GuardedLocal
    try:
        yield
    finally:
        runners.local = current
