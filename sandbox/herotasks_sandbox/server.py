"""The sandbox server: Platform API, git and admin over HTTPS on loopback.

One threaded HTTPS server on ``127.0.0.1`` answers three kinds of path:

- ``/<app>.git/...``: git smart HTTP (``gitserver.py``), token as the
  Basic-auth password, as ``git.heroku.com`` does;
- ``/_sandbox/...``: output streams and blobs (unguessable capability URLs,
  like Heroku's presigned ones), and the token-protected admin interface
  (faults, delays: ``admin.py``, on the API's route table);
- everything else: the Platform API (``api.py``), behind the API token.

Errors are Heroku's ``{"id", "message"}`` bodies; every response carries
``Request-Id`` and ``RateLimit-Remaining``. The server never dies of a bad
request: any unexpected exception becomes a 500 ``internal_server_error``
and is written to ``ROOT/logs/server.log``.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import socket
import ssl
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from . import api, paging
from .faults import Fault, Faults
from .httpauth import token_from
from .platform import CLOCK, Platform, PlatformError
from .ratelimit import TokenBucket
from .store import Store
from .tls import SandboxTLS

log = logging.getLogger("herotasks_sandbox")

GIT_PATH = re.compile(r"^/(?P<app>[a-z][a-z0-9-]{1,28}[a-z0-9])\.git(?P<rest>/.*)?$")
UUID_PATH = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ACCEPT = re.compile(r"application/vnd\.heroku\+json;\s*version=3(\.[\w-]+)?")


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, ssl_context: ssl.SSLContext, sandbox: "Sandbox"):
        self.ssl_context = ssl_context
        self.sandbox = sandbox
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = super().get_request()
        # The handshake happens in the request thread, so one slow client
        # cannot stall the accept loop.
        return self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.settimeout(30)
            request.do_handshake()
            request.settimeout(None)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        log.debug("connection error from %s", client_address, exc_info=True)


class Sandbox:
    """Everything one running sandbox owns."""

    def __init__(self, root: str | Path, port: int = 0):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "logs").mkdir(exist_ok=True)
        self.store = Store(self.root / "state.sqlite3")
        self.tls = SandboxTLS(self.root)
        self.api_key = self._secret("api_key")
        self.admin_token = self._secret("admin_token")
        self.faults = Faults()
        self.rate_limit = TokenBucket()
        # Only a remembered port may be swapped for a free one; a port the
        # user asked for is that port or an error.
        asked = bool(port)
        if not port:
            port = self.store.setting("port", 0)
        self.httpd = _bind(port, self.tls.server_context(), self, fallback=not asked)
        self.port = self.httpd.server_address[1]
        self.store.set_setting("port", self.port)
        self.url = f"https://127.0.0.1:{self.port}"
        self.platform = Platform(self.root, self.store, self.url)
        # The parts that run things; imported here so the API layer stays
        # importable (and testable) without them.
        from .build import Builder
        from .gitserver import GitServer
        from .runtime import Runtime

        self.platform.builder = Builder(self.platform)
        self.git = GitServer(self.platform, self)
        self.platform.runtime = Runtime(self.platform, self.tls)
        from .addons import Addons
        from .logs import LogSessions
        self.platform.addons = Addons(self.platform, self.tls)
        self.platform.log_sessions = LogSessions(self.platform,
                                                 self.platform.runtime.logs.dir)

    def _secret(self, name: str) -> str:
        value = self.store.setting(name)
        if value is None:
            value = "HRKU-sbx-" + secrets.token_hex(24) if name == "api_key" \
                else secrets.token_hex(24)
            self.store.set_setting(name, value)
        return value

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        self.platform.addons.start()  # dynos may need their database at once
        self.platform.runtime.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        name="sandbox-http", daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        self.platform.addons.start()
        self.platform.runtime.start()
        self.httpd.serve_forever()

    def stop(self) -> None:
        try:
            self.platform.runtime.shutdown()
            self.platform.addons.stop()
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.store.close()

    # -- helpers for the handler ------------------------------------------------
    def account_for(self, token: str | None) -> dict | None:
        """The account whose API token this is: the default account's
        (``api_key``) or one made with ``POST /_sandbox/admin/users``."""
        return self.platform.user_for_token(token or "", self.api_key)



def _bind(port: int, ctx: ssl.SSLContext, sandbox: Sandbox,
          fallback: bool = True) -> _TLSServer:
    try:
        return _TLSServer(("127.0.0.1", port), Handler, ctx, sandbox)
    except OSError:
        if not port or not fallback:
            raise
        # The remembered port is taken: take any free one.
        return _TLSServer(("127.0.0.1", 0), Handler, ctx, sandbox)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "herotasks-sandbox/1"

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    def date_time_string(self, timestamp=None):
        # The Date header is Heroku's clock: the sandbox's, moved by the
        # clock_offset admin setting (herotasks judges release ages by it).
        return super().date_time_string(
            time.time() + CLOCK.offset if timestamp is None else timestamp)

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        # Request lines only: headers (and so tokens) are never logged.
        log.info("%s %s", self.address_string(), format % args)

    # All verbs go through one dispatcher.
    def do_GET(self):
        self.dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_GET

    def dispatch(self) -> None:
        self.request_id = self.headers.get("Request-Id") or str(uuid.uuid4())
        self._body_read = False
        path, _, query = self.path.partition("?")
        try:
            if path.startswith("/_sandbox/"):
                return self.internal(path, query)
            m = GIT_PATH.match(path)
            if m:
                account = self.sandbox.account_for(token_from(self.headers))
                if account is None:
                    return self.unauthorized_git()
                with self.sandbox.platform.acting(account):
                    return self.sandbox.git.handle(self, m["app"], m["rest"] or "/",
                                                   query)
            self.api(path, query)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except PlatformError as exc:  # e.g. a malformed body outside the API paths
            self.send_json(exc.status, exc.body())
        except Exception:  # noqa: BLE001 - the sandbox must never crash
            log.error("unhandled error on %s %s\n%s", self.command, path,
                      traceback.format_exc())
            try:
                self.send_json(500, {"id": "internal_server_error",
                                     "message": "Internal server error."})
            except OSError:
                self.close_connection = True

    # -- the Platform API ---------------------------------------------------------
    def api(self, path: str, query: str = "") -> None:
        fault = self.sandbox.faults.take(self.command, path)
        if fault is not None and not fault.after:
            if self.apply_fault(fault):
                return
        # An "after" fault is applied by send_json, once the request is done.
        self._after_fault = fault
        try:
            self.handle_api(path, query)
        finally:
            self._after_fault = None

    def apply_fault(self, fault: Fault) -> bool:
        """Delay, then drop or answer the fault's status; True if it answered."""
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if fault.status:
            extra = {"RateLimit-Remaining": str(self.sandbox.rate_limit.remaining())}
            if fault.status == 429:
                extra["RateLimit-Remaining"] = "0"
            if fault.retry_after is not None:
                extra["Retry-After"] = str(fault.retry_after)
            self.send_json(fault.status, {
                "id": fault.error_id or _default_error_id(fault.status),
                "message": fault.message or "Injected fault."}, extra)
            return True
        return False

    def handle_api(self, path: str, query: str) -> None:
        # Heroku's rate limit; /account/rate-limits itself costs nothing.
        if path == "/account/rate-limits":
            remaining: int | None = self.sandbox.rate_limit.remaining()
        else:
            remaining = self.sandbox.rate_limit.take()
        extra = {"RateLimit-Remaining": str(remaining or 0)}
        if remaining is None:
            return self.send_json(429, {"id": "rate_limit", "message":
                                        "Your account reached the API rate limit\n"
                                        "Please wait a few minutes before making "
                                        "new requests"}, extra)
        accept = self.headers.get("Accept", "")
        if "vnd.heroku+json" in accept and not ACCEPT.search(accept):
            return self.send_json(400, {"id": "bad_request", "message":
                                        "Unsupported API version in Accept header."},
                                  extra)
        account = self.sandbox.account_for(token_from(self.headers))
        if account is None:
            return self.send_json(401, {"id": "unauthorized",
                                        "message": "Invalid credentials provided."},
                                  extra)
        route, params = api.match(self.command, path)
        if route is None:
            if params:
                return self.send_json(405, {"id": "method_not_allowed", "message":
                                            f"{self.command} is not allowed here."}, extra)
            return self.send_json(404, {"id": "not_found",
                                        "message": "The requested API endpoint was "
                                        "not found. Are you using the right HTTP verb "
                                        "and endpoint URL?"}, extra)
        try:
            body = self.read_json()
            body = api.validate_body(route, body)
            req = api.Request(self.command, path, params, body,
                              {"_ratelimit_remaining": str(remaining),
                               **{k: v for k, v in self.headers.items()}},
                              dict(parse_qsl(query)))
            with self.sandbox.platform.acting(account):
                status, out = route.handler(self.sandbox.platform, req)
        except PlatformError as exc:
            return self.send_json(exc.status, exc.body(), extra)
        except (KeyError, TypeError, AttributeError) as exc:
            # A body the schema allowed but the handler could not use.
            return self.send_json(422, {"id": "invalid_params",
                                        "message": f"Invalid params: {exc}"}, extra)
        if isinstance(out, list) and self.command == "GET":
            try:
                rng = paging.parse(self.headers.get("Range"))
                out, next_range = paging.page(out, rng)
            except paging.RangeError as exc:
                return self.send_json(416, {"id": "requested_range_not_satisfiable",
                                            "message": str(exc)}, extra)
            if next_range:
                extra["Next-Range"] = next_range
                status = 206
        self.send_json(status, out, extra)

    def read_body(self) -> bytes:
        """The request body, with or without chunked transfer encoding."""
        self._body_read = True
        try:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            # Broken framing: what follows on this connection cannot be
            # trusted, so the answer closes it (see end_headers).
            self._body_read = False
            raise PlatformError(400, "bad_request",
                                "Malformed Content-Length or chunked body.") from None
        return self.rfile.read(length) if length > 0 else b""

    def read_json(self) -> Any:
        raw = self.read_body()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise PlatformError(400, "bad_request",
                                "Request body is not valid JSON.") from None

    def end_headers(self) -> None:
        # An answer given before the request body was read (auth, faults,
        # unknown paths) closes the connection: on a kept-alive one the
        # unread body would be parsed as the next request.
        if not getattr(self, "_body_read", True) and self._has_body():
            self.send_header("Connection", "close")
        super().end_headers()

    def _has_body(self) -> bool:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return True
        try:
            return int(self.headers.get("Content-Length") or 0) > 0
        except ValueError:
            return True

    def send_json(self, status: int, body: Any, extra: dict | None = None) -> None:
        after, self._after_fault = getattr(self, "_after_fault", None), None
        if after is not None and self.apply_fault(after):
            return
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", self.request_id)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_text(self, status: int, text: str, content_type: str = "text/plain") -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def unauthorized_git(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="Heroku"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- /_sandbox/ ---------------------------------------------------------------
    def internal(self, path: str, query: str) -> None:
        if path == "/_sandbox/health":
            return self.send_json(200, {"ok": True, "pid": os.getpid()})
        m = re.match(rf"^/_sandbox/streams/(builds|releases)/({UUID_PATH})$", path)
        if m and self.command in ("GET", "HEAD"):
            return self.stream(m[1], m[2])
        m = re.match(rf"^/_sandbox/streams/logs/({UUID_PATH})$", path)
        if m and self.command == "GET":
            return self.log_stream(m[1])
        m = re.match(rf"^/_sandbox/blobs/({UUID_PATH})$", path)
        if m:
            return self.blob(m[1])
        if re.match(rf"^/_sandbox/ssh/{UUID_PATH}$", path):
            # a Shield space's one-off attach_url (runtime/oneoffs.py)
            return self.send_json(501, {"id": "not_implemented", "message":
                                        "SSH attach (Shield Private Spaces) is not "
                                        "modelled by the sandbox."})
        if path.startswith("/_sandbox/hooks/"):
            return self.sandbox.git.hook(self, path, query)
        if path.startswith("/_sandbox/admin/"):
            if not hmac.compare_digest(token_from(self.headers) or "",
                                       self.sandbox.admin_token):
                return self.send_json(401, {"id": "unauthorized",
                                            "message": "Admin token required."})
            return self.admin(path, query)
        self.send_json(404, {"id": "not_found", "message": "Not found."})

    def admin(self, path: str, query: str) -> None:
        """An admin route of ``api.ROUTES`` (``admin.py``)."""
        try:
            body = self.read_json() or {}
            route, params = api.match(self.command, path, admin=True)
            if route is None:
                return self.send_json(404, {"id": "not_found",
                                            "message": "Unknown admin endpoint."})
            req = api.Request(self.command, path, params, body,
                              {k: v for k, v in self.headers.items()},
                              dict(parse_qsl(query)), sandbox=self.sandbox)
            status, out = route.handler(self.sandbox.platform, req)
        except (TypeError, ValueError, re.error) as exc:
            return self.send_json(422, {"id": "invalid_params", "message": str(exc)})
        except PlatformError as exc:
            return self.send_json(exc.status, exc.body())
        self.send_json(status, out)

    def blob(self, blob_id: str) -> None:
        path = self.sandbox.root / "blobs" / blob_id
        if self.command == "PUT":
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(self.read_body())
            tmp.replace(path)
            return self.send_text(200, "")
        if self.command in ("GET", "HEAD"):
            if not path.exists():
                return self.send_json(404, {"id": "not_found", "message": "No such blob."})
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(data)
            return
        self.send_json(405, {"id": "method_not_allowed", "message": "GET or PUT."})

    def stream(self, kind: str, obj_id: str) -> None:
        """Follow a build or release log until it is finished, as Heroku's
        ``output_stream_url`` does (chunked ``text/plain``)."""
        p = self.sandbox.platform
        if kind == "builds":
            path, done = p.builder.build_log_path(obj_id), p.builder.build_done
        else:
            path, done = p.release_log_path(obj_id), _release_done(p)
        if not path.exists() and done(obj_id) is None:
            return self.send_json(404, {"id": "not_found", "message": "No such stream."})
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            self.wfile.write(b"0\r\n\r\n")
            return
        offset, deadline = 0, time.monotonic() + 3 * 3600
        while time.monotonic() < deadline:
            finished = done(obj_id) is not False
            data = path.read_bytes()[offset:] if path.exists() else b""
            if data:
                offset += len(data)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            if finished:
                break
            time.sleep(0.1)
        self.wfile.write(b"0\r\n\r\n")


    def log_stream(self, session_id: str) -> None:
        """A log session's ``logplex_url``: server-sent events (logs.py)."""
        sessions = self.sandbox.platform.log_sessions
        params = sessions.take(session_id)
        if params is None:
            return self.send_json(404, {"id": "not_found",
                                        "message": "No such log session (expired?)."})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            sessions.stream(params, self.wfile)
        except OSError:
            pass  # the client went away (Ctrl-C on heroku logs --tail)


def _release_done(p: Platform):
    def done(release_id: str):
        """None: unknown; False: still running; True: finished."""
        r = p.store.get("release", release_id)
        return None if r is None else r["status"] != "pending"
    return done


def _default_error_id(status: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 403: "forbidden",
            404: "not_found", 409: "conflict", 422: "invalid_params",
            429: "rate_limit", 503: "service_unavailable"}.get(
                status, "internal_server_error")
