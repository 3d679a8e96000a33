"""Who may see which app: its owner, its team's members, its collaborators."""

from __future__ import annotations

from .common import Part, PlatformError, forbidden, invalid, new_id, not_found, now


class Access(Part):
    """An app's access rules and its collaborators."""

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
