"""The sandbox's heroku/python: detect, pick the Python, install, collectstatic.

It follows heroku-buildpack-python (``bin/detect``, ``bin/compile``,
``lib/package_manager.sh``, ``lib/python_version.sh``, ``lib/pip.sh``,
``lib/uv.sh``, ``bin/steps/collectstatic``): the same files make an app a
Python app, the same files choose the package manager and the Python
version (``runtime.txt`` first, with its deprecation warning, then
``.python-version``, else the buildpack's default), the same ``----->``
steps and `` !     `` warnings appear in the build output, and Django's
``collectstatic`` runs on every build unless ``DISABLE_COLLECTSTATIC`` is
set (the buildpack never looks for a committed ``staticfiles.json``).

Where the sandbox must differ, it says so in the build output:

- it cannot download interpreters, so it uses the installed Python nearest
  to the one asked for;
- the app's environment is a relocatable virtualenv made by uv at
  ``.heroku/python`` (where the buildpack installs Python), and both
  requirements.txt and uv.lock apps are installed with uv, from the package
  index this machine's pip is configured with; uv's cache (``cache_dir/uv``)
  makes a rebuild of the same requirements fast, and so does a cache of
  their compiled bytecode (``cache_dir/pyc``, ``python_bytecode.py``);
- Poetry and Pipenv apps are installed from their lockfiles without the
  tools themselves: the buildpack's ``poetry sync --only main`` and
  ``pipenv install --deploy`` install exactly the locked packages (the
  ``main`` group, the ``default`` section) and check the hashes, so the
  sandbox exports those pins, markers and hashes (``python_lockfiles.py``)
  and installs them with
  ``uv pip install --no-deps --require-hashes``, after the same staleness
  checks the tools make (``content-hash`` against ``pyproject.toml``,
  ``_meta.hash`` against the ``Pipfile``). Pipenv itself is put in the slug
  as the buildpack does (``.heroku/python/pipenv``, on PATH with
  ``PIPENV_SYSTEM``), so a Procfile's ``pipenv run ...`` works.

``.profile.d/python.sh`` puts ``.heroku/python/bin`` first on ``PATH``, so
dynos, one-offs and the release phase run the slug's Python, as on Heroku.
"""

from __future__ import annotations

import functools
import glob
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from .pip_index import index_options
from .python_lockfiles import (
    PythonBuildError,
    pipenv_requirements,
    poetry_requirements,
    read_pipfile_lock,
)

