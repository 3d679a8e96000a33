"""The Python buildpack's lockfile readers: Pipfile.lock and poetry.lock.

The sandbox installs Pipenv and Poetry apps without the tools (see
``python_buildpack.py``): these read the lockfiles as the tools do, make
the tools' staleness checks (``_meta.hash`` against the ``Pipfile``,
pipenv ``routines/install.py``; ``content-hash`` against
``pyproject.toml``, poetry ``packages/locker.py``) and turn the locked
packages into requirement lines with their pins, markers and hashes. A
failure is a :class:`PythonBuildError`, whose lines the build prints.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path


class PythonBuildError(Exception):
    """A build failure the app's owner can fix; ``lines`` go to the log."""

    def __init__(self, *lines: str):
        super().__init__(lines[0])
        self.lines = lines


def read_pipfile_lock(tree: Path) -> dict:
    try:
        lock = json.loads((tree / "Pipfile.lock").read_text())
    except (OSError, ValueError) as exc:
        raise PythonBuildError(
            "Error: Can't parse Pipfile.lock.", "",
            "A Pipfile.lock file was found, however, it couldn't be parsed:",
            str(exc), "", "This is likely due to it not being valid JSON.", "",
            "Run 'pipenv lock' to regenerate/fix the lockfile.") from None
    if not isinstance(lock, dict):
        raise PythonBuildError("Error: Can't parse Pipfile.lock.", "",
                               "Run 'pipenv lock' to regenerate/fix the lockfile.")
    return lock


