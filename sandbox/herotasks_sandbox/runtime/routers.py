"""Each app's router (``router.py``), on the port its ``web_url`` names.

A router keeps its port across sandbox restarts (remembered in the app's
``_router_port``), so an app's ``web_url`` stays what the API said it was.
"""

from __future__ import annotations

import threading
from typing import Any

from ..platform import Platform
from ..router import Router
from .dyno import Ports, Timings
from .logs import DynoLogs


class Routers:
    """Opens, finds and closes the apps' routers."""

    def __init__(self, platform: Platform, timings: Timings, logs: DynoLogs,
                 ports: Ports, tls: Any = None):
        self.platform = platform
        #: The sandbox TLS: routers answer https with it too (None: http only).
        self.tls = tls
        self.timings = timings
        self.logs = logs
        self.ports = ports
        self._lock = threading.Lock()
        self._routers: dict[str, Router] = {}

    def get(self, app_id: str) -> Router | None:
        with self._lock:
            return self._routers.get(app_id)

    def open(self, app: dict, port: int = 0) -> None:
        """Give the app its router: on ``port`` when it is free, else on a
        new port, which the app's ``web_url`` then names."""
        router = self._open(app, port)
        if router.port != port or app.get("web_url") != self.web_url(router.port):
            self._save_port(app["id"], router.port)

    def open_ports(self) -> list[int]:
        """Every open router's port."""
        with self._lock:
            return [r.port for r in self._routers.values()]

    def pop(self, app_id: str) -> Router | None:
        """Forget the app's router (no dyno is routed or drained through it
        any more); the caller closes it once the dynos are stopped."""
        with self._lock:
            return self._routers.pop(app_id, None)

    def pop_all(self) -> list[Router]:
        with self._lock:
            routers, self._routers = list(self._routers.values()), {}
        return routers

    def _open(self, app: dict, port: int) -> Router:
        app_id = app["id"]

        def maintenance() -> bool:
            doc = self.platform.store.get("app", app_id)
            return bool(doc and doc.get("maintenance"))

        router = None
        for candidate in ([port] if port else []) + [self.ports.take(), 0]:
            try:
                router = Router(app["name"], candidate, maintenance=maintenance,
                                wait=self.timings.router_wait,
                                log_path=self.logs.path(app, "router"),
                                tls=self.tls.server_context() if self.tls else None)
                break
            except OSError:
                continue
        assert router is not None  # port 0 always binds
        with self._lock:
            old = self._routers.pop(app_id, None)
            self._routers[app_id] = router
        if old:
            old.close()
        return router

    def web_url(self, port: int) -> str:
        """An app's ``web_url``: https, as Heroku's (the schema's examples
        are ``https://...herokuapp.com/``), the sandbox CA signing it; plain
        http answers on the same port. http only without TLS (a bare
        runtime in tests)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}/"

    def _save_port(self, app_id: str, port: int) -> None:
        store = self.platform.store
        with store.transaction():
            doc = store.get("app", app_id)
            if doc is None:
                return
            doc["web_url"] = self.web_url(port)
            doc["_router_port"] = port
            store.put("app", doc)
