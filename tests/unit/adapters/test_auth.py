"""Token lookup the way the Heroku CLI does it, and redaction."""

from __future__ import annotations

import os

import pytest

from herotasks.adapters import auth
from herotasks.adapters.auth import api_host, find_token, redact
from herotasks.adapters.heroku_api import make_api
from herotasks.errors import ApiError, ConfigError


def write_netrc(home, text):
    path = home / ".netrc"
    path.write_text(text)
    path.chmod(0o600)


def test_env_key_wins_over_netrc(no_auth_env, monkeypatch):
    write_netrc(no_auth_env, "machine api.heroku.com login a@b password FROMNETRC\n")
    monkeypatch.setenv("HEROKU_API_KEY", "FROMENV\n")
    assert find_token() == "FROMENV"


def test_netrc_machine_is_the_api_host(no_auth_env):
    write_netrc(
        no_auth_env,
        "machine api.heroku.com login a@b password REAL\n"
        "machine git.heroku.com login a@b password GIT\n",
    )
    assert find_token() == "REAL"
    assert find_token("https://api.heroku.com") == "REAL"


def test_netrc_machine_includes_the_port_like_the_cli(no_auth_env):
    # The CLI's apiHost for HEROKU_HOST=http://127.0.0.1:5000 is "127.0.0.1:5000".
    write_netrc(
        no_auth_env,
        "machine 127.0.0.1 login a password NOPORT\n"
        "machine 127.0.0.1:5000 login a password SANDBOX\n",
    )
    assert api_host("http://127.0.0.1:5000") == "127.0.0.1:5000"
    assert find_token("http://127.0.0.1:5000") == "SANDBOX"
    assert find_token("http://127.0.0.1:6000") is None


def test_netrc_default_entry_is_ignored(no_auth_env):
    write_netrc(no_auth_env, "default login x password CATCHALL\n")
    assert find_token() is None


def test_nothing_configured_is_none(no_auth_env):
    assert find_token() is None


def test_broken_netrc_names_the_file_not_its_secrets(no_auth_env):
    write_netrc(no_auth_env, "machine api.heroku.com login a password SECRETPW\nbogus\n")
    with pytest.raises(ConfigError) as err:
        find_token()
    assert ".netrc" in str(err.value)
    assert "SECRETPW" not in str(err.value)
    assert "HEROKU_API_KEY" in str(err.value)


def test_redact_masks_every_secret_longest_first():
    text = "token abc123 and abc123xyz, empty ignored"
    assert redact(text, ["abc123", "abc123xyz", "", None]) == (
        "token ******** and ********, empty ignored"
    )


# -- the CLI's own store: `heroku auth:token` ------------------------------------

FAKE_CLI = """#!/bin/sh
# a stand-in heroku CLI: records how it was called, answers like auth:token
printf '%s\\n' "$*" > "$(dirname "$0")/argv"
printf '%s\\n' "${HEROKU_HOST:-}" > "$(dirname "$0")/host"
printf '%s\\n' "${HEROKU_API_KEY:-unset}" > "$(dirname "$0")/key"
echo " ›   Warning: token will expire today" >&2
[ -n "$FAIL" ] && { echo " ›   Error: not logged in" >&2; exit 100; }
echo "FROMTHESTORE"
"""


@pytest.fixture
def fake_cli(no_auth_env, monkeypatch):
    bin_dir = no_auth_env / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "heroku"
    exe.write_text(FAKE_CLI)
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_no_key_no_netrc_asks_the_cli_without_the_token_in_argv(fake_cli, capfd):
    assert find_token("https://api.heroku.com") == "FROMTHESTORE"
    assert (fake_cli / "argv").read_text() == "auth:token\n"
    # the CLI answers for the host the token will be sent to
    assert (fake_cli / "host").read_text() == "https://api.heroku.com\n"
    assert (fake_cli / "key").read_text() == "unset\n"
    out, err = capfd.readouterr()
    assert "FROMTHESTORE" not in out + err and "Warning" not in out + err


def test_netrc_beats_the_cli(fake_cli):
    write_netrc(fake_cli.parent, "machine api.heroku.com login a password NETRC\n")
    assert find_token() == "NETRC"
    assert not (fake_cli / "argv").exists()


def test_a_cli_with_no_token_is_none_and_the_error_says_where_we_looked(
        fake_cli, monkeypatch):
    monkeypatch.setenv("FAIL", "1")
    assert find_token() is None
    message, hint = auth.missing_token_message("https://api.heroku.com")
    assert message == (
        "no Heroku API token found for https://api.heroku.com: looked in "
        f"HEROKU_API_KEY (unset), {fake_cli.parent / '.netrc'} (no machine "
        "api.heroku.com) and `heroku auth:token` (it had none)")
    assert hint == "run `heroku login`, or set HEROKU_API_KEY"


def test_without_a_cli_the_error_says_so_in_one_line(no_auth_env):
    with pytest.raises(ApiError) as err:
        make_api("https://api.heroku.com")
    text = str(err.value)
    assert "\n" not in text
    assert "HEROKU_API_KEY (unset)" in text
    assert f"{no_auth_env / '.netrc'} (no machine api.heroku.com)" in text
    assert "`heroku auth:token` (no heroku CLI on PATH)" in text
    assert "run `heroku login`" in text
