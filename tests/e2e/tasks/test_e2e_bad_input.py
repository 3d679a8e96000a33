"""Bad input end to end: the real ``herotasks`` and ``inv`` console scripts,
run as a user runs them in a project directory, against the sandbox.

Every case must give exactly one line on stderr that names the file, key or
value and says what to do, a non-zero exit, no traceback, and no change: the
app on the sandbox is looked at afterwards, and the project's state folder
must not have appeared. The host check also makes sure the token goes
nowhere: every proxy variable points at a loopback listener that records
anything sent to it, so a check that let a foreign host through would show
up there (and could never reach the network).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
PROGRAMS = ("herotasks", "inv")
GOOD = "herotasks:\n  preset: rails\n  stages:\n    production: {{app: {app}}}\n"


@pytest.fixture
def project(tmp_path, app, git_env):
    """An empty project for the sandbox app ``app``: tasks.py and invoke.yaml."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "tasks.py").write_text("from herotasks.tasks import ns\n")
    (root / "invoke.yaml").write_text(GOOD.format(app=app["name"]))
    return root


def run(program: str, root: Path, env: dict, *args: str,
        **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / program), *args], cwd=root,
                          env={**env, **extra_env}, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def one_line(done: subprocess.CompletedProcess) -> str:
    """The single error line of a refused run (and the checks every one needs)."""
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("herotasks: ") and " — " in lines[0], lines[0]
    return lines[0]


def unchanged(api, app: dict, root: Path) -> None:
    assert api.get(f"/apps/{app['name']}")["maintenance"] is False
    assert not (root / ".herotasks").exists()


@pytest.mark.parametrize("program", PROGRAMS)
def test_good_config_turns_maintenance_on(program, project, app, api, git_env):
    # The control: the same run with nothing wrong does change the app.
    done = run(program, project, git_env, "maintenance.on", "--stage", "production")
    assert done.returncode == 0, done.stderr
    assert api.get(f"/apps/{app['name']}")["maintenance"] is True


BAD_PROJECT = {
    "timeouts: 5": ("  timeouts: 5\n", ["invoke.yaml", "herotasks.timeouts",
                                        "mapping", "build: 1800"]),
    "promote: slug": ("  promote: slug\n", ["invoke.yaml", "herotasks.promote",
                                            "method: slug"]),
    "hooks given a number": ("  hooks: {before: {db.migrate: 5}}\n",
                             ["herotasks.hooks.before.db.migrate", "5"]),
}


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("case", list(BAD_PROJECT))
def test_bad_value_in_invoke_yaml(program, case, project, app, api, git_env):
    extra, words = BAD_PROJECT[case]
    (project / "invoke.yaml").write_text(GOOD.format(app=app["name"]) + extra)
    line = one_line(run(program, project, git_env, "maintenance.on",
                        "--stage", "production"))
    assert all(w in line for w in words), line
    unchanged(api, app, project)


WHOLE_FILE = {
    "stages: [production]": ("herotasks:\n  preset: rails\n  stages: [production]\n",
                             ["herotasks.stages", "['production']",
                              "production: {app:"]),
    "herotasks: hello": ("herotasks: hello\n", ["herotasks must be a mapping",
                                                "'hello'"]),
    "YAML syntax error": ("herotasks:\n  stages: {production: {app: x}\n",
                          ["not valid YAML", "line 3"]),
}


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("case", list(WHOLE_FILE))
def test_bad_invoke_yaml(program, case, project, app, api, git_env):
    text, words = WHOLE_FILE[case]
    (project / "invoke.yaml").write_text(text)
    line = one_line(run(program, project, git_env, "maintenance.on",
                        "--stage", "production"))
    assert "invoke.yaml" in line and all(w in line for w in words), line
    unchanged(api, app, project)


RUNTIME = {
    "timeouts: 5": ("herotasks:\n  timeouts: 5\n", ["herotasks.timeouts"]),
    "promote: slug": ("herotasks:\n  promote: slug\n", ["herotasks.promote"]),
    "stages: [production]": ("herotasks:\n  stages: [production]\n",
                             ["herotasks.stages"]),
    "herotasks: hello": ("herotasks: hello\n", ["herotasks must be a mapping"]),
    "YAML syntax error": ("herotasks: {timeouts: [\n", ["not valid YAML"]),
}


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("case", list(RUNTIME))
def test_bad_dash_f_file(program, case, project, app, api, git_env, tmp_path):
    text, words = RUNTIME[case]
    extra = tmp_path / "extra.yaml"
    extra.write_text(text)
    line = one_line(run(program, project, git_env, "-f", str(extra),
                        "maintenance.on", "--stage", "production"))
    assert str(extra) in line and all(w in line for w in words), line
    unchanged(api, app, project)


@pytest.mark.parametrize("program", PROGRAMS)
def test_dash_f_file_that_does_not_exist(program, project, app, api, git_env,
                                         tmp_path):
    missing = tmp_path / "typo.yaml"
    line = one_line(run(program, project, git_env, "-f", str(missing),
                        "maintenance.on", "--stage", "production"))
    assert str(missing) in line and "does not exist" in line
    unchanged(api, app, project)


