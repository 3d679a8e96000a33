"""Fixtures for testing against the sandbox: a pytest plugin, as
pytest-httpbin is one for httpbin.

``pytest -p herotasks_sandbox.testing`` (or ``from herotasks_sandbox.testing
import *`` in a ``conftest.py``) gives a test session one real sandbox,
started as users start it (``daemon.up`` on a temporary root), and clients
that reach it only through what ``ROOT/env`` says. This machine (and CI) may
set ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``, ``GIT_SSL_CAINFO``...
globally, so nothing here inherits the environment: subprocesses get a clean
one built from the env file plus a temporary ``HOME``, and requests pass
``verify=`` on every call (a session's ``verify`` loses to
``REQUESTS_CA_BUNDLE``).

Fixtures are lazy: a test that needs no sandbox never starts one. The
official CLI is found as ``heroku`` on ``PATH`` (``HEROTASKS_HEROKU_BIN``
names another); ``HEROTASKS_SANDBOX_BUILD_CACHE`` shares one build cache
between the session's sandboxes.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest
import requests

ACCEPT = "application/vnd.heroku+json; version=3"
_UNSET: Any = object()

__all__ = ["sandbox", "api", "admin", "app", "user_home", "git_env", "heroku", "tools"]


# The one place the sandbox cannot look like Heroku: its URLs are on
# loopback, while the schema pins app URLs to Heroku's domains. Such a value
# must have the loopback form of the same shape; it is then validated as the
# Heroku URL it stands for.
LOOPBACK_URLS = {
    "git_url": (re.compile(r"^https://127\.0\.0\.1:\d+/([a-z][a-z0-9-]{2,29})\.git$"),
                lambda m, doc: f"https://git.heroku.com/{m[1]}.git"),
    "web_url": (re.compile(r"^https?://127\.0\.0\.1:\d+/$"),
                # Heroku's newer form, NAME-<12 hex>.herokuapp.com
                lambda m, doc: f"https://{doc.get('name') or 'app'}-0123456789ab"
                               ".herokuapp.com/"),
}


def as_heroku(body, problems: list[str], where: str = ""):
    """``body`` with loopback app URLs put in Heroku's form; a URL that is
    neither Heroku's nor the sandbox's loopback form is reported."""
    if isinstance(body, list):
        return [as_heroku(v, problems, f"{where}/{i}") for i, v in enumerate(body)]
    if not isinstance(body, dict):
        return body
    out = {}
    for key, value in body.items():
        if key in LOOPBACK_URLS and isinstance(value, str) and "heroku" not in value:
            regex, heroku_form = LOOPBACK_URLS[key]
            m = regex.match(value)
            if m is None:
                problems.append(f"{where}/{key}: {value!r} is not a loopback {key}")
                out[key] = value
            else:
                out[key] = heroku_form(m, body)
        else:
            out[key] = as_heroku(value, problems, f"{where}/{key}")
    return out


def heroku_bin() -> Path | None:
    """The official CLI: ``$HEROTASKS_HEROKU_BIN``, else ``heroku`` on PATH."""
    named = os.environ.get("HEROTASKS_HEROKU_BIN") or shutil.which("heroku")
    return Path(named) if named else None


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0,
               interval: float = 0.1, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy and return it; fail the test
    (naming ``what``) when it never is. Deadlines are generous on purpose:
    they bound a hang, they do not measure speed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def conforms(resource: str, title: str, body) -> None:
    """``body`` validates against the official schema's link ``targetSchema``."""
    from herotasks_sandbox import schema

    validator = schema.validator(resource, title, "targetSchema")
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in validator.iter_errors(body)]
    assert not errors, errors


