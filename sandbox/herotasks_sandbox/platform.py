"""The sandbox's domain model: apps, releases, formation, pipelines, ...

``Platform`` holds the rules that make the sandbox behave like Heroku,
independent of HTTP: the API layer (``api.py``) turns requests into calls
here, the git server and builder (``gitserver.py``, ``build.py``) create
builds, slugs and releases through it, and the runtime (``runtime/``)
starts and stops the processes that the state here asks for.

Documents are stored in the shape the Platform API serves; keys that start
with ``_`` are private (``public()`` strips them).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from . import fir
from .store import Store

APP_NAME = re.compile(r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PROCESS_TYPE = re.compile(r"^[-\w]{1,128}$")

STACK = {"id": "69bee368-352b-4bd0-9b7c-819d860a2588", "name": "heroku-24"}
#: Heroku's stacks and when each ends: Dev Center *Heroku-24 Stack* (the
#: default), *Heroku-22 Stack* ("It will be supported through April 2027"),
#: *Heroku-20 Stack* ("deprecated and will reach end-of-life on April 30th,
#: 2025"). After its end of life a stack takes no new apps and no builds, as
#: Heroku's end-of-life FAQs for Heroku-18 and Heroku-16 describe (existing
#: apps run on). Only heroku-24's id is Heroku's; the others are the sandbox's.
STACKS = {
    "heroku-24": {**STACK, "_end_of_life": "2029-04-30"},
    "heroku-22": {"id": "d4b1a2c0-0c6c-4a8e-9a4f-2e2d0b6f2222", "name": "heroku-22",
                  "_end_of_life": "2027-04-30"},
    "heroku-20": {"id": "b5c0f6a1-5e7c-4c39-8f0b-3a1d9e6f2020", "name": "heroku-20",
                  "_end_of_life": "2025-04-30"},
}


def stack_ref(identity: str | None, *, retired_ok: bool = False) -> dict:
    """``{"id", "name"}`` of a stack by name or id (None: the default);
    a stack past its end of life only with ``retired_ok`` (an existing app)."""
    if identity in (None, "cedar"):  # the CLI's old name for the default
        return dict(STACK)
    for stack in STACKS.values():
        if identity in (stack["id"], stack["name"]):
            if not retired_ok and stack_retired(stack["name"]):
                raise invalid(
                    f"{stack['name']} reached its end of life on "
                    f"{stack['_end_of_life']}: no new apps or builds use it. "
                    f"Use {STACK['name']}.")
            return {"id": stack["id"], "name": stack["name"]}
    raise invalid(f"Couldn't find that stack ({identity}).")


def stack_retired(name: str | None) -> bool:
    """Past its end of life by the sandbox's clock: Heroku builds nothing on it."""
    stack = STACKS.get(name or "")
    return bool(stack) and CLOCK.now().strftime("%Y-%m-%d") > stack["_end_of_life"]
REGION = {"id": "59accabd-516d-4f0e-83e6-6e3757701145", "name": "us"}
#: Dev Center "Regions" (``heroku regions``): two Common Runtime regions, and
#: the Private Spaces regions, which exist only inside a space ("For apps in
#: Private Spaces, the region is set when you create the Private Space").
REGIONS = {
    name: {"id": REGION["id"] if name == "us" else
           str(uuid.uuid5(uuid.NAMESPACE_URL, f"region:{name}")),
           "name": name, "description": desc, "country": country,
           "locale": locale, "private_capable": private,
           "provider": {"name": "amazon-web-services", "region": aws},
           "created_at": "2015-08-20T01:37:59Z", "updated_at": "2016-08-09T22:03:28Z"}
    for name, desc, country, locale, aws, private in (
        ("us", "United States", "United States", "Virginia", "us-east-1", False),
        ("eu", "Europe", "Ireland", "Dublin", "eu-west-1", False),
        ("dublin", "Dublin, Ireland", "Ireland", "Dublin", "eu-west-1", True),
        ("frankfurt", "Frankfurt, Germany", "Germany", "Frankfurt", "eu-central-1", True),
        ("london", "London, United Kingdom", "United Kingdom", "London", "eu-west-2",
         True),
        ("montreal", "Montreal, Canada", "Canada", "Montreal", "ca-central-1", True),
        ("mumbai", "Mumbai, India", "India", "Mumbai", "ap-south-1", True),
        ("oregon", "Oregon, United States", "United States", "Oregon", "us-west-2", True),
        ("singapore", "Singapore", "Singapore", "Singapore", "ap-southeast-1", True),
        ("sydney", "Sydney, Australia", "Australia", "Sydney", "ap-southeast-2", True),
        ("tokyo", "Tokyo, Japan", "Japan", "Tokyo", "ap-northeast-1", True),
        ("virginia", "Virginia, United States", "United States", "Virginia",
         "us-east-1", True),
    )
}
GENERATION = {"id": "ad8ee5fd-33c4-4e2a-b33b-8f1e5b5f1c47", "name": "cedar"}
#: Dev Center *Heroku Generations* ("Fir is now generally available with Fir
#: Private Spaces"): a space's ``generation``, and its apps'. The id is the
#: sandbox's.
FIR = {"id": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "name": "fir"}
DYNO_SIZES = {
    name.lower(): {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dyno-size:{name}")),
                   "name": name}
    for name in ("Eco", "Basic", "Standard-1X", "Standard-2X", "Performance-M",
                 "Performance-L")
}
DEFAULT_SIZE = "Standard-1X"
PREBOOT_SIZES = {"standard-1x", "standard-2x", "performance-m", "performance-l"}

FEATURES = {
    "preboot": ("Provide seamless web dyno deploys by starting new web dynos "
                "before stopping old ones.", "https://devcenter.heroku.com/articles/preboot"),
    "runtime-dyno-metadata": ("Expose dyno metadata in the environment.",
                              "https://devcenter.heroku.com/articles/dyno-metadata"),
    "log-runtime-metrics": ("Emit dyno load and memory usage in the app's log.",
                            "https://devcenter.heroku.com/articles/log-runtime-metrics"),
}
PIPELINE_STAGES = ("test", "review", "development", "staging", "production")


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


