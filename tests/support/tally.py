"""Helpers for the tally example tests.

The module name is unique on purpose: tests/ has no packages, so pytest puts
each test folder on sys.path and a common name could load another folder's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE_REPO = ROOT / "examples" / "make_repo.py"


def make_repo(dest: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(MAKE_REPO), str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture(scope="session")
def tally_repo(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("tally") / "repo"
    done = make_repo(dest)
    assert done.returncode == 0, done.stderr
    return dest


@pytest.fixture(scope="session")
def tally_tree(tally_repo, tmp_path_factory):
    """export(tag) -> that version's files plus compiled assets, as in its slug.

    Shared by the session's tests, which keep their databases elsewhere.
    """
    trees: dict[str, Path] = {}

    def export(tag: str) -> Path:
        if tag in trees:
            return trees[tag]
        dest = tmp_path_factory.mktemp("trees") / tag
        git(tally_repo, "worktree", "add", "--detach", str(dest), tag)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=dest,
            env=os.environ | {"PYTHONDONTWRITEBYTECODE": "1"},
            check=True,
            timeout=60,
        )
        trees[tag] = dest
        return dest

    return export


@pytest.fixture
def django_env(tmp_path) -> dict[str, str]:
    """A dyno-like environment: a fresh shared SQLite file, the venv first on PATH,
    and a HOME of its own (gunicorn puts its control socket in ~/.gunicorn)."""
    bindir = str(Path(sys.executable).parent)
    home = tmp_path / "home"
    home.mkdir()
    return os.environ | {
        "HOME": str(home),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tally.sqlite3'}",
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "tally.settings",
    }