def _canonical(name: str) -> str:
    """PEP 503's normalized name (``packaging.utils.canonicalize_name``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pipfile_hash(pipfile_text: str) -> str:
    """``pipenv.utils.pipfile.Pipfile.calculate_hash``: sha256 of the
    Pipfile's sections as sorted, compact JSON, package names canonical,
    with plette's default PyPI ``[[source]]`` when the Pipfile has none."""
    data = tomllib.loads(pipfile_text)
    if "source" not in data:
        data = {"source": [{"name": "pypi", "url": "https://pypi.org/simple",
                            "verify_ssl": True}], **data}
    sections = {"source", "packages", "dev-packages", "requires", "scripts",
                "pipfile", "pipenv"}
    out = {"_meta": {"sources": data["source"], "requires": data.get("requires", {})},
           "default": {_canonical(k): v for k, v in data.get("packages", {}).items()},
           "develop": {_canonical(k): v
                       for k, v in data.get("dev-packages", {}).items()}}
    for category, values in data.items():
        if category in sections or category in ("default", "develop"):
            continue
        out[category] = {_canonical(k): v for k, v in values.items()}
    return hashlib.sha256(json.dumps(out, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def pipenv_requirements(tree: Path) -> list[str]:
    """What ``pipenv install --deploy`` installs, as requirement lines: the
    lock's ``default`` packages with their pins, markers and hashes; first
    the check that the lock is the Pipfile's (``routines/install.py``
    ``handle_lockfile``: with ``--deploy`` an out-of-date lock aborts)."""
    lock = read_pipfile_lock(tree)
    try:
        wanted = pipfile_hash((tree / "Pipfile").read_text()) \
            if (tree / "Pipfile").is_file() else ""
    except (tomllib.TOMLDecodeError, AttributeError, TypeError) as exc:
        raise PythonBuildError(f"Error: Invalid Pipfile: {exc}",
                               "", "Error: Unable to install dependencies using "
                               "Pipenv.") from None
    old = ((lock.get("_meta") or {}).get("hash") or {}).get("sha256") or ""
    if wanted and old != wanted:
        raise PythonBuildError(
            f"Your Pipfile.lock ({old}) is out of date. Expected: ({wanted}).",
            "ERROR:: Aborting deploy", "",
            "Error: Unable to install dependencies using Pipenv.", "",
            "See the log output above for more information.")
    lines = []
    for name, spec in sorted((lock.get("default") or {}).items()):
        if not isinstance(spec, dict):
            continue
        lines.append(_locked_line(name, spec.get("version"),
                                  spec.get("extras") or [], spec.get("markers"),
                                  spec.get("hashes") or [], "Pipenv",
                                  [k for k in ("git", "hg", "svn", "bzr", "file",
                                               "path") if k in spec]))
    return lines


def poetry_requirements(tree: Path) -> tuple[list[str], str | None]:
    """What ``poetry sync --only main`` installs: (requirement lines of the
    lock's ``main`` group with pins, markers and hashes, the root project
    as "name (version)" unless ``package-mode = false``). First Poetry's own checks
    (``installation/installer.py``, ``packages/locker.py`` ``is_fresh``)."""
    fail = ("", "Error: Unable to install dependencies using Poetry.", "",
            "See the log output above for more information.")
    try:
        pyproject = tomllib.loads((tree / "pyproject.toml").read_text())
    except FileNotFoundError:
        raise PythonBuildError(
            "Poetry could not find a pyproject.toml file in /app or its parents",
            *fail) from None
    except tomllib.TOMLDecodeError as exc:
        raise PythonBuildError(f"pyproject.toml is not valid TOML: {exc}",
                               *fail) from None
    try:
        lock_text = (tree / "poetry.lock").read_text()
        lock = tomllib.loads(lock_text)
    except tomllib.TOMLDecodeError as exc:
        raise PythonBuildError(f"poetry.lock is not valid TOML: {exc}", *fail) from None
    metadata = lock.get("metadata") or {}
    fresh = metadata.get("content-hash") == poetry_content_hash(pyproject)
    if not fresh:
        m = re.search(r"Poetry ([0-9][^ ]*)", lock_text.split("\n", 1)[0])
        old = m and tuple(int(x) for x in re.findall(r"\d+", m[1])[:3]) < (2, 3, 0)
        fresh = bool(old) and metadata.get("content-hash") == \
            poetry_content_hash(pyproject, with_dependency_groups=False)
    if not fresh:
        raise PythonBuildError(
            "Installing dependencies from lock file", "",
            "pyproject.toml changed significantly since poetry.lock was last "
            "generated. Run `poetry lock` to fix the lock file.", *fail)
    lock_version = tuple(int(x) for x in
                         re.findall(r"\d+", str(metadata.get("lock-version", "0")))[:2])
    if lock_version < (2, 1):
        raise PythonBuildError(
            f"poetry.lock has lock-version {metadata.get('lock-version')}: without "
            "each package's groups and markers (lock-version 2.1, Poetry 2)",
            "Poetry would re-resolve the dependencies, which the sandbox cannot; "
            "run `poetry lock` with Poetry 2.", *fail)
    lines = []
    for package in lock.get("package") or []:
        if "main" not in (package.get("groups") or []):
            continue
        markers = package.get("markers")
        if isinstance(markers, dict):
            markers = markers.get("main")
        hashes = [f["hash"] for f in package.get("files") or [] if f.get("hash")]
        source = package.get("source") or {}
        odd = [] if source.get("type") in (None, "legacy") else [source.get("type")]
        lines.append(_locked_line(package["name"], f"=={package['version']}",
                                  [], markers, hashes, "Poetry", odd))
    tool_poetry = (pyproject.get("tool") or {}).get("poetry") or {}
    if tool_poetry.get("package-mode", True) is False:
        return lines, None
    project = pyproject.get("project") or {}
    name = project.get("name") or tool_poetry.get("name") or "?"
    version = project.get("version") or tool_poetry.get("version") or "?"
    return lines, f"{name} ({version})"


def poetry_content_hash(pyproject: dict, *, with_dependency_groups: bool = True) -> str:
    """``poetry.packages.locker.Locker._get_content_hash``."""
    project = pyproject.get("project") or {}
    groups = pyproject.get("dependency-groups", {}) if with_dependency_groups else {}
    tool_poetry = (pyproject.get("tool") or {}).get("poetry") or {}
    legacy = ["dependencies", "source", "extras", "dev-dependencies"]
    relevant_project = {k: project[k] for k in
                        ("requires-python", "dependencies", "optional-dependencies")
                        if project.get(k) is not None}
    relevant_poetry = {}
    for key in [*legacy, "group"]:
        value = tool_poetry.get(key)
        if value is None and (key not in legacy or relevant_project or groups):
            continue
        relevant_poetry[key] = value
    content: dict = {}
    if relevant_project:
        content["project"] = relevant_project
    if groups:
        content["dependency-groups"] = groups
    if content:
        content["tool"] = {"poetry": relevant_poetry}
    else:
        content = relevant_poetry
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _locked_line(name: str, version: object, extras: list, markers: object,
                 hashes: list, tool: str, unsupported: list) -> str:
    if unsupported or not isinstance(version, str) or not version.startswith("=="):
        kind = unsupported[0] if unsupported else "unpinned"
        raise PythonBuildError(
            f"The sandbox installs {tool} apps from the lock's pinned index "
            f"packages only: '{name}' is a {kind} dependency.")
    line = _canonical(name) + (f"[{','.join(extras)}]" if extras else "") + version
    if isinstance(markers, str) and markers.strip():
        line += f" ; {markers}"
    return line + "".join(f" --hash={h}" for h in hashes)

