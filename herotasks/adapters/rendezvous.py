"""``heroku run --exit-code`` in Python: attach to a one-off dyno's rendezvous.

A dyno created with ``attach: true`` comes back with ``attach_url``
``rendezvous://HOST:PORT/SECRET[?query]``. The protocol, as the CLI speaks it
(``heroku`` 11.10 ``dist/lib/run/dyno.js`` ``_rendezvous``/``_readData``):

1. open TLS to HOST:PORT, verifying the certificate;
2. send ``SECRET[?query]\\r\\n`` (the URL's path and query without the ``/``);
3. the server answers a ``rendezvous\\r\\n`` line, then the command's output;
4. the command was wrapped (:func:`wrap_command`) to print
   ``\\uFFFF heroku-command-exit-status: N`` last; that line is the exit code,
   and the CLI strips it from what it shows. A close before it means the dyno
   died without finishing: "No exit code returned".

Chosen over shelling out to ``heroku run --exit-code`` so a deploy does not need
the Node CLI, the token stays in this process (no argv, no child env), and the
output reaches the journal and report directly. heroku3's ``Rendezvous`` is not
usable: it trusts only its bundled CA, omits the ``\\r\\n`` and drops the query.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import socket
import ssl
import time
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit

from herotasks.adapters._out import Output, as_writer
from herotasks.errors import HerotasksError

EXIT_MARKER = "\uffff heroku-command-exit-status:"
_EXIT_RE = re.compile("\uffff heroku-command-exit-status: (\\d+)[ \\t]*")
#: The CLI's socket idle timeout (``c.setTimeout(1000 * 60 * 60)``).
IDLE_TIMEOUT = 3600.0
#: End of input, as the CLI sends when its (non-tty) stdin is exhausted.
EOT = b"\x04"


def wrap_command(cmd: str) -> str:
    """``cmd`` made to report its exit status, exactly as ``heroku run
    --exit-code`` does."""
    return f'{cmd} ; echo "{EXIT_MARKER} $?"'


def _default_cas() -> str:
    """The CA bundle requests uses by default (certifi ships with it), so a
    one-off dyno is trusted exactly when the API that started it is."""
    import certifi

    return certifi.where()


def parse_attach_url(attach_url: str) -> tuple[str, int, str]:
    """``(host, port, line)`` from an ``attach_url``; ``line`` is what to send.

    :raises HerotasksError: not a ``rendezvous://host:port/secret`` URL.
    """
    parts = urlsplit(attach_url)
    try:
        port = parts.port
    except ValueError:
        port = None
    secret = parts.path.lstrip("/")
    if parts.scheme != "rendezvous" or not parts.hostname or not port or not secret:
        raise HerotasksError(
            "the dyno's attach_url is not a rendezvous://host:port/secret URL",
            "herotasks attaches only to rendezvous dynos; run the command with"
            " `heroku run` instead",
        )
    line = secret + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, port, line


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def attach(
    attach_url: str,
    out: Output,
    *,
    cabundle: str | None = None,
    loopback_only: bool = False,
    timeout: float | None = None,
    connect_timeout: float = 30.0,
    idle_timeout: float = IDLE_TIMEOUT,
    send_eot: bool = True,
) -> int:
    """Attach to a one-off dyno, stream its output to ``out``, return its exit code.

    :param out: callable or writable text stream; gets output as it arrives,
        with ``\\r\\n`` made ``\\n`` and the exit marker line removed.
    :param cabundle: PEM CA file to trust; else certifi's bundle, the one
        requests (and so the API client) trusts, never a different store.
    :param loopback_only: refuse any host that is not loopback (for tests and
        the sandbox; real Heroku hosts need it off).
    :param timeout: overall limit in seconds (None: no limit).
    :param idle_timeout: limit on silence between two reads.
    :param send_eot: send end-of-input once attached, as the CLI does when its
        stdin is not a terminal, so a command that reads stdin does not hang.
    :raises HerotasksError: bad URL, refused host, connection/TLS failure,
        timeout, or the connection closed before the exit code arrived.
    """
    with Session(attach_url, cabundle=cabundle, loopback_only=loopback_only,
                 connect_timeout=connect_timeout) as session:
        return session.finish(out, timeout=timeout, idle_timeout=idle_timeout,
                              send_eot=send_eot)


class Session:
    """An attached one-off dyno whose input we keep: its output is read when
    asked (:meth:`until`, :meth:`finish`), its input written when we choose
    (:meth:`send`). ``heroku run`` with a stdin held open, which is how a
    dyno can boot first and wait to be told to go on: when this process
    dies the connection closes, the dyno's input ends (and Heroku stops an
    attached dyno whose client left), so it never goes on by itself.

    :raises HerotasksError: bad URL, refused host, connection failure.
    """

    def __init__(self, attach_url: str, *, cabundle: str | None = None,
                 loopback_only: bool = False, connect_timeout: float = 30.0) -> None:
        host, port, line = parse_attach_url(attach_url)
        if loopback_only and not is_loopback(host):
            raise HerotasksError(
                f"refusing to attach to {host}: only loopback hosts are allowed here",
                "this run is limited to the local sandbox",
            )
        self.where = f"{host}:{port}"
        context = ssl.create_default_context(cafile=cabundle or _default_cas())
        try:
            self._raw = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as exc:
            raise HerotasksError(
                f"cannot connect to the dyno at {host}:{port}: {exc.strerror or exc}",
                "check the network; the dyno may have exited already",
            ) from None
        self._conn: ssl.SSLSocket | None = None
        try:
            with self._errors():
                self._conn = context.wrap_socket(self._raw, server_hostname=host)
                self._conn.sendall(line.encode() + b"\r\n")
        except HerotasksError:
            self.close()
            raise
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buffer = ""
        self._greeted = False
        self._eot_sent = False

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Hang up (the dyno's input ends)."""
        for sock in (self._conn, self._raw):
            try:
                if sock is not None:
                    sock.close()
            except OSError:
                pass

    def send(self, data: bytes) -> None:
        """Write ``data`` to the command's input (``EOT`` ends it)."""
        with self._errors():
            self._conn.sendall(data)
        self._eot_sent = self._eot_sent or EOT in data

    def until(self, out: Output, line: str, *, timeout: float | None = None,
              idle_timeout: float = IDLE_TIMEOUT) -> int | None:
        """Stream output to ``out`` until the command says ``line`` (a whole
        line, not shown): None then; or its exit code if it ended first."""
        code, _ = self._pump(as_writer(out), _deadline(timeout), idle_timeout,
                             send_eot=False, ready=line)
        return code

    def finish(self, out: Output, *, timeout: float | None = None,
               idle_timeout: float = IDLE_TIMEOUT, send_eot: bool = True) -> int:
        """Stream output to ``out`` until the command's exit code arrives.

        :raises HerotasksError: timeout, or the connection closed first.
        """
        code, _ = self._pump(as_writer(out), _deadline(timeout), idle_timeout,
                             send_eot=send_eot, ready=None)
        return code  # type: ignore[return-value]  # (None only with ``ready``)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except ssl.SSLError as exc:
            raise HerotasksError(
                f"TLS with the dyno at {self.where} failed: {exc.reason or exc}",
                "point herotasks.api.cabundle (or HEROTASKS_CA_BUNDLE) at its CA",
            ) from None
        except (socket.timeout, TimeoutError):
            raise HerotasksError(
                f"timed out waiting for the dyno at {self.where}",
                "raise herotasks.timeouts.migrate, or check the dyno with `heroku ps`",
            ) from None
        except OSError as exc:
            raise HerotasksError(
                f"lost the connection to the dyno at {self.where}: {exc}",
                "check the dyno's logs; the command may still have run",
            ) from None

    def _pump(self, write, deadline: float | None, idle_timeout: float, *,
              send_eot: bool, ready: str | None) -> tuple[int | None, bool]:
        conn = self._conn
        with self._errors():
            while True:
                if self._greeted:
                    if send_eot and not self._eot_sent:
                        conn.sendall(EOT)
                        self._eot_sent = True
                    code, self._buffer, said = _emit(self._buffer, write, final=False,
                                                     ready=ready)
                    if code is not None or said:
                        return code, said
                wait = idle_timeout
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        raise TimeoutError
                conn.settimeout(wait)
                data = conn.recv(65536)
                self._buffer += self._decoder.decode(data, final=not data).replace(
                    "\r\n", "\n")
                if not self._greeted:
                    # The server's first line is "rendezvous"; output starts after it.
                    if "\n" not in self._buffer:
                        if data:
                            continue
                        break
                    self._buffer = self._buffer.split("\n", 1)[1]
                    self._greeted = True
                    continue
                if not data:
                    code, self._buffer, _ = _emit(self._buffer, write, final=True)
                    if code is not None:
                        return code, False
                    break
        raise HerotasksError(
            "no exit code returned: the connection to the dyno closed before the"
            " command finished",
            "the dyno may have crashed or been stopped; check `heroku logs`",
        )


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _emit(buffer: str, write, *, final: bool,
          ready: str | None = None) -> tuple[int | None, str, bool]:
    """Write complete output from ``buffer``; return (exit code or None, rest,
    whether the whole line ``ready`` was said: it is not written, and what
    follows it stays in the rest).

    Whole lines are checked for the marker. A partial line is written at once
    (a progress bar must show) unless it may be the start of the marker (or
    of ``ready``), which is held back until its line is complete.
    """
    while "\n" in buffer:
        line, buffer = buffer.split("\n", 1)
        if ready is not None and line.rstrip() == ready:
            return None, buffer, True
        match = _EXIT_RE.search(line)
        if match:
            # Output that lacked a final newline shares the marker's line.
            before = line[: match.start()]
            if before:
                write(before + "\n")
            return int(match.group(1)), buffer, False
        write(line + "\n")
    if final:
        match = _EXIT_RE.search(buffer)
        if match:
            buffer = buffer[: match.start()]
        if buffer:
            write(buffer)
        return (int(match.group(1)) if match else None), "", False
    if ready is not None and ready.startswith(buffer):
        return None, buffer, False  # maybe ``ready``: wait for its line
    hold = buffer.find("\uffff")
    if hold == -1:
        hold = len(buffer)
    if buffer[:hold]:
        write(buffer[:hold])
    return None, buffer[hold:], False
