"""The sandbox's HTTP router: one listener per app on ``127.0.0.1:<port>``.

Heroku's router takes each request for an app's ``web_url`` and hands it to
one of the app's web dynos. This one does the same on loopback:

- a threaded HTTP/1.1 server with keep-alive towards the client; one fresh
  connection per request towards the dyno (``Connection: close``), so a dyno
  that is replaced never leaves a stale pooled connection behind;
- the one port answers http and, with the sandbox CA's certificate, https
  (the first byte of a connection tells a TLS handshake from a request), so
  an app that redirects to https keeps working on its ``web_url``;
- round robin over the routable web dynos, with Heroku's request headers
  added (``X-Request-Id``, ``X-Forwarded-For/Proto/Port``, ``Via``,
  ``X-Request-Start`` in epoch milliseconds at arrival) and the answer
  streamed back as it arrives;
- maintenance mode answers 503 with a maintenance page; no routable dyno
  means waiting (bounded) for one, then 503 (Heroku's H14/H20); a dyno that
  refuses or drops the connection is a 503 too (H13/H19). Every such answer
  carries ``X-Herotasks-Sandbox: <reason>`` so tests and benchmarks can tell
  the sandbox's answers from the app's.

The runtime tells the router which dynos may take traffic (``add`` /
``remove``) and, before it stops a web dyno, calls ``drain`` so the dyno
finishes its in-flight requests first. That is what makes a preboot deploy
lose no request.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

#: Heroku's router gives an app 30 s to start answering (H12).
REQUEST_TIMEOUT = 30.0
#: How long a request waits for a web dyno to become routable (H20 in spirit).
DYNO_WAIT = 10.0
#: Idle keep-alive connections from clients are closed after this long.
IDLE_TIMEOUT = 60.0

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "proxy-connection", "te", "trailer", "trailers", "transfer-encoding",
    "upgrade", "expect",
})
# Heroku keeps a client's X-Request-Id when it looks like one (20-200 chars).
REQUEST_ID = re.compile(r"^[\w\-+=/.:@]{20,200}$")
VIA = "1.1 herotasks-sandbox"
MARK = "X-Herotasks-Sandbox"

MAINTENANCE_PAGE = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Offline for Maintenance</title></head>
<body>
<!-- herotasks-sandbox-maintenance -->
<h1>Offline for maintenance</h1>
<p>This app is in maintenance mode. Please check back in a moment.</p>
<p><small>herotasks-sandbox-maintenance</small></p>
</body>
</html>
"""

