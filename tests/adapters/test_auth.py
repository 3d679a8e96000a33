"""Token lookup the way the Heroku CLI does it, and redaction."""

from __future__ import annotations

import pytest

from herotasks.adapters.auth import api_host, find_token, redact
from herotasks.errors import ConfigError


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
