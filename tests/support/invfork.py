"""``python -m invoke ARGS`` for the e2e tests, in a process forked from one
that has imported invoke, requests and herotasks already.

Why: the e2e tier drives herotasks as a user would, one ``inv`` process per
command, about 550 times in a run (``Project.inv``). Each of those spent
about 0.4 s of CPU starting an interpreter and importing the same modules
before doing anything, a sixth of the whole suite's CPU on CI's 2 cores
(issue 14, measured with process accounting). Here one server process per
pytest process imports them once; every run is a fork of it that then does
exactly what ``python -m invoke ARGS`` does (``runpy``, as ``-m`` does), in
its own process: its own pid (a hook's ``kill -9 $PPID`` kills it), cwd,
environment, stdin/stdout/stderr, exit status and signals, everything the
run itself does (git, builds, hooks) unchanged.

What a fresh interpreter would do differently and this does not: anything
done at import time runs once, with the server's environment (herotasks
reads no environment variable at import:
tests/unit/test_imports.py::test_no_module_reads_the_environment_at_import).
The product's own start-up is measured where it belongs (BENCHMARKS.md,
``herotasks --list``), and the real console path keeps its own tests (the
tests that run ``sys.executable -m invoke`` or the ``herotasks`` script
directly, tests/e2e/test_invfork.py's side-by-side check).
``HEROTASKS_TESTS_REAL_INV=1`` makes every run a fresh interpreter again.

The protocol, over one ``SOCK_SEQPACKET`` Unix socket per run: the client
sends ``{"args", "cwd", "env"}`` with its stdin, stdout and stderr as
``SCM_RIGHTS`` fds; the server forks, answers ``{"pid"}``, and later
``{"status"}`` (the ``waitpid`` status) when the run exits.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: What the server imports once: what a deploy imports (pglast too, which a
#: run loads only when it reads SQL).
PRELOAD = ("invoke", "invoke.main", "herotasks.tasks", "herotasks.core.deploy",
           "herotasks.core.recover", "herotasks.adapters.heroku_api",
           "herotasks.core.classify.sql")

#: The environment variable that turns this off (a fresh interpreter per run).
REAL = "HEROTASKS_TESTS_REAL_INV"

_MAX = 1 << 20


# -- the server ------------------------------------------------------------------

def _serve(path: str) -> None:
    """Accept runs until stdin closes (the pytest process is gone); returns
    only in a forked child, with the run's process state in place."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ)
    runs: dict[int, socket.socket] = {}
    # What is imported now is shared with every run until one writes to it;
    # a run's garbage collections would visit (so copy) all of it. Frozen,
    # they skip it (gc.freeze's documented use before fork): a run's own
    # CPU fell by about 40 ms (71 -> 31 ms for `--version`).
    gc.collect()
    gc.freeze()
    print("ready", flush=True)
    while True:
        for key, _ in sel.select(timeout=1.0):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                msg, fds, _, _ = socket.recv_fds(conn, _MAX, 3)
                req = json.loads(msg)
                pid = os.fork()
                if pid == 0:
                    sel.close()
                    for fd in (wake_r, wake_w, listener.fileno(), conn.fileno()):
                        os.close(fd)
                    for other in runs.values():
                        os.close(other.fileno())
                    _become(req, fds)
                    return
                for fd in fds:
                    os.close(fd)
                conn.send(json.dumps({"pid": pid}).encode())
                runs[pid] = conn
            elif key.fileobj == wake_r:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            elif not os.read(sys.stdin.fileno(), 512):
                for pid in runs:  # nobody is left to wait for them
                    _kill(pid)
                os._exit(0)
        while runs:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = runs.pop(pid, None)
            if conn is not None:
                try:
                    conn.send(json.dumps({"status": status}).encode())
                except OSError:
                    pass
                conn.close()


