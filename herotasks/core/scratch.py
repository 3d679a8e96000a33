"""The scratch app: where the slug is built, outside any maintenance window.

A scratch app is named after its target (``<prefix>-<sha1(app)[:10]>``), so a
deploy finds and reuses the one an earlier run left, and the deploy lock keeps
two runs from sharing it. It gets the target's stack and buildpacks, only the
allow-listed config vars (production secrets do not leak to it by default),
and its formation stays at zero so nothing runs there. A marker config var
``HEROTASKS_SCRATCH_FOR`` names the target, so destroy can find leftovers of
earlier crashed deploys (say, made under another naming) without touching
another app's scratch.

Names are global on Heroku, so an app with the scratch name may be somebody
else's. herotasks reuses, wipes or destroys an app only when it can tell the
app is the scratch app of *this* target (:func:`ours`):

* its marker names the target, or
* it is the app this very deploy created: the API takes no config vars with
  ``POST /apps``, so the marker is the request right after the creation, and
  the created app's id is journaled (``scratch_app_id``) before that
  request. A deploy killed between the two leaves an unmarked app whose id
  the journal knows, and recovery still recognises it.

Anything else is refused before a change (:class:`ForeignApp`). When the
answer to the create is lost (a 5xx or a dropped connection after it was
sent), herotasks looks, as the lock does: an unmarked app with the name, made
within the last minute, is the one it made, and is claimed (:func:`_made_by_us`).
The one gap left is a kill between Heroku creating the app and the journal
recording its id: that app is unmarked and unknown, so herotasks refuses it
like a stranger's and the line says to delete it by hand. Never destroying
someone else's app is worth asking a person in that rare case.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from herotasks.core import generations
from herotasks.core.config import PRESETS, Settings
from herotasks.errors import (
    ApiError,
    ConfigError,
    ForeignApp,
    OutcomeUnknown,
    creation_refused,
)

MARKER = "HEROTASKS_SCRATCH_FOR"
#: Config vars that must never be copied: the release phase runs on the scratch
#: app too (Heroku runs it for every new release, Dev Center "Release Phase":
#: "after an app build"), and with the database URL it would migrate production
#: before any window opens. These are the names Heroku Postgres and Heroku
#: Key-Value Store set (Dev Center "Heroku Postgres": ``DATABASE_URL`` and
#: ``HEROKU_POSTGRESQL_<COLOR>_URL``; "Heroku Key-Value Store": ``REDIS_URL``);
#: every other add-on's vars are found on the app (:func:`addon_vars`).
NEVER_COPY = re.compile(r"DATABASE_URL|HEROKU_POSTGRESQL_\w+_URL|REDIS_URL")


def scratch_name(prefix: str, app: str) -> str:
    """The scratch app's name for ``app`` (at most 30 characters)."""
    return f"{prefix}-{hashlib.sha1(app.encode()).hexdigest()[:10]}"


def never_copy(name: str, addon: Iterable[str] = ()) -> bool:
    """``name`` is production data's address: a named database var or a var
    an add-on attached to the target set."""
    return bool(NEVER_COPY.fullmatch(name)) or name in set(addon)


def check_allowlist(settings: Settings, addon: Iterable[str] = ()) -> None:
    """Refuse an allow-list that would hand the scratch app production data.

    :param addon: the target's add-on config vars (:func:`addon_vars`); without
        them only the named patterns are checked (the read-only config check).
    """
    addon = set(addon)
    bad = [v for v in settings.scratch_allowlist if never_copy(v, addon)]
    if bad:
        whose = "an add-on's config var" if bad[0] in addon and not \
            NEVER_COPY.fullmatch(bad[0]) else "production data"
        raise ConfigError(
            f"herotasks.scratch.allowlist includes {bad[0]} ({whose})",
            "remove it: the scratch app runs the release phase too; never give "
            "it production data",
        )


def addon_vars(api: Any, app: str) -> set[str]:
    """The config vars the add-ons attached to ``app`` set (each add-on's
    ``config_vars`` in ``GET /apps/{app}/addons``, Platform API "Add-on: List
    By App"): database, cache and queue URLs the scratch app must not get."""
    found: set[str] = set()
    for addon in api.addons(app) or []:
        found.update(str(v) for v in addon.get("config_vars") or [])
    return found



def ours(api: Any, found: dict, app: str, known_id: str | None = None) -> bool:
    """Whether ``found`` (an app with the scratch name) is ``app``'s scratch app:
    its marker names ``app``, or its id is the one this deploy journaled."""
    if known_id and found.get("id") == known_id:
        return True
    return (api.config_vars(found["name"]) or {}).get(MARKER) == app


def check_name(api: Any, app: str, settings: Settings,
               known_id: str | None = None) -> dict | None:
    """The existing scratch app of ``app`` (None: there is none yet).

    :raises ForeignApp: an app has the scratch name and is not ours; nothing
        was changed.
    """
    name = scratch_name(settings.scratch_prefix, app)
    found = _find(api, name)
    if found is not None and not ours(api, found, app, known_id):
        raise ForeignApp(
            f"an app named {name} already exists and is not the scratch app of "
            f"{app} (its {MARKER} does not name {app}); nothing was changed",
            "set herotasks.scratch.prefix to something unique, or delete "
            f"{name} yourself if it is a leftover of yours",
        )
    return found


