"""Fixtures for the core's unit tests: a fake Heroku and real git repositories.

Git is real (it is fast and its pathspec rules are the thing under test);
Heroku is :mod:`fakeheroku`, an in-memory stand-in with the adapter's API.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fakeheroku import FakeHeroku

GIT_ENV = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_NOSYSTEM": "1"}


class Repo:
    """A throwaway git repository driven from tests."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path, self.env = path, env

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.path, env=self.env,
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def commit(self, files: dict[str, str] | None = None, msg: str = "change") -> str:
        if files:
            self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", msg)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Repo:
    """A repository (cwd) with a Rails-ish layout and one commit."""
    import os

    path = tmp_path / "app"
    path.mkdir()
    env = {**os.environ, **GIT_ENV, "HOME": str(tmp_path)}
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    r = Repo(path, env)
    r.git("init", "-q", "-b", "main")
    r.commit({"Procfile": "web: bin/web\nworker: bin/worker\n",
              "app/assets/app.css": "body{}\n", "db/migrate/001_init.rb": "init\n",
              ".gitignore": "public/assets\n"}, "initial")
    monkeypatch.chdir(path)
    return r


@pytest.fixture
def heroku() -> FakeHeroku:
    return FakeHeroku()