#: ``bin/detect``'s KNOWN_PYTHON_PROJECT_FILES: any of them makes a Python app.
DETECT_FILES = (
    ".python-version", "__init__.py", "app.py", "main.py", "manage.py", "pdm.lock",
    "Pipfile", "Pipfile.lock", "poetry.lock", "pyproject.toml", "requirements.txt",
    "runtime.txt", "server.py", "setup.cfg", "setup.py", "uv.lock",
    "requeriments.txt", "requirement.txt", "requirements", "requirements.text",
    "Requirements.txt", "requirements.txt.txt", "requirments.txt", "__pycache__",
    ".venv", "venv",
)
#: ``lib/python_version.sh``: the default is the newest Python 3.14.
DEFAULT_MAJOR = "3.14"
#: ``lib/python_version.sh`` ``OLDEST/NEWEST_SUPPORTED_PYTHON_3_MINOR_VERSION``:
#: Python 3.9 was removed in v327 (January 2026), 3.10 is deprecated (v321).
OLDEST_MINOR, NEWEST_MINOR, DEPRECATED_MAJOR = 10, 14, "3.10"
#: ``lib/python_version.sh`` ``MISSPELLED_PYTHON_VERSION_FILE_NAMES`` (v320, v339).
MISSPELLED_VERSION_FILES = (
    " .python-version", ". python-version", ".python_version.txt", ".python_version",
    ".python-version ", ",python-version", ".python-version.", ".python-version.py",
    ".python-version.rtf", ".python-version.txt", ".python-version.TXT",
    ".Python-version", ".python.version", ".pythonversion", "'.python-version'",
    "python_version.txt", "python_version", "python-version.", "python-version.txt",
    "python-version",
)
VERSION = re.compile(r"^(3\.\d+)(\.\d+)?$")
#: ``requirements/pipenv.txt`` of the buildpack: the Pipenv it installs.
PIPENV_VERSION = "2026.7.1"
#: The env var and the file that turn collectstatic off.
DISABLE_VAR = "DISABLE_COLLECTSTATIC"
#: Run by the slug's Python to write the installed packages' bytecode.
BYTECODE = Path(__file__).with_name("python_bytecode.py")
#: Heroku's slug compiler gives up after 15 minutes.
COMPILE_TIMEOUT = 900
#: What the build's child processes may take from the sandbox's environment.
SAFE_ENV = ("LANG", "LC_ALL", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")


def package_manager(tree: Path) -> str:
    """``package_manager::determine_package_manager``: exactly one of
    Pipfile.lock, requirements.txt, poetry.lock, uv.lock."""
    found = []
    if (tree / "Pipfile.lock").is_file():
        found.append("pipenv")
    elif (tree / "Pipfile").is_file():
        raise PythonBuildError(
            "Error: No 'Pipfile.lock' found!", "",
            "A 'Pipfile' file was found, however, the associated 'Pipfile.lock'",
            "Pipenv lockfile wasn't. Run 'pipenv lock' locally to generate it.")
    for name, manager in (("requirements.txt", "pip"), ("poetry.lock", "poetry"),
                          ("uv.lock", "uv")):
        if (tree / name).is_file():
            found.append(manager)
    if not found:
        raise PythonBuildError(
            "Error: Couldn't find any supported Python package manager files.", "",
            "A Python app on Heroku must have either a 'requirements.txt',",
            "'Pipfile.lock', 'poetry.lock' or 'uv.lock' package manager file",
            "in the root directory of its source code.")
    if len(found) > 1:
        raise PythonBuildError(
            "Error: Multiple Python package manager files were found.", "",
            "Exactly one package manager file should be present in your app's",
            "source code, however, several were found: " + ", ".join(found))
    return found[0]


def requested_version(tree: Path, manager: str) -> tuple[str, str]:
    """``python_version::read_requested_python_version``: (version, origin)."""
    runtime = tree / "runtime.txt"
    if runtime.is_file():
        text = _version_lines(runtime)
        m = re.match(r"^python-(3\.\d+(?:\.\d+)?)$", text)
        if m is None:
            raise PythonBuildError(
                "Error: Invalid Python version in runtime.txt.", "",
                "The Python version specified in your runtime.txt file isn't",
                "in the correct format (python-3.N). The runtime.txt file is",
                "deprecated: use a .python-version file containing e.g. "
                f"{DEFAULT_MAJOR}")
        if manager == "uv":
            raise PythonBuildError(
                "Error: The runtime.txt file isn't supported when using uv.", "",
                "When using the package manager uv on Heroku, you must specify",
                "your app's Python version with a .python-version file.")
        return m[1], "runtime.txt"
    for misspelled in MISSPELLED_VERSION_FILES:
        if (tree / misspelled).is_file():
            raise PythonBuildError(
                "Error: Your .python-version file is spelled incorrectly.", "",
                "Your app's .python-version file currently has the filename:",
                f"'{misspelled}'", "", "However, the correct spelling is (without "
                "quotes):", "'.python-version'", "",
                "You must rename your file to the correct name.")
    pinned = tree / ".python-version"
    if pinned.is_file():
        text = _version_lines(pinned)
        if not text:
            raise PythonBuildError("Error: No Python version found in .python-version.")
        if "\n" in text:
            raise PythonBuildError(
                "Error: Multiple Python versions found in .python-version.")
        if not VERSION.match(text):
            raise PythonBuildError(
                "Error: Invalid Python version in .python-version.", "",
                f"The Python version specified ('{text}') isn't in the correct",
                f"format: the major version only, for example: {DEFAULT_MAJOR}")
        return text, ".python-version"
    if manager == "pipenv":
        locked = _pipfile_lock_version(tree)
        if locked:
            return locked, "Pipfile.lock"
    if manager == "uv":
        raise PythonBuildError(
            "Error: No Python version was specified.", "",
            "When using the package manager uv on Heroku, you must specify",
            "your app's Python version with a .python-version file.")
    return DEFAULT_MAJOR, "default"


def check_supported(version: str, origin: str) -> None:
    """``python_version::resolve_python_version``: an end-of-life Python
    (older than 3.10) or one the buildpack does not know yet is an error."""
    minor = int(version.split(".")[1])
    if minor < OLDEST_MINOR:
        raise PythonBuildError(
            "Error: The requested Python version has reached end-of-life.", "",
            f"Python 3.{minor} has reached its upstream end-of-life, and is",
            "therefore no longer receiving security updates:",
            "https://devguide.python.org/versions/#supported-versions", "",
            "As such, it's no longer supported by this buildpack:",
            "https://devcenter.heroku.com/articles/python-support#supported-python-versions",
            "", f"Please upgrade to at least Python 3.{OLDEST_MINOR} by changing the",
            f"version in your {origin} file.")
    if minor > NEWEST_MINOR:
        raise PythonBuildError(
            "Error: The requested Python version isn't recognised.", "",
            f"The requested Python version 3.{minor} isn't recognised.", "",
            f"Switch to a supported version (such as Python 3.{NEWEST_MINOR})",
            f"by changing the version in your {origin} file.")


def check_no_venv(tree: Path) -> None:
    """``checks::existing_venv_dir_present`` (an error since v324, December
    2025): a committed virtual environment cannot run anywhere else."""
    for name in (".venv", "venv"):
        if (tree / name / "pyvenv.cfg").is_file():
            raise PythonBuildError(
                f"Error: Existing '{name}/' directory found.", "",
                "Your app's source code contains an existing directory named",
                f"'{name}/', which looks like a Python virtual environment.", "",
                "Including a virtual environment directory in your app source",
                "isn't supported since the files within it are specific to a",
                "single machine and so won't work when run somewhere else.", "",
                f"If you've committed a '{name}/' directory to your Git repo, you",
                "must delete it and add the directory to your .gitignore file.")


def _pipfile_lock_version(tree: Path) -> str | None:
    """``python_version::read_pipenv_python_version``: ``_meta.requires``'s
    ``python_full_version``, else its ``python_version``."""
    lock = read_pipfile_lock(tree)
    requires = (lock.get("_meta") or {}).get("requires") or {}
    version = requires.get("python_full_version") or requires.get("python_version")
    if version is None:
        return None
    if not isinstance(version, str) or not VERSION.match(version):
        raise PythonBuildError(
            "Error: Invalid Python version in Pipfile.lock.", "",
            "The Python version specified in your Pipfile.lock file by the",
            "'python_version' or 'python_full_version' fields isn't valid.", "",
            "The following version was found:", str(version))
    return version


def _version_lines(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
    return "\n".join(ln for ln in lines if ln and not ln.startswith("#"))


@functools.lru_cache(maxsize=1)
def interpreters() -> tuple[tuple[tuple[int, ...], str], ...]:
    """The Pythons installed on this machine: ((3, 11, 7), path), newest first.

    Looked for where interpreters live (the sandbox's own base Python,
    /usr/bin, /usr/local/bin, PATH, every pyenv version and every Python uv
    installed: a shim on PATH names one of them only), never in virtualenvs.
    """
    names = [os.path.join(sys.base_prefix, "bin", f"python{sys.version_info[0]}."
                          f"{sys.version_info[1]}")]
    # the user's real home: the sandbox may run with a private HOME
    home = pwd.getpwuid(os.getuid()).pw_dir
    pyenv = os.environ.get("PYENV_ROOT") or os.path.join(home, ".pyenv")
    uv_pythons = os.environ.get("UV_PYTHON_INSTALL_DIR") or os.path.join(
        home, ".local", "share", "uv", "python")
    dirs = ["/usr/local/bin", "/usr/bin", *os.environ.get("PATH", "").split(os.pathsep),
            *sorted(glob.glob(os.path.join(pyenv, "versions", "*", "bin"))),
            *sorted(glob.glob(os.path.join(uv_pythons, "*", "bin")))]
    for d in dirs:
        names += sorted(glob.glob(os.path.join(d, "python3.[0-9]*")))
    found: dict[str, tuple[int, ...]] = {}
    for name in names:
        if not re.search(r"python3\.\d+$", name) or not os.access(name, os.X_OK) \
                or "/shims/" in name:  # pyenv's shims are scripts choosing a Python
            continue
        real = os.path.realpath(name)
        if real in found or (Path(real).parent.parent / "pyvenv.cfg").exists():
            continue
        try:
            done = subprocess.run(
                [real, "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
                capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and re.match(r"^3\.\d+\.\d+$", done.stdout.strip()):
            found[real] = tuple(int(x) for x in done.stdout.strip().split("."))
    return tuple(sorted(((v, p) for p, v in found.items()), reverse=True))


def choose(requested: str) -> tuple[str, str, bool]:
    """The interpreter for ``requested`` ("3.12" or "3.12.4"):
    (path, full version, exact). Same minor (the newest patch, or the very
    patch asked for) counts as the one asked for; otherwise the nearest minor,
    the newer one on a tie."""
    available = interpreters()
    if not available:
        raise PythonBuildError("No Python 3 interpreter is installed on this machine.")
    want = tuple(int(x) for x in requested.split("."))
    if len(want) == 3:
        for v, path in available:
            if v == want:
                return path, _dotted(v), True
    same = [(v, p) for v, p in available if v[:2] == want[:2]]
    if same:
        v, path = same[0]
        return path, _dotted(v), len(want) == 2
    v, path = min(available, key=lambda vp: (abs(vp[0][1] - want[1]), -vp[0][1]))
    return path, _dotted(v), False


def _dotted(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


class PythonBuild:
    """One compile of one Python app, writing the build output through
    ``step`` (``----->`` lines), ``info`` (indented) and ``warn`` (`` !``)."""

    def __init__(self, tree: Path, config: dict[str, str], *, cache_dir: Path,
                 step: Callable[[str], None], info: Callable[[str], None],
                 warn: Callable[[str], None], source_version: str | None = None):
        self.tree = tree
        self.config = config
        self.cache_dir = cache_dir
        self.step, self.info, self.warn = step, info, warn
        self.source_version = source_version
        self.home = tree / ".heroku" / "python"
        #: Extra ``.profile.d/python.sh`` lines (Pipenv's).
        self.profile_lines: list[str] = []

    # -- the steps ------------------------------------------------------------------
    def install(self) -> None:
        """Python, then the dependencies, then ``.profile.d/python.sh``."""
        manager = package_manager(self.tree)
        if self.home.exists():
            raise PythonBuildError(
                "Error: Existing '.heroku/python/' directory found.", "",
                "Your app's source code contains a Python install: remove it",
                "from the Git repository and push again.")
        check_no_venv(self.tree)
        version, origin = requested_version(self.tree, manager)
        if origin == "default":
            self.step("No Python version was specified. Using the buildpack "
                      f"default: Python {version}")
        else:
            self.step(f"Using Python {version} specified in {origin}")
        check_supported(version, origin)
        python, full, exact = choose(version)
        if origin == "default":
            self._warning("Warning: No Python version was specified.", "",
                          "Your app doesn't specify a Python version and so the "
                          "buildpack", "picked a default version for you. Please "
                          "configure an explicit Python", "version for your app in "
                          f"a .python-version file (e.g. {version}).")
        elif origin == "runtime.txt":
            self._warning("Warning: The runtime.txt file is deprecated.", "",
                          "The runtime.txt file is deprecated since it has been "
                          "replaced", "by the more widely supported .python-version "
                          "file:", "https://devcenter.heroku.com/changelog-items/3141",
                          "", "Please switch to using a .python-version file "
                          "instead.")
        if ".".join(version.split(".")[:2]) == DEPRECATED_MAJOR:
            self._warning(
                f"Warning: Support for Python {DEPRECATED_MAJOR} is deprecated!", "",
                f"Python {DEPRECATED_MAJOR} will reach its upstream end-of-life in "
                "October 2026,", "at which point it will no longer receive security "
                "updates.", "", "Upgrade to a newer Python version as soon as "
                "possible, by", f"changing the version in your {origin} file.")
        self.step(f"Installing Python {full}")
        if not exact:
            self._warning(
                f"Note: Python {version} is not installed on this machine and the "
                "sandbox", f"cannot download interpreters: it uses the nearest one "
                f"it has, Python {full}.")
        uv = _uv_bin()
        env = self._uv_env()
        self._run([uv, "venv", "--relocatable", "--no-project", "--quiet",
                   "--python", python, str(self.home)], env, "uv venv")
        venv_python = str(self.home / "bin" / "python")
        if manager == "pip":
            self.step("Installing dependencies using 'pip install -r requirements.txt'")
            self.info("(the sandbox installs them with "
                      "'uv pip install -r requirements.txt')")
            argv = [uv, "pip", "install", "--python", venv_python, "--no-progress",
                    "-r", "requirements.txt", *index_options()]
        elif manager in ("poetry", "pipenv"):
            self._install_locked(manager, uv, env, venv_python)
            self._write_profile()
            return
        else:
            self.step("Installing dependencies using 'uv sync --locked "
                      "--no-default-groups'")
            env["UV_PROJECT_ENVIRONMENT"] = str(self.home)
            argv = [uv, "sync", "--locked", "--no-default-groups", "--no-progress",
                    "--python", venv_python, *index_options()]
        if self._run(argv, env, None) != 0:
            raise PythonBuildError(
                f"Error: Unable to install dependencies using {manager}.", "",
                "See the log output above for more information.")
        # pip compiles the installed packages' bytecode by default, and the
        # buildpack leaves it so (lib/pip.sh passes no --no-compile); uv is
        # told to (lib/uv.sh: "`--compile-bytecode`: Improves app boot
        # times (pip does this by default)"): dynos boot from .pyc files,
        # never compiling Django at each boot. The same files, from the
        # sandbox's cache of compiled code (python_bytecode.py).
        self._compile_bytecode(venv_python, announce=manager == "uv")
        self._write_profile()

    def _compile_bytecode(self, venv_python: str, *, announce: bool) -> None:
        """Every installed ``.py`` file's ``.pyc``, as ``--compile-bytecode``
        writes them; ``announce``: uv's own line about it (pip says nothing)."""
        site = sorted(str(p) for p in self.home.glob("lib/python*/site-packages"))
        start = time.monotonic()
        try:
            done = subprocess.run(
                [venv_python, "-I", str(BYTECODE), str(self.cache_dir / "pyc"), *site],
                cwd=self.tree, env=self._base_env(), stdin=subprocess.DEVNULL,
                capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise PythonBuildError("The sandbox's bytecode compile took more than "
                                   f"{COMPILE_TIMEOUT} s.") from None
        if done.returncode != 0:
            raise PythonBuildError("The sandbox's bytecode compile failed "
                                   f"(exit {done.returncode}): {done.stderr.strip()}")
        if announce:
            files = sum(int(n) for n in done.stdout.split())
            took = time.monotonic() - start
            self.info(f"Bytecode compiled {files} files in "
                      + (f"{took:.2f}s" if took >= 1 else f"{took * 1000:.0f}ms"))

    def _install_locked(self, manager: str, uv: str, env: dict[str, str],
                        venv_python: str) -> None:
        """Poetry's and Pipenv's installs, from their lockfiles, with uv."""
        if manager == "poetry":
            self.step("Installing dependencies using 'poetry sync --only main'")
            self.info("(the sandbox installs poetry.lock's main group with "
                      "'uv pip install --no-deps --require-hashes')")
            lines, root = poetry_requirements(self.tree)
            tool = "Poetry"
        else:
            self._install_pipenv(uv, env)
            self.step("Installing dependencies using 'pipenv install --deploy'")
            self.info("(the sandbox installs Pipfile.lock's default packages with "
                      "'uv pip install --no-deps --require-hashes')")
            lines, root, tool = pipenv_requirements(self.tree), None, "Pipenv"
        failed = PythonBuildError(
            f"Error: Unable to install dependencies using {tool}.", "",
            "See the log output above for more information.")
        if lines:
            with tempfile.TemporaryDirectory(prefix="locked-") as scratch:
                export = Path(scratch) / "requirements.txt"
                export.write_text("\n".join(lines) + "\n")
                hashed = all(" --hash=" in line for line in lines)
                argv = [uv, "pip", "install", "--python", venv_python, "--no-progress",
                        "--no-deps", *(["--require-hashes"] if hashed else []),
                        "-r", str(export), *index_options()]
                if self._run(argv, env, None) != 0:
                    raise failed
        if root:
            # poetry sync installs the project itself (package-mode), editable.
            self.info(f"Installing the current project: {root}")
            argv = [uv, "pip", "install", "--python", venv_python, "--no-progress",
                    "--no-deps", "--editable", ".", *index_options()]
            if self._run(argv, env, None) != 0:
                raise failed

    def _install_pipenv(self, uv: str, env: dict[str, str]) -> None:
        """``pipenv::install_pipenv``: Pipenv in its own venv inside the slug
        (``.heroku/python/pipenv``), its script alone on PATH, and
        ``PIPENV_SYSTEM``/``VIRTUAL_ENV`` so that ``pipenv run`` in a Procfile
        uses the slug's Python."""
        self.step(f"Installing Pipenv {PIPENV_VERSION}")
        root = self.home / "pipenv"
        venv = root / "venv"
        self._run([uv, "venv", "--relocatable", "--no-project", "--quiet",
                   "--python", str(self.home / "bin" / "python"), str(venv)],
                  env, "uv venv")
        if self._run([uv, "pip", "install", "--python", str(venv / "bin" / "python"),
                      "--no-progress", "--quiet", f"pipenv=={PIPENV_VERSION}",
                      *index_options()], env, None) != 0:
            raise PythonBuildError(
                "Error: Unable to install Pipenv.", "",
                "In some cases, this happens due to a temporary issue with",
                "the network connection or Python Package Index (PyPI).", "",
                "Try building again to see if the error resolves itself.")
        (root / "bin").mkdir()
        (root / "bin" / "pipenv").symlink_to(Path("..") / "venv" / "bin" / "pipenv")
        self.profile_lines += [
            'export PATH="$HOME/.heroku/python/pipenv/bin:$PATH"',
            'export PIPENV_SYSTEM="1"', 'export PIPENV_VERBOSITY="-1"',
            'export VIRTUAL_ENV="$HOME/.heroku/python"']

    def collectstatic(self) -> None:
        """``bin/steps/collectstatic``, rule and messages."""
        if (self.tree / ".heroku" / "collectstatic_disabled").is_file():
            self.step("Skipping Django collectstatic since the file "
                      "'.heroku/collectstatic_disabled' exists.")
            self._warning("Warning: The .heroku/collectstatic_disabled file is "
                          "deprecated.", "", "Please remove the file and set the env "
                          "var DISABLE_COLLECTSTATIC=1 instead.")
            return
        if self.config.get(DISABLE_VAR, "0") != "0":
            self.step("Skipping Django collectstatic since the env var "
                      "DISABLE_COLLECTSTATIC is set.")
            return
        env = self._app_env()
        check = [str(self.home / "bin" / "python"), "-c",
                 "import sys, importlib.util; "
                 "sys.exit(0 if importlib.util.find_spec('django') else 1)"]
        if subprocess.run(check, cwd=self.tree, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True).returncode != 0:
            return
        manage = _manage_py(self.tree)
        if manage is None:
            self.step("Skipping Django collectstatic since no manage.py file found.")
            return
        self.step(f"$ python {manage} collectstatic --noinput")
        rc = self._run(["python", manage, "collectstatic", "--noinput", "--traceback"],
                       env, None)
        self.info("")
        if rc != 0:
            raise PythonBuildError(
                "Error: Unable to generate Django static files.", "",
                f"The 'python {manage} collectstatic --noinput' Django",
                "management command to generate static files failed.", "",
                "See the traceback above for details.", "",
                "You may need to update application code to resolve this error.",
                "Or, you can disable collectstatic for this application:", "",
                "   $ heroku config:set DISABLE_COLLECTSTATIC=1", "",
                "https://devcenter.heroku.com/articles/django-assets")

    # -- helpers ------------------------------------------------------------------------
    def _warning(self, *lines: str) -> None:
        self.info("")
        for line in lines:
            self.warn(line)
        self.info("")

    def _base_env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
        env.update(HOME=str(self.tree), PATH=os.environ.get("PATH", os.defpath),
                   PYTHONUNBUFFERED="1")
        env.setdefault("LANG", "C.UTF-8")
        return env

    def _uv_env(self) -> dict[str, str]:
        """uv sees no config vars and no user config: only where its cache is,
        and that it must never download a Python."""
        env = self._base_env()
        env.update(UV_CACHE_DIR=str(self.cache_dir / "uv"), UV_PYTHON_DOWNLOADS="never",
                   UV_NO_CONFIG="1", UV_LINK_MODE="hardlink")
        cert = _pip_cert()
        if cert and "SSL_CERT_FILE" not in env:
            env["SSL_CERT_FILE"] = cert
        return env

    def _app_env(self) -> dict[str, str]:
        """What the app's own code (collectstatic) runs with: the config vars
        (``export_env``), the slug's Python first on PATH."""
        env = self._base_env()
        env.update({k: v for k, v in self.config.items()
                    if k not in ("PATH", "GIT_DIR", "PYTHONHOME", "LD_PRELOAD",
                                 "LD_LIBRARY_PATH")})
        env["PATH"] = f"{self.home / 'bin'}{os.pathsep}{env['PATH']}"
        env.setdefault("PYTHONPATH", ".")
        if self.source_version:
            env["SOURCE_VERSION"] = self.source_version
        return env

    def _run(self, argv: list[str], env: dict[str, str], what: str | None) -> int:
        """Run a build command in the tree, its output indented into the log.
        ``what`` set: a failure is the sandbox's, not the app's."""
        exe = shutil.which(argv[0], path=env["PATH"]) or argv[0]
        proc = subprocess.Popen([exe, *argv[1:]], cwd=self.tree, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.info(raw.decode("utf-8", "replace").rstrip("\n"))
        rc = proc.wait()
        if rc != 0 and what:
            raise PythonBuildError(f"The sandbox's {what} failed (exit {rc}).")
        return rc

    def _write_profile(self) -> None:
        """``bin/compile``'s ``set_env`` lines, as ``.profile.d/python.sh``
        (no PYTHONHOME: the slug's Python is a virtualenv here)."""
        profile = self.tree / ".profile.d" / "python.sh"
        profile.parent.mkdir(exist_ok=True)
        with open(profile, "a") as f:
            # Pipenv's lines first: the buildpack writes them when it installs
            # Pipenv, before compile's own, so the slug's Python comes first.
            f.writelines(line + "\n" for line in self.profile_lines)
            f.write('export PATH="$HOME/.heroku/python/bin:$PATH"\n'
                    'export PYTHONUNBUFFERED=true\n'
                    'export LANG=${LANG:-en_US.UTF-8}\n'
                    'export PYTHONPATH=${PYTHONPATH:-$HOME}\n')
        gunicorn = self.tree / ".profile.d" / "python.gunicorn.sh"
        gunicorn.write_text("export FORWARDED_ALLOW_IPS='*'\n"
                            'export GUNICORN_CMD_ARGS=${GUNICORN_CMD_ARGS:-'
                            '"--access-logfile -"}\n')


def _manage_py(tree: Path) -> str | None:
    """The shallowest manage.py at most 3 levels down, as the buildpack's
    ``find . -maxdepth 3``."""
    best: tuple[int, str] | None = None
    for dirpath, dirnames, filenames in os.walk(tree):
        rel = Path(dirpath).relative_to(tree)
        depth = len(rel.parts)
        if depth >= 3:
            dirnames[:] = []
        if "manage.py" in filenames:
            cand = (depth, str(rel / "manage.py") if depth else "manage.py")
            best = cand if best is None or cand < best else best
    return best[1] if best else None


def _uv_bin() -> str:
    try:
        import uv  # noqa: PLC0415 - only builds need it
        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise PythonBuildError("The sandbox needs uv to install Python apps: "
                           "pip install uv (it is a herotasks dependency).")


@functools.lru_cache(maxsize=1)
def _pip_cert() -> str | None:
    cert = os.environ.get("PIP_CERT")
    if cert:
        return cert
    for path in ("/etc/pip.conf", os.path.expanduser("~/.config/pip/pip.conf"),
                 "/etc/xdg/pip/pip.conf"):
        try:
            m = re.search(r"^\s*cert\s*=\s*(\S+)", Path(path).read_text(), re.M)
        except OSError:
            continue
        if m:
            return m[1]
    return None
