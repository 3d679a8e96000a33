"""The ``heroku run`` rendezvous: the TLS server alone, then attached one-off
dynos through the runtime, with a Python TLS client that trusts the
sandbox's CA and speaks the CLI's protocol (secret line, greeting, output,
exit marker)."""

from __future__ import annotations

import functools
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from herotasks_sandbox import testing
from herotasks_sandbox.platform import Platform, new_id
from herotasks_sandbox.rendezvous import MARK, RECORD, RendezvousServer, next_record
from herotasks_sandbox.runtime import Runtime
from herotasks_sandbox.store import Store
from herotasks_sandbox.tls import SandboxTLS

# What ``heroku run --exit-code`` appends to the command.
EXIT = ' ; echo "\uFFFF heroku-command-exit-status: $?"'
MARKER = re.compile("\uFFFF heroku-command-exit-status: (\\d+)\n".encode())


# These tests poll the in-process runtime closely, and hangs end sooner.
wait_until = functools.partial(testing.wait_until, timeout=20.0, interval=0.05)


class Client:
    """The CLI's side of the protocol, one TLS record per ``recv``."""

    def __init__(self, url: str, ca: Path):
        parts = urlsplit(url)
        assert parts.scheme == "rendezvous" and parts.hostname == "127.0.0.1"
        ctx = ssl.create_default_context(cafile=str(ca))
        raw = socket.create_connection((parts.hostname, parts.port), timeout=20)
        self.sock = ctx.wrap_socket(raw, server_hostname=parts.hostname)
        line = parts.path[1:] + (f"?{parts.query}" if parts.query else "")
        self.sock.sendall(line.encode() + b"\r\n")
        self.chunks: list[bytes] = []

    def greeting(self) -> bytes:
        return self.sock.recv(65536)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_all(self, eot: bool = True) -> bytes:
        """Everything until the server closes; first, like the CLI whose
        stdin is not a terminal, end the input (``\\x04``)."""
        if eot:
            try:
                self.sock.sendall(b"\x04")
            except OSError:
                pass
        while True:
            try:
                data = self.sock.recv(65536)
            except (ssl.SSLError, OSError):
                break
            if not data:
                break
            self.chunks.append(data)
        return b"".join(self.chunks)

    def close(self) -> None:
        self.sock.close()


# -- cutting output into records ----------------------------------------------------------
def test_next_record_never_splits_the_exit_marker():
    line = "\uFFFF heroku-command-exit-status: 127\n".encode()
    assert next_record(b"plain output", final=False) == len(b"plain output")
    # Output before a marker goes first, then the whole marker line.
    buf = b"x" * 10 + line
    assert next_record(buf, final=False) == len(buf)
    buf = b"x" * (RECORD - 5) + line
    assert next_record(buf, final=False) == RECORD - 5
    assert next_record(line + b"after", final=False) == len(line + b"after")
    # An unfinished marker line waits for its newline (or the end).
    partial = "\uFFFF heroku-command-exit-status: 1".encode()
    assert next_record(partial, final=False) == 0
    assert next_record(b"ab" + partial, final=False) == 2
    assert next_record(partial, final=True) == len(partial)
    # The buffer may end in the marker's first bytes.
    assert next_record(b"abc" + MARK[:2], final=False) == 3
    assert next_record(b"abc" + MARK[:1], final=True) == 4
    # Never more than one record.
    assert next_record(b"y" * (3 * RECORD), final=False) == RECORD


# -- the server alone ----------------------------------------------------------------------
@pytest.fixture
def tls(tmp_path):
    return SandboxTLS(tmp_path)


@pytest.fixture
def server(tls):
    s = RendezvousServer(tls.server_context())
    yield s
    s.close()


