"""Telling whether a recorded pid is still the herotasks process that wrote it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from herotasks.adapters import processes
from tests.support.polling import wait_until

linux = pytest.mark.skipif(not processes.start_time(1) and sys.platform != "linux",
                           reason="needs /proc")


def spawn(*argv: str) -> subprocess.Popen:
    """``argv`` started, once its exec is done (until then /proc shows the
    parent's command line, or none)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    wait_until(lambda: argv[-1] in (processes.command_line(proc.pid) or ""), 10,
               0.01, "the child's exec")
    return proc


@linux
def test_a_live_herotasks_process_is_found_and_a_reused_pid_is_not():
    # argv[0] as `python -m invoke` shows it; the child only sleeps
    proc = spawn(sys.executable, "-c", "import time; time.sleep(60)", "invoke")
    try:
        started = processes.start_time(proc.pid)
        assert started
        assert "invoke" in processes.running(proc.pid, started)
        assert "invoke" in processes.running(proc.pid)
        # the same pid with another start time is another process
        assert processes.running(proc.pid, str(int(started) + 1)) is None
    finally:
        proc.kill()
        proc.wait()
    assert processes.running(proc.pid, started) is None


@linux
def test_a_live_pid_of_something_else_is_not_a_deploy():
    proc = spawn("sleep", "60")
    try:
        assert processes.running(proc.pid) is None
    finally:
        proc.kill()
        proc.wait()
