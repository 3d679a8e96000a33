"""The one error hierarchy of herotasks.

Tasks catch :class:`HerotasksError` at their boundary and turn it into one line and a
non-zero exit (no traceback), so every error here must read well as that one line:
what is wrong, then what to do. ``str(err)`` is exactly that line.

This module lives at the package root so adapters and the engine can share it
without importing each other.
"""

from __future__ import annotations

import os
import sys
from typing import Any


class HerotasksError(Exception):
    """Base of every error herotasks reports to a user.

    :param message: what is wrong.
    :param hint: what to do about it (optional).
    """

    #: Raised before the step it ends changed anything (Heroku refused the
    #: first change, or a check refused it): that step leaves nothing open to
    #: undo (the engine closes its journal entry instead of failing it).
    unchanged: bool = False

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        # One line even if a server sent a multi-line message.
        line = " ".join(str(self.message).split())
        return f"{line} — {self.hint}" if self.hint else line


class ConfigError(HerotasksError):
    """A setting is missing or invalid (stage, app, preset, ...)."""


class ApiError(HerotasksError):
    """The Heroku Platform API answered with an error (or could not be reached).

    ``message`` is Heroku's own message; ``str()`` adds the id, status and call so
    the one line a user sees is enough to search for or report.

    :param status: HTTP status, or None when no response came back.
    :param id: Heroku's error id (``not_found``, ``rate_limit``, ...), if any.
    :param request_id: the ``Request-Id`` response header, for Heroku support.
    :param request: the call that failed, e.g. ``"PATCH /apps/tally-prod"``.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        id: str | None = None,
        request_id: str | None = None,
        request: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.id = id
        self.request_id = request_id
        self.request = request

    def __str__(self) -> str:
        context = ", ".join(
            part
            for part in (
                self.id,
                " ".join(
                    part
                    for part in (
                        f"HTTP {self.status}" if self.status else "",
                        f"on {self.request}" if self.request else "",
                    )
                    if part
                ),
            )
            if part
        )
        line = " ".join(str(self.message).split())
        if context:
            line = f"{line} ({context})"
        return f"{line} — {self.hint}" if self.hint else line


class OutcomeUnknown(ApiError):
    """A change was sent and nothing says whether Heroku made it.

    Raised, never retried, for a request that is not safe to repeat (a POST
    makes a new release, dyno or app each time) when the answer is lost after
    the request went out (read timeout, connection dropped) or is a 5xx,
    which Heroku does not document as "nothing was done". Whoever catches it
    must look at the app (its releases, dynos) before undoing or repeating
    anything; the request is kept for that.

    :param method: e.g. ``"POST"``.
    :param path: e.g. ``"/apps/tally-prod/releases"``.
    :param body: the JSON body as sent. It may hold config values, so it is
        never part of ``str()`` or ``repr()``.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        method: str,
        path: str,
        body: object = None,
        status: int | None = None,
        id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, hint, status=status, id=id,
                         request_id=request_id, request=f"{method} {path}")
        self.method = method
        self.path = path
        self.body = body


class _WithOutput(HerotasksError):
    """An error that carries the failing command's output (for a log tail)."""

    def __init__(
        self, message: str, hint: str | None = None, *, output: str | None = None
    ) -> None:
        super().__init__(message, hint)
        self.output = output


class GitError(_WithOutput):
    """A git command failed or the repository is not in a usable state."""


class CommandError(_WithOutput):
    """A local or one-off-dyno command exited non-zero."""


class LockHeld(HerotasksError):
    """Another deploy holds the deploy lock of this app."""

    unchanged = True  # raised only before this deploy made or took anything


class Aborted(HerotasksError):
    """The user (or a signal) stopped the run."""


def creation_refused(exc: ApiError, what: str) -> HerotasksError | None:
    """One line for Heroku refusing to create a helper app (the scratch or lock
    app) for a reason other than its name being taken, or None.

    Such a refusal must never read as "name taken" or "lock held": a 403 (the
    account may not create apps there) and a 422 that is not about the name
    (the account's or team's app limit: Dev Center "Limits", 100 apps) each
    say what Heroku said and what to do.
    """
    refused = None
    if exc.status == 403:
        refused = ConfigError(
            f"Heroku refused to create {what} (403: {exc.message})",
            "use a token of an account that may create apps where the target lives")
    elif exc.status == 422 and "taken" not in (exc.message or "").lower():
        refused = ConfigError(
            f"Heroku refused to create {what}: {exc.message}",
            "an account or team can have at most 100 apps (Dev Center: Limits); "
            "delete apps it no longer needs")
    if refused is not None:
        refused.unchanged = True  # Heroku answered: no app was made
    return refused


class ForeignLock(ConfigError):
    """The lock app exists and this account may not read it (403)."""

    unchanged = True  # another account's app: this deploy made nothing


class ForeignApp(ConfigError):
    """An app with the scratch name exists and is not this target's scratch."""

    unchanged = True  # refused before the app was touched


class StillRunning(HerotasksError):
    """The deploy to recover (or another one) may still be running."""


class CouldNotCheck(HerotasksError):
    """The check could not ask Heroku: "could not check" is not "unhealthy"."""


class DeployFailed(HerotasksError):
    """A deploy failed; the message says what was put back and what was not.

    :param report: the run's report, for ``--json`` even on failure.
    """

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report


class HookFailed(HerotasksError):
    """A user hook exited non-zero (``when`` is ``before`` or ``after``)."""

    def __init__(self, message: str, *, when: str) -> None:
        super().__init__(message)
        self.when = when


def recover_hint(stage: str | None, *flags: str) -> str:
    """The ``deploy.recover`` command that leads out, as the user would type it
    (see :func:`hint_command`), for ``stage`` when the journal names one."""
    words = ["deploy.recover", *(["--stage", stage] if stage else []), *flags]
    return hint_command(" ".join(words))


def hint_command(task: str) -> str:
    """``task`` as the user would type it, with the program they ran.

    ``herotasks`` and ``fab`` are named as such; anything else (``inv``,
    ``invoke``, ``python -m invoke``) is ``inv``.
    """
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return f"{prog if prog in ('herotasks', 'fab') else 'inv'} {task}"
