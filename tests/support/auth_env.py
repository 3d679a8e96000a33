"""A process environment with no Heroku token anywhere (a fixture)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def no_auth_env(monkeypatch, tmp_path):
    """No token anywhere: no HEROKU_API_KEY, an empty HOME."""
    for name in ("HEROKU_API_KEY", "HEROKU_HOST", "HEROTASKS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    # nor a heroku CLI to ask (a test that wants one puts its own first)
    monkeypatch.setenv("PATH", os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not os.access(os.path.join(d, "heroku"), os.X_OK)))
    return tmp_path
