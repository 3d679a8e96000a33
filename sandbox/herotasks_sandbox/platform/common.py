"""What the platform's parts share: errors, ids, the clock, ``public``.

Documents are stored in the shape the Platform API serves; keys that start
with ``_`` are private (``public()`` strips them).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..store import Store

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Clock:
    """The sandbox's wall clock: the machine's, plus ``offset`` seconds.

    Heroku's release retention counts days (a release's artifact goes once
    it is more than 30 days old), so a test moves this clock forward (the
    ``clock_offset`` admin setting) instead of waiting a month. Every
    timestamp the sandbox writes reads it, so a release made after the
    move is young and the ones before it are old, as a month later.
    One sandbox per process (the server, daemon.py), so one clock.
    """

    offset = 0.0

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset)


CLOCK = Clock()


def now() -> str:
    return CLOCK.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(stamp: str) -> datetime:
    """A timestamp written by :func:`now` (``...Z``), back to a datetime."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


def public(doc: dict | None) -> dict | None:
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if not k.startswith("_")}


class PlatformError(Exception):
    """An error the API answers with Heroku's ``{"id", "message"}`` body."""

    def __init__(self, status: int, id: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.id, self.message, self.extra = status, id, message, extra

    def body(self) -> dict:
        return {"id": self.id, "message": self.message, **self.extra}


def not_found(what: str) -> PlatformError:
    return PlatformError(404, "not_found", f"Couldn't find that {what}.", resource=what)


def invalid(message: str) -> PlatformError:
    return PlatformError(422, "invalid_params", message)


def forbidden(what: str, name: str) -> PlatformError:
    """Heroku's answer for an existing app the user may not see: 403
    ``forbidden`` "You do not have access to the app NAME." (the CLI prints it
    as "Error: You do not have access to the app capsula-uno. Error ID:
    forbidden", issue IIC2143/Syllabus-2022-1#69; the legacy API body quoted
    in mattpolito/paratrooper#71)."""
    return PlatformError(403, "forbidden", f"You do not have access to the {what} {name}.")


class Part:
    """One resource's rules, a part of :class:`~.Platform`.

    The parts are mixed into the one ``Platform`` the API, the builder and
    the runtime talk to, so a part reaches the others' methods through
    ``self``; what they all read is set by ``Platform.__init__``.
    """

    root: Path
    store: Store
    api_url: str
    runtime: Any  # runtime/ (set by the server once it exists)
    builder: Any  # build.py
    addons: Any  # addons.py

    def _by_id_or_name(self, kind: str, identity: str, what: str) -> dict:
        """A document by its uuid or its name, as Heroku's identities allow."""
        doc = self.store.get(kind, identity) if UUID.match(identity or "") else None
        if doc is None:
            found = self.store.find(kind, name=identity)
            doc = found[0] if found else None
        if doc is None:
            raise not_found(what)
        return doc
