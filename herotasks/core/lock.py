"""The deploy lock, kept on Heroku so two machines (two CI jobs) see the same one.

Design: the lock *is* a tiny dedicated app, ``htlock-<sha1(app)[:10]>``.

* Heroku app names are globally unique, so ``POST /apps`` is an atomic
  test-and-set: 201 means we hold the lock, 422 (name taken) means someone
  does. No read-modify-write race, no clock trust.
* The holder (user@host, pid, stage, commit, time, deploy id) goes into the
  lock app's own config vars, so the refusal can name who holds it.
* Releasing is deleting the lock app. ``--force-unlock`` deletes it whatever
  it says.
* Never a config var of the deployed app: changing those creates a release
  and restarts its dynos.
* A team target's lock app is made in its team, so every member who may
  deploy the target reads and releases it. A personal target's is shared
  (``POST /apps/{lock}/collaborators``, silent) with the target's owner and
  collaborators (:func:`share_with`), so a second user (a developer versus
  CI) sees who holds it and can recover; an unshared one (made by an older
  herotasks, say) is a ``403`` that :class:`ForeignLock` turns into one line.
* Collaborators may not delete another account's app: releasing such a lock
  clears its holder and journal and sets :data:`RELEASED_VAR` instead, and
  the next deploy takes that app over (writes its holder, reads it back).
* The deploy's journal is kept there too (:data:`JOURNAL_VAR`, written before
  each change that would need putting back), so ``deploy.recover`` on any
  machine with the token can finish or undo a deploy whose runner is gone;
  releasing the lock deletes it with the app.

The name is hashed because Heroku names are at most 30 characters and the
target's name may already use them all; it carries no secret.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from herotasks.errors import (
    ApiError,
    ConfigError,
    ForeignLock,
    LockHeld,
    OutcomeUnknown,
    creation_refused,
    recover_hint,
)

PREFIX = "htlock-"
_VARS = {
    "app": "HEROTASKS_LOCK_APP",
    "who": "HEROTASKS_LOCK_HOLDER",
    "pid": "HEROTASKS_LOCK_PID",
    "stage": "HEROTASKS_LOCK_STAGE",
    "commit": "HEROTASKS_LOCK_COMMIT",
    "since": "HEROTASKS_LOCK_SINCE",
    "deploy_id": "HEROTASKS_LOCK_DEPLOY",
}


#: Set on a lock app that is free but could not be destroyed: a collaborator
#: released another account's personal lock app, which only its owner may
#: delete (Dev Center "Collaborating with Other Developers on Your App":
#: collaborators "can't ... Delete, transfer, or rename the app").
RELEASED_VAR = "HEROTASKS_LOCK_RELEASED"

#: The lock app's config var holding the deploy's journal (compact JSON; it
#: holds no secret: see herotasks.core.journal).
JOURNAL_VAR = "HEROTASKS_JOURNAL"


def lock_app_name(app: str) -> str:
    """The lock app's name for ``app`` (17 characters, valid on Heroku)."""
    return PREFIX + hashlib.sha1(app.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Holder:
    """Who holds a deploy lock."""

    app: str
    who: str
    pid: int
    stage: str
    commit: str
    since: float
    deploy_id: str

    @classmethod
    def me(cls, app: str, *, stage: str | None, commit: str | None,
           deploy_id: str) -> "Holder":
        """The holder record for this process."""
        try:
            user = getpass.getuser()
        except Exception:  # no passwd entry in some containers
            user = "unknown"
        return cls(app=app, who=f"{user}@{socket.gethostname()}", pid=os.getpid(),
                   stage=stage or "", commit=commit or "", since=time.time(),
                   deploy_id=deploy_id)

    def to_vars(self) -> dict[str, str]:
        """Config vars of the lock app."""
        return {var: str(getattr(self, attr)) for attr, var in _VARS.items()}

    @classmethod
    def from_vars(cls, values: dict[str, Any]) -> "Holder | None":
        """Parse the lock app's config vars; None while they are not written yet."""
        if not values.get(_VARS["who"]):
            return None
        try:
            return cls(
                app=values.get(_VARS["app"], ""),
                who=values[_VARS["who"]],
                pid=int(values.get(_VARS["pid"]) or 0),
                stage=values.get(_VARS["stage"], ""),
                commit=values.get(_VARS["commit"], ""),
                since=float(values.get(_VARS["since"]) or 0),
                deploy_id=values.get(_VARS["deploy_id"], ""),
            )
        except (TypeError, ValueError):
            return None

    def describe(self) -> str:
        """One human phrase: ``ci@runner (pid 12, stage production, ...)``."""
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since))
        parts = [f"pid {self.pid}"]
        if self.stage:
            parts.append(f"stage {self.stage}")
        if self.commit:
            parts.append(f"commit {self.commit[:10]}")
        parts.append(f"since {when}")
        return f"{self.who} ({', '.join(parts)})"