ERROR_PAGE = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Application Error</title></head>
<body>
<h1>Application error</h1>
<p>{detail}</p>
<p><small>herotasks-sandbox-{reason}</small></p>
</body>
</html>
"""


class Backend:
    """A web dyno as the router sees it."""

    __slots__ = ("key", "name", "port", "inflight", "connect")

    def __init__(self, key: str, name: str, port: int,
                 connect: Callable[..., socket.socket] | None = None):
        self.key, self.name, self.port = key, name, port
        #: ``connect(port, timeout)``: the dyno's port in its own network
        #: namespace (None: ``127.0.0.1:port`` here).
        self.connect = connect
        self.inflight = 0


class Router:
    """One app's front door.

    :param app_name: for the log lines
    :param port: the port to listen on (0: any free one)
    :param maintenance: asked on every request; True answers the
        maintenance page (read from the store, so it is never stale)
    :param wait: seconds a request waits for a routable web dyno
    :param log_path: the app's ``router.log`` (one Heroku-style line per
        request), or None
    :param tls: the server context for https on the same port (None: http only)
    """

    def __init__(self, app_name: str, port: int = 0, *,
                 maintenance: Callable[[], bool] = lambda: False,
                 wait: float = DYNO_WAIT, request_timeout: float = REQUEST_TIMEOUT,
                 log_path: Path | None = None, tls: ssl.SSLContext | None = None):
        self.app_name = app_name
        self.tls = tls
        self.maintenance = maintenance
        self.wait = wait
        self.request_timeout = request_timeout
        self.log_path = Path(log_path) if log_path else None
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._cond = threading.Condition()
        self._backends: list[Backend] = []
        self._draining: dict[str, Backend] = {}
        self._rr = 0
        self._expected = 0
        self._closed = False
        self._log_lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _Handler, self)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name=f"router-{app_name}", daemon=True)
        self._thread.start()

    # -- what the runtime tells the router ----------------------------------------
    def add(self, key: str, name: str, port: int,
            connect: Callable[..., socket.socket] | None = None) -> None:
        """Route to this dyno from now on (``connect``: see ``Backend``)."""
        with self._cond:
            if any(b.key == key for b in self._backends):
                return
            self._backends.append(Backend(key, name, port, connect))
            self._cond.notify_all()

    def remove(self, key: str) -> Backend | None:
        """Send no new requests to this dyno (in-flight ones go on)."""
        with self._cond:
            for b in self._backends:
                if b.key == key:
                    self._backends.remove(b)
                    if b.inflight:
                        self._draining[key] = b
                    return b
            return self._draining.get(key)

    def drain(self, key: str, timeout: float = REQUEST_TIMEOUT) -> bool:
        """Remove the dyno and wait until it has no request in flight.

        :returns: False when requests were still running at ``timeout``.
        """
        b = self.remove(key)
        if b is None:
            return True
        with self._cond:
            done = self._cond.wait_for(lambda: b.inflight == 0, timeout)
            self._draining.pop(key, None)
            return done

    def set_expected(self, n: int) -> None:
        """How many web dynos the app should have. With none expected, a
        request is answered 503 at once instead of waiting (Heroku's H14)."""
        with self._cond:
            self._expected = n
            self._cond.notify_all()

    def routable(self) -> list[str]:
        with self._cond:
            return [b.name for b in self._backends]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()

    # -- used by the handler ----------------------------------------------------------
    def _pick(self, tried: set[str]) -> Backend | None:
        """A routable dyno (round robin), waiting up to ``wait`` for one; the
        pick counts as in flight until ``_done``."""
        deadline = time.monotonic() + self.wait
        with self._cond:
            while True:
                if self._closed:
                    return None
                choices = [b for b in self._backends if b.key not in tried]
                if choices:
                    b = choices[self._rr % len(choices)]
                    self._rr += 1
                    b.inflight += 1
                    return b
                if tried and self._backends:
                    return None  # every routable dyno failed this request
                left = deadline - time.monotonic()
                if left <= 0 or self._expected == 0:
                    return None
                self._cond.wait(left)

    def _done(self, b: Backend) -> None:
        with self._cond:
            b.inflight -= 1
            if b.inflight == 0:
                self._cond.notify_all()

    def _log(self, line: str) -> None:
        if not self.log_path:
            return
        ts = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        with self._log_lock:
            with open(self.log_path, "a") as f:
                f.write(f"{ts} heroku[router]: {line}\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, handler, router: Router):
        self.router = router
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def finish_request(self, request, client_address):
        """In the connection's own thread: a TLS ClientHello (first byte
        0x16) makes it an https connection, anything else plain http."""
        if self.router.tls is not None:
            request.settimeout(IDLE_TIMEOUT)
            try:
                first = request.recv(1, socket.MSG_PEEK)
            except OSError:
                return
            if first == b"\x16":
                try:
                    tls = self.router.tls.wrap_socket(request, server_side=True)
                except (OSError, ssl.SSLError):
                    return  # a failed handshake: nothing to answer
                with self._open_lock:
                    self._open.discard(request)
                    self._open.add(tls)
                try:
                    self.RequestHandlerClass(tls, client_address, self)
                finally:
                    with self._open_lock:
                        self._open.discard(tls)
                    try:
                        tls.close()
                    except OSError:
                        pass
                return
        self.RequestHandlerClass(request, client_address, self)

    def close_connections(self) -> None:
        """End idle keep-alive connections so their threads finish."""
        with self._open_lock:
            socks, self._open = list(self._open), set()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass  # a client that went away is not an error of the router


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "herotasks-sandbox-router"
    timeout = IDLE_TIMEOUT
    # Headers and body go out in separate writes; with Nagle on, the body
    # waits for the client's delayed ACK (40 ms a request on Linux).
    disable_nagle_algorithm = True

    @property
    def router(self) -> Router:
        return self.server.router

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass  # router.log has one line per request instead

    def __getattr__(self, name: str):
        # Every method is proxied as is (GET, POST, PROPFIND, ...).
        if name.startswith("do_"):
            return self._proxy
        raise AttributeError(name)

    # -- one request ----------------------------------------------------------------
    def _proxy(self) -> None:
        router = self.router
        started = time.monotonic()
        self._arrived_ms = int(time.time() * 1000)
        rid = self.headers.get("X-Request-Id") or ""
        if not REQUEST_ID.match(rid):
            rid = str(uuid.uuid4())
        info = {"method": self.command, "path": self.path, "rid": rid,
                "dyno": None, "status": 0, "bytes": 0, "code": None}
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return self._sandbox_answer(400, "bad-request", "Bad request body.", info)
        try:
            maintenance = router.maintenance()
        except Exception:  # noqa: BLE001 - a closing store: treat as off
            maintenance = False
        if maintenance:
            info["code"] = "H80"
            return self._page(503, "maintenance", MAINTENANCE_PAGE, info,
                              {"Retry-After": "60"})
        tried: set[str] = set()
        while True:
            backend = router._pick(tried)
            if backend is None:
                if tried:
                    info["code"] = "H19"
                    return self._sandbox_answer(
                        503, "dyno-error", "The web dyno refused the connection.",
                        info)
                info["code"] = "H14" if router._expected == 0 else "H20"
                return self._sandbox_answer(
                    503, "no-web-dynos", "No web dyno is running or ready.", info)
            info["dyno"] = backend.name
            try:
                outcome = self._forward(backend, body, rid, info)
            finally:
                router._done(backend)
            if outcome != "retry":
                break
            tried.add(backend.key)
        info["service"] = time.monotonic() - started
        self._access_log(info)

    def _forward(self, backend: Backend, body: bytes | None, rid: str,
                 info: dict) -> str:
        """Send the request to ``backend`` and stream its answer back.

        :returns: "retry" when the dyno refused the connection before it saw
            the request (safe to try another dyno), else "done".
        """
        router = self.router
        conn = http.client.HTTPConnection("127.0.0.1", backend.port,
                                          timeout=router.request_timeout)
        try:
            try:
                if backend.connect is not None:
                    conn.sock = backend.connect(backend.port, router.request_timeout)
                else:
                    conn.connect()
            except OSError:
                conn.close()
                return "retry"
            conn.putrequest(self.command, self.path, skip_host=True,
                            skip_accept_encoding=True)
            for name, value in self._upstream_headers(rid, body):
                conn.putheader(name, value)
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
        except (socket.timeout, TimeoutError):
            conn.close()
            info["code"] = "H12"
            self._sandbox_answer(503, "request-timeout",
                                 "The web dyno did not answer in time.", info)
            return "done"
        except (OSError, http.client.HTTPException):
            conn.close()
            info["code"] = "H13"
            self._sandbox_answer(503, "dyno-error",
                                 "The web dyno closed the connection.", info)
            return "done"
        try:
            self._relay(resp, info)
        finally:
            conn.close()
        return "done"

    def _upstream_headers(self, rid: str, body: bytes | None) -> list[tuple[str, str]]:
        drop = set(HOP_BY_HOP) | {"content-length", "x-request-id", "x-request-start",
                                  "x-forwarded-proto", "x-forwarded-port", "via"}
        for token in (self.headers.get("Connection") or "").split(","):
            drop.add(token.strip().lower())
        out = [(k, v) for k, v in self.headers.items() if k.lower() not in drop
               and k.lower() != "x-forwarded-for"]
        client_ip = self.client_address[0]
        fwd = self.headers.get("X-Forwarded-For")
        via = self.headers.get("Via")
        out += [
            ("X-Forwarded-For", f"{fwd}, {client_ip}" if fwd else client_ip),
            ("X-Forwarded-Proto",
             "https" if isinstance(self.connection, ssl.SSLSocket) else "http"),
            ("X-Forwarded-Port", str(self.router.port)),
            ("X-Request-Id", rid),
            ("X-Request-Start", str(self._arrived_ms)),
            ("Via", f"{via}, {VIA}" if via else VIA),
            ("Connection", "close"),
        ]
        if body is not None:
            out.append(("Content-Length", str(len(body))))
        return out

    def _relay(self, resp: http.client.HTTPResponse, info: dict) -> None:
        """Status, headers and body from the dyno to the client, streamed."""
        info["status"] = resp.status
        no_body = (self.command == "HEAD" or resp.status in (204, 304)
                   or 100 <= resp.status < 200)
        length = resp.getheader("Content-Length")
        chunked = False
        self.send_response_only(resp.status, resp.reason)
        connection_tokens = {t.strip().lower() for t in
                             (resp.getheader("Connection") or "").split(",")}
        for name, value in resp.getheaders():
            low = name.lower()
            if low in HOP_BY_HOP or low in connection_tokens or low == "via":
                continue
            self.send_header(name, value)
        via = resp.getheader("Via")
        self.send_header("Via", f"{via}, {VIA}" if via else VIA)
        if not no_body and length is None:
            if self.request_version == "HTTP/1.1":
                chunked = True
                self.send_header("Transfer-Encoding", "chunked")
            else:
                # An HTTP/1.0 client learns the end of the body from the close.
                self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        try:
            self.end_headers()
            if no_body:
                return
            while True:
                try:
                    data = resp.read1(65536)
                except (OSError, http.client.HTTPException):
                    # The dyno died mid-answer: the client can only see a cut.
                    info["code"] = "H13"
                    self.close_connection = True
                    return
                if not data:
                    break
                info["bytes"] += len(data)
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                else:
                    self.wfile.write(data)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True  # the client went away

    def _read_body(self) -> bytes | None:
        """The request body (None when the request has none)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        n = int(length)
        if n < 0:
            raise ValueError("negative Content-Length")
        data = self.rfile.read(n)
        if len(data) != n:
            raise ValueError("short body")
        return data

    # -- the sandbox's own answers -------------------------------------------------------
    def _sandbox_answer(self, status: int, reason: str, detail: str, info: dict) -> None:
        self._page(status, reason, ERROR_PAGE.format(detail=detail, reason=reason), info)

    def _page(self, status: int, reason: str, html: str, info: dict,
              extra: dict | None = None) -> None:
        data = html.encode()
        info["status"], info["bytes"] = status, len(data)
        try:
            self.send_response_only(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache, no-store")
            self.send_header(MARK, reason)
            self.send_header("X-Request-Id", info["rid"])
            self.send_header("Via", VIA)
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            self.close_connection = True
        self._access_log(info)
        info["logged"] = True

    def _access_log(self, info: dict) -> None:
        if info.get("logged"):
            return
        info["logged"] = True
        service = int(info.get("service", 0) * 1000)
        head = "at=error code={} desc=\"{}\" ".format(info["code"], _DESC.get(
            info["code"], "")) if info["code"] else "at=info "
        self.router._log(
            f'{head}method={info["method"]} path="{info["path"]}" '
            f'host={self.headers.get("Host", "")} request_id={info["rid"]} '
            f'fwd="{self.client_address[0]}" dyno={info["dyno"] or ""} '
            f'service={service}ms status={info["status"]} bytes={info["bytes"]} '
            f'protocol={"https" if isinstance(self.connection, ssl.SSLSocket) else "http"}')


_DESC = {
    "H12": "Request timeout", "H13": "Connection closed without response",
    "H14": "No web processes running", "H19": "Backend connection timeout",
    "H20": "App boot timeout", "H80": "Maintenance mode",
}
