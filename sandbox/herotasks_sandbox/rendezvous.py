"""The TLS rendezvous server behind ``heroku run`` (attached one-off dynos).

An attached dyno's ``attach_url`` is ``rendezvous://127.0.0.1:PORT/SECRET``.
The official CLI (``heroku`` 11 ``dist/lib/run/dyno.js``) opens TLS to it,
writes ``SECRET[?query]\\r\\n``, drops the first chunk it receives (our
``rendezvous\\r\\n`` line), then shows everything else and feeds its stdin
back; with ``--exit-code`` it wrapped the command so the last line is
``\\uFFFF heroku-command-exit-status: N`` and takes N as its exit code.

One server serves every app. A secret works once and expires (the runtime
chooses how long). After the greeting the process is spawned (the runtime's
``spawn`` callback) and bridged both ways until it exits: its combined
stdout/stderr to the socket, the socket to its stdin. The CLI marks the end
of a non-terminal stdin with ``\\x04``; without a terminal that byte means
"close stdin" here.

Two details of the CLI shape how output is written (see ``next_record``):
each TLS record reaches it as one ``data`` event, and it looks for the exit
marker inside one event. So the greeting is a record of its own, and a
marker line is never split across records.
"""

from __future__ import annotations

import logging
import os
import secrets
import select
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("herotasks_sandbox")

#: TLS's largest record: one ``send`` of at most this many bytes is one record.
RECORD = 16384
#: The first character of the CLI's exit marker, UTF-8 encoded.
MARK = "\uffff".encode()
#: A marker line longer than this is not waited for any more.
MARK_LINE_MAX = 4096
#: Output buffered for a slow client before the process is made to wait.
OUT_LIMIT = 1 << 20
EOT = 0x04
#: After the process exits, output still in flight is read for this long
#: (a background child may hold stdout open forever).
DRAIN_AFTER_EXIT = 1.0
#: How long output waits for a client that stopped reading, after the exit.
FLUSH_LIMIT = 60.0
#: After the output is sent, how long to wait for the client's end of input
#: before closing (see ``_bridge``).
EOT_WAIT = 1.0


def next_record(buf: bytes | bytearray, final: bool) -> int:
    """How many leading bytes of ``buf`` to send now, as one TLS record.

    At most ``RECORD`` bytes, and never a cut through a line that starts with
    the exit marker: the CLI would miss it (or read ``12`` as ``1``). A marker
    line still being written is held back until its newline arrives, or
    ``final`` says nothing more will. 0 means "wait for more output".
    """
    n = min(len(buf), RECORD)
    start = 0
    while True:
        i = buf.find(MARK, start, n)
        if i == -1:
            break
        j = buf.find(b"\n", i)
        if j != -1 and j < n:
            start = j + 1
            continue
        if i > 0:
            return i  # send what precedes the marker; the marker goes next
        if j != -1:
            return j + 1  # a marker line at the front, complete
        if final or len(buf) > MARK_LINE_MAX:
            return n
        return 0
    if n == len(buf) and not final:
        # The buffer may end in the first bytes of a marker.
        for k in (2, 1):
            if n >= k and buf[n - k:n] == MARK[:k]:
                return n - k
    return n


@dataclass
class Offer:
    """What a secret opens: callbacks into the runtime."""

    #: Start the process (stdin and stdout pipes, stderr merged); None refuses.
    spawn: Callable[[str], subprocess.Popen | None]
    #: The session is over; True when the client left before the process did.
    ended: Callable[[bool], None]
    #: Nobody came in time.
    expired: Callable[[], None]
    timer: threading.Timer | None = field(default=None, repr=False)


