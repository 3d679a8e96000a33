"""Fixtures for the task tests: the core tests' fake Heroku and git repo.

The helpers live in tests/core (plain modules, not fixtures there); pytest's
default import mode puts only a test file's own folder on sys.path, so add
that one too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))

from fakeheroku import FakeHeroku  # noqa: E402
from gitrepo import Repo, make_repo  # noqa: E402


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Repo:
    return make_repo(tmp_path, monkeypatch)


@pytest.fixture
def heroku() -> FakeHeroku:
    return FakeHeroku()
