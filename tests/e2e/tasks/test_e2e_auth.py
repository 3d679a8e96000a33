"""The token from the heroku CLI's own store, end to end on the sandbox.

With no ``HEROKU_API_KEY`` and no netrc entry, herotasks asks an installed
``heroku`` CLI (``heroku auth:token``): the CLI 11 may keep the token in the
OS credential store, which only it reads. The token is never in an argument
or in any output; without one, the error says where herotasks looked.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

#: Answers like `heroku auth:token` from a token file only it reads.
FAKE_CLI = """#!/bin/sh
[ "$*" = "auth:token" ] || exit 2
[ -f "$(dirname "$0")/store" ] || { echo " ›   Error: not logged in" >&2; exit 100; }
cat "$(dirname "$0")/store"
"""


def cli_env(rails, tmp_path, token: str | None) -> dict[str, str]:
    bin_dir = tmp_path / "cli-bin"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "heroku"
    exe.write_text(FAKE_CLI)
    exe.chmod(0o755)
    store = bin_dir / "store"
    if token:
        store.write_text(token + "\n")
        store.chmod(0o600)
    home = tmp_path / "home"  # no ~/.netrc
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in rails.env.items() if k != "HEROKU_API_KEY"}
    env.update(HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    return env


def status(rails, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", "deploy.status", "--stage",
                           "production"], cwd=rails.root, env=env,
                          capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def test_the_token_comes_from_the_cli_and_is_never_shown(rails, tmp_path):
    token = rails.env["HEROKU_API_KEY"]
    done = status(rails, cli_env(rails, tmp_path, token))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"production: {rails.app}" in done.stdout
    assert token not in done.stdout + done.stderr


def test_no_token_anywhere_says_where_herotasks_looked(rails, tmp_path):
    done = status(rails, cli_env(rails, tmp_path, None))
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no Heroku API token found for https://127.0.0.1:" in lines[0]
    assert "HEROKU_API_KEY (unset)" in lines[0]
    assert "`heroku auth:token` (it had none)" in lines[0]
    assert "run `heroku login`, or set HEROKU_API_KEY" in lines[0]
