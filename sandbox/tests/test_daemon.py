"""Starting, finding and stopping the sandbox as a user does.

Through the ``herotasks`` console script (``sandbox.up/status/down``) and
``python -m herotasks_sandbox``, each test on its own root: these tests stop
and restart sandboxes, so they never touch the session's shared one.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

HEROTASKS = Path(sys.executable).parent / "herotasks"


def user_env(home: Path) -> dict[str, str]:
    """A plain shell: PATH, a private HOME, no CA or Heroku settings."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}


def herotasks(*args: str, home: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(HEROTASKS), *args], env=user_env(home),
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose command line contains ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def root(tmp_path):
    """A sandbox root that is stopped again whatever the test did."""
    from herotasks_sandbox import daemon

    path = tmp_path / "sandbox-root"
    yield path
    daemon.down(path)


def test_up_status_down_through_the_console_script(root, tmp_path, tools):
    up = herotasks("sandbox.up", "--root", str(root), home=tmp_path)
    assert up.returncode == 0, up.stderr
    assert "running" in up.stdout and str(root / "env") in up.stdout

    status = herotasks("sandbox.status", "--root", str(root), home=tmp_path)
    assert status.returncode == 0 and "running" in status.stdout

    env_file = root / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    from herotasks_sandbox import daemon

    env = daemon.read_env(root)
    for key in ("HEROKU_HOST", "HEROKU_API_KEY", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO",
                "HEROTASKS_CA_BUNDLE", "HEROTASKS_SANDBOX_ADMIN_TOKEN",
                "DISABLE_TELEMETRY", "HEROKU_DISABLE_AUTOUPDATE",
                "HEROKU_SKIP_NEW_VERSION_CHECK", "HEROKU_PARTICLEBOARD_URL",
                "GIT_CONFIG_GLOBAL"):
        assert env.get(key), key
    assert env["HEROKU_HOST"].startswith("https://127.0.0.1:")
    # Every path it names is inside the root (the bundle copies the system CAs in).
    for key, value in env.items():
        if value.startswith("/"):
            assert Path(value).resolve().is_relative_to(root.resolve()), (key, value)
    ca = (root / "tls" / "ca.pem").read_text().strip()
    # git's CA file replaces git's own, so it keeps the system's CAs too
    bundle = Path(env["GIT_SSL_CAINFO"]).read_text()
    assert ca in bundle and bundle.count("BEGIN CERTIFICATE") > 1
    # herotasks reaches only the sandbox with its CA file, node adds its file
    # to its own roots: the sandbox CA alone, not ~140 CAs loaded per client
    for key in ("HEROTASKS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"):
        assert Path(env[key]).read_text().strip() == ca, key

    # After `source ROOT/env` in a clean shell, `heroku` is the project's CLI.
    shell = subprocess.run(
        ["bash", "-c", f'source {env_file} && command -v heroku && heroku --version'],
        env={"PATH": os.defpath, "HOME": str(tmp_path)}, capture_output=True,
        text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert shell.returncode == 0, shell.stderr
    found, version = shell.stdout.splitlines()[:2]
    assert Path(found) == daemon.CLI_BIN / "heroku"
    # ... on the node its own standalone build ships with (its package.json,
    # oclif.update.node.version), which scripts/bootstrap installs beside it
    package = json.loads((daemon.CLI_BIN.parent / "heroku" / "package.json").read_text())
    shipped = package["oclif"]["update"]["node"]["version"]
    assert version.startswith("heroku/") and version.endswith(f" node-v{shipped}"), version
    # with node's on-disk compile cache in the root: a CLI start compiles its
    # modules once, not every time
    assert Path(env["NODE_COMPILE_CACHE"]).is_dir()

    # The token is in the env file, never in a process's arguments.
    pid = daemon.status(root).pid
    assert env["HEROKU_API_KEY"].encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()

    # The API answers with what the env file says.
    api = tools.Api(env["HEROKU_HOST"], env["HEROKU_API_KEY"], env["HEROTASKS_CA_BUNDLE"])
    assert api.get("/account")["email"]

    # git reaches the sandbox after `source ROOT/env` on top of a machine's
    # own CA settings (this one's, CI's: GIT_SSL_CAINFO set globally, which
    # git config cannot override), and the token from the env file
    git_url = api.create_app(tools.unique("envgit"))["git_url"]
    machine = {"PATH": os.defpath, "HOME": str(tmp_path),
               "GIT_SSL_CAINFO": "/etc/ssl/certs/ca-certificates.crt",
               "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}
    ls_remote = subprocess.run(
        ["bash", "-c", f"source {env_file} && git ls-remote {git_url}"],
        env=machine, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL)
    assert ls_remote.returncode == 0, ls_remote.stderr

    again = herotasks("sandbox.up", "--root", str(root), home=tmp_path)
    assert again.returncode == 0 and daemon.status(root).pid == pid

    down = herotasks("sandbox.down", "--root", str(root), home=tmp_path)
    assert down.returncode == 0 and "stopped" in down.stdout
    status = herotasks("sandbox.status", "--root", str(root), home=tmp_path)
    assert status.returncode == 3 and "not running" in status.stdout
    tools.wait_until(lambda: not alive(pid), 30, 0.1, "the sandbox process to end")


def test_state_survives_a_restart_and_down_stops_the_dynos(root, tools):
    from herotasks_sandbox import daemon

    first = tools.start_sandbox(root)
    api = tools.Api(first.url, first.api_key, first.ca_bundle)
    name = tools.unique("keep")
    api.create_app(name)
    api.patch(f"/apps/{name}/config-vars", {"KEPT": "yes"})
    marker = f"dyno-marker-{uuid.uuid4().hex}"
    worker = f"python3 -c \"import time; time.sleep(3600)\" {marker}"
    api.deploy_slug(name, {"Procfile": f"worker: {worker}\n"}, {"worker": worker})
    api.patch(f"/apps/{name}/formation", {"updates": [{"type": "worker", "quantity": 2}]})
    tools.wait_until(lambda: len(processes_with(marker)) >= 2, 60, 0.2,
                     "two worker processes")

    assert daemon.down(root) is True
    assert not daemon.status(root).running
    assert processes_with(marker) == [], "dyno processes outlived sandbox.down"

    second = tools.start_sandbox(root)
    assert second.pid != first.pid
    api = tools.Api(second.url, second.api_key, second.ca_bundle)
    assert second.api_key == first.api_key
    assert api.get(f"/apps/{name}")["name"] == name
    assert api.get(f"/apps/{name}/config-vars") == {"KEPT": "yes"}
    assert {f["type"]: f["quantity"] for f in api.get(f"/apps/{name}/formation")
            } == {"worker": 2}
    # The formation runs again after the restart.
    tools.wait_until(lambda: len(processes_with(marker)) >= 2, 60, 0.2,
                     "the workers back after the restart")
    daemon.down(root)
    assert processes_with(marker) == []


def test_foreground_server_on_a_taken_port_fails_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "herotasks_sandbox", "--root", str(tmp_path / "r"),
             "--port", str(port)],
            env=user_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, stdin=subprocess.DEVNULL)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.terminate()
            out, err = proc.communicate(timeout=30)
            pytest.fail(f"the sandbox kept running instead of failing on taken port "
                        f"{port}: {out.strip()}")
    assert proc.returncode != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(port) in lines[0], err


