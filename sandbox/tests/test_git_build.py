"""Git pushes, API builds and slugs against a real in-process sandbox.

A real ``Sandbox`` (HTTPS server, store, git http-backend, build) runs on a
temporary root; real ``git push`` talks to it over TLS with the token given
only by a credential helper that reads ``$HEROKU_API_KEY`` (never in a URL
or argv) and the sandbox CA from ``http.sslCAInfo``, both set through
``GIT_CONFIG_*`` variables. Nothing inherits this machine's environment
(it sets ``GIT_SSL_CAINFO`` and friends globally).

Dyno processes are not the subject here: when ``runtime`` is not
importable a minimal runtime stands in for it.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
import types
import uuid
from pathlib import Path

import pytest
import requests

PROCFILE = "web: python3 -m http.server $PORT --bind 127.0.0.1\n"
#: What makes a Python app with nothing to install (the Python buildpack's
#: detection and package manager files).
PY = {"requirements.txt": "", ".python-version": "3.11\n"}
REPO = Path(__file__).resolve().parents[2]


# -- the sandbox -----------------------------------------------------------------------
class _StandInRuntime:
    """What the platform calls on a runtime, doing no process work."""

    def __init__(self, platform, tls):
        self.platform = platform
        self.deployed: list[tuple[str, str]] = []

    def start(self) -> None: ...

    def shutdown(self) -> None: ...

    def app_created(self, app: dict) -> None:
        with self.platform.store.transaction():
            doc = self.platform.app(app["id"])
            doc["web_url"] = f"http://127.0.0.1:9/{doc['name']}/"
            self.platform.store.put("app", doc)

    def app_deleted(self, app: dict) -> None: ...

    def converge(self, app_id: str) -> None: ...

    def deploy(self, app_id: str, release_id: str) -> None:
        self.deployed.append((app_id, release_id))

    def run_release_phase(self, app: dict, release: dict) -> int:
        self.platform.log_release(release, "release phase ran\n")
        return 0


@pytest.fixture(scope="module")
def sbx(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        # The uv cache the other test sandboxes share (see tests/conftest.py).
        mp.setenv("HEROTASKS_SANDBOX_BUILD_CACHE", str(REPO / ".herotasks" / "cache"))
        try:
            importlib.import_module("herotasks_sandbox.runtime")
        except ImportError:
            fake = types.ModuleType("herotasks_sandbox.runtime")
            fake.Runtime = _StandInRuntime
            mp.setitem(sys.modules, "herotasks_sandbox.runtime", fake)
        from herotasks_sandbox.server import Sandbox

        sandbox = Sandbox(tmp_path_factory.mktemp("gitbuild"))
        sandbox.start()
        try:
            yield sandbox
        finally:
            sandbox.stop()


class Api:
    def __init__(self, sbx):
        self.base, self.verify = sbx.url, str(sbx.tls.ca_path)
        self.s = requests.Session()
        self.s.trust_env = False
        self.s.headers.update({"Authorization": f"Bearer {sbx.api_key}",
                               "Accept": "application/vnd.heroku+json; version=3"})

    def call(self, method: str, path: str, **kw) -> requests.Response:
        url = path if path.startswith("https://") else self.base + path
        return self.s.request(method, url, verify=self.verify, timeout=60, **kw)

    def ok(self, method: str, path: str, **kw):
        r = self.call(method, path, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None


@pytest.fixture(scope="module")
def api(sbx) -> Api:
    return Api(sbx)


@pytest.fixture
def app(api) -> dict:
    return api.ok("POST", "/apps", json={"name": f"gb-{uuid.uuid4().hex[:10]}"})


# -- git -------------------------------------------------------------------------------
def git_env(sbx, home: Path, token: str | None = None) -> dict[str, str]:
    """A clean environment: token for the helper, CA through GIT_CONFIG_*."""
    return {
        "PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Tester", "GIT_AUTHOR_EMAIL": "tester@herotasks.local",
        "GIT_COMMITTER_NAME": "Tester", "GIT_COMMITTER_EMAIL": "tester@herotasks.local",
        "HEROKU_API_KEY": token if token is not None else sbx.api_key,
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "credential.helper",
        "GIT_CONFIG_VALUE_0":
            '!f() { echo username=heroku; echo "password=$HEROKU_API_KEY"; }; f',
        "GIT_CONFIG_KEY_1": "http.sslCAInfo",
        "GIT_CONFIG_VALUE_1": str(sbx.tls.ca_path),
    }


def git(cwd: Path, env: dict, *args: str,
        check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    if check:
        assert done.returncode == 0, f"git {args}: {done.stdout}\n{done.stderr}"
    return done


def commit(repo: Path, env: dict, files: dict[str, str], mode: dict | None = None,
           message: str = "sample app") -> str:
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, env, "init", "-q", "-b", "main")
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod((mode or {}).get(name, 0o644))
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, env, "rev-parse", "HEAD").stdout.strip()


def push(repo: Path, env: dict, url: str,
         refspec: str = "main") -> subprocess.CompletedProcess:
    return git(repo, env, "push", url, refspec, check=False)


@pytest.fixture
def env(sbx, tmp_path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return git_env(sbx, home)


def conforms(resource: str, title: str, body) -> None:
    """``body`` validates against the official schema's link ``targetSchema``."""
    from herotasks_sandbox import schema

    validator = schema.validator(resource, title, "targetSchema")
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in validator.iter_errors(body)]
    assert not errors, errors


