"""Add-ons and their attachments: the sandbox's heroku-postgresql.

The documents are the schema's ``add-on`` and ``add-on-attachment``. One
service is offered, ``heroku-postgresql``, backed by a real PostgreSQL
server (``postgres.py``). As on Heroku:

- creating one provisions a database and attaches it to its app as
  ``DATABASE`` (``DATABASE_URL``) when that name is free, else as
  ``HEROKU_POSTGRESQL_<COLOR>``; the attachment sets the config var, which
  makes a new release (``Attach DATABASE (@ref:postgresql-...)``);
- attaching it to another app (``POST /addon-attachments``) gives that app
  the same URL; detaching removes the var (``Detach ...``);
- destroying it (or its app) detaches it everywhere and drops the database.

Provisioning is synchronous (the state is ``provisioned`` at once): the
sandbox's databases take a moment, not minutes.
"""

from __future__ import annotations

import logging
import random
import re
from typing import Any

from .platform import Platform, PlatformError, invalid, new_id, now, public
from .postgres import PostgresServer, PostgresUnavailable

log = logging.getLogger("herotasks_sandbox")

SERVICE = {"id": "6c67493d-8fc2-4cd4-9161-4f1ec11cbe69", "name": "heroku-postgresql",
           "human_name": "Heroku Postgres", "cli_plugin_name": None,
           "state": "ga", "supports_multiple_installations": True,
           "supports_sharing": True, "supported_generations": [],
           "created_at": "2012-01-01T00:00:00Z", "updated_at": "2012-01-01T00:00:00Z"}
#: The plans the sandbox accepts (all the same here); the first is the default.
PLANS = ("essential-0", "essential-1", "essential-2", "standard-0", "premium-0")
COLORS = ("AMBER", "BLUE", "BRONZE", "CHARCOAL", "COBALT", "COPPER", "CRIMSON",
          "GOLD", "GRAY", "GREEN", "IVORY", "JADE", "MAROON", "NAVY", "OLIVE",
          "ONYX", "ORANGE", "PINK", "PURPLE", "RED", "ROSE", "SILVER", "TEAL",
          "WHITE", "YELLOW")
WORDS = ("amorphous", "angular", "animated", "aerodynamic", "clean", "closed",
         "colorful", "concave", "contoured", "convex", "cubic", "curved", "deep",
         "dimensional", "elliptical", "flat", "fluffy", "encircled", "horizontal",
         "infinite", "opaque", "parallel", "polished", "reticulated", "round",
         "rugged", "shallow", "shaped", "sinuous", "slippery", "solid", "spherical",
         "symmetrical", "tetrahedral", "transparent", "triangular", "vertical")
#: What Heroku Postgres says once a database is ready (the CLI prints it).
PROVISION_MESSAGE = ("Database has been created and is available\n"
                     " ! This database is empty. If upgrading, you can transfer\n"
                     " ! data from another database with pg:copy")
ATTACHMENT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def plan_doc(name: str) -> dict:
    return {"id": _plan_id(name), "name": f"heroku-postgresql:{name}",
            "human_name": name.replace("-", " ").title(), "price":
            {"cents": 0, "unit": "month", "contract": False, "metered": False}}


def _plan_id(name: str) -> str:
    return f"b4c2d6e8-0000-4000-8000-{PLANS.index(name):012d}"