def create(api: Any, target: dict, settings: Settings,
           out: Callable[[str], Any] = print, *, known_id: str | None = None,
           created: Callable[[dict], Any] | None = None,
           share_to: Iterable[str] = (), absent: bool = False) -> dict:
    """Create or reuse the scratch app of ``target`` (an app dict); return it.

    Idempotent: running it twice leaves the same app in the same shape.

    :param known_id: the scratch app id this deploy journaled, if any.
    :param created: called with the new app as soon as Heroku created it,
        before anything else (the caller journals its id).
    :param share_to: emails a new personal scratch app is shared with (the
        target's owner and collaborators, :func:`herotasks.core.lock.share_with`),
        so another of them can reuse or destroy it.
    :param absent: no app had the scratch name when the deploy checked,
        before it took the lock: none can have it now but an outsider's,
        which the create's 422 reports (a look fewer).
    :raises ForeignApp: the name is taken by an app that is not ours.
    """
    app = target["name"]
    addon = addon_vars(api, app)
    check_allowlist(settings, addon)  # before anything is created or changed
    name = scratch_name(settings.scratch_prefix, app)
    # a Fir app's stack (cnb) comes with its space: none is named for it
    stack = ((target.get("build_stack") or target.get("stack") or {}).get("name")
             if generations.of(target).names_stack else None)
    region = (target.get("region") or {}).get("name")
    team = (target.get("team") or {}).get("name")
    space = (target.get("space") or {}).get("name")
    scratch = None if absent else check_name(api, app, settings, known_id)
    if scratch is not None:
        have = (scratch.get("build_stack") or scratch.get("stack") or {}).get("name")
        if stack and have and have != stack:
            out(f"scratch: {name} has stack {have}, {app} has {stack}: recreating")
            api.delete_app(name)
            scratch = None
        else:
            out(f"scratch: reusing {name}")
    if scratch is None:
        try:
            # where the target lives: a team target's pipeline couples only
            # the team's apps (Dev Center, "Pipeline Ownership Transition")
            scratch = api.create_app(name, stack=stack, region=region, team=team,
                                     space=space)
        except OutcomeUnknown:
            # the answer was lost: look before deciding, as the lock does
            scratch = _made_by_us(api, name)
            if scratch is None:  # it was never made: ask again
                scratch = api.create_app(name, stack=stack, region=region,
                                         team=team, space=space)
        except ApiError as exc:
            refused = creation_refused(exc, f"the scratch app {name}")
            if refused:
                raise refused from None
            if exc.status == 422:
                taken = ConfigError(
                    f"the scratch app name {name} is taken by an app this "
                    "account cannot use",
                    "set herotasks.scratch.prefix to something unique",
                )
                taken.unchanged = True
                raise taken from None
            raise
        scratch = scratch or {"name": name}
        if created is not None and scratch.get("id"):
            created(scratch)
        api.update_config_vars(name, {MARKER: app})  # ours from here on
        from herotasks.core.lock import share
        share(api, name, share_to)
        out(f"scratch: created {name} (stack {stack or 'default'}"
            + (f", team {team})" if team else ")"))
        # a new Heroku app has no buildpacks, no formation and no config
        # vars but the marker just set: three reads fewer (the rate limit)
        _sync_buildpacks(api, app, name, have=[])
        _sync_config(api, app, name, settings, addon, have={MARKER: app})
        return scratch
    _sync_buildpacks(api, app, name)
    _sync_config(api, app, name, settings, addon)
    zero_formation(api, name)
    return scratch


def destroy(api: Any, app: str, settings: Settings,
            out: Callable[[str], Any] = print, *,
            known_id: str | None = None) -> list[str]:
    """Destroy ``app``'s scratch app and any leftover scratch apps of it.

    An app with the scratch name that is not ours (:func:`ours`) is left
    alone, with a line saying so: destroying is never a guess.

    :param known_id: the scratch app id this deploy journaled, if any.
    :returns: names destroyed.
    """
    expected = scratch_name(settings.scratch_prefix, app)
    if known_id:
        # the app this deploy made (its id journaled at creation): deleted
        # by that id, it can be no one else's, and no look is needed first
        return [expected] if _delete(api, expected, out, by_id=known_id) else []
    names = [n for n in _leftovers(api, app, settings) if n != expected]
    found = _find(api, expected)
    if found is not None:
        if ours(api, found, app, known_id):
            names.insert(0, expected)
        else:
            out(f"scratch: leaving {expected} alone: it is not the scratch app "
                f"of {app} (its {MARKER} does not name it)")
    return [name for name in names if _delete(api, name, out)]