@pytest.mark.parametrize("program", PROGRAMS)
def test_env_var_that_is_not_a_number(program, project, app, api, git_env):
    line = one_line(run(program, project, git_env, "maintenance.on", "--stage",
                        "production", INVOKE_HEROTASKS_TIMEOUTS_BOOT="abc"))
    assert "INVOKE_HEROTASKS_TIMEOUTS_BOOT" in line and "'abc'" in line
    assert "whole number" in line
    unchanged(api, app, project)


@pytest.mark.parametrize("raw", [[], {"version": 1, "app": "x"},
                                 {"version": 1, "app": "x", "deploy_id": "d",
                                  "entries": [{"step": "maintenance.on"}]}])
def test_journal_of_valid_json_in_the_wrong_shape(raw, project, app, api, git_env):
    path = project / ".herotasks" / "journal" / f"{app['name']}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(raw))
    line = one_line(run("herotasks", project, git_env, "deploy.recover",
                        "--stage", "production"))
    assert str(path.relative_to(project)) in line or str(path) in line, line
    assert json.loads(path.read_text()) == raw
    assert api.get(f"/apps/{app['name']}")["maintenance"] is False


def test_recover_with_nothing_to_do_says_so(project, git_env):
    done = run("herotasks", project, git_env, "deploy.recover", "--stage",
               "production")
    assert done.returncode == 0, done.stderr
    assert "nothing" in done.stdout and "no unfinished deploy" in done.stdout


@pytest.mark.parametrize("slug", ["0000-bogus",
                                  "01234567-89ab-cdef-0123-456789abcdef"])
def test_slug_promote_with_a_bad_slug_names_the_slug(slug, project, app, api,
                                                     git_env):
    before = api.get(f"/apps/{app['name']}/releases")
    line = one_line(run("herotasks", project, git_env, "slug.promote", "--stage",
                        "production", "--slug", slug))
    assert slug in line and "Couldn't find that app" not in line, line
    assert api.get(f"/apps/{app['name']}/releases") == before
    assert not (project / ".herotasks" / "journal").exists()


def test_json_report_path_that_cannot_be_written_is_refused_before_deploying(
        rails, api, tmp_path):  # noqa: F811 - the imported fixture
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("")
    target = a_file / "report.json"
    before = api.get(f"/apps/{rails.app}/releases")
    done = run("herotasks", rails.root, rails.env, "deploy.production", "--json",
               str(target))
    line = one_line(done)
    assert str(target) in line, line
    # Refused up front: no release, no scratch app, no lock, no journal.
    assert api.get(f"/apps/{rails.app}/releases") == before
    assert rails.state()["scratch"] is False and rails.state()["lock"] is False
    assert not (rails.root / ".herotasks" / "journal").exists()


# -- the host the token goes to ---------------------------------------------------


class Listener:
    """A loopback listener standing in for every proxy: records what arrives."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(65536))
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener():
    box = Listener()
    yield box
    box.close()


def proxied(env: dict, listener: Listener, host: str) -> dict:
    return {**env, "HEROKU_HOST": host, "HTTPS_PROXY": listener.url,
            "HTTP_PROXY": listener.url, "https_proxy": listener.url,
            "http_proxy": listener.url, "ALL_PROXY": listener.url,
            "NO_PROXY": "", "no_proxy": ""}


@pytest.mark.parametrize("host", ["https://evil.example/localhost",
                                  "https://localhost.evil.example",
                                  "http://127.0.0.1.evil.example"])
def test_a_foreign_heroku_host_is_refused_and_gets_no_token(host, project, app, api,
                                                            git_env, listener):
    done = run("herotasks", project, proxied(git_env, listener, host),
               "maintenance.on", "--stage", "production")
    line = one_line(done)
    assert "HEROKU_HOST" in line and host in line, line
    assert listener.received == []
    assert git_env["HEROKU_API_KEY"] not in done.stdout + done.stderr
    unchanged(api, app, project)


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_the_sandbox_by_either_loopback_name_is_accepted(name, project, app, api,
                                                         git_env, sandbox):
    port = sandbox.url.rsplit(":", 1)[1]
    env = {**git_env, "HEROKU_HOST": f"https://{name}:{port}"}
    done = run("herotasks", project, env, "maintenance.on", "--stage", "production")
    assert done.returncode == 0, done.stderr
    assert api.get(f"/apps/{app['name']}")["maintenance"] is True


def test_herokus_own_url_with_a_slash_is_accepted(git_env, tmp_path):
    # Nothing may leave this machine, so this stops at the client that
    # would be used: its base URL is Heroku's, normalised.
    code = ("from herotasks.adapters.heroku_api import make_api;"
            "print(make_api(token='t').base_url)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                          env={**git_env, "HEROKU_HOST": "https://api.heroku.com/"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "https://api.heroku.com"