class Session:
    """An offer whose process is ``bash -c command``."""

    def __init__(self, server: RendezvousServer, command: str, ttl: float = 30):
        self.command = command
        self.proc: subprocess.Popen | None = None
        self.ended = threading.Event()
        self.client_gone: bool | None = None
        self.expired = threading.Event()
        self.queries: list[str] = []
        self.secret = server.offer(self.spawn, self.end, self.expired.set, ttl)
        self.url = server.url(self.secret)

    def spawn(self, query: str) -> subprocess.Popen:
        self.queries.append(query)
        self.proc = subprocess.Popen(["bash", "-c", self.command], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self.proc

    def end(self, client_gone: bool) -> None:
        self.client_gone = client_gone
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait()
        self.ended.set()


def test_output_and_exit_code_reach_the_client(server, tls):
    s = Session(server, "echo out; echo err >&2; (exit 3)" + EXIT)
    c = Client(s.url + "?env=x", tls.ca_path)
    # The greeting is a record of its own: the CLI throws its first chunk away.
    assert c.greeting() == b"rendezvous\r\n"
    out = c.read_all()
    assert b"out\n" in out and b"err\n" in out
    assert MARKER.search(out).group(1) == b"3"
    # The marker line arrived whole in one record.
    assert any(MARKER.search(chunk) for chunk in c.chunks)
    assert s.ended.wait(10) and s.client_gone is False
    assert s.queries == ["env=x"]


def test_large_output_arrives_whole(server, tls):
    s = Session(server, "head -c 300000 /dev/zero | tr '\\0' x; echo" + EXIT)
    c = Client(s.url, tls.ca_path)
    assert c.greeting() == b"rendezvous\r\n"
    out = c.read_all()
    assert out.split(b"\n")[0] == b"x" * 300000
    assert MARKER.search(out).group(1) == b"0"
    assert max(len(chunk) for chunk in c.chunks) <= RECORD


def test_client_input_reaches_stdin_and_eot_ends_it(server, tls):
    s = Session(server, "cat; echo done" + EXIT)
    c = Client(s.url, tls.ca_path)
    assert c.greeting() == b"rendezvous\r\n"
    c.send(b"hello from stdin\n\x04")
    out = c.read_all()
    assert b"hello from stdin\ndone\n" in out
    assert MARKER.search(out).group(1) == b"0"


def test_server_waits_for_the_clients_end_of_input_before_closing(server, tls,
                                                                  monkeypatch):
    # The CLI sends \x04 when its stdin ends, possibly after a quick command
    # is already done; a socket closed before that write crashes the CLI.
    from herotasks_sandbox import rendezvous
    monkeypatch.setattr(rendezvous, "EOT_WAIT", 60.0)
    s = Session(server, "echo quick" + EXIT)
    c = Client(s.url, tls.ca_path)
    assert c.greeting() == b"rendezvous\r\n"
    out = b""
    while not MARKER.search(out):
        out += c.sock.recv(65536)
    c.sock.settimeout(0.3)
    with pytest.raises((socket.timeout, TimeoutError)):
        c.sock.recv(65536)  # still open: no close_notify yet
    c.sock.settimeout(20)
    c.send(b"\x04")
    assert c.read_all() == b""  # now the server ends the session
    assert s.ended.wait(10) and s.client_gone is False


def test_unknown_secret_is_closed_without_greeting(server, tls):
    c = Client(server.url("not-a-secret"), tls.ca_path)
    assert c.read_all() == b""


def test_a_secret_works_once(server, tls):
    s = Session(server, "echo once" + EXIT)
    first = Client(s.url, tls.ca_path)
    assert first.greeting() == b"rendezvous\r\n"
    assert b"once" in first.read_all()
    second = Client(s.url, tls.ca_path)
    assert second.read_all() == b""


def test_an_unused_secret_expires(server, tls):
    s = Session(server, "echo never" + EXIT, ttl=0.2)
    assert s.expired.wait(10)
    assert Client(s.url, tls.ca_path).read_all() == b""
    assert s.proc is None


def test_client_leaving_ends_the_session(server, tls):
    s = Session(server, "sleep 600" + EXIT)
    c = Client(s.url, tls.ca_path)
    assert c.greeting() == b"rendezvous\r\n"
    wait_until(lambda: s.proc is not None, what="the process")
    c.close()
    assert s.ended.wait(10) and s.client_gone is True
    assert s.proc.returncode == -signal.SIGKILL


# -- attached one-off dynos through the runtime ---------------------------------------------
class FakeBuilder:
    def __init__(self, root: Path):
        self.root = root

    def slug_dir(self, slug_id: str) -> Path:
        return self.root / "slugs" / slug_id

    def app_deleted(self, app: dict) -> None:
        pass


@pytest.fixture
def sbx(tmp_path):
    store = Store(tmp_path / "state.sqlite3")
    platform = Platform(tmp_path, store, "https://127.0.0.1:9")
    platform.builder = FakeBuilder(tmp_path)
    tls = SandboxTLS(tmp_path)
    runtime = Runtime(platform, tls, stop_grace=2.0, attach_ttl=30.0)
    platform.runtime = runtime
    app = platform.create_app("rdv-" + new_id()[:8])
    slug_id = new_id()
    (tmp_path / "slugs" / slug_id).mkdir(parents=True)
    (tmp_path / "slugs" / slug_id / "data.txt").write_text("from the slug\n")
    platform.put_slug({"id": slug_id, "process_types": {"web": "sleep 600"},
                       "commit": "c" * 40})
    platform.create_release(app, slug_id)
    platform.scale(app, [{"type": "web", "quantity": 0}])
    assert runtime.wait_idle(app["id"], 30)
    yield platform, runtime, app, tls
    runtime.shutdown()
    store.close()


def test_attached_one_off_streams_output_and_exit_code(sbx):
    platform, runtime, app, tls = sbx
    platform.update_config_vars(app, {"GREETING": "hi"})
    doc = runtime.create_one_off(app, {
        "attach": True, "env": {"TERM": "dumb"},
        "command": "echo $GREETING from $DYNO $TERM; cat data.txt; (exit 7)" + EXIT})
    assert re.fullmatch(r"rendezvous://127\.0\.0\.1:\d+/[\w-]+", doc["attach_url"])
    assert doc["state"] == "starting" and doc["name"].startswith("run.")
    assert runtime.dyno(app, doc["name"])["attach_url"] == doc["attach_url"]

    c = Client(doc["attach_url"], tls.ca_path)
    assert c.greeting() == b"rendezvous\r\n"
    out = c.read_all()
    assert f"hi from {doc['name']} dumb\n".encode() in out
    assert b"from the slug\n" in out
    assert MARKER.search(out).group(1) == b"7"
    wait_until(lambda: not platform.store.find("dyno", app_id=app["id"]),
               what="the one-off gone")
    log = (platform.root / "logs" / "apps" / app["name"] / f"{doc['name']}.log").read_text()
    assert "Process exited with status 0" in log
    assert "State changed from up to complete" in log


def test_attached_one_off_is_stopped_when_the_client_leaves(sbx):
    platform, runtime, app, tls = sbx
    doc = runtime.create_one_off(app, {"attach": True, "command": "sleep 600" + EXIT})
    c = Client(doc["attach_url"], tls.ca_path)
    assert c.greeting() == b"rendezvous\r\n"
    up = wait_until(lambda: [d for d in platform.store.find("dyno", app_id=app["id"])
                             if d["state"] == "up"], what="the one-off up")
    pid = up[0]["_pid"]
    c.close()
    wait_until(lambda: not platform.store.find("dyno", app_id=app["id"]),
               what="the one-off gone")
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_unused_attach_url_expires(sbx):
    platform, runtime, app, tls = sbx
    runtime.attach_ttl = 0.2
    doc = runtime.create_one_off(app, {"attach": True, "command": "echo never"})
    wait_until(lambda: not platform.store.find("dyno", app_id=app["id"]),
               what="the expired one-off gone")
    assert Client(doc["attach_url"], tls.ca_path).read_all() == b""
    log = (platform.root / "logs" / "apps" / app["name"] / f"{doc['name']}.log").read_text()
    assert "Error R13 (Attach error)" in log