def unique(prefix: str = "ht") -> str:
    """An app or pipeline name no other test uses (Heroku: <= 30 chars)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"




def tarball(files: dict[str, str | bytes], prefix: str = "") -> bytes:
    """A .tar.gz of ``files`` (path -> content), each under ``prefix``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(prefix + name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# -- the sandbox -----------------------------------------------------------------------
@dataclass
class SandboxInfo:
    """A running sandbox, as its env file describes it."""

    root: Path
    env: dict[str, str]
    pid: int

    @property
    def url(self) -> str:
        return self.env["HEROKU_HOST"]

    @property
    def api_key(self) -> str:
        return self.env["HEROKU_API_KEY"]

    @property
    def admin_token(self) -> str:
        return self.env["HEROTASKS_SANDBOX_ADMIN_TOKEN"]

    @property
    def ca_bundle(self) -> str:
        return self.env["HEROTASKS_CA_BUNDLE"]


#: The test sandboxes' SIGTERM-to-SIGKILL grace, in seconds (Heroku: 30).
TEST_STOP_GRACE = 5.0
#: The test sandboxes' preboot switch, in seconds after a release (Heroku: ~180).
TEST_RATE_LIMIT = 1_000_000
TEST_PREBOOT_SWITCH = 3.0


def start_sandbox(root: Path) -> SandboxInfo:
    """``daemon.up(root)``; the sandbox (and so its dynos and git) gets a
    private HOME and global git config next to the root, never the real ones."""
    from herotasks_sandbox import daemon

    home = Path(root).parent / (Path(root).name + "-home")
    home.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        # HEROTASKS_SANDBOX_BUILD_CACHE, when the caller set it, is passed
        # on: one uv cache for every test sandbox, so a Django app's packages
        # are downloaded once and later builds install from the cache.
        st = daemon.up(root)
    info = SandboxInfo(root=Path(root).resolve(), env=daemon.read_env(root), pid=st.pid)
    # Heroku's 30 s from SIGTERM to SIGKILL, scaled down so the suite stays
    # quick; still longer than the stubborn test workers take to finish.
    # Preboot's switch, ~3 min after a release on Heroku, likewise. The
    # crash restart policy stays Heroku's (20 min after a second crash): a
    # crash loop shows as `crashed`, as there, for a health check to see.
    # The account's rate limit: Heroku's 4500 tokens are one deploy tool's
    # budget; this session's one account runs a hundred deploys in minutes,
    # so it gets a bigger bucket (the tests of the limit set their own).
    Api(info.url + "/_sandbox/admin", info.admin_token, info.ca_bundle).patch(
        "/settings", {"stop_grace": TEST_STOP_GRACE,
                      "preboot_switch": TEST_PREBOOT_SWITCH,
                      "rate_limit": TEST_RATE_LIMIT})
    return info


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> SandboxInfo:
    """One background sandbox for the whole session (stopped at its end)."""
    from herotasks_sandbox import daemon

    root = tmp_path_factory.mktemp("sandbox")
    info = start_sandbox(root)
    try:
        yield info
    finally:
        daemon.down(root)


# -- HTTP clients ----------------------------------------------------------------------
class Api:
    """A thin Platform API client: Bearer token, the sandbox CA, no env.

    ``observers`` see every ``(method, path, request_json, response)``; the
    conformance test uses that to validate each body it gets back.
    """

    def __init__(self, base: str, token: str | None, verify: str):
        self.base, self.token, self.verify = base.rstrip("/"), token, verify
        self.session = requests.Session()
        self.session.trust_env = False
        self.observers: list[Callable[[str, str, Any, requests.Response], None]] = []

    def request(self, method: str, path: str, *, json: Any = _UNSET,
                data: bytes | str | None = None, headers: dict | None = None,
                token: str | None = _UNSET, accept: str | None = ACCEPT,
                timeout: float = 30) -> requests.Response:
        h = {}
        if accept:
            h["Accept"] = accept
        token = self.token if token is _UNSET else token
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        kwargs: dict[str, Any] = {"data": data}
        if json is not _UNSET:
            kwargs = {"json": json}
        r = self.session.request(method, self.base + path, headers=h,
                                 verify=self.verify, timeout=timeout, **kwargs)
        for observe in self.observers:
            observe(method, path, None if json is _UNSET else json, r)
        return r

    def ok(self, method: str, path: str, **kw) -> Any:
        """The JSON body of a request that must succeed (2xx)."""
        r = self.request(method, path, **kw)
        assert 200 <= r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def get(self, path: str, **kw) -> Any:
        return self.ok("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw) -> Any:
        return self.ok("POST", path, json=body if body is not None else {}, **kw)

    def patch(self, path: str, body: Any, **kw) -> Any:
        return self.ok("PATCH", path, json=body, **kw)

    def put(self, path: str, body: Any, **kw) -> Any:
        return self.ok("PUT", path, json=body, **kw)

    def delete(self, path: str, **kw) -> Any:
        return self.ok("DELETE", path, **kw)

    # -- common steps -------------------------------------------------------------
    def create_app(self, name: str | None = None) -> dict:
        return self.post("/apps", {"name": name or unique()})

    def wait_release(self, app: str, release_id: str, timeout: float = 60) -> dict:
        """The release once it is no longer pending."""
        def done():
            r = self.get(f"/apps/{app}/releases/{release_id}")
            return r if r["status"] != "pending" else None
        return wait_until(done, timeout, 0.2, f"release {release_id} of {app}")

    def deploy_slug(self, app: str, files: dict[str, str],
                    process_types: dict[str, str], commit: str | None = None) -> dict:
        """Release a slug made of ``files`` on ``app``, as the Platform API
        lets one (POST slugs, PUT the tarball to its blob URL, POST release);
        returns the finished release."""
        body: dict[str, Any] = {"process_types": process_types}
        if commit:
            body["commit"] = commit
        slug = self.post(f"/apps/{app}/slugs", body)
        put = self.session.put(slug["blob"]["url"], data=tarball(files, "./app/"),
                               headers={"Content-Type": ""}, verify=self.verify,
                               timeout=30)
        assert put.status_code < 300, f"slug upload: {put.status_code} {put.text}"
        release = self.post(f"/apps/{app}/releases", {"slug": slug["id"]})
        return self.wait_release(app, release["id"])


@pytest.fixture(scope="session")
def api(sandbox) -> Api:
    """The Platform API of the session's sandbox, with its token."""
    return Api(sandbox.url, sandbox.api_key, sandbox.ca_bundle)


@pytest.fixture(scope="session")
def admin(sandbox) -> Api:
    """The sandbox's admin interface (faults, delays), with the admin token."""
    return Api(sandbox.url + "/_sandbox/admin", sandbox.admin_token, sandbox.ca_bundle)


@pytest.fixture
def app(api) -> dict:
    """A fresh app for one test (destroyed afterwards, if still there)."""
    created = api.create_app()
    yield created
    api.request("DELETE", f"/apps/{created['id']}")


# -- subprocesses: the CLI and git -----------------------------------------------------
def clean_env(sandbox_env: dict[str, str], home: Path) -> dict[str, str]:
    """The environment a user gets after ``source ROOT/env`` in a clean
    shell: nothing from this machine's CA settings, a private HOME."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
           if k in os.environ}
    env.update({
        "HOME": str(home), "USER": "herotasks", "LOGNAME": "herotasks",
        "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Sandbox Tester", "GIT_AUTHOR_EMAIL": "tester@herotasks.local",
        "GIT_COMMITTER_NAME": "Sandbox Tester",
        "GIT_COMMITTER_EMAIL": "tester@herotasks.local",
        "NO_COLOR": "1",
    })
    env.update(sandbox_env)
    return env


@pytest.fixture(scope="session")
def user_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def git_env(sandbox, user_home) -> dict[str, str]:
    """Environment for git (and any client) talking to the sandbox."""
    return clean_env(sandbox.env, user_home)


def git(cwd: Path, env: dict[str, str], *args: str, timeout: float = 120,
        check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check:
        assert done.returncode == 0, (
            f"git {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def make_repo(path: Path, env: dict[str, str], files: dict[str, str]) -> Path:
    """A git repository with ``files`` in one commit on ``main``."""
    path.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(content)
    git(path, env, "init", "-q", "-b", "main")
    git(path, env, "add", "-A")
    git(path, env, "commit", "-q", "-m", "sample app")
    return path


WEB_APP = {
    "Procfile": "web: python3 -m http.server $PORT --bind 127.0.0.1\n"
                "worker: python3 -c \"import time; time.sleep(3600)\"\n",
    "index.html": "<h1>hello from the sandbox</h1>\n",
    # A Python app for the buildpack's detection, with nothing to install.
    "requirements.txt": "",
    ".python-version": "3.11\n",
}


@dataclass
class Cli:
    env: dict[str, str]
    cwd: Path
    bin: Path

    def __call__(self, *args: str, timeout: float = 90, input: str | None = None,
                 cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run ``heroku ARGS`` (stdin closed unless ``input``)."""
        return subprocess.run(
            [str(self.bin), *args], cwd=cwd or self.cwd, env=self.env,
            capture_output=True, text=True, timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL, input=input)

    def ok(self, *args: str, **kw) -> subprocess.CompletedProcess:
        done = self(*args, **kw)
        assert done.returncode == 0, (
            f"heroku {' '.join(args)} exited {done.returncode}\n"
            f"stdout: {done.stdout}\nstderr: {done.stderr}")
        return done


@pytest.fixture(scope="session")
def heroku(sandbox, user_home, tmp_path_factory) -> Cli:
    """The official heroku CLI (npm), on the
    sandbox's env file only, run from an empty directory."""
    found = heroku_bin()
    if found is None or not found.exists():
        pytest.fail("the heroku CLI is not on PATH (nor at $HEROTASKS_HEROKU_BIN): "
                    "install it with npm (heroku@11)")
    return Cli(env=clean_env(sandbox.env, user_home), cwd=tmp_path_factory.mktemp("cli"),
               bin=found)


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def tools() -> SimpleNamespace:
    """The helpers above, for test modules: two ``conftest.py`` files without
    packages make ``from conftest import ...`` ambiguous, a fixture is not."""
    return SimpleNamespace(unique=unique, wait_until=wait_until, tarball=tarball,
                           git=git, make_repo=make_repo, clean_env=clean_env,
                           load_json=load_json, WEB_APP=WEB_APP,
                           HEROKU_BIN=heroku_bin(), conforms=conforms, ACCEPT=ACCEPT,
                           start_sandbox=start_sandbox, Api=Api)
