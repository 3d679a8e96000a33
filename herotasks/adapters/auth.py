"""Where the Heroku API token comes from, found the way the Heroku CLI finds it.

The CLI (``@heroku-cli/command`` 13.2 ``api-client.js`` ``getAuthEntry``) uses
``HEROKU_API_KEY`` when set, and otherwise the ``~/.netrc`` entry whose ``machine``
is the API host *with its port* (``vars.apiHost`` is ``url.parse(HEROKU_HOST).host``
for an http(s) ``HEROKU_HOST``, else ``api.<HEROKU_HOST>``; ``api.heroku.com`` by
default). We read the same file with the stdlib ``netrc`` module.

Not covered, on purpose: the CLI 11 OS keychain store and ``~/.netrc.gpg``. Users
who keep their token there export ``HEROKU_API_KEY=$(heroku auth:token)``, which
is what CI does anyway.
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Iterable
from urllib.parse import urlsplit

from herotasks.errors import ConfigError

DEFAULT_API_URL = "https://api.heroku.com"

#: Printed whenever no token can be found or the API rejects it.
LOGIN_HINT = "set HEROKU_API_KEY (e.g. HEROKU_API_KEY=$(heroku auth:token)) or run `heroku login`"


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

    :raises ConfigError: ``~/.netrc`` exists but cannot be parsed; a silent None
        would send the user after the wrong problem.
    """
    key = os.environ.get("HEROKU_API_KEY")
    if key:
        return key.strip()
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
