"""Config vars: a change is a new release of the same slug."""

from __future__ import annotations

import re

from .. import fir
from .common import Part, invalid


class ConfigVars(Part):
    """An app's config vars."""

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
