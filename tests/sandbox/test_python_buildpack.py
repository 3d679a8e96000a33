"""The sandbox's Python buildpack, end to end: ``git push`` to the session
sandbox, then what the build said and what the dynos run.

The rules and messages under test are heroku-buildpack-python's
(``bin/detect``, ``lib/python_version.sh``, ``lib/package_manager.sh``): see
the fidelity table in docs/sandbox.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import requests

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
    """3.99 is installed nowhere: the build says it uses the nearest Python,
    and the dyno runs that one, from the slug's own environment."""
    name, done = push(tools, git_env, api, tmp_path, {
        ".python-version": "3.99\n", "requirements.txt": "",
        "Procfile": "web: python -c \"import sys; open('py.txt', 'w').write("
                    "sys.version.split()[0] + ' ' + sys.prefix)\" && " + SERVE + "\n"})
    cleanup.append(name)

    assert done.returncode == 0, done.stderr
    assert "remote: -----> Using Python 3.99 specified in .python-version" in done.stderr
    installed = re.search(r"remote: -----> Installing Python (3\.\d+\.\d+)", done.stderr)
    assert installed, done.stderr
    assert ("Python 3.99 is not installed on this machine" in done.stderr)
    assert f"nearest one it has, Python {installed[1]}." in done.stderr

    app = api.get(f"/apps/{name}")
    body = tools.wait_until(lambda: (r := get(app["web_url"] + "py.txt", sandbox))
                            .ok and r.text, timeout=60)
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
    app = api.get(f"/apps/{name}")
    body = tools.wait_until(lambda: (r := get(app["web_url"] + "v.txt", sandbox))
                            .ok and r.text, timeout=60)
    version, path = body.split()
    assert version == "4.2.20"
    assert "/.heroku/python/lib/python3" in path

    # And so does a one-off dyno.
    run = api.post(f"/apps/{name}/dynos", {
        "command": "python -c \"import django; print('one-off-django', "
                   "django.get_version())\"", "attach": False})
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


def test_a_pipenv_app_is_detected_but_not_installed(tools, git_env, api, tmp_path,
                                                    cleanup):
    name, done = push(tools, git_env, api, tmp_path, {
        "Pipfile": "[packages]\n", "Pipfile.lock": "{}\n",
        "Procfile": f"web: {SERVE}\n"})
    cleanup.append(name)

    assert done.returncode != 0
    assert "remote: -----> Python app detected" in done.stderr
    assert "cannot install them (it ships no Pipenv)" in done.stderr