def _foreign(app: str, exc: ApiError) -> ForeignLock:
    name = lock_app_name(app)
    return ForeignLock(
        f"the deploy lock app {name} of {app} exists but this account may not "
        f"read it (Heroku: 403, {exc.message}): it is another account's personal "
        "app, made by a deploy that did not share it",
        f"its owner can share it (`heroku access:add YOUR-EMAIL -a {name}`) or, "
        f"when no deploy runs, destroy it (`heroku apps:destroy {name}`); "
        f"lasting fix: move {app} into a Heroku Team, whose members share its "
        "helper apps")


def share_with(api: Any, target: dict, me: str | None = None) -> list[str]:
    """Who a personal target's helper apps are shared with: its owner and
    collaborators (``GET /apps/{app}/collaborators``) but ``me`` (the
    deploying account, which owns them already); none for a team app,
    whose helper apps are team apps already."""
    if target.get("team"):
        return []
    emails = [(target.get("owner") or {}).get("email")]
    try:
        emails += [(c.get("user") or {}).get("email")
                   for c in api.collaborators(target["name"]) or []]
    except ApiError as exc:
        if isinstance(exc, OutcomeUnknown) or exc.status not in (403, 404):
            raise
    return sorted({e for e in emails if e and e != me})


def share(api: Any, name: str, emails: Any) -> None:
    """Add ``emails`` as collaborators of the helper app ``name``, silently.
    Best effort: ``422`` (the app's owner, or already one) is expected, and a
    refusal leaves the app usable by this account; another user then gets
    :class:`ForeignLock`'s line."""
    for email in emails or ():
        try:
            api.add_collaborator(name, email)
        except ApiError as exc:
            if exc.status is None or exc.status >= 500:
                raise


def acquire(api: Any, holder: Holder, *, force: bool = False,
            team: str | None = None, share_to: Any = (),
            journal: dict[str, Any] | None = None) -> str:
    """Take the deploy lock of ``holder.app`` or raise :class:`LockHeld`.

    Re-entrant for the same deploy id, so ``deploy.recover`` can continue a
    deploy whose lock it inherited from the journal.

    :param force: delete an existing lock first (``--force-unlock``).
    :param team: the target's team: the lock app is made there, so every
        member who may deploy the target can read and release it.
    :param share_to: emails to share a personal lock app with (:func:`share_with`).
    :param journal: the deploy's journal, kept with the holder in the same
        write (its first copy, :func:`publish`; a request fewer).
    :returns: the lock app's name.
    :raises ForeignLock: the lock app is another account's, unshared (403).
    """
    name = lock_app_name(holder.app)
    if force:
        _refuse_open_window(api, holder.app)
        _delete_quietly(api, name)
    for _attempt in range(2):
        try:
            api.create_app(name, team=team)
        except OutcomeUnknown:
            # the answer was lost: look before deciding (see _made_by_us)
            made = _made_by_us(api, holder, journal)
            if made is None:
                continue  # it was never made: ask again
            if made:
                return name
            _refuse(api, holder)
        except ApiError as exc:
            refused = creation_refused(exc, f"the deploy lock app {name}")
            if refused:  # not held by anyone: Heroku would not make it
                raise refused from None
            if exc.status != 422:
                raise
            current = current_holder(api, holder.app)
            if current is _GONE:  # released between our create and our read
                continue
            if current is _RELEASED:
                return _take_released(api, name, holder, journal)
            if isinstance(current, Holder) and current.deploy_id == holder.deploy_id:
                return name
            _refuse(api, holder, current)
        _claim(api, name, holder, journal)
        share(api, name, share_to)
        return name
    raise LockHeld(f"the deploy lock of {holder.app} keeps changing hands",
                   "try again in a moment")


