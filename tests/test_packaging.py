"""The wheel a user installs, installed as a user installs it.

The wheel is built from the checkout's files minus what git ignores (what a
fresh clone of the next commit would build) and installed, not editable, into
a fresh venv outside the checkout.
First with the deploy tool's dependencies only: ``herotasks --list`` has no
sandbox tasks and ``herotasks sandbox.up`` names the extra in one line. Then
with the ``[sandbox]`` extra's packages too: the sandbox starts and answers
real API calls, including the schema-validated ones (a wheel without the
schema file answered those with a 500 while ``sandbox.up`` said "running").

Offline and quick, without pip reaching any index: the wheel is built with
``--no-build-isolation`` by this venv's setuptools (the dev extra's), and the
fresh venv (``--without-pip``, installed into by this venv's pip) gets its
dependencies from this venv through a ``.pth`` file naming a folder of
symlinks to just the distributions it should have: the closure of
invoke/fabric/requests/pglast, and then a second folder and ``.pth`` for the
closure of trustme/jsonschema. Never this venv's whole site-packages, which
holds herotasks itself (editable) and the extra; the test checks that
neither leaks in.
"""

from __future__ import annotations

import email
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from herotasks.sandbox import daemon

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
DEPS = ("invoke", "fabric", "requests", "pglast")
EXTRA = ("trustme", "jsonschema", "uv")
MISSING = 'herotasks: the sandbox is not installed: pip install "herotasks[sandbox]"'


def closure(names: tuple[str, ...]) -> dict[str, importlib.metadata.Distribution]:
    """The installed distributions ``names`` need, by normalised name. A
    requirement that is not installed is one whose marker rules it out here
    (pip installed this venv from the same metadata); extras are left out."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[name] = dist
        for req in dist.requires or []:
            if "extra" not in req.partition(";")[2]:
                todo.append(re.match(r"[A-Za-z0-9._-]+", req).group())
    return found


def link_folder(folder: Path, dists) -> Path:
    """A folder of symlinks to the distributions' top-level files (their
    packages, modules and .dist-info), for a ``.pth`` line."""
    folder.mkdir()
    for dist in dists:
        for top in {f.parts[0] for f in dist.files or []}:
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue
            target = Path(dist.locate_file(top))
            if target.exists() and not (folder / top).exists():
                (folder / top).symlink_to(target)
    return folder


def run(*args, env, cwd, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], env=env, cwd=cwd, timeout=timeout,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The wheel, built from a copy of the files git tracks or would track
    (not .venv, build/, *.egg-info...), so a new module left out is caught."""
    tmp = tmp_path_factory.mktemp("packaging")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True).stdout.decode().split("\0")
    tracked = [name for name in listed if name and (REPO / name).is_file()]
    src = tmp / "src"
    for name in tracked:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
         "--no-build-isolation", "-w", str(tmp / "dist"), str(src)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp / "dist").glob("herotasks-*.whl")
    tracked_pkg = {n for n in tracked if n.startswith("herotasks/")}
    return tmp, wheel, tracked_pkg


@pytest.fixture(scope="module")
def venv(built):
    """A fresh venv with the wheel and the deploy tool's dependencies."""
    tmp, wheel, _ = built
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
         "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    site = Path(run(python, "-c",
                    "import sysconfig; print(sysconfig.get_path('purelib'))",
                    env={}, cwd=tmp).stdout.strip())
    base = closure(DEPS)
    (site / "herotasks-test-deps.pth").write_text(
        f"{link_folder(tmp / 'deps', base.values())}\n")
    home = tmp / "home"
    home.mkdir()
    env = {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(home), "LANG": "C.UTF-8"}
    return {"tmp": tmp, "bin": venv / "bin", "site": site, "env": env,
            "extra": [d for n, d in closure(EXTRA).items() if n not in base]}


def test_the_wheel_holds_every_tracked_file_of_the_package(built):
    _, wheel, tracked = built
    names = set(zipfile.ZipFile(wheel).namelist())
    assert tracked - names == set()
    assert "herotasks/sandbox/schema/platform-api-schema.json" in names