def _delete(api: Any, name: str, out: Callable[[str], Any], *,
            by_id: str | None = None) -> bool:
    """Delete the scratch app ``name`` (by ``by_id`` when given); whether it
    was this call that destroyed it."""
    try:
        api.delete_app(by_id or name)
    except ApiError as exc:
        if exc.status == 404:  # gone already (an earlier try)
            return False
        if exc.status == 403:
            # another account's personal scratch app, shared with us:
            # only its owner may delete it; it runs nothing meanwhile
            out(f"scratch: leaving {name}: only its owner may destroy it "
                f"(Heroku: 403, {exc.message})")
            return False
        if by_id is None:
            raise
        # the call names the id; the user knows the app by its name
        raise ApiError(f"{name}: {exc.message}", exc.hint, status=exc.status,
                       id=exc.id, request_id=exc.request_id,
                       request=exc.request) from None
    out(f"scratch: destroyed {name}")
    return True


def zero_formation(api: Any, name: str) -> None:
    """Scale every process type of the scratch app to zero: a reused
    scratch app's formation is whatever an earlier run left. After a build
    only the web type can have been started (``slug._zero_web`` stops it
    without this look, when the build's artifact names its process types).
    """
    updates = [{"type": p["type"], "quantity": 0}
               for p in api.formation(name) if int(p.get("quantity") or 0) > 0]
    if updates:
        api.update_formation(name, updates)


#: A scratch-named app this young, unmarked, found after our own create went
#: unanswered, is taken to be the one we made (as core.lock.FRESH_SECONDS).
FRESH_SECONDS = 60


def _made_by_us(api: Any, name: str) -> dict | None:
    """Our ``POST /apps`` for the scratch app got no answer: did it make it?

    None: no such app (nothing was made). The app: it exists, carries no
    marker yet and is brand new, so it is the create we sent (the caller
    marks it ours). Anything else is another's app.

    :raises ForeignApp: an app has the name and is not the one we made.
    """
    found = _find(api, name)
    if found is None:
        return None
    try:
        created = datetime.fromisoformat(
            (found.get("created_at") or "").replace("Z", "+00:00"))
        age = (datetime.now(timezone.utc) - created).total_seconds()
    except (ValueError, TypeError):
        age = None
    if age is not None and age <= FRESH_SECONDS and not (
            api.config_vars(name) or {}).get(MARKER):
        return found
    raise ForeignApp(
        f"an app named {name} exists, and Heroku's answer to creating it was "
        "lost, but it is not one this deploy just made; nothing was changed",
        f"if it is a leftover of yours, delete it (`heroku apps:destroy {name}`); "
        "else set herotasks.scratch.prefix to something unique")


def _find(api: Any, name: str) -> dict | None:
    try:
        return api.app(name)
    except ApiError as exc:
        if exc.status == 404:
            return None
        if exc.status == 403:
            # Heroku: "You do not have access to the app NAME." Names are
            # global: it is someone's, maybe a teammate's unshared leftover
            raise ForeignApp(
                f"an app named {name} exists and this account may not see it "
                f"(Heroku: 403, {exc.message}); nothing was changed",
                f"if it is a leftover scratch app of a teammate's deploy, they can "
                f"destroy it (`heroku apps:destroy {name}`) or share it with you "
                "(`heroku access:add`); otherwise set herotasks.scratch.prefix to "
                "something unique") from None
        raise


def _leftovers(api: Any, app: str, settings: Settings) -> list[str]:
    """Apps with the prefix whose marker names ``app``."""
    found = []
    for other in api.apps():
        name = other.get("name", "")
        if not name.startswith(settings.scratch_prefix + "-"):
            continue
        try:
            marker = (api.config_vars(name) or {}).get(MARKER)
        except ApiError:
            continue
        if marker == app:
            found.append(name)
    return found


def _sync_buildpacks(api: Any, app: str, name: str,
                     have: list[str] | None = None) -> None:
    want = [_bp_url(b) for b in api.buildpacks(app)]
    if have is None:
        have = [_bp_url(b) for b in api.buildpacks(name)]
    if want != have:
        api.set_buildpacks(name, want)


def _bp_url(item: dict) -> str:
    pack = item.get("buildpack") or {}
    return pack.get("url") or pack.get("name") or ""


def _sync_config(api: Any, app: str, name: str, settings: Settings,
                 addon: Iterable[str] = (), have: dict[str, str] | None = None) -> None:
    """Only allow-listed vars (plus the marker); anything else is removed, so
    narrowing the allow-list also takes effect on a reused scratch app.
    Production data's vars are never copied, whatever the list says."""
    source = api.config_vars(app) or {}
    addon = set(addon)
    want = {k: source[k] for k in settings.scratch_allowlist
            if k in source and not never_copy(k, addon)}
    want[MARKER] = app
    if settings.assets_command is not None:
        # herotasks compiled the assets into the deploy commit: the preset's
        # vars keep the buildpack from compiling them again (core/config.py)
        want.update(PRESETS[settings.preset].scratch_config)
    if have is None:
        have = api.config_vars(name) or {}
    changes: dict[str, str | None] = {k: v for k, v in want.items() if have.get(k) != v}
    changes.update({k: None for k in have if k not in want})
    if changes:
        api.update_config_vars(name, changes)