#: A lock app this young with no holder yet, found after our own create went
#: unanswered, is taken to be the one we made.
FRESH_SECONDS = 60


def _take_released(api: Any, name: str, holder: Holder,
                   journal: dict[str, Any] | None = None) -> str:
    """Take over a released lock app that we could not have destroyed: write
    our holder, read it back; whoever's write is there holds it."""
    api.update_config_vars(name, {**_claim_vars(holder, journal), RELEASED_VAR: None})
    again = current_holder(api, holder.app)
    if isinstance(again, Holder) and again.deploy_id == holder.deploy_id:
        return name
    _refuse(api, holder, again)
    return name  # not reached


def _refuse(api: Any, holder: Holder, current: Any = None) -> None:
    """Raise :class:`LockHeld` naming whoever holds the lock."""
    if current is None:
        current = current_holder(api, holder.app)
    who = current.describe() if isinstance(current, Holder) else (
        "a deploy that is just starting (no holder recorded yet)")
    raise LockHeld(f"{holder.app} is being deployed by {who}",
                   "wait for it to finish, or run with --force-unlock if it died")


def _claim_vars(holder: Holder, journal: dict[str, Any] | None) -> dict[str, str]:
    values = holder.to_vars()
    if journal is not None:
        values[JOURNAL_VAR] = _journal_json(journal)
    return values


def _claim(api: Any, name: str, holder: Holder,
           journal: dict[str, Any] | None = None) -> None:
    """Write the holder (and the journal's first copy) into a lock app we
    just made (deleted if that fails)."""
    try:
        api.update_config_vars(name, _claim_vars(holder, journal))
    except BaseException:
        _delete_quietly(api, name)
        raise


def _made_by_us(api: Any, holder: Holder,
                journal: dict[str, Any] | None = None) -> bool | None:
    """Our ``POST /apps`` for the lock got no answer: did it make the app?

    None: no lock app exists (nothing was made). True: it exists and is ours
    now: it has our deploy id, or it is brand new and names no holder yet (the
    create we sent; we claim it). False: someone else's, which the caller
    reports as held. The residual risk, another deploy creating it within the
    same seconds, is the same as two deploys racing a lost answer on Heroku.
    """
    name = lock_app_name(holder.app)
    current = current_holder(api, holder.app)
    if current is _GONE or current is _RELEASED:
        return None
    if isinstance(current, Holder):
        return current.deploy_id == holder.deploy_id
    try:
        created = datetime.fromisoformat(
            (api.app(name).get("created_at") or "").replace("Z", "+00:00"))
        age = (datetime.now(timezone.utc) - created).total_seconds()
    except (ApiError, ValueError, TypeError):
        return False
    if age > FRESH_SECONDS:
        return False
    _claim(api, name, holder, journal)
    return True


def release(api: Any, app: str, deploy_id: str | None, *, force: bool = False) -> bool:
    """Release the lock if we hold it (or unconditionally with ``force``).

    :returns: True when a lock app was deleted.
    """
    current = current_holder(api, app)
    if current is _GONE or current is _RELEASED:
        return False
    if not force and not (isinstance(current, Holder)
                          and current.deploy_id == deploy_id):
        # Someone force-unlocked and took it since, or is just taking it (no
        # holder written yet): theirs, not ours.
        return False
    return _delete_quietly(api, lock_app_name(app))