class RendezvousServer:
    """One TLS listener on loopback for every attached one-off dyno.

    :param context: the server TLS context (``SandboxTLS.server_context()``)
    """

    def __init__(self, context: ssl.SSLContext, host: str = "127.0.0.1",
                 port: int = 0, *, handshake_timeout: float = 30.0):
        self.context = context
        self.host = host
        self.handshake_timeout = handshake_timeout
        self._lock = threading.Lock()
        self._offers: dict[str, Offer] = {}
        self._conns: set[socket.socket] = set()
        self._closed = False
        self._sock = socket.create_server((host, port))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop,
                                        name="rendezvous", daemon=True)
        self._thread.start()

    def url(self, secret: str) -> str:
        return f"rendezvous://{self.host}:{self.port}/{secret}"

    def offer(self, spawn: Callable[[str], subprocess.Popen | None],
              ended: Callable[[bool], None], expired: Callable[[], None],
              ttl: float) -> str:
        """A new one-time secret for ``spawn``; unused after ``ttl`` seconds,
        it is dropped and ``expired`` is called."""
        secret = secrets.token_urlsafe(24)
        o = Offer(spawn, ended, expired)
        o.timer = threading.Timer(ttl, self._expire, args=(secret,))
        o.timer.daemon = True
        with self._lock:
            self._offers[secret] = o
        o.timer.start()
        return secret

    def revoke(self, secret: str) -> bool:
        """Withdraw an unused secret (no callback). False when already used."""
        with self._lock:
            o = self._offers.pop(secret, None)
        if o and o.timer:
            o.timer.cancel()
        return o is not None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            offers, self._offers = list(self._offers.values()), {}
            conns = list(self._conns)
        for o in offers:
            if o.timer:
                o.timer.cancel()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- connections ---------------------------------------------------------------
    def _expire(self, secret: str) -> None:
        with self._lock:
            o = self._offers.pop(secret, None)
        if o is not None:
            _quietly(o.expired)

    def _accept_loop(self) -> None:
        while True:
            try:
                raw, _ = self._sock.accept()
            except OSError:
                if self._closed:
                    return
                time.sleep(0.05)
                continue
            threading.Thread(target=self._session, args=(raw,),
                             name="rendezvous-session", daemon=True).start()

    def _session(self, raw: socket.socket) -> None:
        with self._lock:
            if self._closed:
                raw.close()
                return
            self._conns.add(raw)
        conn: ssl.SSLSocket | None = None
        try:
            raw.settimeout(self.handshake_timeout)
            conn = self.context.wrap_socket(raw, server_side=True)
            line, early = _read_line(conn)
            secret, _, query = line.partition("?")
            with self._lock:
                o = self._offers.pop(secret, None)
            if o is None:
                return  # unknown, used or expired: just close
            if o.timer:
                o.timer.cancel()
            # The greeting is its own record: the CLI discards its first chunk.
            conn.sendall(b"rendezvous\r\n")
            try:
                proc = o.spawn(query)
            except Exception:  # noqa: BLE001 - a failed spawn ends the session
                log.exception("rendezvous spawn failed")
                proc = None
            if proc is None:
                _quietly(o.ended, True)
                return
            client_gone = _bridge(conn, proc, early)
            if not client_gone:
                _goodbye(conn)  # the client's session ends now, not after cleanup
            _quietly(o.ended, client_gone)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            with self._lock:
                self._conns.discard(raw)
            try:
                (conn or raw).close()
            except OSError:
                pass


def _read_line(conn: ssl.SSLSocket) -> tuple[str, bytes]:
    """The client's ``SECRET[?query]`` line, and any bytes after it."""
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ValueError("closed before the secret line")
        data += chunk
        if len(data) > 8192:
            raise ValueError("secret line too long")
    line, _, rest = data.partition(b"\n")
    return line.rstrip(b"\r").decode("ascii", "replace").strip(), rest


