"""Is the process that wrote a journal (or took a lock) still running here?

A pid alone is not enough: pids are reused, and after a reboot the recorded
one may belong to anything. So a journal records, with the pid, the host and
the process's start time as the kernel counts it (``/proc/<pid>/stat`` field
22, in clock ticks since boot): a live process with that pid *and* that start
time is the very process that wrote it. Where the start time is unknown (an
older journal, a lock record, a system without ``/proc``) a live pid counts
only if its command line looks like herotasks (``inv``, ``invoke``, ``fab``,
``herotasks``); without ``/proc`` (macOS) the command line is unknown too,
and a live pid is taken for the deploy: refusing wrongly costs a ``--force``,
recovering under a live deploy costs the database.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

#: Words in a command line that make a process one of ours.
_OURS = ("invoke", "herotasks", "/inv", "/fab", "inv ", "fab ")


def host() -> str:
    """This machine's name, as journals and lock records give it."""
    return socket.gethostname()


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (None: unknown, or no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after it
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def me() -> dict[str, object]:
    """What a journal records about the process writing it."""
    return {"pid": os.getpid(), "host": host(), "pid_started": start_time(os.getpid())}


def command_line(pid: int) -> str | None:
    """The command line of ``pid`` ("" where it cannot be read, None: no such
    process)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None if Path("/proc/self").exists() else ("" if alive(pid) else None)
    except OSError:
        return "" if alive(pid) else None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (possibly another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _zombie(pid: int) -> bool:
    """Exited, not yet reaped by its parent (a killed deploy whose parent
    has not looked yet): gone for our purpose."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] in ("Z", "X")


def running(pid: int | None, started: str | None = None) -> str | None:
    """The command line of the herotasks process ``pid`` if it still runs
    ("" when its command line cannot be read); None when it is gone.

    :param started: its recorded :func:`start_time`; a different one means the
        pid was reused by another process.
    """
    if not pid or pid == os.getpid():
        return None
    cmd = command_line(int(pid))
    if cmd is None or _zombie(int(pid)):
        return None
    now = start_time(int(pid))
    if started and now:
        return cmd if now == started else None
    if cmd and not any(word in f"{cmd} " for word in _OURS):
        return None  # the pid now belongs to something else
    return cmd
