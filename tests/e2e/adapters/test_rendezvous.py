"""The rendezvous client against a local TLS server speaking the CLI's protocol."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from herotasks.adapters import rendezvous
from herotasks.adapters.rendezvous import attach, parse_attach_url, wrap_command
from herotasks.errors import HerotasksError

MARK = "\uffff heroku-command-exit-status:"


class Dyno:
    """One-connection TLS server: reads the secret line, greets, sends output."""

    def __init__(self, tls: ssl.SSLContext, chunks: list[bytes], *, hold: bool = False):
        self.received = b""
        self.after_greeting = b""
        self._tls = tls
        self._chunks = chunks
        self._hold = threading.Event() if hold else None
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        raw, _ = self._sock.accept()
        try:
            with self._tls.wrap_socket(raw, server_side=True) as conn:
                while not self.received.endswith(b"\r\n"):
                    data = conn.recv(1024)
                    if not data:
                        return
                    self.received += data
                conn.sendall(b"rendezvous\r\n")
                conn.settimeout(2)
                try:
                    self.after_greeting = conn.recv(16)
                except (socket.timeout, ssl.SSLError):
                    pass
                for chunk in self._chunks:
                    conn.sendall(chunk)
                if self._hold is not None:
                    self._hold.wait(5)
        except (OSError, ssl.SSLError):
            pass  # the client hung up (the refused-certificate test)
        finally:
            raw.close()

    def url(self, secret: str = "SECRET?cmd=migrate") -> str:
        return f"rendezvous://127.0.0.1:{self.port}/{secret}"

    def close(self) -> None:
        if self._hold is not None:
            self._hold.set()
        self._thread.join(5)
        self._sock.close()


@pytest.fixture
def dyno(server_tls):
    made: list[Dyno] = []

    def make(chunks, **kw):
        made.append(Dyno(server_tls, chunks, **kw))
        return made[-1]

    yield make
    for d in made:
        d.close()


def test_exit_code_comes_back_and_marker_is_stripped(dyno, cabundle):
    d = dyno([b"Running migrations\r\n", b"  Applying 0002... OK\r\n",
              f"{MARK} 3\r\n".encode()])
    out: list[str] = []
    assert attach(d.url(), out.append, cabundle=cabundle, loopback_only=True) == 3
    assert "".join(out) == "Running migrations\n  Applying 0002... OK\n"
    assert d.received == b"SECRET?cmd=migrate\r\n"
    assert d.after_greeting == rendezvous.EOT


def test_greeting_and_marker_split_across_reads(dyno, cabundle):
    marker = f"{MARK} 0\n".encode()
    d = dyno([b"ok", b"\n", marker[:2], marker[2:9], marker[9:]])
    out: list[str] = []
    assert attach(d.url(), out.append, cabundle=cabundle) == 0
    assert "".join(out) == "ok\n"


def test_output_without_final_newline_keeps_its_text(dyno, cabundle):
    d = dyno([f"no newline{MARK} 1\n".encode()])
    out: list[str] = []
    assert attach(d.url(), out.append, cabundle=cabundle) == 1
    assert "".join(out) == "no newline\n"


def test_close_without_marker_is_an_error(dyno, cabundle):
    d = dyno([b"Killed\n"])
    out: list[str] = []
    with pytest.raises(HerotasksError, match="no exit code returned"):
        attach(d.url(), out.append, cabundle=cabundle)
    assert "".join(out) == "Killed\n"


def test_untrusted_certificate_is_refused(dyno):
    d = dyno([f"{MARK} 0\n".encode()])
    with pytest.raises(HerotasksError, match="TLS with the dyno"):
        attach(d.url(), print)


def test_without_a_bundle_it_trusts_what_requests_trusts(dyno, cabundle, monkeypatch):
    """No bundle configured: the CAs requests uses (certifi), as the API
    client does, not the OS store alone (which does not know this CA)."""
    import certifi

    d = dyno([b"hello\r\n", f"{MARK} 0\r\n".encode()])
    monkeypatch.setattr(certifi, "where", lambda: cabundle)
    assert attach(d.url(), lambda text: None) == 0


def test_timeout_while_the_dyno_is_silent(dyno, cabundle):
    d = dyno([b"still going\n"], hold=True)
    with pytest.raises(HerotasksError, match="timed out"):
        attach(d.url(), lambda text: None, cabundle=cabundle, timeout=0.5)


def test_loopback_only_refuses_other_hosts_before_connecting(monkeypatch):
    def no_network(*args, **kw):
        raise AssertionError("must not connect")

    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(HerotasksError, match="only loopback"):
        attach("rendezvous://rendezvous.runtime.heroku.com:5000/abc", print,
               loopback_only=True)


def test_parse_attach_url():
    assert parse_attach_url("rendezvous://rendezvous.runtime.heroku.com:5000/abc?x=1") == (
        "rendezvous.runtime.heroku.com", 5000, "abc?x=1")
    for bad in ("https://h:1/abc", "rendezvous://h/abc", "rendezvous://h:1/"):
        with pytest.raises(HerotasksError):
            parse_attach_url(bad)


def test_wrap_command_matches_the_cli():
    assert wrap_command("python manage.py migrate") == (
        'python manage.py migrate ; echo "\uffff heroku-command-exit-status: $?"')


def test_wrapped_command_really_prints_the_marker():
    import subprocess

    out = subprocess.run(["sh", "-c", wrap_command("(exit 7)")], capture_output=True,
                         text=True, encoding="utf-8").stdout
    assert out == f"{MARK} 7\n"