def _bridge(conn: ssl.SSLSocket, proc: subprocess.Popen, early: bytes) -> bool:
    """Copy the process's output to ``conn`` and ``conn`` to its stdin until
    the process has exited and its output is sent.

    One thread, non-blocking everywhere: an ``SSLSocket`` must not be read
    and written from two threads at once.

    :returns: True when the client went away first.
    """
    out = proc.stdout
    stdin = proc.stdin
    out_fd = out.fileno()
    os.set_blocking(out_fd, False)
    in_fd = stdin.fileno() if stdin else None
    if in_fd is not None:
        os.set_blocking(in_fd, False)
    conn.setblocking(False)
    sock_fd = conn.fileno()

    outbuf = bytearray()
    record = b""           # an SSL write to retry with exactly these bytes
    inbuf = bytearray()
    close_stdin = False
    eot_seen = False
    flushed_at: float | None = None
    out_eof = False
    exited_at: float | None = None
    poller = select.poll()
    registered: set[int] = set()

    def feed(data: bytes) -> None:
        nonlocal close_stdin, eot_seen
        if eot_seen:
            return  # input has ended; later bytes have nowhere to go
        eot = data.find(EOT)
        if eot != -1:
            data, close_stdin, eot_seen = data[:eot], True, True
        if in_fd is not None:
            inbuf.extend(data)

    def shut_stdin() -> None:
        nonlocal in_fd
        if in_fd is not None:
            try:
                stdin.close()
            except OSError:
                pass
            in_fd = None
            inbuf.clear()

    feed(early)
    try:
        while True:
            # 1. Output to the client, one record at a time.
            if not record and outbuf:
                n = next_record(outbuf, final=out_eof)
                if n:
                    record = bytes(outbuf[:n])
                    del outbuf[:n]
            want_write = False
            if record:
                try:
                    sent = conn.send(record)
                    record = record[sent:]
                    continue
                except ssl.SSLWantWriteError:
                    want_write = True
                except ssl.SSLWantReadError:
                    pass
                except OSError:
                    return True
            # 2. Finished?
            if exited_at is None and proc.poll() is not None:
                exited_at = time.monotonic()
            if exited_at is not None and not out_eof and \
                    time.monotonic() - exited_at > DRAIN_AFTER_EXIT:
                out_eof = True  # a leftover child holds stdout; stop waiting
            if out_eof and exited_at is not None and not record and not outbuf:
                # The CLI writes its end-of-input (\x04) when its stdin ends,
                # which can be after a quick command is already done; closing
                # first makes that write fail and crashes the CLI. So wait for
                # the EOT (or the client's close), briefly: a terminal never
                # sends one.
                flushed_at = flushed_at or time.monotonic()
                if eot_seen or time.monotonic() - flushed_at > EOT_WAIT:
                    return False
            if exited_at is not None and time.monotonic() - exited_at > FLUSH_LIMIT:
                return False  # the client stopped reading; give up on it
            # 3. Wait for something to do.
            fds = {sock_fd: select.POLLIN | (select.POLLOUT if want_write else 0)}
            if not out_eof and len(outbuf) < OUT_LIMIT:
                fds[out_fd] = select.POLLIN
            if in_fd is not None and inbuf:
                fds[in_fd] = select.POLLOUT
            for fd in registered - fds.keys():
                poller.unregister(fd)
            for fd, mask in fds.items():
                poller.register(fd, mask)
            registered = set(fds)
            ready = dict(poller.poll(0 if conn.pending() else 100))
            # 4. Do it.
            if conn.pending() or ready.get(sock_fd, 0) & (
                    select.POLLIN | select.POLLHUP | select.POLLERR):
                while True:
                    try:
                        data = conn.recv(65536)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        break
                    except OSError:
                        return True
                    if not data:
                        # The client closed: gone, unless the process is done.
                        return exited_at is None or not out_eof
                    feed(data)
            if out_fd in ready:
                try:
                    data = os.read(out_fd, 65536)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    out_eof = True
                elif data:
                    outbuf.extend(data)
            if in_fd is not None and in_fd in ready and inbuf:
                try:
                    n = os.write(in_fd, inbuf)
                    del inbuf[:n]
                except BlockingIOError:
                    pass
                except OSError:
                    shut_stdin()  # the process closed its stdin
            if close_stdin and not inbuf:
                shut_stdin()
    finally:
        shut_stdin()
        try:
            out.close()
        except OSError:
            pass


def _goodbye(conn: ssl.SSLSocket) -> None:
    """End the TLS session cleanly (close_notify), without waiting long."""
    try:
        conn.setblocking(False)
        try:
            while conn.recv(65536):
                pass  # unread input would turn the close into a reset
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        conn.settimeout(1.0)
        conn.unwrap()
    except (OSError, ssl.SSLError, ValueError):
        pass


def _quietly(fn: Callable, *args) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - a callback must not kill the server
        log.exception("rendezvous callback failed")
