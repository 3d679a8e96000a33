"""Fixtures for the core's unit tests: a fake Heroku and real git repositories.

Git is real (it is fast and its pathspec rules are the thing under test);
Heroku is :mod:`fakeheroku`, an in-memory stand-in with the adapter's API.
"""

from __future__ import annotations

import pytest

from tests.support.fakeheroku import FakeHeroku
from tests.support.gitrepo import Repo, make_repo


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Repo:
    """A repository (the cwd) with a Rails-ish layout and one commit."""
    return make_repo(tmp_path, monkeypatch)


@pytest.fixture
def heroku() -> FakeHeroku:
    return FakeHeroku()