@pytest.mark.parametrize("args", [["--port", "notaport"], ["--port", "99999"]])
def test_bad_arguments_fail_with_one_line(tmp_path, args):
    done = subprocess.run(
        [sys.executable, "-m", "herotasks_sandbox", "--root", str(tmp_path / "r"), *args],
        env=user_env(tmp_path), capture_output=True, text=True, timeout=30,
        stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr


def test_status_and_down_of_a_root_that_never_ran(tmp_path):
    root = tmp_path / "never"
    status = herotasks("sandbox.status", "--root", str(root), home=tmp_path)
    assert status.returncode == 3 and "not running" in status.stdout
    down = herotasks("sandbox.down", "--root", str(root), home=tmp_path)
    assert down.returncode == 0 and "not running" in down.stdout


@pytest.mark.parametrize("bad", ["taken", "notaport"])
def test_sandbox_up_with_a_bad_port_says_what_is_wrong(root, tmp_path, bad):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1]) if bad == "taken" else bad
        done = herotasks("sandbox.up", "--root", str(root), "--port", port, home=tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and port in lines[0], lines


def test_the_env_files_helper_is_the_only_one_git_asks_for_the_sandbox(tmp_path):
    """The CLI writes its own helper for the sandbox's URL into the global
    config (``!heroku git:credentials``, a whole CLI start per push); with
    the env file's settings git asks only the env file's helper."""
    from herotasks_sandbox.daemon import env_lines, read_env, write_env

    url = "https://127.0.0.1:45999"
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    (tmp_path / "tls").mkdir()
    write_env(tmp_path, env_lines(tmp_path, url, "the-api-key", ca, "admin"))
    env = read_env(tmp_path)
    marker = tmp_path / "cli-helper-ran"
    # what `heroku git:remote` leaves in the global config (see the file)
    with open(env["GIT_CONFIG_GLOBAL"], "a") as fh:
        fh.write(f'[credential "{url}"]\n\thelper = !touch {marker} && false\n')
    done = subprocess.run(
        ["git", "credential", "fill"], input=f"url={url}/app.git\n\n",
        env={**env, "PATH": os.environ["PATH"], "HOME": str(tmp_path),
             "GIT_TERMINAL_PROMPT": "0"},
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "password=the-api-key" in done.stdout.splitlines()
    assert not marker.exists(), "git asked the helper the CLI wrote"