class Addons:
    """The add-on API's logic; documents live in the platform's store."""

    def __init__(self, platform: Platform, tls: Any):
        self.platform = platform
        self.store = platform.store
        self.postgres = PostgresServer(platform.root, tls, platform.store)

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        """Start the database server when add-ons need it."""
        if self.store.find("add-on"):
            try:
                self.postgres.ensure()
            except PostgresUnavailable as exc:
                log.error("postgres: %s", exc)

    def stop(self) -> None:
        self.postgres.stop()

    # -- add-ons --------------------------------------------------------------------
    def addons(self, app: dict | None = None) -> list[dict]:
        docs = self.store.find("add-on")
        if app is None:
            return docs
        attached = {a["addon"]["id"] for a in self.attachments(app)}
        return [d for d in docs if d["app"]["id"] == app["id"] or d["id"] in attached]

    def addon(self, identity: str, app: dict | None = None) -> dict:
        """By id or name (or, with ``app``, an attachment name of that app)."""
        for doc in self.store.find("add-on"):
            if identity in (doc["id"], doc["name"]):
                return doc
        if app is not None:
            for att in self.attachments(app):
                if att["name"] == identity:
                    return self.addon(att["addon"]["id"])
        raise PlatformError(404, "not_found", "Couldn't find that add on.", resource="add_on")

    def create(self, app: dict, body: dict) -> dict:
        service, _, plan = str(body["plan"]).partition(":")
        if service != SERVICE["name"]:
            raise invalid(f"Couldn't find either the add-on service or the add-on "
                          f"plan of \"{body['plan']}\": the sandbox provides only "
                          "heroku-postgresql.")
        plan = plan or PLANS[0]
        if plan not in PLANS:
            raise invalid(f"Couldn't find either the add-on service or the add-on "
                          f"plan of \"{body['plan']}\" (the sandbox has "
                          + ", ".join(PLANS) + ").")
        name = body.get("name") or self._new_name()
        if not re.match(r"^[a-zA-Z][A-Za-z0-9_-]+$", name):
            raise invalid("name: must start with a letter and use letters, digits, "
                          "- and _")
        if any(d["name"] == name for d in self.store.find("add-on")):
            raise invalid(f"Name {name} is already used by another add-on.")
        as_name = (body.get("attachment") or {}).get("name")
        as_name = self._attachment_name(app, as_name)
        try:
            db = self.postgres.create_database()
        except PostgresUnavailable as exc:
            raise invalid(str(exc)) from None
        ts = now()
        addon = {
            "actions": [], "addon_service": {"id": SERVICE["id"], "name": SERVICE["name"]},
            "app": self.platform.app_ref(app),
            "billing_entity": {"id": app["id"], "name": app["name"], "type": "app"},
            "billed_price": {"cents": 0, "contract": False, "unit": "month"},
            "config_vars": [f"{as_name}_URL"], "created_at": ts, "id": new_id(),
            "name": name, "plan": {"id": _plan_id(plan),
                                   "name": f"heroku-postgresql:{plan}"},
            "provider_id": f"resource{random.randint(10**8, 10**9 - 1)}@heroku.com",
            "provision_message": PROVISION_MESSAGE, "state": "provisioned", "updated_at": ts,
            "web_url": None, "_database": db["database"], "_user": db["user"],
            "_url": db["url"],
        }
        self.store.put("add-on", addon, app_id=app["id"])
        self._attach(app, addon, as_name)
        return addon

    def delete(self, addon: dict) -> dict:
        """Detach everywhere, drop the database, forget it."""
        for att in self.store.find("add-on-attachment"):
            if att["addon"]["id"] == addon["id"]:
                self._detach(att)
        try:
            self.postgres.drop_database(addon["_database"], addon["_user"])
        except PostgresUnavailable as exc:
            log.error("postgres: dropping %s: %s", addon["name"], exc)
        self.store.delete("add-on", addon["id"])
        return {**addon, "state": "deprovisioned", "config_vars": [], "updated_at": now()}

    def app_deleted(self, app: dict) -> None:
        """Before the app's documents go: its add-ons go (their databases
        dropped, other apps' attachments of them removed), and its own
        attachments of others' add-ons are forgotten."""
        for addon in self.store.find("add-on", app_id=app["id"]):
            self.delete(addon)

    def view(self, addon: dict, expand: str = "") -> dict:
        """The API shape; ``Accept-Expansion: plan,addon_service`` adds detail."""
        doc = public(addon)
        doc["config_vars"] = [f"{a['name']}_URL" for a in self.store.find(
            "add-on-attachment") if a["addon"]["id"] == addon["id"]
            and a["app"]["id"] == addon["app"]["id"]] or doc["config_vars"]
        if "plan" in expand:
            doc["plan"] = {**doc["plan"],
                           **plan_doc(doc["plan"]["name"].partition(":")[2])}
        if "addon_service" in expand:
            doc["addon_service"] = dict(SERVICE)
        return doc

    # -- attachments ------------------------------------------------------------------
    def attachments(self, app: dict | None = None) -> list[dict]:
        return self.store.find("add-on-attachment",
                               **({"app_id": app["id"]} if app else {}))

    def attachment(self, identity: str, app: dict | None = None) -> dict:
        for att in self.attachments(app):
            if identity in (att["id"], att["name"]):
                return att
        raise PlatformError(404, "not_found", "Couldn't find that add on attachment.",
                       resource="add_on attachment")

    def attach(self, body: dict) -> dict:
        """``POST /addon-attachments``: share an add-on with another app."""
        app = self.platform.app(body["app"])
        addon = self.addon(body["addon"])
        name = self._attachment_name(app, body.get("name"))
        return self._attach(app, addon, name)

    def detach(self, att: dict) -> dict:
        """``DELETE /addon-attachments/{id}``: the app loses the var."""
        return self._detach(att)

    # -- helpers --------------------------------------------------------------------
    def _attachment_name(self, app: dict, wanted: str | None) -> str:
        taken = {a["name"] for a in self.attachments(app)}
        config = self.platform.config_vars(self.platform.app(app["id"]))
        if wanted:
            wanted = wanted.upper()
            if not ATTACHMENT_NAME.match(wanted):
                raise invalid("attachment name: letters, digits and _ only, "
                              "starting with a letter")
            if wanted in taken or f"{wanted}_URL" in config:
                raise invalid(f"{wanted}_URL is already set on {app['name']}")
            return wanted
        if "DATABASE" not in taken and "DATABASE_URL" not in config:
            return "DATABASE"
        free = [c for c in COLORS if f"HEROKU_POSTGRESQL_{c}" not in taken]
        if not free:
            raise invalid("No attachment name is left on this app.")
        return f"HEROKU_POSTGRESQL_{random.choice(free)}"

    def _attach(self, app: dict, addon: dict, name: str) -> dict:
        ts = now()
        att = {"addon": {"id": addon["id"], "name": addon["name"],
                         "app": dict(addon["app"])},
               "app": self.platform.app_ref(app), "created_at": ts, "id": new_id(),
               "name": name, "namespace": None, "updated_at": ts, "web_url": None,
               "log_input_url": None}
        self.store.put("add-on-attachment", att, app_id=app["id"])
        self.platform.update_config_vars(
            self.platform.app(app["id"]), {f"{name}_URL": addon["_url"]},
            description=f"Attach {name} (@ref:{addon['name']})")
        return att

    def _detach(self, att: dict) -> dict:
        self.store.delete("add-on-attachment", att["id"])
        try:
            app = self.platform.app(att["app"]["id"])
        except PlatformError:
            return att
        if f"{att['name']}_URL" in self.platform.config_vars(app):
            self.platform.update_config_vars(
                app, {f"{att['name']}_URL": None},
                description=f"Detach {att['name']} (@ref:{att['addon']['name']})")
        return att

    def _new_name(self) -> str:
        taken = {d["name"] for d in self.store.find("add-on")}
        while True:
            name = f"postgresql-{random.choice(WORDS)}-{random.randint(10000, 99999)}"
            if name not in taken:
                return name