def test_the_sandbox_dependencies_are_an_extra(built):
    _, wheel, _ = built
    with zipfile.ZipFile(wheel) as z:
        meta = email.message_from_bytes(
            z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))))
    by_extra: dict[str, set[str]] = {}
    for req in meta.get_all("Requires-Dist"):
        extra = re.search(r'extra == "([^"]+)"', req)
        name = re.match(r"[A-Za-z0-9._-]+", req).group()
        by_extra.setdefault(extra.group(1) if extra else "", set()).add(name)
    assert by_extra[""] == set(DEPS)
    assert by_extra["sandbox"] == set(EXTRA)
    assert "herotasks" in by_extra["dev"]       # ./dev gets the sandbox too
    assert meta["License-Expression"] == "MIT"


def test_the_venv_sees_the_wheel_and_not_this_checkout(venv):
    probe = run(venv["bin"] / "python", "-c",
                "import importlib.util as u, herotasks; print(herotasks.__file__); "
                "print([m for m in ('trustme', 'jsonschema') if u.find_spec(m)])",
                env=venv["env"], cwd=venv["tmp"])
    assert probe.returncode == 0, probe.stderr
    where, extra = probe.stdout.splitlines()
    assert Path(where).is_relative_to(venv["site"])
    assert extra == "[]"


def test_without_the_extra_the_sandbox_tasks_say_what_to_install(venv):
    listed = run(venv["bin"] / "herotasks", "--list", env=venv["env"], cwd=venv["tmp"])
    assert listed.returncode == 0, listed.stderr
    assert "assets.precompile" in listed.stdout and "sandbox" not in listed.stdout
    for task in ("sandbox.up", "sandbox.status"):
        done = run(venv["bin"] / "herotasks", task, "--root", venv["tmp"] / "nosbx",
                   env=venv["env"], cwd=venv["tmp"])
        assert done.returncode != 0
        assert done.stderr == MISSING + "\n" and done.stdout == ""
    foreground = run(venv["bin"] / "python", "-m", "herotasks.sandbox", "--root",
                     venv["tmp"] / "nosbx", env=venv["env"], cwd=venv["tmp"])
    assert foreground.returncode != 0 and "Traceback" not in foreground.stderr
    assert 'pip install "herotasks[sandbox]"' in foreground.stderr
    assert not (venv["tmp"] / "nosbx").exists()


def test_with_the_extra_the_sandbox_runs_and_answers(venv):
    (venv["site"] / "herotasks-test-extra.pth").write_text(
        f"{link_folder(venv['tmp'] / 'deps-sandbox', venv['extra'])}\n")
    herotasks = venv["bin"] / "herotasks"
    listed = run(herotasks, "--list", env=venv["env"], cwd=venv["tmp"])
    assert "sandbox.up" in listed.stdout, listed.stderr
    root = venv["tmp"] / "sbx"
    try:
        up = run(herotasks, "sandbox.up", "--root", root, env=venv["env"],
                 cwd=venv["tmp"])
        assert up.returncode == 0 and "running" in up.stdout, up.stdout + up.stderr
        env = daemon.read_env(root)

        def api(method, path, **kwargs):
            # verify= on the call: a session's loses to REQUESTS_CA_BUNDLE.
            return requests.request(
                method, env["HEROKU_HOST"] + path, timeout=30,
                verify=env["HEROTASKS_CA_BUNDLE"],
                headers={"Authorization": f"Bearer {env['HEROKU_API_KEY']}",
                         "Accept": "application/vnd.heroku+json; version=3"}, **kwargs)

        account = api("GET", "/account")
        assert account.status_code == 200 and account.json()["email"], account.text
        # Request bodies are checked against the schema file the wheel carries.
        bad = api("POST", "/apps", json={"name": 42})
        assert bad.status_code == 422 and bad.json()["id"] == "invalid_params", bad.text
        app = api("POST", "/apps", json={"name": "from-the-wheel"})
        assert app.status_code == 201 and app.json()["name"] == "from-the-wheel", app.text
    finally:
        down = run(herotasks, "sandbox.down", "--root", root, env=venv["env"],
                   cwd=venv["tmp"])
    assert down.returncode == 0 and "stopped" in down.stdout, down.stderr
