"""Apps: create, rename, change, delete; the account's app limit."""

from __future__ import annotations

import re
import uuid

from .. import fir
from .common import Part, forbidden, invalid, new_id, now
from .stacks import GENERATION, REGIONS, stack_ref

APP_NAME = re.compile(r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$")


class Apps(Part):
    """Apps and the regions they run in."""

    #: Dev Center "Limits": "An account can have up to 100 apps."
    APP_LIMIT = 100

    def app_limit(self) -> int:
        """How many apps the account may own (an admin setting, for tests)."""
        return int(self.store.setting("app_limit", self.APP_LIMIT))

    def set_app_limit(self, limit: int) -> None:
        self.store.set_setting("app_limit", int(limit))

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

    def region(self, identity: str) -> dict:
        for r in REGIONS.values():
            if identity in (r["id"], r["name"]):
                return r
        raise invalid(f"Couldn't find that region ({identity}).")