def _become(req: dict, fds: list[int]) -> None:
    """In the forked child: the run's stdio, cwd, environment and argv."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    from importlib.util import find_spec

    # as `python -m invoke` has them: argv[0] the module's file, and the
    # current directory first on the path
    sys.argv = [find_spec("invoke.__main__").origin, *req["args"]]
    sys.path[0] = os.getcwd()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# -- the client ------------------------------------------------------------------

class _Server:
    """The server process of this pytest process, started on first use."""

    _lock = threading.Lock()
    _proc: subprocess.Popen | None = None
    _path: str = ""

    @classmethod
    def path(cls) -> str:
        with cls._lock:
            if cls._proc is None or cls._proc.poll() is not None:
                folder = tempfile.mkdtemp(prefix="invfork-")
                cls._path = os.path.join(folder, "sock")
                env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR",
                                                  "HOME") if k in os.environ}
                cls._proc = subprocess.Popen(
                    [sys.executable, __file__, cls._path], env=env,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                assert cls._proc.stdout.readline().strip() == "ready", "invfork server"
                atexit.register(cls._stop, cls._proc)
            return cls._path

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        proc.stdin.close()  # the server kills what is still running, and exits
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


class Run:
    """One forked ``python -m invoke ARGS``, a :class:`subprocess.Popen` in
    what the tests use of it: ``pid``, ``poll``, ``wait``, ``communicate``,
    ``kill``, ``returncode``, ``args``."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]):
        self.args = [sys.executable, "-m", "invoke", *args]
        self.returncode: int | None = None
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        stdin = os.open(os.devnull, os.O_RDONLY)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._sock.connect(_Server.path())
            socket.send_fds(self._sock, [json.dumps({
                "args": list(args), "cwd": str(cwd), "env": dict(env)}).encode()],
                [stdin, out_w, err_w])
            self.pid = json.loads(self._sock.recv(_MAX))["pid"]
        finally:
            for fd in (stdin, out_w, err_w):
                os.close(fd)
        self.stdout = os.fdopen(out_r, "rb")
        self.stderr = os.fdopen(err_r, "rb")

    def poll(self) -> int | None:
        if self.returncode is None:
            self._sock.setblocking(False)
            try:
                self._status(self._sock.recv(_MAX))
            except BlockingIOError:
                pass
            finally:
                self._sock.setblocking(True)
            if self.returncode is not None:
                self._sock.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._sock.settimeout(timeout)
            try:
                self._status(self._sock.recv(_MAX))
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout) from None
            finally:
                self._sock.settimeout(None)
            self._sock.close()
        return self.returncode

    def _status(self, msg: bytes) -> None:
        # an empty message: the server went away without a status
        status = json.loads(msg)["status"] if msg else 255 << 8
        self.returncode = os.waitstatus_to_exitcode(status)

    def kill(self) -> None:
        if self.returncode is None:
            _kill(self.pid)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Both streams to their end (as subprocess: also the end of what the
        run left behind holding them), then the exit; text, universal newlines."""
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks: dict[int, list[bytes]] = {self.stdout.fileno(): [], self.stderr.fileno(): []}
        with selectors.DefaultSelector() as sel:
            for stream in (self.stdout, self.stderr):
                if not stream.closed:
                    sel.register(stream.fileno(), selectors.EVENT_READ)
            while sel.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                for key, _ in sel.select(left):
                    data = os.read(key.fd, 65536)
                    if data:
                        chunks[key.fd].append(data)
                    else:
                        sel.unregister(key.fd)
        out, err = (_text(b"".join(chunks[s.fileno()])) for s in (self.stdout, self.stderr))
        self.stdout.close()
        self.stderr.close()
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.wait(left)
        return out, err


def _text(data: bytes) -> str:
    return data.decode().replace("\r\n", "\n").replace("\r", "\n")


def run(args: list[str], cwd: Path, env: dict[str, str],
        timeout: float) -> subprocess.CompletedProcess:
    """``subprocess.run([python, -m, invoke, *args], capture_output=True,
    text=True, stdin=DEVNULL, timeout=timeout)``, forked (module docstring)."""
    if os.environ.get(REAL) == "1":
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    proc = Run(list(args), cwd, env)
    try:
        out, err = proc.communicate(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


if __name__ == "__main__":
    _serve(sys.argv[1])
    # only a forked run gets here: the rest is `python -m invoke`
    import runpy

    runpy.run_module("invoke", run_name="__main__", alter_sys=True)
