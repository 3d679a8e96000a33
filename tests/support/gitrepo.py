"""A throwaway git repository for tests (real git: its rules are under test)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_NOSYSTEM": "1"}
RAILS_FILES = {"Procfile": "web: bin/web\nworker: bin/worker\n",
               "app/assets/app.css": "body{}\n", "db/migrate/001_init.rb": "init\n",
               ".gitignore": "public/assets\n"}


class Repo:
    """Drive a repository from tests."""

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


def make_repo(tmp_path: Path, monkeypatch, files: dict[str, str] = RAILS_FILES) -> Repo:
    """A repository with ``files`` in one commit, made the cwd, with a private
    HOME and a fixed git identity (CI machines may have none)."""
    path = tmp_path / "app"
    path.mkdir()
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    repo = Repo(path, {**os.environ})
    repo.git("init", "-q", "-b", "main")
    repo.commit(files, "initial")
    monkeypatch.chdir(path)
    return repo