def _younger(doc: dict, cutoff: datetime) -> bool:
    """Made after ``cutoff`` (a document with no ``created_at``, as tests
    make them, counts as new)."""
    stamp = doc.get("created_at")
    return not stamp or parse_time(stamp) > cutoff


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


class Platform:
    """The sandbox's Heroku, minus HTTP.

    :param root: the sandbox root directory (slugs, logs, repos live here)
    :param api_url: the public base URL of the API and git server
    """

    def __init__(self, root: Path, store: Store, api_url: str):
        self.root = Path(root)
        self.store = store
        self.api_url = api_url.rstrip("/")
        # Set by the server once the parts exist; see runtime/ and build.py.
        self.runtime: Any = None
        self.builder: Any = None
        self.addons: Any = None  # addons.py
        self.log_sessions: Any = None  # logs.py
        self.release_visibility = self.RELEASE_VISIBILITY
        CLOCK.offset = float(store.setting("clock_offset", 0.0))
        self._retained_at: float | None = None
        self._seen: dict[str, tuple[float, int]] = {}
        self._seen_lock = threading.Lock()
        account = store.setting("account")
        if account is None:
            account = {
                "id": new_id(), "email": "sandbox@herotasks.local",
                "name": "Sandbox User", "created_at": now(), "updated_at": now(),
                "allow_tracking": False, "beta": False, "federated": False,
                "verified": True, "two_factor_authentication": False,
                "last_login": now(), "sms_number": None, "suspended_at": None,
                "delinquent_at": None, "identity_provider": None,
                "country_of_residence": None, "default_organization": None,
                "default_team": None,
            }
            store.set_setting("account", account)
        self.default_account = account
        self._acting = threading.local()

    # -- users: whose token made this request ------------------------------------
    @property
    def account(self) -> dict:
        """The account of the request being handled (the default account
        outside a request, e.g. a background release phase)."""
        return getattr(self._acting, "account", None) or self.default_account

    def acting(self, account: dict | None):
        """Context: handle this thread's work as ``account``."""
        platform = self

        class _Acting:
            def __enter__(self):
                self.before = getattr(platform._acting, "account", None)
                platform._acting.account = account
                return account

            def __exit__(self, *exc):
                platform._acting.account = self.before
                return False
        return _Acting()

    def users(self) -> list[dict]:
        """Every account: the default one first, then those the admin made."""
        return [self.default_account] + [public(u) for u in self.store.find("user")]

    def user_for_token(self, token: str, default_token: str) -> dict | None:
        """The account whose API token ``token`` is (None: nobody's)."""
        import hmac
        if not token:
            return None
        if hmac.compare_digest(token, default_token):
            return self.default_account
        for u in self.store.find("user"):
            if hmac.compare_digest(token, u["_token"]):
                return public(u)
        return None

    def find_user(self, identity: str) -> dict:
        """An account by email or id (``collaborator`` and ``team-member``
        bodies name users so)."""
        for u in self.users():
            if identity in (u["id"], u["email"]):
                return u
        raise not_found("user")

    def create_user(self, email: str, token: str) -> dict:
        """An admin-made account with its own API token."""
        if not isinstance(email, str) or "@" not in email:
            raise invalid("email: must be an email address")
        with self.store.transaction():
            if any(u["email"] == email for u in self.users()):
                raise invalid("email: an account with that email exists")
            ts = now()
            doc = {**self.default_account, "id": new_id(), "email": email,
                   "name": email.split("@")[0], "created_at": ts, "updated_at": ts,
                   "last_login": ts, "_token": token}
            self.store.put("user", doc)
        return public(doc)

    # -- access: who may see which app ---------------------------------------------
    def is_member(self, team: dict, account: dict | None = None) -> dict | None:
        """``account``'s membership of ``team`` (None: not a member)."""
        account = account or self.account
        for m in self.store.find("team-member", app_id=team["id"]):
            if m["user"]["id"] == account["id"]:
                return m
        return None

    def can_access(self, app: dict, account: dict | None = None) -> bool:
        """Dev Center "Collaborating with Other Developers on Your App": a
        personal app is its owner's and its collaborators'; "Heroku Teams":
        a team app is visible to the team's members."""
        account = account or self.account
        if (app.get("owner") or {}).get("id") == account["id"]:
            return True
        if app.get("team") and self.is_member(self.team(app["team"]["id"]), account):
            return True
        return any(c["user"]["id"] == account["id"]
                   for c in self.store.find("collaborator", app_id=app["id"]))

    def app_for(self, identity: str) -> dict:
        """``app(identity)`` as the request's user may see it: 404 when no
        such app exists, 403 when it exists and is not theirs."""
        app = self.app(identity)
        if not self.can_access(app):
            raise forbidden("app", identity)
        return app

    def require_owner(self, app: dict, action: str) -> None:
        """Dev Center "Collaborating with Other Developers on Your App":
        collaborators on a personal app "can't ... Delete, transfer, or rename
        the app". The 403's wording is the sandbox's."""
        if app.get("team") or (app.get("owner") or {}).get("id") == self.account["id"]:
            return
        raise PlatformError(403, "forbidden",
                            f"Only the owner of {app['name']} can {action} it: "
                            "collaborators can't delete, transfer or rename an app.")

    def visible_apps(self) -> list[dict]:
        return [a for a in self.apps() if self.can_access(a)]

    # -- settings that model Heroku's speed -----------------------------------
    def delay(self, name: str) -> float:
        """Seconds for ``build`` (slug compile) or ``boot`` (dyno start)."""
        return float(self.store.setting(f"delay.{name}", 0.0))

    def set_delay(self, name: str, seconds: float) -> None:
        self.store.set_setting(f"delay.{name}", float(seconds))

    #: Dev Center "Limits": "An account can have up to 100 apps."
    APP_LIMIT = 100

    #: Seconds after a release goes live during which the runtime does not
    #: see it yet, so ``POST /apps/{app}/dynos`` answers 409: heroku/cli
    #: ``src/lib/run/dyno.ts`` ``_doStart`` ("the runtime API sends back a
    #: 409 in the event the release isn't found yet", "typically a very
    #: short-lived condition"; the CLI retries twice, no pause between).
    #: An admin setting, ``release_visibility``; in memory.
    RELEASE_VISIBILITY = 0.5

    def release_seen(self, app: dict) -> None:
        """``POST /apps/{app}/dynos`` answers 409 while the app's newest
        release is younger than :attr:`release_visibility` seconds."""
        with self._seen_lock:
            seen = self._seen.get(app["id"])
        if seen is None:
            return
        at, version = seen
        if time.monotonic() - at < self.release_visibility:
            raise PlatformError(
                409, "conflict",
                f"Release v{version} of {app['name']} is not yet available to "
                "the dyno runtime. Please try again.")

    def _released(self, app_id: str, version: int) -> None:
        with self._seen_lock:
            self._seen[app_id] = (time.monotonic(), version)

    def app_limit(self) -> int:
        """How many apps the account may own (an admin setting, for tests)."""
        return int(self.store.setting("app_limit", self.APP_LIMIT))

    def set_app_limit(self, limit: int) -> None:
        self.store.set_setting("app_limit", int(limit))

    def background(self, fn: Callable, *args: Any) -> threading.Thread:
        """Run platform work (release phase, promotion) off the request."""
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        return t

    def user(self) -> dict:
        return {"id": self.account["id"], "email": self.account["email"]}

    # -- apps -------------------------------------------------------------------
    def _by_id_or_name(self, kind: str, identity: str, what: str) -> dict:
        """A document by its uuid or its name, as Heroku's identities allow."""
        doc = self.store.get(kind, identity) if UUID.match(identity or "") else None
        if doc is None:
            found = self.store.find(kind, name=identity)
            doc = found[0] if found else None
        if doc is None:
            raise not_found(what)
        return doc

    def app(self, identity: str) -> dict:
        return self._by_id_or_name("app", identity, "app")

    def apps(self) -> list[dict]:
        return self.store.find("app")

    def app_ref(self, app: dict) -> dict:
        return {"id": app["id"], "name": app["name"]}

    def create_app(self, name: str | None = None, stack: str | None = None,
                   region: str | None = None, *, team: dict | None = None,
                   space: dict | None = None) -> dict:
        """``POST /apps`` (a personal app) or, with ``team``, ``POST /teams/apps``:
        the team owns it (``app.team``, and ``owner`` is the team's
        ``<team>@herokumanager.com`` identity). With ``space`` (a team's
        Private Space) the app runs in the space and its region."""
        found_stack = stack_ref(stack)
        found_region = self.region(region) if region else REGIONS["us"]
        if space is not None:
            # Dev Center "Regions": "For apps in Private Spaces, the region is
            # set when you create the Private Space itself."
            if region and found_region["id"] != space["region"]["id"]:
                raise invalid(f"region: {region} is not the region of the space "
                              f"{space['name']} ({space['region']['name']}); an app "
                              "in a Private Space runs in the space's region")
            found_region = REGIONS[space["region"]["name"]]
        elif found_region["private_capable"]:
            # The sandbox's wording; Dev Center "Regions" lists these as
            # "Private Spaces" regions, available only to a space's apps.
            raise invalid(f"region: {found_region['name']} is a Private Spaces region; "
                          "create the app in a space there, or use a Common Runtime "
                          "region (us, eu)")
        if team is not None and not self.is_member(team):
            raise forbidden("team", team["name"])
        with self.store.transaction():
            if name is None:
                name = self._generated_name()
            if not APP_NAME.match(name):
                raise invalid(
                    "Name must start with a letter, end with a letter or digit and "
                    "can only contain lowercase letters, digits, and dashes."
                    if len(name) <= 30 else "Name is too long (maximum is 30 characters)"
                )
            if self.store.find("app", name=name):
                raise invalid("Name is already taken")
            limit = self.app_limit()
            if len(self.store.find("app")) >= limit:
                # 422, as the account of Heroku says; the wording is
                # the sandbox's own (no source quotes Heroku's), and herotasks
                # reads only that it is not "already taken"
                raise invalid(f"You've reached the limit of {limit} apps for "
                              "this account. Delete some apps to create more.")
            app_id, ts = new_id(), now()
            app = {
                "id": app_id, "name": name, "created_at": ts, "updated_at": ts,
                "released_at": ts, "maintenance": False,
                "git_url": f"{self.api_url}/{name}.git",
                "web_url": None,
                "stack": dict(found_stack), "build_stack": dict(found_stack),
                "region": {"id": found_region["id"], "name": found_region["name"]},
                "owner": self.user(),
                "organization": None, "team": None, "space": None,
                "acm": False, "archived_at": None,
                "buildpack_provided_description": None,
                "generation": dict(GENERATION), "internal_routing": None,
                "repo_size": None, "slug_size": None,
                "_config": {}, "_features": {},
                "_buildpacks": [],
            }
            if team is not None:
                app["team"] = {"id": team["id"], "name": team["name"]}
                app["owner"] = {"id": team["id"],
                                "email": f"{team['name']}@herokumanager.com"}
            if space is not None:
                app["space"] = {"id": space["id"], "name": space["name"],
                                "shield": space["shield"]}
                # an app has its space's generation (Cedar or Fir)
                app["generation"] = dict(space.get("generation") or GENERATION)
                if fir.is_fir(app):  # Fir apps build with CNBs: stack cnb (fir.py)
                    app["stack"] = dict(fir.CNB_STACK)
                    app["build_stack"] = dict(fir.CNB_STACK)
            self.store.put("app", app)
            # Heroku's first release: no slug, nothing to run.
            first = self._put_release(app, slug=None, description="Initial release",
                                      status="succeeded", current=True)
        self._released(app_id, first["version"])
        if self.runtime is not None:
            self.runtime.app_created(app)
            app = self.app(app_id)
        return app

    def _generated_name(self) -> str:
        words = ("calm", "brave", "quiet", "swift", "lucky", "bright")
        nouns = ("river", "meadow", "harbor", "summit", "forest", "canyon")
        while True:
            n = uuid.uuid4().int
            name = f"{words[n % 6]}-{nouns[(n >> 8) % 6]}-{n % 100000:05d}"
            if not self.store.find("app", name=name):
                return name

    def update_app(self, app: dict, *, maintenance: bool | None = None,
                   name: str | None = None, build_stack: str | None = None) -> dict:
        with self.store.transaction():
            app = self.app(app["id"])
            if name is not None and name != app["name"]:
                if not APP_NAME.match(name):
                    raise invalid("Name must start with a letter, end with a letter or "
                                  "digit and can only contain lowercase letters, "
                                  "digits, and dashes.")
                if self.store.find("app", name=name):
                    raise invalid("Name is already taken")
                app["name"] = name
                app["git_url"] = f"{self.api_url}/{name}.git"
            if maintenance is not None:
                app["maintenance"] = bool(maintenance)
            if build_stack is not None:
                # the next build uses it (Dev Center *Stacks*, stack:set)
                app["build_stack"] = stack_ref(build_stack)
            app["updated_at"] = now()
            self.store.put("app", app)
        if name is not None and self.builder is not None:
            self.builder.app_renamed(app)
        return app

    def delete_app(self, app: dict) -> dict:
        if self.runtime is not None:
            self.runtime.app_deleted(app)
        if self.addons is not None:
            self.addons.app_deleted(app)
        with self.store.transaction():
            for c in self.store.find("pipeline-coupling", app_id=app["id"]):
                self.store.delete("pipeline-coupling", c["id"])
            self.store.delete_app_objects(app["id"])
            self.store.delete("app", app["id"])
        if self.builder is not None:
            self.builder.app_deleted(app)
        return app

    # -- features ---------------------------------------------------------------
    def features(self, app: dict) -> list[dict]:
        return [self._feature(app, name) for name in FEATURES]

    def _feature(self, app: dict, name: str) -> dict:
        if name not in FEATURES:
            raise not_found("feature")
        desc, doc_url = FEATURES[name]
        state = app["_features"].get(name, {})
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"feature:{name}")),
            "name": name, "display_name": name.replace("-", " ").title(),
            "description": desc, "doc_url": doc_url,
            "enabled": bool(state.get("enabled", False)), "state": "general",
            "feedback_email": "sandbox@herotasks.local",
            "created_at": app["created_at"],
            "updated_at": state.get("updated_at", app["created_at"]),
        }

    def feature(self, app: dict, identity: str) -> dict:
        for name in FEATURES:
            if identity in (name, str(uuid.uuid5(uuid.NAMESPACE_URL, f"feature:{name}"))):
                return self._feature(app, name)
        raise not_found("feature")

    def set_feature(self, app: dict, identity: str, enabled: bool) -> dict:
        name = self.feature(app, identity)["name"]
        with self.store.transaction():
            app = self.app(app["id"])
            if name == "preboot" and enabled and app.get("space"):
                # Dev Center "Preboot": "Preboot is only available on the
                # Common Runtime"; Private Spaces deploy rolling (changelog
                # item 860). The wording of the API's refusal is the sandbox's.
                raise invalid("Preboot is only available on the Common Runtime: "
                              f"{app['name']} is in the Private Space "
                              f"{app['space']['name']}, which deploys rolling.")
            if name == "preboot" and enabled:
                sizes = {f["size"].lower() for f in self.formation(app)
                         if f["type"] == "web"}
                if sizes - PREBOOT_SIZES:
                    raise invalid("Preboot is only available for apps running "
                                  "Standard or Performance dynos.")
            app["_features"][name] = {"enabled": bool(enabled), "updated_at": now()}
            self.store.put("app", app)
        return self._feature(app, name)

    def preboot(self, app: dict) -> bool:
        return bool(app["_features"].get("preboot", {}).get("enabled"))

    # -- config vars ------------------------------------------------------------
    def config_vars(self, app: dict) -> dict:
        return dict(app["_config"])

    def update_config_vars(self, app: dict, changes: dict,
                           description: str | None = None) -> dict:
        for key, value in changes.items():
            if not re.match(r"^\w+$", key):
                raise invalid(f"Invalid config var name: {key}")
            if value is not None and not isinstance(value, str):
                raise invalid(f"{key}: config var values must be strings or null")
        with self.store.transaction():
            app = self.app(app["id"])
            config = dict(app["_config"])
            for key, value in changes.items():
                if value is None:
                    config.pop(key, None)
                else:
                    config[key] = value
            if config == app["_config"]:
                return config
            app["_config"] = config
            self.store.put("app", app)
            current = self.current_release(app)
        # As on Heroku, a config change is a new release of the same slug
        # (and runs the release phase again).
        keys = ", ".join(sorted(changes))
        verb = "Remove" if all(v is None for v in changes.values()) else "Set"
        self.create_release(app, fir.runnable(current),
                            description=description or f"{verb} {keys} config vars")
        return config

    # -- formation --------------------------------------------------------------
    def formation(self, app: dict) -> list[dict]:
        return self.store.find("formation", app_id=app["id"])

    def formation_entry(self, app: dict, identity: str) -> dict:
        for f in self.formation(app):
            if identity in (f["id"], f["type"]):
                return f
        raise PlatformError(404, "not_found",
                            f"Couldn't find that process type ({identity}).")

    def scale(self, app: dict, updates: list[dict]) -> list[dict]:
        """Apply ``[{type, quantity, size}]`` atomically; quantities are
        already ints or relative strings ("+1"), sizes names or None."""
        changed = []
        with self.store.transaction():
            entries = {f["type"]: f for f in self.formation(app)}
            for u in updates:
                entry = entries.get(u["type"])
                if entry is None:
                    raise PlatformError(
                        404, "not_found",
                        f"Couldn't find that process type ({u['type']}).")
                if u.get("quantity") is not None:
                    entry["quantity"] = _quantity(u["quantity"], entry["quantity"])
                if u.get("size"):
                    size = DYNO_SIZES.get(str(u["size"]).lower())
                    if size is None:
                        raise invalid(f"Invalid dyno size: {u['size']}")
                    entry["size"], entry["dyno_size"] = size["name"], dict(size)
                if entry["type"] == "web" and self.preboot(app) and \
                        entry["size"].lower() not in PREBOOT_SIZES:
                    raise invalid("Preboot is only available for apps running "
                                  "Standard or Performance dynos.")
                entry["updated_at"] = now()
                changed.append(entry)
            for entry in changed:
                self.store.put("formation", entry, app_id=app["id"])
        if self.runtime is not None:
            self.runtime.converge(app["id"])
        return changed

    def _sync_formation(self, app: dict, process_types: dict) -> None:
        """After a release: one formation entry per process type, as Heroku
        does (web starts at 1 the first time it appears, others at 0)."""
        existing = {f["type"]: f for f in self.formation(app)}
        for ptype, command in process_types.items():
            if ptype == "release":
                continue
            entry = existing.pop(ptype, None)
            if entry is None:
                size = DYNO_SIZES[DEFAULT_SIZE.lower()]
                entry = {
                    "id": new_id(), "app": self.app_ref(app), "type": ptype,
                    "quantity": 1 if ptype == "web" else 0,
                    "size": size["name"], "dyno_size": dict(size),
                    "created_at": now(),
                }
            entry["command"], entry["updated_at"] = command, now()
            entry["app"] = self.app_ref(app)
            self.store.put("formation", entry, app_id=app["id"])
        for gone in existing.values():
            self.store.delete("formation", gone["id"])

    # -- slugs ------------------------------------------------------------------
    def slug(self, identity: str) -> dict:
        doc = self.store.get("slug", identity)
        if doc is None:
            raise not_found("slug")
        return doc

    def put_slug(self, slug: dict) -> dict:
        # Slugs outlive the app that built them (a scratch app's slug is
        # released elsewhere), so they belong to no app in the store.
        return self.store.put("slug", slug)

    # -- releases ---------------------------------------------------------------
    def releases(self, app: dict) -> list[dict]:
        return sorted(self.store.find("release", app_id=app["id"]),
                      key=lambda r: r["version"])

    def release(self, app: dict, identity: str) -> dict:
        for r in self.releases(app):
            if identity in (r["id"], str(r["version"]), f"v{r['version']}"):
                return r
        raise not_found("release")

    def current_release(self, app: dict) -> dict:
        for r in reversed(self.releases(app)):
            if r["current"]:
                return r
        raise not_found("release")

    def _put_release(self, app: dict, *, slug: dict | None, description: str,
                     status: str, current: bool, config: dict | None = None) -> dict:
        versions = [r["version"] for r in self.releases(app)]
        rid, ts = new_id(), now()
        release = {
            "id": rid, "version": (max(versions) + 1) if versions else 1,
            "app": self.app_ref(app), "created_at": ts, "updated_at": ts,
            "description": description, "status": status, "current": current,
            **fir.release_fields(app, slug),  # a slug, or a Fir app's image
            "user": self.user(), "addon_plan_names": [],
            "output_stream_url": None,
            "eligible_for_rollback": status == "succeeded",
            "_config": dict(app["_config"] if config is None else config),
        }
        self.store.put("release", release, app_id=app["id"])
        return release

    def create_release(self, app: dict, slug_id: str | None, description: str | None = None,
                       *, config: dict | None = None,
                       on_done: Callable[[dict], None] | None = None) -> dict:
        """Release ``slug_id`` on ``app``.

        With a ``release`` process type the release stays ``pending`` while a
        release dyno runs it; success makes it current and restarts the
        dynos, failure marks it ``failed`` and changes nothing else.
        """
        slug = self.slug(slug_id) if slug_id else None
        if slug and slug.get("deleted_at"):
            raise invalid(f"Slug {slug_id} was deleted by the release retention "
                          "policy and can no longer be released.")
        if slug:
            fir.check_artifact(app, slug)
        phase = bool(slug and "release" in (slug.get("process_types") or {}))
        with self.store.transaction():
            app = self.app(app["id"])
            if config is not None:
                app["_config"] = dict(config)
                self.store.put("app", app)
            if description is None:
                description = (f"Deploy {slug['commit'][:8]}"
                               if slug and slug.get("commit") else "Deploy")
            release = self._put_release(
                app, slug=slug, description=description,
                status="pending" if phase else "succeeded", current=False)
            release["output_stream_url"] = (
                f"{self.api_url}/_sandbox/streams/releases/{release['id']}"
                if phase else None)
            release["eligible_for_rollback"] = False
            self.store.put("release", release, app_id=app["id"])
        if phase:
            self.background(self._release_phase, app, release, on_done)
        else:
            release = self._make_current(app, release)
            if on_done:
                on_done(release)
        self.retain_app(app["id"])  # a 21st release may push an old one out
        return release

    def _release_phase(self, app: dict, release: dict,
                       on_done: Callable[[dict], None] | None) -> None:
        ok = False
        try:
            ok = self.runtime.run_release_phase(app, release) == 0
        except Exception as exc:  # noqa: BLE001 - any failure fails the release
            self.log_release(release, f"release phase error: {exc}\n")
        with self.store.transaction():
            release = self.store.get("release", release["id"])
            if release is None:  # app destroyed meanwhile
                return
            if not ok:
                release["status"] = "failed"
                release["updated_at"] = now()
                self.store.put("release", release, app_id=app["id"])
        if ok:
            release = self._make_current(app, release)
        self.retain_app(app["id"])  # a 21st release may push an old one out
        if on_done:
            on_done(release)

    # -- release retention ----------------------------------------------------
    #: Dev Center changelog item 3395, "Updates to slug, OCI image, and
    #: release artifact retention policies" (effective 1 October 2025), and
    #: *Releases*, "Release Retention Policy": artifacts of releases "older
    #: than 30 days and older than 20 releases or unassociated with a
    #: release" are destroyed; such a release's status is ``expired`` and
    #: "Rollback to expired releases is not supported".
    RETENTION_DAYS = 30
    RETENTION_RELEASES = 20
    #: How often (real seconds) a read looks for artifacts that aged out;
    #: a release made, a rollback asked for or the clock moved look at once.
    RETENTION_EVERY = 60.0

    def clock_offset(self) -> float:
        return CLOCK.offset

    def set_clock_offset(self, seconds: float) -> None:
        """Move the sandbox's clock (an admin setting): a month later at once."""
        CLOCK.offset = float(seconds)
        self.store.set_setting("clock_offset", CLOCK.offset)
        self.retain(force=True)

    def retain_app(self, app_id: str) -> list[dict]:
        """:meth:`retain` after a release of ``app_id``: the full sweep only
        when one of this app's releases has aged out of its latest 20 (the
        sweep reads every release and slug: 0.1-0.3 s for 2,000 here)."""
        cutoff = CLOCK.now() - timedelta(days=self.RETENTION_DAYS)
        rels = sorted(self.store.find("release", app_id=app_id),
                      key=lambda r: r["version"], reverse=True)
        if any(fir.runnable(r) and r["status"] != "expired" and not r["current"]
               and r["status"] != "pending" and not _younger(r, cutoff)
               for r in rels[self.RETENTION_RELEASES:]):
            return self.retain(force=True)
        return []

    def retain(self, force: bool = False) -> list[dict]:
        """Apply Heroku's release retention; the slugs it destroyed.

        A slug goes when no release that uses it is kept, a release being
        kept while it is among its app's latest 20, younger than 30 days,
        current or pending; a slug no release uses goes at 30 days. Every
        release of a destroyed slug turns ``expired`` and not
        ``eligible_for_rollback``, the slug gets ``deleted_at`` and its
        tarball and directory are removed. The current release is kept
        whatever its age (its dynos run it; Heroku documents no exception,
        nor an app left with nothing to run).
        """
        mono = time.monotonic()
        if (not force and self._retained_at is not None
                and mono - self._retained_at < self.RETENTION_EVERY):
            return []
        self._retained_at = mono
        cutoff = CLOCK.now() - timedelta(days=self.RETENTION_DAYS)
        destroyed: list[dict] = []
        with self.store.transaction():
            releases = self.store.find("release")
            by_app: dict[str, list[dict]] = {}
            for r in releases:
                by_app.setdefault(r["app"]["id"], []).append(r)
            kept: set[str] = set()
            aged: dict[str, list[dict]] = {}
            for rels in by_app.values():
                rels.sort(key=lambda r: r["version"], reverse=True)
                for i, r in enumerate(rels):
                    slug_id = fir.runnable(r)
                    if not slug_id or r["status"] == "expired":
                        continue
                    if (r["current"] or r["status"] == "pending"
                            or i < self.RETENTION_RELEASES
                            or _younger(r, cutoff)):
                        kept.add(slug_id)
                    else:
                        aged.setdefault(slug_id, []).append(r)
            used = {fir.runnable(r) for r in releases}
            for slug in self.store.find("slug"):
                slug_id = slug["id"]
                if slug.get("deleted_at") or slug_id in kept:
                    continue
                if slug_id in aged or (slug_id not in used
                                       and not _younger(slug, cutoff)):
                    ts = now()
                    slug.update(deleted_at=ts, updated_at=ts)
                    self.store.put("slug", slug)
                    destroyed.append(slug)
                    for r in aged.get(slug_id, ()):
                        r.update(status="expired", eligible_for_rollback=False,
                                 updated_at=ts)
                        self.store.put("release", r, app_id=r["app"]["id"])
        if self.builder is not None:
            for slug in destroyed:
                self.builder.destroy_slug(slug)
        return destroyed

    @staticmethod
    def refuse_expired(release: dict, doing: str) -> None:
        """One error for any use of an expired release's artifact (the
        wording is the sandbox's: Heroku documents only that rollback to an
        expired release is not supported)."""
        if release.get("status") == "expired":
            raise invalid(
                f"Cannot {doing} v{release['version']}: the release is expired, its "
                "slug was deleted by the release retention policy.")

    def release_log_path(self, release_id: str) -> Path:
        return self.root / "logs" / "releases" / f"{release_id}.log"

    def log_release(self, release: dict, text: str) -> None:
        path = self.release_log_path(release["id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(text)

    def _make_current(self, app: dict, release: dict) -> dict:
        with self.store.transaction():
            app = self.app(app["id"])
            for r in self.releases(app):
                if r["current"] and r["id"] != release["id"]:
                    r["current"] = False
                    self.store.put("release", r, app_id=app["id"])
            release = self.store.get("release", release["id"])
            release.update(status="succeeded", current=True, updated_at=now(),
                           eligible_for_rollback=True)
            self.store.put("release", release, app_id=app["id"])
            app["released_at"] = now()
            self._released(app["id"], release["version"])
            if fir.runnable(release):
                slug = self.slug(fir.runnable(release))
                self._sync_formation(app, slug.get("process_types") or {})
                app["slug_size"] = slug.get("size")
            self.store.put("app", app)
        if self.runtime is not None:
            self.runtime.deploy(app["id"], release["id"])
        return release

    def rollback(self, app: dict, release_id: str) -> dict:
        target = None
        for r in self.releases(app):
            if r["id"] == release_id:
                target = r
        if target is None:
            raise not_found("release")
        self.retain(force=True)
        target = self.store.get("release", target["id"])
        self.refuse_expired(target, "roll back to")
        if not target["eligible_for_rollback"] or not fir.runnable(target):
            raise invalid(f"Cannot roll back to v{target['version']}: it has no slug.")
        return self.create_release(app, fir.runnable(target),
                                   description=f"Rollback to v{target['version']}",
                                   config=target["_config"])

    # -- regions ----------------------------------------------------------------
    def region(self, identity: str) -> dict:
        for r in REGIONS.values():
            if identity in (r["id"], r["name"]):
                return r
        raise invalid(f"Couldn't find that region ({identity}).")

    # -- teams ------------------------------------------------------------------
    def team(self, identity: str) -> dict:
        return self._by_id_or_name("team", identity, "team")

    def team_view(self, team: dict) -> dict:
        """The team as the request's user sees it (``role`` is theirs)."""
        m = self.is_member(team)
        return {**team, "role": m["role"] if m else None}

    def team_for(self, identity: str) -> dict:
        """A team the request's user is a member of (403 otherwise)."""
        team = self.team(identity)
        if not self.is_member(team):
            raise forbidden("team", identity)
        return team

    def teams(self) -> list[dict]:
        return [self.team_view(t) for t in self.store.find("team") if self.is_member(t)]

    def create_team(self, name: str) -> dict:
        """``POST /teams``: the account creates it and is its admin."""
        with self.store.transaction():
            if not APP_NAME.match(name or ""):
                raise invalid("Name must start with a letter and can only contain "
                              "lowercase letters, digits, and dashes.")
            if self.store.find("team", name=name):
                raise invalid("Name is already taken")
            ts = now()
            doc = {"id": new_id(), "name": name, "created_at": ts, "updated_at": ts,
                   "credit_card_collections": True, "default": False,
                   "enterprise_account": None, "identity_provider": None,
                   "membership_limit": 25, "provisioned_licenses": False,
                   "role": None, "type": "team"}
            self.store.put("team", doc)
            self._put_member(doc, self.account, "admin")
            return self.team_view(doc)

    def _put_member(self, team: dict, account: dict, role: str) -> dict:
        ts = now()
        existing = self.is_member(team, account)
        doc = existing or {"id": new_id(), "created_at": ts, "federated": False,
                           "identity_provider": None,
                           "two_factor_authentication": False,
                           "email": account["email"],
                           "user": {"email": account["email"], "id": account["id"],
                                    "name": account.get("name")}}
        doc.update(role=role, updated_at=ts)
        return self.store.put("team-member", doc, app_id=team["id"])

    def members(self, team: dict) -> list[dict]:
        self.team_for(team["id"])
        return self.store.find("team-member", app_id=team["id"])

    def _require_admin(self, team: dict) -> None:
        m = self.is_member(team)
        if m is None:
            raise forbidden("team", team["name"])
        if m["role"] != "admin":
            # Dev Center "Heroku Teams": only admins manage membership (the
            # wording is the sandbox's)
            raise PlatformError(403, "forbidden",
                                f"You must be an admin of the team {team['name']} "
                                "to do that.")

    def add_member(self, team: dict, email: str, role: str) -> dict:
        """``POST /teams/{team}/members``: an admin adds an existing account."""
        self._require_admin(team)
        if role not in ("admin", "member", "viewer", "collaborator"):
            raise invalid("role: must be admin, member, viewer or collaborator")
        return self._put_member(team, self.find_user(email), role)

    def remove_member(self, team: dict, identity: str) -> dict:
        self._require_admin(team)
        for m in self.store.find("team-member", app_id=team["id"]):
            if identity in (m["id"], m["email"], m["user"]["id"]):
                self.store.delete("team-member", m["id"])
                return m
        raise not_found("team member")

    # -- collaborators ----------------------------------------------------------
    def collaborators(self, app: dict) -> list[dict]:
        return self.store.find("collaborator", app_id=app["id"])

    def add_collaborator(self, app: dict, identity: str) -> dict:
        """``POST /apps/{app}/collaborators``: the account gets the app."""
        user = self.find_user(identity)
        with self.store.transaction():
            if (app.get("owner") or {}).get("id") == user["id"] or any(
                    c["user"]["id"] == user["id"] for c in self.collaborators(app)):
                raise invalid(f"{user['email']} is already a collaborator on "
                              f"{app['name']}.")
            ts = now()
            doc = {"id": new_id(), "created_at": ts, "updated_at": ts,
                   "app": self.app_ref(app), "permissions": [],
                   "role": "collaborator",
                   "user": {"email": user["email"], "federated": False,
                            "id": user["id"]}}
            return self.store.put("collaborator", doc, app_id=app["id"])

    def remove_collaborator(self, app: dict, identity: str) -> dict:
        for c in self.collaborators(app):
            if identity in (c["id"], c["user"]["id"], c["user"]["email"]):
                self.store.delete("collaborator", c["id"])
                return c
        raise not_found("collaborator")

    # -- Private Spaces ---------------------------------------------------------
    def space(self, identity: str) -> dict:
        """A space of a team the request's user is in ("All team members can
        view details about Private Spaces in the team", Dev Center "Heroku
        Private Spaces"); another team's is a 403."""
        space = self._by_id_or_name("space", identity, "space")
        if not self.is_member(self.team(space["team"]["id"])):
            raise forbidden("space", identity)
        return space

    def spaces(self) -> list[dict]:
        return [s for s in self.store.find("space")
                if self.is_member(self.team(s["team"]["id"]))]

    def create_space(self, body: dict) -> dict:
        """``POST /spaces {name, team, region, shield}``: "Only team
        administrators can create, destroy, or modify Private Spaces"."""
        team = self.team(body["team"])
        self._require_admin(team)
        region = self.region(body.get("region") or "virginia")
        if not region["private_capable"]:
            raise invalid(f"region: {region['name']} is a Common Runtime region; a "
                          "Private Space needs a Private Spaces region (e.g. virginia, "
                          "oregon, frankfurt, tokyo, sydney, dublin)")
        generation = {"cedar": GENERATION, "fir": FIR}.get(
            body.get("generation") or "cedar")
        if generation is None:
            raise invalid(f"generation: {body['generation']!r} is not cedar or fir")
        if generation is FIR and body.get("shield"):
            # Dev Center *Migrating Apps from Cedar Spaces to Fir Spaces*:
            # "Shield spaces are on the roadmap for Fir" (the wording is ours)
            raise invalid("shield: Fir spaces cannot be Shield spaces yet.")
        with self.store.transaction():
            if self.store.find("space", name=body["name"]):
                raise invalid("Name is already taken")
            ts = now()
            doc = {"id": new_id(), "name": body["name"], "created_at": ts,
                   "updated_at": ts, "organization": {"name": team["name"]},
                   "team": {"id": team["id"], "name": team["name"]},
                   "region": {"id": region["id"], "name": region["name"]},
                   "shield": bool(body.get("shield")), "state": "allocated",
                   "cidr": body.get("cidr") or "10.0.0.0/16",
                   "data_cidr": body.get("data_cidr") or "10.1.0.0/16",
                   "generation": dict(generation)}
            return self.store.put("space", doc)

    def delete_space(self, space: dict) -> dict:
        self._require_admin(self.team(space["team"]["id"]))
        if any((a.get("space") or {}).get("id") == space["id"] for a in self.apps()):
            # the sandbox's wording: a space with apps is not deleted
            raise invalid(f"Space {space['name']} still has apps; destroy them first.")
        self.store.delete("space", space["id"])
        return space

    # -- pipelines ----------------------------------------------------------------
    def pipeline(self, identity: str) -> dict:
        return self._by_id_or_name("pipeline", identity, "pipeline")

    def create_pipeline(self, name: str, owner: dict | None = None) -> dict:
        """A pipeline owned by the account, or by ``owner`` (``{id, type}``,
        a team the account is in)."""
        if owner:
            if owner.get("type") == "team":
                owner = {"id": self.team_for(str(owner.get("id")))["id"], "type": "team"}
            elif owner.get("id") != self.account["id"]:
                raise invalid("owner: must be this account or one of its teams")
        with self.store.transaction():
            if self.store.find("pipeline", name=name):
                raise invalid("Name is already taken")
            ts = now()
            doc = {"id": new_id(), "name": name, "created_at": ts, "updated_at": ts,
                   "owner": owner or {"id": self.account["id"], "type": "user"},
                   "generation": dict(GENERATION)}
            return self.store.put("pipeline", doc)

    def delete_pipeline(self, pipeline: dict) -> dict:
        with self.store.transaction():
            for c in self.couplings(pipeline):
                self.store.delete("pipeline-coupling", c["id"])
            self.store.delete("pipeline", pipeline["id"])
        return pipeline

    def couplings(self, pipeline: dict) -> list[dict]:
        return [c for c in self.store.find("pipeline-coupling")
                if c["pipeline"]["id"] == pipeline["id"]]

    def coupling_for_app(self, app: dict) -> dict:
        found = self.store.find("pipeline-coupling", app_id=app["id"])
        if not found:
            raise not_found("pipeline coupling")
        return found[0]

    def couple(self, app: dict, pipeline: dict, stage: str) -> dict:
        if stage not in PIPELINE_STAGES:
            raise invalid(f"stage: must be one of {', '.join(PIPELINE_STAGES)}")
        owner = (pipeline.get("owner") or {}).get("id")
        if owner and owner != (app.get("owner") or {}).get("id"):
            # Dev Center, "Pipeline Ownership Transition": "To add an app to
            # a pipeline, the app owner must be the same as the pipeline owner."
            raise invalid("To add an app to a pipeline, the app owner must be the "
                          "same as the pipeline owner.")
        with self.store.transaction():
            if self.store.find("pipeline-coupling", app_id=app["id"]):
                raise invalid("App is already part of a pipeline.")
            held = [self.store.get("app", c["app"]["id"]) for c in self.couplings(pipeline)]
            generation = fir.check_coupling(app, pipeline, [a for a in held if a])
            if generation != pipeline["generation"]["name"]:  # its first app's
                pipeline["generation"] = dict(FIR if generation == "fir" else GENERATION)
                self.store.put("pipeline", pipeline)
            ts = now()
            doc = {"id": new_id(), "created_at": ts, "updated_at": ts,
                   "app": {"id": app["id"]},
                   "pipeline": {"id": pipeline["id"], "name": pipeline["name"]},
                   "stage": stage}
            return self.store.put("pipeline-coupling", doc, app_id=app["id"])

    def uncouple(self, coupling: dict) -> dict:
        self.store.delete("pipeline-coupling", coupling["id"])
        return coupling

    def promote(self, pipeline: dict, source_app: dict, target_apps: list[dict],
                release_id: str | None = None) -> dict:
        """Release the source's slug on each target: the slug of
        ``source.release`` when given, else of the source's current release
        (the schema: "the specific release to promote from (optional,
        defaults to current release)")."""
        source = (self.release(source_app, release_id) if release_id
                  else self.current_release(source_app))
        if not fir.runnable(source):
            raise invalid("Source app has no slug to promote.")
        self.refuse_expired(source, "promote")
        ts = now()
        promotion = {
            "id": new_id(), "created_at": ts, "updated_at": None,
            "pipeline": {"id": pipeline["id"]},
            "source": {"app": {"id": source_app["id"]},
                       "release": {"id": source["id"]}},
            "status": "pending",
        }
        self.store.put("pipeline-promotion", promotion)
        targets = []
        for target_app in target_apps:
            t = {"id": new_id(), "app": {"id": target_app["id"]},
                 "pipeline_promotion": {"id": promotion["id"]},
                 "release": None, "status": "pending", "error_message": None}
            self.store.put("pipeline-promotion-target", t)
            targets.append((t, target_app))
        self.background(self._run_promotion, promotion, source, targets)
        return promotion

    def _run_promotion(self, promotion: dict, source: dict, targets: list) -> None:
        done = threading.Event()
        remaining = [len(targets)]
        lock = threading.Lock()

        def finished(t: dict):
            def cb(release: dict):
                t["release"] = {"id": release["id"]}
                t["status"] = "succeeded" if release["status"] == "succeeded" else "failed"
                if t["status"] == "failed":
                    t["error_message"] = "Release phase failed."
                self.store.put("pipeline-promotion-target", t)
                with lock:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        done.set()
            return cb

        for t, app in targets:
            try:
                # Promotion copies only the slug: the target keeps its own
                # config vars, add-ons and git repository.
                release = self.create_release(
                    app, fir.runnable(source),
                    description=f"Promote {source['app']['name']} v{source['version']}",
                    on_done=finished(t))
                if t["status"] == "pending":
                    t["release"] = {"id": release["id"]}
                    self.store.put("pipeline-promotion-target", t)
            except PlatformError as exc:
                t.update(status="failed", error_message=exc.message)
                self.store.put("pipeline-promotion-target", t)
                with lock:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        done.set()
        if not targets:
            done.set()
        done.wait()
        promotion.update(status="completed", updated_at=now())
        self.store.put("pipeline-promotion", promotion)

    def promotion(self, identity: str) -> dict:
        doc = self.store.get("pipeline-promotion", identity)
        if doc is None:
            raise not_found("pipeline promotion")
        return doc

    def promotion_targets(self, promotion: dict) -> list[dict]:
        return [t for t in self.store.find("pipeline-promotion-target")
                if t["pipeline_promotion"]["id"] == promotion["id"]]


def _quantity(value: Any, current: int) -> int:
    """Heroku accepts ints and, from the CLI, "2", "+1", "-1"."""
    if isinstance(value, bool):
        raise invalid("quantity: must be an integer")
    if isinstance(value, int):
        q = value
    elif isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        v = value.strip()
        q = current + int(v) if v[0] in "+-" else int(v)
    else:
        raise invalid(f"quantity: {value!r} is not an integer")
    if q < 0:
        raise invalid("quantity: must be zero or more")
    return q
