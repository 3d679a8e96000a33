"""Git smart HTTP for the sandbox's apps, and the build that runs during a push.

``https://127.0.0.1:PORT/<app>.git`` is served by git's own ``git
http-backend`` run as a CGI per request, so the sandbox speaks exactly the
protocol (v0, v2, gzip bodies, dumb fallback) that the installed git does.
The server has already checked the token (Basic auth password, as
``git.heroku.com`` wants it).

A push builds while the pusher waits, as on Heroku: every repository has a
``pre-receive`` hook (``hooks/pre_receive.py``) that posts the ref updates
to ``/_sandbox/hooks/pre-receive`` and relays the answer, which is the build
log followed line by line. A failed build makes the hook exit non-zero, so
git refuses the ref update and the pusher sees the log tail on ``remote:``
lines.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import shlex
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .build import BuildFailed, git_base_env
from .httpauth import token_from
from .platform import Platform, PlatformError, new_id

log = logging.getLogger("herotasks_sandbox")

ZERO_SHA = "0" * 40
DEPLOY_REFS = ("refs/heads/main", "refs/heads/master")
HOOK_PATH = "/_sandbox/hooks/pre-receive"
HOOK_SCRIPT = Path(__file__).with_name("hooks") / "pre_receive.py"
MARK = "\uffff herotasks-push-status: "   # kept in step with hooks/pre_receive.py
OBJECT_ENV = ("GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
              "GIT_QUARANTINE_PATH")
# What follows "<app>.git" in a smart or dumb HTTP request.
GIT_REST = re.compile(r"^/(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]*$")
SAFE_HEADER = re.compile(r"^[\w.,=:+-]{1,200}$")


class GitServer:
    """Serves the app repositories and builds what is pushed to them."""

    def __init__(self, platform: Platform, sandbox: Any):
        self.platform = platform
        self.sandbox = sandbox
        # Lives as long as this process: hooks get it through http-backend's
        # environment on every push, so nothing needs to remember it.
        self.hook_token = secrets.token_urlsafe(32)
        self._repo_lock = threading.Lock()

    @property
    def repos(self) -> Path:
        return self.platform.builder.repos

    # -- repositories -----------------------------------------------------------
    def ensure_repo(self, app: dict) -> Path:
        """The app's bare repository, created on first use, with our hook."""
        repo = self.platform.builder.repo_path(app)
        with self._repo_lock:
            if not (repo / "HEAD").exists():
                tmp = self.repos / f".tmp-{new_id()}"
                env = git_base_env(self.repos)
                for args in (["init", "-q", "--bare", "-b", "main", str(tmp)],
                             ["-C", str(tmp), "config", "http.receivepack", "true"]):
                    subprocess.run(["git", *args], env=env, check=True,
                                   capture_output=True, stdin=subprocess.DEVNULL)
                tmp.rename(repo)
            self._install_hook(repo)
        return repo

    def _install_hook(self, repo: Path) -> None:
        """(Re)write the hook wrapper when it differs, so a repository keeps
        working when the sandbox's Python or checkout moves."""
        # -S: the hook is stdlib only, and site's work (a virtualenv's .pth
        # files, an editable install's import finders) was a third of its
        # start, at every push.
        wrapper = ("#!/bin/sh\n"
                   "# Installed by the herotasks sandbox: build the push.\n"
                   f"exec {shlex.quote(sys.executable)} -I -S -u "
                   f"{shlex.quote(str(HOOK_SCRIPT))}\n")
        hook = repo / "hooks" / "pre-receive"
        try:
            if hook.read_text() == wrapper:
                return
        except OSError:
            pass
        hook.parent.mkdir(exist_ok=True)
        tmp = hook.with_suffix(".tmp")
        tmp.write_text(wrapper)
        tmp.chmod(0o755)
        tmp.replace(hook)

    # -- smart HTTP ---------------------------------------------------------------
    def handle(self, handler, app_name: str, rest: str, query: str) -> None:
        """One git HTTP request, answered by ``git http-backend``."""
        try:
            app = self.platform.app(app_name)
        except PlatformError:
            return self._refuse(handler, 404, f" !     No such app as {app_name}.")
        if not self.platform.can_access(app):
            # the API's 403 line, as git.heroku.com refuses a push to an app
            # the token's user has no access to
            return self._refuse(handler, 403, " !     You do not have access to the "
                                f"app {app_name}.")
        if not GIT_REST.match(rest) or "/../" in f"{rest}/":
            return self._refuse(handler, 404, " !     Not a git repository path.")
        repo = self.ensure_repo(app)
        body = handler.read_body() if handler.command == "POST" else b""
        env = {
            **git_base_env(self.repos),
            "GIT_PROJECT_ROOT": str(self.repos), "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{repo.name}{rest}", "REQUEST_METHOD": handler.command,
            "QUERY_STRING": query,
            "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": "heroku",
            "REMOTE_ADDR": handler.client_address[0],
            "HEROTASKS_HOOK_URL": self.platform.api_url + HOOK_PATH,
            "HEROTASKS_HOOK_TOKEN": self.hook_token,
            "HEROTASKS_HOOK_CA": str(self.sandbox.tls.ca_path),
            "HEROTASKS_HOOK_APP": app["id"],
        }
        encoding = handler.headers.get("Content-Encoding")
        if encoding and SAFE_HEADER.match(encoding):
            env["HTTP_CONTENT_ENCODING"] = encoding
        protocol = handler.headers.get("Git-Protocol")
        if protocol and SAFE_HEADER.match(protocol):
            env["GIT_PROTOCOL"] = env["HTTP_GIT_PROTOCOL"] = protocol
        proc = subprocess.Popen(["git", "http-backend"], env=env, cwd=repo,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        errors: list[bytes] = []
        feeders = [threading.Thread(target=_feed, args=(proc.stdin, body), daemon=True),
                   threading.Thread(target=lambda: errors.append(proc.stderr.read()),
                                    daemon=True)]
        for t in feeders:
            t.start()
        try:
            self._relay(handler, proc)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for t in feeders:
                t.join(5)
            if any(errors):
                log.info("git http-backend (%s %s): %s", app["name"], rest,
                         b"".join(errors).decode("utf-8", "replace").strip())

    def _relay(self, handler, proc: subprocess.Popen) -> None:
        """CGI response -> HTTP response, streamed as it comes (a push's
        ``remote:`` lines arrive during the build)."""
        status, headers = 200, []
        while True:
            line = proc.stdout.readline()
            if not line:
                return self._refuse(handler, 502, " !     git http-backend failed.")
            line = line.rstrip(b"\r\n")
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name.strip(), value.strip()))
        sized = any(n.lower() == "content-length" for n, _ in headers)
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        if not sized:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        if handler.command == "HEAD":
            return
        while chunk := proc.stdout.read1(65536):
            handler.wfile.write(chunk if sized else b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if not sized:
            handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    def _refuse(self, handler, status: int, message: str) -> None:
        # git prints a text/plain error body as "remote: ..." lines.
        handler.send_text(status, message + "\n")

    # -- the pre-receive hook -----------------------------------------------------
    def hook(self, handler, path: str, query: str) -> None:
        """``POST /_sandbox/hooks/pre-receive`` from a repository's hook."""
        if path != HOOK_PATH or handler.command != "POST":
            return handler.send_json(404, {"id": "not_found", "message": "Not found."})
        if not hmac.compare_digest(token_from(handler.headers) or "", self.hook_token):
            return handler.send_json(401, {"id": "unauthorized",
                                           "message": "Hook token required."})
        try:
            req = json.loads(handler.read_body())
            app_id, cwd = str(req["app"]), Path(req["cwd"])
            updates = [{"old": str(u["old"]), "new": str(u["new"]), "ref": str(u["ref"])}
                       for u in req["updates"]]
            objects = {k: str(v) for k, v in req["env"].items() if k in OBJECT_ENV}
        except (ValueError, KeyError, TypeError, AttributeError):
            return handler.send_json(422, {"id": "invalid_params",
                                           "message": "Malformed hook request."})
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain; charset=utf-8")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        out = _ChunkedLines(handler)
        try:
            accepted = self._pre_receive(out, app_id, updates, objects, cwd)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            raise  # the pusher went away; the build carries on, as on Heroku
        except Exception:  # noqa: BLE001 - reject rather than hang the push
            log.exception("pre-receive hook failed")
            out.line(" !     The sandbox failed while handling this push "
                     "(see ROOT/logs/server.log).")
            accepted = False
        out.line(MARK + ("accepted" if accepted else "rejected"))
        out.end()

    def _pre_receive(self, out: "_ChunkedLines", app_id: str, updates: list[dict],
                     objects: dict[str, str], cwd: Path) -> bool:
        """Build the push of ``main``/``master``; say whether git may accept it."""
        try:
            app = self.platform.app(app_id)
        except PlatformError:
            out.line(" !     This app no longer exists.")
            return False
        target, others = deploy_refs(updates)
        for branch in others:
            out.line(f"Pushed to non-deploy branch {branch}; only main and master "
                     "are built. Skipping build.")
        if target is None:
            return True
        try:
            git_env = self._object_env(app, objects, cwd)
            build = self.platform.builder.start_git_build(app, target["new"], git_env)
        except BuildFailed as exc:
            for line in exc.lines:
                out.line(f" !     {line}")
            out.line(" !     Push rejected.")
            return False
        out.line("Compressing source files... done.")
        out.line("Building source:")
        out.line("")
        builder = self.platform.builder
        _follow(out, builder.build_log_path(build["id"]),
                lambda: builder.build_done(build["id"]) is not False)
        build = self.platform.store.get("build", build["id"]) or {"status": "failed"}
        if build["status"] != "succeeded":
            out.line(" !     Push failed")
            return False
        out.line("Verifying deploy... done.")
        release = self.platform.store.get("release", build["release"]["id"])
        if release and release.get("output_stream_url"):  # it has a release phase
            self._follow_release(out, release)
        return True

    def _follow_release(self, out: "_ChunkedLines", release: dict) -> None:
        """Stream the release phase, as Heroku does after a push. Its failure
        does not reject the push (the build is done and the commit is on the
        remote); the release is ``failed`` and the app keeps running."""
        store = self.platform.store

        def done() -> bool:
            r = store.get("release", release["id"])
            return r is None or r["status"] != "pending"

        out.line("Running release command...")
        out.line("")
        _follow(out, self.platform.release_log_path(release["id"]), done)
        final = store.get("release", release["id"]) or {"status": "failed"}
        ok = final["status"] == "succeeded"
        out.line(f"Waiting for release.... {'done' if ok else 'failed'}.")
        if not ok:
            out.line(f" !     Release command declared by your Procfile failed; "
                     f"v{release['version']} is not deployed.")

    def _object_env(self, app: dict, objects: dict[str, str],
                    cwd: Path) -> dict[str, str]:
        """The quarantine's object directories, made absolute and checked to
        lie inside the app's repository (the token holder cannot point the
        sandbox's git at other directories)."""
        repo = self.platform.builder.repo_path(app).resolve()
        out = {}
        for key, value in objects.items():
            parts = value.split(os.pathsep) if key == "GIT_ALTERNATE_OBJECT_DIRECTORIES" \
                else [value]
            resolved = []
            for part in parts:
                p = (cwd / part.strip('"')).resolve()
                if p != repo and repo not in p.parents:
                    raise BuildFailed(f"{key} points outside the app's repository.")
                resolved.append(str(p))
            out[key] = os.pathsep.join(resolved)
        return out


class _ChunkedLines:
    """A chunked ``text/plain`` body written as it is produced."""

    def __init__(self, handler):
        self.wfile = handler.wfile

    def write(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def line(self, text: str) -> None:
        self.write((text + "\n").encode())

    def end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def deploy_refs(updates: list[dict]) -> tuple[dict | None, list[str]]:
    """The update to build (the last one of ``main`` or ``master`` that is
    not a deletion) and the other branches that were pushed to."""
    target, others = None, []
    for u in updates:
        if u["ref"] in DEPLOY_REFS:
            if u["new"] != ZERO_SHA:
                target = u
        elif u["ref"].startswith("refs/heads/") and u["new"] != ZERO_SHA:
            others.append(u["ref"][len("refs/heads/"):])
    return target, others


def _follow(out: _ChunkedLines, path: Path, finished: Callable[[], bool]) -> None:
    """Copy a growing log to ``out`` until ``finished()`` and all is sent."""
    offset = 0
    while True:
        done = finished()
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            data = b""
        offset += len(data)
        out.write(data)
        if done:
            if data and not data.endswith(b"\n"):
                out.write(b"\n")
            return
        time.sleep(0.1)


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
    except BrokenPipeError:
        pass
    finally:
        try:
            pipe.close()
        except BrokenPipeError:
            pass