class _Gone:
    """Marker: no lock app exists."""


_GONE = _Gone()


class _Released:
    """Marker: the lock app exists, released (:data:`RELEASED_VAR`)."""


_RELEASED = _Released()


def current_holder(api: Any, app: str) -> "Holder | None | _Gone | _Released":
    """The holder of ``app``'s lock: a Holder, None (no info yet), _GONE (no
    lock app) or _RELEASED (a lock app left free, :data:`RELEASED_VAR`)."""
    try:
        values = api.config_vars(lock_app_name(app))
    except ApiError as exc:
        if exc.status == 404:
            return _GONE
        if exc.status == 403:
            raise _foreign(app, exc) from None
        raise
    if (values or {}).get(RELEASED_VAR):
        return _RELEASED
    return Holder.from_vars(dict(values or {}))


def publish(api: Any, app: str, journal: dict[str, Any]) -> None:
    """Keep ``journal`` (its on-disk form) with the lock of ``app``."""
    api.update_config_vars(lock_app_name(app), {JOURNAL_VAR: _journal_json(journal)})


def _journal_json(journal: dict[str, Any]) -> str:
    return json.dumps(journal, separators=(",", ":"), sort_keys=True)


def published(api: Any, app: str) -> tuple[Holder | None, dict | None]:
    """The lock's holder and the journal kept with it (None, None: no lock)."""
    try:
        values = dict(api.config_vars(lock_app_name(app)) or {})
    except ApiError as exc:
        if exc.status == 404:
            return None, None
        if exc.status == 403:
            raise _foreign(app, exc) from None
        raise
    raw = values.get(JOURNAL_VAR)
    try:
        journal = json.loads(raw) if raw else None
    except (TypeError, ValueError):
        journal = ...
    if journal is not None and not isinstance(journal, dict):
        name = lock_app_name(app)
        raise ConfigError(
            f"the journal kept with the deploy lock of {app} ({JOURNAL_VAR} on "
            f"{name}) is damaged (not a JSON object); nothing was changed",
            "check the app by hand (deploy.status), put back what the deploy "
            f"left open, then release the lock: `heroku apps:destroy {name}`")
    return Holder.from_vars(values), journal


def _refuse_open_window(api: Any, app: str) -> None:
    """``--force-unlock`` takes a dead deploy's lock, never its open changes."""
    from herotasks.core.journal import from_dict

    holder, data = published(api, app)
    if data is None:
        return
    journal = from_dict(data, where=f"the journal kept with {lock_app_name(app)}")
    open_steps = [e.step for e in journal.open_entries()
                  if e.step != "lock.acquire"]
    if open_steps:
        raise LockHeld(
            f"the deploy of {app} by "
            + (holder.describe() if holder else "an earlier run")
            + f" left changes open ({', '.join(open_steps)}); --force-unlock "
            "would carry on inside them",
            f"run `{recover_hint(journal.stage)}` first: it finishes or "
            "undoes that deploy from the journal kept with the lock")


def held_by(api: Any, app: str) -> Holder | None:
    """Public form for ``deploy.status``: the holder, or None when free."""
    current = current_holder(api, app)
    return current if isinstance(current, Holder) else None


def _delete_quietly(api: Any, name: str) -> bool:
    try:
        api.delete_app(name)
    except ApiError as exc:
        if exc.status == 404:
            return False
        if exc.status == 403:
            # another account's personal lock app, shared with us: only its
            # owner may delete it, so leave it free instead
            api.update_config_vars(name, {**{v: None for v in _VARS.values()},
                                          JOURNAL_VAR: None, RELEASED_VAR: "1"})
            return True
        raise
    return True