def wait_build(api: Api, app: dict, build_id: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        build = api.ok("GET", f"/apps/{app['id']}/builds/{build_id}")
        if build["status"] != "pending":
            return build
        assert time.monotonic() < deadline, "build never finished"
        time.sleep(0.1)


def tgz(files: dict[str, str], prefix: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(prefix + name)
            info.size, info.mode = len(data), 0o755 if name.startswith("bin/") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# -- pushes ----------------------------------------------------------------------------
def test_push_builds_a_slug_and_releases_it(sbx, api, app, env, tmp_path):
    repo = tmp_path / "app"
    sha = commit(repo, env, {**PY, "Procfile": PROCFILE + "worker: python3 worker.py\n",
                             "index.html": "<h1>hi</h1>\n"})

    done = push(repo, env, app["git_url"])

    assert done.returncode == 0, done.stderr
    assert "remote: -----> Building on the Heroku-24 stack" in done.stderr
    assert "remote:        Procfile declares types -> web, worker" in done.stderr
    assert "remote:        Released v2" in done.stderr
    assert "deployed to Heroku" in done.stderr
    assert sbx.api_key not in done.stderr + done.stdout
    # Tokens live in environments only, never in files git keeps.
    server_repo = sbx.platform.builder.repo_path(app)
    for kept in (server_repo / "config", server_repo / "hooks" / "pre-receive",
                 repo / ".git" / "config"):
        text = kept.read_text()
        assert sbx.api_key not in text and sbx.git.hook_token not in text
    # The hook is stdlib only: its Python starts without site (-S), which
    # every push would otherwise pay for.
    hook = (server_repo / "hooks" / "pre-receive").read_text()
    assert " -I -S -u " in hook, hook

    release = api.ok("GET", f"/apps/{app['id']}/releases/2")
    assert release["current"] and release["status"] == "succeeded"
    slug = api.ok("GET", f"/apps/{app['id']}/slugs/{release['slug']['id']}")
    conforms("slug", "Info", slug)
    assert slug["commit"] == sha
    # Heroku's git builds leave it empty (a real api:release payload)
    assert slug["commit_description"] == ""
    assert slug["process_types"] == {"web": PROCFILE.split(": ", 1)[1].strip(),
                                     "worker": "python3 worker.py"}
    assert slug["checksum"].startswith("SHA256:") and slug["size"] > 0

    # The slug directory dynos run in, and the ./app tarball behind blob.url.
    slug_dir = sbx.platform.builder.slug_dir(slug["id"])
    assert (slug_dir / "index.html").read_text() == "<h1>hi</h1>\n"
    blob = api.call("GET", slug["blob"]["url"])
    # gzip, with no name and no time in its header (gzip -n): a tree packs
    # the same way twice
    assert blob.content[:3] == b"\x1f\x8b\x08" and not blob.content[3] & 0x08
    assert blob.content[4:8] == b"\0\0\0\0"
    assert len(blob.content) == slug["size"]
    assert slug["checksum"] == "SHA256:" + hashlib.sha256(blob.content).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(blob.content)) as tar:
        names = set(tar.getnames())
    # the whole slug directory under ./app, its dotfiles (.heroku, .profile.d) too
    assert "./app/Procfile" in names and "./app/.profile.d" in names
    assert names == {"./app"} | {f"./app/{p.relative_to(slug_dir)}"
                                 for p in slug_dir.rglob("*")}

    # The push is a build in the API, with its log behind output_stream_url.
    builds = api.ok("GET", f"/apps/{app['id']}/builds")
    conforms("build", "List", builds)
    [build] = builds
    assert build["status"] == "succeeded"
    assert build["source_blob"]["version"] == sha
    assert build["slug"] == {"id": slug["id"]}
    assert build["release"] == {"id": release["id"]}
    stream = api.call("GET", build["output_stream_url"])
    assert "-----> Compressing..." in stream.text

    # Pushing again changes nothing: git says so, no second build.
    again = push(repo, env, app["git_url"])
    assert again.returncode == 0 and "Everything up-to-date" in again.stderr
    assert len(api.ok("GET", f"/apps/{app['id']}/builds")) == 1


def test_push_to_another_branch_is_accepted_without_a_build(api, app, env, tmp_path):
    repo = tmp_path / "app"
    commit(repo, env, {**PY, "Procfile": PROCFILE})

    done = push(repo, env, app["git_url"], "main:refs/heads/feature")

    assert done.returncode == 0, done.stderr
    assert "remote: Pushed to non-deploy branch feature" in done.stderr
    assert api.ok("GET", f"/apps/{app['id']}/builds") == []
    assert len(api.ok("GET", f"/apps/{app['id']}/releases")) == 1


def test_push_without_procfile_is_rejected_with_the_reason(api, app, env, tmp_path):
    repo = tmp_path / "app"
    commit(repo, env, {"app.py": "print('hi')\n"})

    done = push(repo, env, app["git_url"])

    assert done.returncode != 0
    assert "remote:  !     Procfile not found" in done.stderr
    assert "add a Procfile" in done.stderr
    assert "pre-receive hook declined" in done.stderr
    [build] = api.ok("GET", f"/apps/{app['id']}/builds")
    assert build["status"] == "failed" and build["release"] is None
    assert len(api.ok("GET", f"/apps/{app['id']}/releases")) == 1
    # Rejected means the remote's branch did not move.
    assert git(repo, env, "ls-remote", app["git_url"]).stdout.strip() == ""


def django_app(manage_py: str, **extra: str) -> dict[str, str]:
    """A Python app that installs Django (the version herotasks' own venv
    has, so uv's cache has it) and whose manage.py is ``manage_py``."""
    import django
    return {**PY, "requirements.txt": f"Django=={django.__version__}\n",
            "Procfile": "web: python3 manage.py runserver 0.0.0.0:$PORT\n",
            "manage.py": manage_py, **extra}


def test_failing_collectstatic_rejects_the_push(api, app, env, tmp_path):
    repo = tmp_path / "app"
    commit(repo, env, django_app(
        "import sys\nprint('collectstatic exploded: no STATIC_ROOT')\nsys.exit(1)\n"))

    done = push(repo, env, app["git_url"])

    assert done.returncode != 0, done.stderr
    assert "remote: -----> $ python manage.py collectstatic --noinput" in done.stderr, \
        done.stderr
    assert "remote:        collectstatic exploded: no STATIC_ROOT" in done.stderr
    assert "Error: Unable to generate Django static files." in done.stderr
    assert "$ heroku config:set DISABLE_COLLECTSTATIC=1" in done.stderr
    assert "pre-receive hook declined" in done.stderr
    assert len(api.ok("GET", f"/apps/{app['id']}/releases")) == 1


def test_collectstatic_runs_with_config_vars_and_the_slugs_python(
        sbx, api, app, env, tmp_path):
    """The buildpack's rule: collectstatic runs on every build, a committed
    staticfiles.json notwithstanding, with the config vars and the Python
    the build installed into the slug."""
    api.ok("PATCH", f"/apps/{app['id']}/config-vars", json={"ASSET_HOST": "cdn.local"})
    repo = tmp_path / "app"
    commit(repo, env, django_app(
        "import os, pathlib, sys\n"
        "out = pathlib.Path('staticfiles')\n"
        "out.mkdir(exist_ok=True)\n"
        "(out / 'built.txt').write_text(os.environ['ASSET_HOST'] + ' '\n"
        "    + os.environ['SOURCE_VERSION'] + ' ' + sys.executable + ' '\n"
        "    + ' '.join(sys.argv[1:]))\n"
        "print('1 static file copied')\n",
        **{"staticfiles/staticfiles.json": "{}\n"}))

    done = push(repo, env, app["git_url"])

    assert done.returncode == 0, done.stderr
    assert "remote:        1 static file copied" in done.stderr
    release = api.ok("GET", f"/apps/{app['id']}/releases/3")
    slug_dir = sbx.platform.builder.slug_dir(release["slug"]["id"])
    host, version, python, *args = (slug_dir / "staticfiles" / "built.txt"
                                    ).read_text().split()
    assert host == "cdn.local"
    assert version == git(repo, env, "rev-parse", "HEAD").stdout.strip()
    assert python.endswith("/.heroku/python/bin/python")
    assert args == ["collectstatic", "--noinput", "--traceback"]


def test_disable_collectstatic_skips_it(api, app, env, tmp_path):
    api.ok("PATCH", f"/apps/{app['id']}/config-vars",
           json={"DISABLE_COLLECTSTATIC": "1"})
    repo = tmp_path / "app"
    commit(repo, env, django_app("import sys\nsys.exit('must not run')\n"))

    done = push(repo, env, app["git_url"])

    assert done.returncode == 0, done.stderr
    assert ("remote: -----> Skipping Django collectstatic since the env var "
            "DISABLE_COLLECTSTATIC is set.") in done.stderr
    assert "must not run" not in done.stderr


def test_collectstatic_needs_django_installed(api, app, env, tmp_path):
    """No Django in the slug: the buildpack does not run manage.py."""
    repo = tmp_path / "app"
    commit(repo, env, {**PY, "Procfile": PROCFILE,
                       "manage.py": "import sys\nsys.exit('must not run')\n"})

    done = push(repo, env, app["git_url"])

    assert done.returncode == 0, done.stderr
    assert "collectstatic" not in done.stderr


#: A Ruby app's Gemfile and lock: the Rails example's (its gems are this
#: machine's, scripts/bootstrap installs them).
LEDGER = REPO / "examples" / "ledger" / "base"
RAILS_GEMS = {"Gemfile": (LEDGER / "Gemfile").read_text(),
              "Gemfile.lock": (LEDGER / "Gemfile.lock").read_text()}
needs_ruby = pytest.mark.skipif(
    shutil.which("ruby") is None or shutil.which("bundle") is None,
    reason="no Ruby/bundler on this machine: scripts/bootstrap installs them "
           "(apt-get install ruby bundler ruby-rails ruby-pg puma ruby-sass-rails)")


def test_ruby_app_without_gemfile_lock_is_rejected(api, app, env, tmp_path):
    """heroku-buildpack-ruby ``LanguagePack.gemfile_lock``: the lock is required."""
    repo = tmp_path / "app"
    commit(repo, env, {"Gemfile": "source 'https://rubygems.org'\n",
                       "Procfile": PROCFILE})

    done = push(repo, env, app["git_url"])

    assert done.returncode != 0
    assert "remote: -----> Ruby app detected" in done.stderr
    assert "Gemfile.lock required. Please check it in." in done.stderr


@needs_ruby
def test_compiled_assets_in_the_commit_skip_asset_compilation(api, app, env, tmp_path):
    repo = tmp_path / "app"
    commit(repo, env, {
        **RAILS_GEMS,
        "Procfile": "web: bin/rails server -p $PORT\n",
        "Rakefile": "task 'assets:precompile' do\n  abort 'precompile must not run'\n"
                    "end\n",
        "public/assets/.sprockets-manifest-0a1b2c.json": "{}\n",
    })

    done = push(repo, env, app["git_url"])

    assert done.returncode == 0, done.stderr
    assert "remote: -----> Ruby app detected" in done.stderr
    assert "remote: -----> Compiling Ruby/Rails" in done.stderr
    assert "Detected manifest file, assuming assets were compiled locally" in done.stderr
    assert "precompile must not run" not in done.stderr
    assert "Detecting rake tasks" not in done.stderr


@needs_ruby
def test_rails_app_without_manifest_runs_assets_precompile(api, app, env, tmp_path):
    """No committed manifest: rake assets:precompile runs (with the
    buildpack's RAILS_ENV and RAILS_GROUPS), and its failure fails the push."""
    repo = tmp_path / "app"
    commit(repo, env, {
        **RAILS_GEMS,
        "Procfile": "web: bin/rails server -p $PORT\n",
        "Rakefile": "task 'assets:precompile' do\n"
                    "  puts \"precompiling in #{ENV['RAILS_ENV']} #{ENV['RAILS_GROUPS']}\"\n"
                    "  exit 3\nend\n",
    })

    done = push(repo, env, app["git_url"])

    assert done.returncode != 0
    assert "remote: -----> Detecting rake tasks" in done.stderr
    assert "remote:        Running: rake assets:precompile" in done.stderr
    assert "remote:        precompiling in production assets" in done.stderr
    assert "Precompiling assets failed." in done.stderr


@needs_ruby
def test_propshaft_manifest_does_not_skip_the_precompile(api, app, env, tmp_path):
    """Propshaft writes ``public/assets/.manifest.json``, which is not among
    the names heroku-buildpack-ruby looks for (rails4.rb): it precompiles."""
    repo = tmp_path / "app"
    commit(repo, env, {
        **RAILS_GEMS,
        "Procfile": "web: bin/rails server -p $PORT\n",
        "Rakefile": "task 'assets:precompile' do\n  puts 'precompile ran'\nend\n",
        "public/assets/.manifest.json": "{}\n",
    })

    done = push(repo, env, app["git_url"])

    assert done.returncode == 0, done.stderr
    assert "Detected manifest file" not in done.stderr
    assert "remote: -----> Preparing app for Rails asset pipeline" in done.stderr
    assert "remote:        precompile ran" in done.stderr
    assert "remote:        Asset precompilation completed" in done.stderr


@needs_ruby
def test_a_gem_the_machine_lacks_fails_with_bundlers_message(api, app, env, tmp_path):
    """The lock names a version no installed gem has: Bundler's own error,
    then the buildpack's; nothing is downloaded."""
    lock = RAILS_GEMS["Gemfile.lock"].replace("    thor (1.2.1)", "    thor (9.9.9)")
    lock = lock.replace("      thor (~> 1.0)", "      thor (>= 1.0)")
    repo = tmp_path / "app"
    commit(repo, env, {**RAILS_GEMS, "Gemfile.lock": lock, "Procfile": PROCFILE})

    done = push(repo, env, app["git_url"])

    assert done.returncode != 0
    assert "Could not find thor-9.9.9 in any of the sources" in done.stderr
    assert "Failed to install gems via Bundler." in done.stderr


def test_compile_delay_prints_progress(sbx, api, app, env, tmp_path):
    sbx.platform.set_delay("build", 0.3)
    try:
        repo = tmp_path / "app"
        commit(repo, env, {**PY, "Procfile": PROCFILE})
        done = push(repo, env, app["git_url"])
    finally:
        sbx.platform.set_delay("build", 0)

    assert done.returncode == 0, done.stderr
    assert "sandbox compile delay: 0.3s" in done.stderr
    assert "remote:        ... 0.3s of 0.3s" in done.stderr


def test_release_phase_output_follows_the_build(sbx, api, app, env, tmp_path):
    repo = tmp_path / "app"
    commit(repo, env, {**PY, "Procfile": PROCFILE + "release: echo migrating\n"})

    done = push(repo, env, app["git_url"])

    assert done.returncode == 0, done.stderr
    assert "remote: Running release command..." in done.stderr
    assert "remote: Waiting for release.... done." in done.stderr
    release = api.ok("GET", f"/apps/{app['id']}/releases/2")
    slug = api.ok("GET", f"/apps/{app['id']}/slugs/{release['slug']['id']}")
    assert slug["process_types"]["release"] == "echo migrating"
    assert release["status"] == "succeeded"
    phase_log = sbx.platform.release_log_path(release["id"]).read_text()
    for line in filter(None, phase_log.splitlines()):
        assert f"remote: {line}" in done.stderr


def test_wrong_token_cannot_push(sbx, app, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    bad = git_env(sbx, home, token="HRKU-not-the-token")
    repo = tmp_path / "app"
    commit(repo, bad, {**PY, "Procfile": PROCFILE})

    done = push(repo, bad, app["git_url"])

    assert done.returncode != 0
    assert "Authentication failed" in done.stderr
    assert not sbx.platform.builder.builds(app)


def test_unknown_app_is_a_git_friendly_404(sbx, env, tmp_path):
    repo = tmp_path / "app"
    commit(repo, env, {**PY, "Procfile": PROCFILE})

    done = push(repo, env, f"{sbx.url}/no-such-app-here.git")

    assert done.returncode != 0
    assert "remote: !     No such app as no-such-app-here." in done.stderr


def test_clone_after_push_and_rename_keeps_the_repository(api, app, env, tmp_path):
    repo = tmp_path / "app"
    sha = commit(repo, env, {**PY, "Procfile": PROCFILE})
    assert push(repo, env, app["git_url"]).returncode == 0

    renamed = api.ok("PATCH", f"/apps/{app['id']}",
                     json={"name": f"gr-{uuid.uuid4().hex[:10]}"})
    clone = tmp_path / "clone"
    git(tmp_path, env, "clone", "-q", renamed["git_url"], str(clone))

    assert git(clone, env, "rev-parse", "HEAD").stdout.strip() == sha


def test_destroying_the_app_removes_its_repository(sbx, api, app, env, tmp_path):
    repo = tmp_path / "app"
    commit(repo, env, {**PY, "Procfile": PROCFILE})
    assert push(repo, env, app["git_url"]).returncode == 0
    path = sbx.platform.builder.repo_path(app)
    assert (path / "HEAD").exists()

    api.ok("DELETE", f"/apps/{app['id']}")

    assert not path.exists()


def test_hook_endpoint_needs_the_hook_token(api):
    r = api.call("POST", "/_sandbox/hooks/pre-receive", data=b"{}")
    assert r.status_code == 401  # the API token is not the hook token


def test_hook_refuses_object_directories_outside_the_repository(sbx, api, app):
    repo = sbx.git.ensure_repo(app)
    r = api.call("POST", "/_sandbox/hooks/pre-receive",
                 headers={"Authorization": f"Bearer {sbx.git.hook_token}"},
                 json={"app": app["id"], "cwd": str(repo),
                       "updates": [{"old": "0" * 40, "new": "a" * 40,
                                    "ref": "refs/heads/main"}],
                       "env": {"GIT_OBJECT_DIRECTORY": "/etc"}})

    assert r.status_code == 200
    assert "GIT_OBJECT_DIRECTORY points outside the app's repository" in r.text
    assert r.text.rstrip("\n").endswith("herotasks-push-status: rejected")
    assert api.ok("GET", f"/apps/{app['id']}/builds") == []


# -- builds through the API ------------------------------------------------------------
def upload_source(api: Api, data: bytes) -> str:
    source = api.ok("POST", "/sources")
    conforms("source", "Create", source)
    source = source["source_blob"]
    put = api.s.put(source["put_url"], data=data, headers={"Content-Type": ""},
                    verify=api.verify, timeout=60)
    assert put.status_code < 300, put.text
    return source["get_url"]


def test_api_build_from_an_uploaded_source(sbx, api, app):
    url = upload_source(api, tgz({**PY, "Procfile": PROCFILE + "release: echo hi\n",
                                  "requirements.txt": ""}, prefix="myapp-1.2.3/"))

    build = api.ok("POST", f"/apps/{app['id']}/builds", json={
        "source_blob": {"url": url, "version": "v1.2.3",
                        "version_description": "the release"}})

    conforms("build", "Create", build)
    assert build["status"] == "pending"
    assert build["source_blob"]["url"] == url
    build = wait_build(api, app, build["id"])
    conforms("build", "Info", build)
    assert build["status"] == "succeeded"
    assert build["buildpacks"] == [{"url": "heroku/python", "name": "heroku/python"}]
    slug = api.ok("GET", f"/apps/{app['id']}/slugs/{build['slug']['id']}")
    assert slug["commit"] == "v1.2.3"
    assert slug["commit_description"] == "the release"
    assert set(slug["process_types"]) == {"web", "release"}
    assert slug["buildpack_provided_description"] == "Python"
    assert (sbx.platform.builder.slug_dir(slug["id"]) / "requirements.txt").exists()
    log = api.call("GET", build["output_stream_url"]).text
    assert "-----> Python app detected" in log
    assert "-----> Launching..." in log


def test_api_build_checks_the_checksum(api, app):
    url = upload_source(api, tgz({**PY, "Procfile": PROCFILE}))

    build = api.ok("POST", f"/apps/{app['id']}/builds", json={
        "source_blob": {"url": url, "checksum": "SHA256:" + "0" * 64}})

    build = wait_build(api, app, build["id"])
    assert build["status"] == "failed"
    assert "does not match" in api.call("GET", build["output_stream_url"]).text


def test_api_build_with_nothing_uploaded_fails_clearly(api, app):
    url = api.ok("POST", "/sources")["source_blob"]["get_url"]

    build = api.ok("POST", f"/apps/{app['id']}/builds",
                   json={"source_blob": {"url": url}})

    build = wait_build(api, app, build["id"])
    assert build["status"] == "failed"
    assert "nothing was uploaded" in api.call("GET", build["output_stream_url"]).text


@pytest.mark.parametrize("url", [
    "https://example.com/source.tgz",
    "https://10.0.0.1/_sandbox/blobs/01234567-89ab-cdef-0123-456789abcdef",
    "https://127.0.0.1:1/_sandbox/blobs/01234567-89ab-cdef-0123-456789abcdef",
    "https://127.0.0.1/elsewhere.tgz",
])
def test_api_build_refuses_sources_outside_the_sandbox(api, app, url):
    r = api.call("POST", f"/apps/{app['id']}/builds", json={"source_blob": {"url": url}})

    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert "source_blob.url" in r.json()["message"]
    assert api.ok("GET", f"/apps/{app['id']}/builds") == []


def test_build_info_of_another_app_is_not_found(api, app):
    url = upload_source(api, tgz({**PY, "Procfile": PROCFILE}))
    build = api.ok("POST", f"/apps/{app['id']}/builds",
                   json={"source_blob": {"url": url}})
    other = api.ok("POST", "/apps", json={"name": f"gb-{uuid.uuid4().hex[:10]}"})

    r = api.call("GET", f"/apps/{other['id']}/builds/{build['id']}")

    assert r.status_code == 404 and r.json()["id"] == "not_found"
    wait_build(api, app, build["id"])


# -- slugs and buildpacks through the API ----------------------------------------------
def test_api_slug_is_unpacked_for_its_release(sbx, api, app):
    slug = api.ok("POST", f"/apps/{app['id']}/slugs", json={
        "process_types": {"web": "python3 -m http.server $PORT"}, "commit": "abc123"})
    conforms("slug", "Create", slug)
    assert slug["blob"]["method"] == "put"
    with pytest.raises(Exception, match="no uploaded tarball"):
        sbx.platform.builder.slug_dir(slug["id"])

    put = api.s.put(slug["blob"]["url"], data=tgz({"index.html": "slug!"}, "./app/"),
                    headers={"Content-Type": ""}, verify=api.verify, timeout=60)
    assert put.status_code < 300

    slug_dir = sbx.platform.builder.slug_dir(slug["id"])
    assert (slug_dir / "index.html").read_text() == "slug!"
    info = api.ok("GET", f"/apps/{app['id']}/slugs/{slug['id']}")
    assert info["commit"] == "abc123" and info["blob"]["method"] == "get"


def test_buildpack_installations_are_kept_in_order(api, app):
    updated = api.ok("PUT", f"/apps/{app['id']}/buildpack-installations", json={
        "updates": [{"buildpack": "heroku/nodejs"},
                    {"buildpack": "https://github.com/heroku/heroku-buildpack-python"}]})

    listed = api.ok("GET", f"/apps/{app['id']}/buildpack-installations")
    conforms("buildpack-installation", "List", listed)
    conforms("buildpack-installation", "Update", updated)
    assert listed == updated
    assert [(b["ordinal"], b["buildpack"]["name"]) for b in listed] == [
        (0, "heroku/nodejs"), (1, "heroku/python")]

    r = api.call("PUT", f"/apps/{app['id']}/buildpack-installations",
                 json={"updates": [{"buildpack": ""}]})
    assert r.status_code == 422
