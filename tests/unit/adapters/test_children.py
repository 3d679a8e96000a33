"""Local commands die with herotasks (kill -9 included), and Ctrl-C still
reaches them, through the one chokepoint, ``run_local``, with a real invoke
Context in a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from herotasks.adapters import children
from herotasks.adapters.processes import alive
from tests.support.polling import wait_until

pytestmark = pytest.mark.skipif(not children.SUPPORTED, reason="POSIX only")

# herotasks stand-in: one local command that starts a grandchild in the
# background (as git push starts git-remote-https) and waits.
RUN = """
import sys
from invoke import Context
from herotasks.adapters.shell import run_local
result = run_local(Context(), sys.argv[1], warn=True, hide=True)
print("exited", result.exited, flush=True)
"""


# The same, slow to get back from starting the command (a loaded machine
# descheduling herotasks right after the fork): the command and its
# background child already run while herotasks has not said a word since.
SLOW_RUN = """
import sys, time
from invoke import runners
real = runners.Popen
def slow_popen(*args, **kwargs):
    process = real(*args, **kwargs)
    time.sleep(3)
    return process
runners.Popen = slow_popen
""" + RUN


def as_a_terminal_starts_it() -> None:
    """SIGINT as a terminal's foreground job has it: handled. A test run
    started in the background by a shell inherits it ignored, and so would
    the stand-in, and a Ctrl-C could never reach it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(command: str, source: str = RUN) -> subprocess.Popen:
    # its own session, so killpg below stands for the terminal's Ctrl-C
    return subprocess.Popen([sys.executable, "-c", source, command],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, start_new_session=True,
                            preexec_fn=as_a_terminal_starts_it)


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for a reaper (Linux shows which)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        state = ""
    return alive(pid) and state not in ("Z", "X")


def read_pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.parametrize("source", [RUN, SLOW_RUN], ids=["settled", "right-after-the-start"])
def test_a_kill_9_takes_the_command_and_its_children_down(tmp_path, source):
    pids = tmp_path / "pids"
    proc = start(f"sleep 300 & echo $! >> {pids}; echo $$ >> {pids}; wait", source)
    try:
        wait_until(lambda: len(read_pids(pids)) == 2, 30, 0.05, "the command")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        wait_until(lambda: not any(running(p) for p in read_pids(pids)), 90, 0.05,
                   "the command and its background child to die")
    finally:
        for pid in read_pids(pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_ctrl_c_still_reaches_the_command(tmp_path):
    started = tmp_path / "started"
    proc = start(f"echo $$ > {started}; exec sleep 300")
    try:
        wait_until(lambda: read_pids(started), 30, 0.05, "the command")
        os.killpg(proc.pid, signal.SIGINT)  # the terminal signals its foreground group
        proc.communicate(timeout=60)
        # forwarded to the command's group, or (Ctrl-C before invoke waits for
        # it) herotasks stops and the watchdog takes the group down: gone
        # either way
        wait_until(lambda: not running(read_pids(started)[0]), 90, 0.05,
                   "the command to stop")
    finally:  # a failed test leaves nothing running
        for pid in [proc.pid, *read_pids(started)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
