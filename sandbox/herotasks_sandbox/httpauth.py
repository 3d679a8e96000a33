"""The token a request carries, as the API and the git server both read it.

Its own module so that ``server.py`` (which routes requests to the git
server) and ``gitserver.py`` (which checks its hook's token) need not import
each other.
"""

from __future__ import annotations

import base64


def token_from(headers) -> str | None:
    """The API token from ``Bearer`` or ``Basic`` (password) auth."""
    value = headers.get("Authorization") or ""
    scheme, _, cred = value.partition(" ")
    if scheme.lower() == "bearer":
        return cred.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(cred.strip()).decode()
        except ValueError:
            return None
        return decoded.partition(":")[2] or None
    return None
