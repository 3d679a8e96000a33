"""The wheels a user installs, installed as a user installs them.

This repository makes two distributions: herotasks (the deploy tool) and
herotasks-sandbox (sandbox/, what ``herotasks[sandbox]`` names). Both wheels
are built from the checkout's files minus what git ignores (what a fresh
clone of the next commit would build) and installed, not editable, into a
fresh venv outside the checkout.
First herotasks alone, with its own dependencies: it holds no sandbox code
or schema, ``herotasks --list`` has no sandbox tasks and ``herotasks
sandbox.up`` names the extra in one line. Then herotasks-sandbox and its
dependencies too: the sandbox starts and answers real API calls, including
the schema-validated ones (a wheel without the schema file answered those
with a 500 while ``sandbox.up`` said "running").

Offline and quick, without pip reaching any index: the wheel is built with
``--no-build-isolation`` by this venv's setuptools (the dev extra's), and the
fresh venv (``--without-pip``, installed into by this venv's pip) gets its
dependencies from this venv through a ``.pth`` file naming a folder of
symlinks to just the distributions it should have: the closure of
invoke/fabric/requests/pglast, and then a second folder and ``.pth`` for the
closure of the sandbox's. Never this venv's whole site-packages, which
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
from types import SimpleNamespace

import pytest
import requests

from herotasks_sandbox import daemon

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DEPS = ("invoke", "fabric", "requests", "pglast")
SANDBOX_DEPS = ("invoke", "trustme", "jsonschema", "uv", "requests", "isal")
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
         "--no-build-isolation", "-w", str(tmp / "dist"), str(src), str(src / "sandbox")],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp / "dist").glob("herotasks-0*.whl")
    (sandbox_wheel,) = (tmp / "dist").glob("herotasks_sandbox-*.whl")
    return SimpleNamespace(tmp=tmp, wheel=wheel, sandbox_wheel=sandbox_wheel,
                           tracked=set(tracked))


def requirements(wheel: Path) -> tuple[dict[str, set[str]], email.message.Message]:
    """A wheel's Requires-Dist names by extra ("" for none), and its METADATA."""
    with zipfile.ZipFile(wheel) as z:
        meta = email.message_from_bytes(
            z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))))
    by_extra: dict[str, set[str]] = {}
    for req in meta.get_all("Requires-Dist"):
        extra = re.search(r'extra == "([^"]+)"', req)
        name = re.match(r"[A-Za-z0-9._-]+", req).group()
        by_extra.setdefault(extra.group(1) if extra else "", set()).add(name)
    return by_extra, meta


@pytest.fixture(scope="module")
def venv(built):
    """A fresh venv with herotasks' wheel and its dependencies."""
    tmp, wheel = built.tmp, built.wheel
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
    return {"tmp": tmp, "bin": venv / "bin", "site": site, "env": env, "python": python,
            "extra": [d for n, d in closure(SANDBOX_DEPS).items() if n not in base]}


def test_the_wheels_hold_every_tracked_file_and_no_more(built):
    names = set(zipfile.ZipFile(built.wheel).namelist())
    package = {n for n in built.tracked if n.startswith("herotasks/")}
    assert package and package - names == set()
    # No sandbox code, schema or test in the deploy tool's wheel.
    assert {n for n in names if "sandbox" in n.split("/")[0] or n.endswith(".json")} == set()
    sandbox_names = set(zipfile.ZipFile(built.sandbox_wheel).namelist())
    sandbox_package = {n.removeprefix("sandbox/") for n in built.tracked
                       if n.startswith("sandbox/herotasks_sandbox/")}
    assert sandbox_package and sandbox_package - sandbox_names == set()
    assert "herotasks_sandbox/schema/platform-api-schema.json" in sandbox_names
    assert {n.split("/")[0] for n in sandbox_names if not n.split("/")[0].endswith(
        ".dist-info")} == {"herotasks_sandbox"}


def test_the_sandbox_is_an_extra_that_names_its_distribution(built):
    by_extra, meta = requirements(built.wheel)
    assert by_extra[""] == set(DEPS)
    assert by_extra["sandbox"] == {"herotasks-sandbox"}
    assert "herotasks" in by_extra["dev"]       # ./dev gets the sandbox too
    assert meta["License-Expression"] == "MIT"
    sandbox_by_extra, sandbox_meta = requirements(built.sandbox_wheel)
    assert sandbox_by_extra == {"": set(SANDBOX_DEPS)}
    # herotasks[sandbox] pins the herotasks-sandbox released with it.
    pins = [r.split(";")[0].replace(" ", "") for r in meta.get_all("Requires-Dist")
            if r.startswith("herotasks-sandbox")]
    assert pins == [f"herotasks-sandbox=={sandbox_meta['Version']}"]


def test_the_venv_sees_the_wheel_and_not_this_checkout(venv):
    probe = run(venv["bin"] / "python", "-c",
                "import importlib.util as u, herotasks; print(herotasks.__file__); "
                "print([m for m in ('herotasks_sandbox', 'trustme', 'jsonschema') "
                "if u.find_spec(m)])",
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
    assert not (venv["tmp"] / "nosbx").exists()


def test_with_the_extra_the_sandbox_runs_and_answers(venv, built):
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv["python"]), "install", "-q",
         "--no-deps", "--no-index", str(built.sandbox_wheel)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
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
