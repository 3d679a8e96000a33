"""Where the Heroku API token comes from, found the way the Heroku CLI finds it.

The CLI (``@heroku-cli/command`` 13.2 ``api-client.js`` ``getAuthEntry``) uses
``HEROKU_API_KEY`` when set, and otherwise the ``~/.netrc`` entry whose ``machine``
is the API host *with its port* (``vars.apiHost`` is ``url.parse(HEROKU_HOST).host``
for an http(s) ``HEROKU_HOST``, else ``api.<HEROKU_HOST>``; ``api.heroku.com`` by
default). We read the same file with the stdlib ``netrc`` module.

CLI 11 may keep the token in the OS credential store instead (macOS Keychain,
Windows Credential Manager, libsecret), which only the CLI reads. So when neither
``HEROKU_API_KEY`` nor netrc has one and a ``heroku`` executable is on PATH, we ask
it: ``heroku auth:token`` (heroku/cli ``src/commands/auth/token.ts`` prints the
token the CLI would use). Its stdout is captured, never echoed or logged; the
token is never an argument (the CLI reads its own store), and the CLI is given
``HEROKU_HOST`` = our API URL so it answers for the host the token will go to.
"""

from __future__ import annotations

import netrc
import os
import shutil
import subprocess
from collections.abc import Iterable
from urllib.parse import urlsplit

from herotasks.errors import ConfigError

DEFAULT_API_URL = "https://api.heroku.com"

#: Printed whenever no token can be found or the API rejects it.
LOGIN_HINT = "set HEROKU_API_KEY (e.g. HEROKU_API_KEY=$(heroku auth:token)) or run `heroku login`"
#: How long ``heroku auth:token`` may take (a cold node start on a slow CI box).
CLI_TIMEOUT = 60


def api_host(api_url: str) -> str:
    """The netrc ``machine`` name the CLI uses for ``api_url``: host plus any port."""
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def netrc_path() -> str:
    """The CLI's default netrc location (``_netrc`` on Windows)."""
    name = "_netrc" if os.name == "nt" else ".netrc"
    return os.path.join(os.path.expanduser("~"), name)


def find_token(api_url: str = DEFAULT_API_URL) -> str | None:
    """The API token for ``api_url``, or None when the user has none configured.

    In the CLI's order: ``HEROKU_API_KEY``, netrc, then the CLI itself
    (:func:`cli_token`) for a token kept in the OS credential store.

    :raises ConfigError: ``~/.netrc`` exists but cannot be parsed; a silent None
        would send the user after the wrong problem.
    """
    key = os.environ.get("HEROKU_API_KEY")
    if key:
        return key.strip()
    return netrc_token(api_url) or cli_token(api_url)


def missing_token_message(api_url: str) -> tuple[str, str]:
    """What :func:`find_token` looked at, and what to run: the error's two halves."""
    cli = shutil.which("heroku")
    asked = ("`heroku auth:token` (it had none)" if cli
             else "`heroku auth:token` (no heroku CLI on PATH)")
    return (f"no Heroku API token found for {api_url}: looked in HEROKU_API_KEY "
            f"(unset), {netrc_path()} (no machine {api_host(api_url)}) and {asked}",
            "run `heroku login`, or set HEROKU_API_KEY")


def cli_token(api_url: str) -> str | None:
    """The token the installed ``heroku`` CLI has for ``api_url``, or None.

    Output is captured and only the token kept: nothing reaches our stdout,
    stderr or logs, and no token is in the command line.
    """
    exe = shutil.which("heroku")
    if not exe:
        return None
    env = {**os.environ, "HEROKU_HOST": api_url}
    env.pop("HEROKU_API_KEY", None)  # empty here, or we would not be asking
    try:
        done = subprocess.run([exe, "auth:token"], env=env, capture_output=True,
                              text=True, timeout=CLI_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in (done.stdout or "").splitlines() if line.strip()]
    # one line, no spaces: anything else is a message, not a token
    if done.returncode != 0 or len(lines) != 1 or " " in lines[0]:
        return None
    return lines[0]


def netrc_token(api_url: str) -> str | None:
    """The netrc password of machine :func:`api_host` (``api_url``), or None.

    :raises ConfigError: the file exists but cannot be parsed.
    """
    path = netrc_path()
    if not os.path.isfile(path):
        return None
    try:
        # An explicit path skips the stdlib's permission check, as the CLI does.
        hosts = netrc.netrc(path).hosts
    except (netrc.NetrcParseError, OSError) as exc:
        # The parser's message quotes the offending line, which may hold a
        # password; name only the file and line number.
        line = getattr(exc, "lineno", None)
        where = f"{path} line {line}" if line else path
        raise ConfigError(
            f"cannot read {where}", f"fix the file or {LOGIN_HINT}"
        ) from None
    # Look the machine up directly: netrc.authenticators() would fall back to a
    # "default" entry, which the CLI's parser does not do.
    entry = hosts.get(api_host(api_url))
    return (entry[2] or None) if entry else None


def redact(text: str, secrets: Iterable[str | None], mask: str = "********") -> str:
    """``text`` with every occurrence of each non-empty secret replaced by ``mask``.

    Longest secrets go first so a secret that contains another is fully masked.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, mask)
    return text
