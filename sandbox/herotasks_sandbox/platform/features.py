"""An app's features (``heroku features``): preboot and friends."""

from __future__ import annotations

import uuid

from .common import Part, invalid, not_found, now
from .formation import PREBOOT_SIZES

FEATURES = {
    "preboot": ("Provide seamless web dyno deploys by starting new web dynos "
                "before stopping old ones.", "https://devcenter.heroku.com/articles/preboot"),
    "runtime-dyno-metadata": ("Expose dyno metadata in the environment.",
                              "https://devcenter.heroku.com/articles/dyno-metadata"),
    "log-runtime-metrics": ("Emit dyno load and memory usage in the app's log.",
                            "https://devcenter.heroku.com/articles/log-runtime-metrics"),
}


class Features(Part):
    """The features an app can switch on."""

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
