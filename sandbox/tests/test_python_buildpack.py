"""The sandbox's Python buildpack, end to end: ``git push`` to the session
sandbox, then what the build said and what the dynos run.

The rules and messages under test are heroku-buildpack-python's
(``bin/detect``, ``lib/python_version.sh``, ``lib/package_manager.sh``): see
the fidelity table in docs/sandbox.md.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from herotasks_sandbox import python_buildpack

pytestmark = pytest.mark.e2e

SERVE = "python -m http.server $PORT --bind 127.0.0.1"


def push(tools, git_env, api, tmp_path, files: dict[str, str]):
    """A new app with ``files`` pushed to it: (app name, the push)."""
    name = tools.unique("pybp")
    app = api.create_app(name)
    repo = tools.make_repo(tmp_path / "app", git_env, files)
    done = tools.git(repo, git_env, "push", app["git_url"], "main", timeout=300,
                     check=False)
    return name, done


def get(url: str, sandbox) -> requests.Response:
    return requests.get(url, verify=sandbox.ca_bundle, timeout=60,
                        proxies={"http": None, "https": None})


def served(tools, api, sandbox, name: str, path: str) -> str:
    """What app ``name`` serves at ``path`` once its web dyno answers it."""
    url = api.get(f"/apps/{name}")["web_url"] + path
    return tools.wait_until(lambda: (r := get(url, sandbox)).ok and r.text, timeout=60)


@pytest.fixture
def cleanup(api):
    names: list[str] = []
    yield names
    for name in names:
        api.request("DELETE", f"/apps/{name}")


def test_an_app_in_no_known_language_is_rejected(tools, git_env, api, tmp_path, cleanup):
    name, done = push(tools, git_env, api, tmp_path,
                      {"Procfile": f"web: {SERVE}\n", "index.html": "hi\n"})
    cleanup.append(name)

    assert done.returncode != 0
    assert "remote:  !     No default language could be detected for this app." \
        in done.stderr
    assert api.get(f"/apps/{name}/builds")[0]["status"] == "failed"


def test_python_version_file_and_the_nearest_installed_python(
        tools, git_env, api, sandbox, tmp_path, cleanup):
    """3.14 is installed nowhere here: the build says it uses the nearest
    Python of all this machine has (pyenv's included), and the dyno runs that
    one, from the slug's own environment."""
    name, done = push(tools, git_env, api, tmp_path, {
        ".python-version": "3.14\n", "requirements.txt": "",
        "Procfile": "web: python -c \"import sys; open('py.txt', 'w').write("
                    "sys.version.split()[0] + ' ' + sys.prefix)\" && " + SERVE + "\n"})
    cleanup.append(name)

    assert done.returncode == 0, done.stderr
    assert "remote: -----> Using Python 3.14 specified in .python-version" in done.stderr
    installed = re.search(r"remote: -----> Installing Python (3\.\d+\.\d+)", done.stderr)
    assert installed, done.stderr
    newest = max(v[:2] for v, _ in python_buildpack.interpreters())
    if newest < (3, 14):
        assert ("Python 3.14 is not installed on this machine" in done.stderr)
        assert installed[1].startswith(f"{newest[0]}.{newest[1]}.")
    assert f"nearest one it has, Python {installed[1]}." in done.stderr

    body = served(tools, api, sandbox, name, "py.txt")
    version, prefix = body.split()
    assert version == installed[1]
    assert prefix.endswith("/.heroku/python")


def test_runtime_txt_still_works_with_its_deprecation_warning(
        tools, git_env, api, tmp_path, cleanup):
    wanted = f"{sys.version_info[0]}.{sys.version_info[1]}"
    name, done = push(tools, git_env, api, tmp_path, {
        "runtime.txt": f"python-{wanted}\n", "requirements.txt": "",
        "Procfile": f"web: {SERVE}\n"})
    cleanup.append(name)

    assert done.returncode == 0, done.stderr
    assert f"remote: -----> Using Python {wanted} specified in runtime.txt" in done.stderr
    assert "remote:  !     Warning: The runtime.txt file is deprecated." in done.stderr
    # This Python is installed here: no "nearest" note.
    assert "is not installed on this machine" not in done.stderr


def test_no_python_version_means_the_buildpacks_default_with_a_warning(
        tools, git_env, api, tmp_path, cleanup):
    name, done = push(tools, git_env, api, tmp_path, {
        "requirements.txt": "", "Procfile": f"web: {SERVE}\n"})
    cleanup.append(name)

    assert done.returncode == 0, done.stderr
    assert ("remote: -----> No Python version was specified. Using the buildpack "
            "default: Python 3.14") in done.stderr
    assert "remote:  !     Warning: No Python version was specified." in done.stderr


def test_a_python_file_without_a_package_manager_file_fails_the_build(
        tools, git_env, api, tmp_path, cleanup):
    name, done = push(tools, git_env, api, tmp_path, {
        "app.py": "print('hi')\n", "Procfile": "web: python app.py\n"})
    cleanup.append(name)

    assert done.returncode != 0
    assert "remote: -----> Python app detected" in done.stderr
    assert "Error: Couldn't find any supported Python package manager files." \
        in done.stderr


def test_the_dyno_runs_the_apps_own_dependencies(
        tools, git_env, api, sandbox, tmp_path, cleanup):
    """Django 4.2 in the app's requirements, 5.2 in herotasks' own venv: the
    web dyno imports 4.2, installed into the slug by the build."""
    import django
    assert not django.__version__.startswith("4.2")
    name, done = push(tools, git_env, api, tmp_path, {
        ".python-version": "3.11\n", "requirements.txt": "Django==4.2.20\n",
        "Procfile": "web: python -c \"import django; open('v.txt', 'w').write("
                    "django.get_version() + ' ' + django.__file__)\" && " + SERVE + "\n"
                    "release: python -c \"import django; print('release-django',"
                    " django.get_version())\"\n"})
    cleanup.append(name)

    assert done.returncode == 0, done.stderr
    # The release phase runs the slug's Python too (its output is in the push).
    assert "remote: release-django 4.2.20" in done.stderr
    assert "remote: -----> Installing dependencies using 'pip install -r " \
        "requirements.txt'" in done.stderr
    assert "django==4.2.20" in done.stderr.lower()
    body = served(tools, api, sandbox, name, "v.txt")
    version, path = body.split()
    assert version == "4.2.20"
    assert "/.heroku/python/lib/python3" in path
    # Every installed module has the .pyc pip would have written: the
    # import system takes it as it is, with the source's mtime and size.
    slug = api.get(f"/apps/{name}/releases")[-1]["slug"]["id"]
    [packages] = (sandbox.root / "slugs" / slug).glob(
        ".heroku/python/lib/python3*/site-packages")
    sources = list(packages.rglob("*.py"))
    assert len(sources) > 500  # Django's
    stale = []
    for source in sources:
        pyc = Path(importlib.util.cache_from_source(str(source)))
        st = source.stat()
        header = pyc.read_bytes()[4:16] if pyc.exists() else b""
        if header != (b"\0\0\0\0" + int(st.st_mtime).to_bytes(4, "little")
                      + st.st_size.to_bytes(4, "little")):
            stale.append(str(source.relative_to(packages)))
    assert stale == [], stale[:10]

    # And so does a one-off dyno. Right after a release the runtime may not
    # see it yet and answers 409, which the CLI retries (run/dyno.ts): so here.
    def one_off():
        r = api.request("POST", f"/apps/{name}/dynos", json={
            "command": "python -c \"import django; print('one-off-django', "
                       "django.get_version())\"", "attach": False})
        assert r.status_code in (201, 409), r.text
        return r.status_code == 201 and r.json()
    run = tools.wait_until(one_off, timeout=30, interval=0.5, what="the one-off")
    log = sandbox.root / "logs" / "apps" / name / f"{run['name']}.log"
    tools.wait_until(lambda: log.exists() and "one-off-django 4.2.20" in
                     log.read_text(), timeout=60, what="the one-off's output")


UV_PROJECT = ('[project]\nname = "uvapp"\nversion = "0.1.0"\n'
              'requires-python = ">=3.11"\ndependencies = []\n')


def uv_lock(tmp_path) -> str:
    """A real uv.lock for UV_PROJECT, made by this uv (offline: no deps)."""
    import uv
    folder = tmp_path / "lock"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(UV_PROJECT)
    subprocess.run([uv.find_uv_bin(), "lock", "--offline", "--no-config"], cwd=folder,
                   check=True, capture_output=True, timeout=120,
                   env={"PATH": os.environ["PATH"], "HOME": str(folder),
                        "UV_PYTHON_DOWNLOADS": "never"})
    return (folder / "uv.lock").read_text()


def test_a_uv_project_is_synced_from_its_lock(tools, git_env, api, tmp_path, cleanup):
    name, done = push(tools, git_env, api, tmp_path, {
        ".python-version": "3.11\n", "uv.lock": uv_lock(tmp_path),
        "pyproject.toml": UV_PROJECT,
        "Procfile": f"web: {SERVE}\n"})
    cleanup.append(name)

    assert done.returncode == 0, done.stderr
    assert ("remote: -----> Installing dependencies using 'uv sync --locked "
            "--no-default-groups'") in done.stderr


def test_a_uv_project_needs_a_python_version_file(tools, git_env, api, tmp_path,
                                                  cleanup):
    name, done = push(tools, git_env, api, tmp_path, {
        "uv.lock": uv_lock(tmp_path), "pyproject.toml": UV_PROJECT,
        "Procfile": f"web: {SERVE}\n"})
    cleanup.append(name)

    assert done.returncode != 0
    assert "remote:  !     Error: No Python version was specified." in done.stderr


FIXTURES = Path(__file__).parent / "fixtures"
#: What a dyno of a lock-installed app writes: six from the lock, and
#: whether the dev-only package (iniconfig) was installed too.
PROBE = ("web: python -c \"import importlib.util, six, sys; open('deps.txt', 'w').write("
         "six.__version__ + ' ' + str(importlib.util.find_spec('iniconfig') is not None)"
         " + ' ' + sys.prefix)\" && " + SERVE + "\n")


def fixture_files(name: str) -> dict[str, str]:
    """A lock made by the real tool (Poetry 2.4.1, Pipenv 2026.7.1) for a
    small app: six in the main group / default section, iniconfig dev-only."""
    return {f.name: f.read_text() for f in (FIXTURES / name).iterdir() if f.is_file()}


def test_a_poetry_app_gets_its_locked_main_group(tools, git_env, api, sandbox,
                                                 tmp_path, cleanup):
    name, done = push(tools, git_env, api, tmp_path, {
        **fixture_files("poetry_app"), ".python-version": "3.11\n", "Procfile": PROBE})
    cleanup.append(name)

    assert done.returncode == 0, done.stderr
    assert "remote: -----> Installing dependencies using 'poetry sync --only main'" \
        in done.stderr
    body = served(tools, api, sandbox, name, "deps.txt")
    six, dev, prefix = body.split()
    assert (six, dev) == ("1.17.0", "False")
    assert prefix.endswith("/.heroku/python")


def test_a_poetry_package_is_installed_itself_too(tools, git_env, api, sandbox,
                                                  tmp_path, cleanup):
    """Without ``package-mode = false`` Poetry installs the root project
    (editable, by its build backend) after the locked packages."""
    # Installed, not just importable from $HOME (PYTHONPATH): its metadata.
    probe = ("web: python -c \"import importlib.metadata as m, poetrypkg, six; "
             "open('who.txt', 'w').write(poetrypkg.WHO + ' ' + m.version('poetrypkg'))\""
             " && " + SERVE + "\n")
    name, done = push(tools, git_env, api, tmp_path, {
        **fixture_files("poetry_package_app"), "poetrypkg/__init__.py":
            (FIXTURES / "poetry_package_app" / "poetrypkg" / "__init__.py").read_text(),
        ".python-version": "3.11\n", "Procfile": probe})
    cleanup.append(name)

    assert done.returncode == 0, done.stderr
    assert "Installing the current project: poetrypkg (0.1.0)" in done.stderr
    body = served(tools, api, sandbox, name, "who.txt")
    assert body == "the root project 0.1.0"


def test_a_pipenv_app_gets_its_locked_default_packages_and_python(
        tools, git_env, api, sandbox, tmp_path, cleanup):
    """No .python-version: the Python comes from Pipfile.lock's
    ``_meta.requires.python_version``, as the buildpack reads it."""
    # Pipenv is in the slug too, as the buildpack leaves it: `pipenv run` works.
    name, done = push(tools, git_env, api, tmp_path, {
        **fixture_files("pipenv_app"),
        "Procfile": PROBE.replace("web: python", "web: pipenv run python")})
    cleanup.append(name)

    assert done.returncode == 0, done.stderr
    assert "remote: -----> Using Python 3.11 specified in Pipfile.lock" in done.stderr
    assert "remote: -----> Installing Pipenv 2026.7.1" in done.stderr
    assert "Warning: No Python version was specified." not in done.stderr
    assert "remote: -----> Installing dependencies using 'pipenv install --deploy'" \
        in done.stderr
    body = served(tools, api, sandbox, name, "deps.txt")
    six, dev, prefix = body.split()
    assert (six, dev) == ("1.17.0", "False")
    assert prefix.endswith("/.heroku/python")  # the slug's Python, not Pipenv's


def test_a_pipfile_changed_since_its_lock_fails_the_build(tools, git_env, api,
                                                           tmp_path, cleanup):
    """``pipenv install --deploy`` aborts when the lock's hash is not the
    Pipfile's (one more package in the Pipfile, not locked)."""
    files = fixture_files("pipenv_app")
    files["Pipfile"] = files["Pipfile"].replace('six = "==1.17.0"',
                                                'six = "==1.17.0"\nidna = "*"')
    name, done = push(tools, git_env, api, tmp_path, {**files, "Procfile": PROBE})
    cleanup.append(name)

    assert done.returncode != 0
    assert re.search(r"Your Pipfile\.lock \([0-9a-f]{64}\) is out of date\. "
                     r"Expected: \([0-9a-f]{64}\)\.", done.stderr), done.stderr
    assert "Error: Unable to install dependencies using Pipenv." in done.stderr
    assert api.get(f"/apps/{name}/builds")[0]["status"] == "failed"


def test_a_pyproject_changed_since_its_poetry_lock_fails_the_build(
        tools, git_env, api, tmp_path, cleanup):
    files = fixture_files("poetry_app")
    files["pyproject.toml"] = files["pyproject.toml"].replace(
        '"six==1.17.0"', '"six==1.17.0", "idna"')
    name, done = push(tools, git_env, api, tmp_path, {
        **files, ".python-version": "3.11\n", "Procfile": PROBE})
    cleanup.append(name)

    assert done.returncode != 0
    assert ("pyproject.toml changed significantly since poetry.lock was last "
            "generated. Run `poetry lock` to fix the lock file.") in done.stderr
    assert "Error: Unable to install dependencies using Poetry." in done.stderr


def test_a_lock_hash_that_no_file_matches_fails_the_install(tools, git_env, api,
                                                            tmp_path, cleanup):
    """The tools check every download against the lock's hashes."""
    files = fixture_files("pipenv_app")
    files["Pipfile.lock"] = re.sub(r'"sha256:[0-9a-f]{64}"', '"sha256:' + "0" * 64 + '"',
                                   files["Pipfile.lock"])
    name, done = push(tools, git_env, api, tmp_path, {**files, "Procfile": PROBE})
    cleanup.append(name)

    assert done.returncode != 0
    assert "Error: Unable to install dependencies using Pipenv." in done.stderr


def test_the_nearest_python_is_searched_among_every_installed_one():
    """pyenv's versions count, not just /usr/bin and the sandbox's own: an app
    asking for 3.14 gets 3.13 (or 3.12) where pyenv has it, not 3.11."""
    found = {v[:2] for v, _ in python_buildpack.interpreters()}
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    on_pyenv = {tuple(int(x) for x in d.name.split(".")[:2])
                for d in pyenv.glob("3.*") if (d / "bin").is_dir()}
    if not on_pyenv - {sys.version_info[:2]}:
        pytest.skip("no pyenv Python besides the sandbox's own on this machine")
    assert on_pyenv <= found
    _, full, exact = python_buildpack.choose("3.14")
    nearest = max(v for v in found if v <= (3, 14))
    assert not exact and full.startswith(f"{nearest[0]}.{nearest[1]}.")


@pytest.mark.parametrize(("files", "first", "more"), [
    ({".python-version": "3.9\n", "requirements.txt": ""},
     "Error: The requested Python version has reached end-of-life.",
     "Please upgrade to at least Python 3.10"),
    ({".python-version": "3.15\n", "requirements.txt": ""},
     "Error: The requested Python version isn't recognised.", "Python 3.14"),
    ({".venv/pyvenv.cfg": "home = /usr/bin\n", "requirements.txt": ""},
     "Error: Existing '.venv/' directory found.", "add the directory to your .gitignore"),
    ({"setup.py": "from setuptools import setup\nsetup(name='x')\n"},
     "Error: Couldn't find any supported Python package manager files.",
     "'Pipfile.lock', 'poetry.lock' or 'uv.lock'"),
    ({"Pipfile": "[packages]\n"}, "Error: No 'Pipfile.lock' found!", "pipenv lock"),
    ({"python-version": "3.13\n", "requirements.txt": ""},
     "Error: Your .python-version file is spelled incorrectly.", "'python-version'"),
], ids=["python-3.9", "python-3.15", "committed-venv", "setup.py-only",
        "pipfile-without-lock", "misspelled-version-file"])
def test_what_the_buildpack_refuses_since_2025(tools, git_env, api, tmp_path, cleanup,
                                               files, first, more):
    name, done = push(tools, git_env, api, tmp_path,
                      {**files, "Procfile": f"web: {SERVE}\n"})
    cleanup.append(name)

    assert done.returncode != 0
    assert f"remote:  !     {first}" in done.stderr, done.stderr
    assert more in done.stderr


def test_python_3_10_builds_with_its_deprecation_warning(tools, git_env, api, tmp_path,
                                                         cleanup):
    name, done = push(tools, git_env, api, tmp_path, {
        ".python-version": "3.10\n", "requirements.txt": "", "Procfile": f"web: {SERVE}\n"})
    cleanup.append(name)

    assert done.returncode == 0, done.stderr
    assert "remote:  !     Warning: Support for Python 3.10 is deprecated!" in done.stderr
