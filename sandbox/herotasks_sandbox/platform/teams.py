"""Heroku Teams: teams and their members."""

from __future__ import annotations

from .apps import APP_NAME
from .common import Part, PlatformError, forbidden, invalid, new_id, not_found, now


class Teams(Part):
    """Teams, their members and the members' roles."""

    def is_member(self, team: dict, account: dict | None = None) -> dict | None:
        """``account``'s membership of ``team`` (None: not a member)."""
        account = account or self.account
        for m in self.store.find("team-member", app_id=team["id"]):
            if m["user"]["id"] == account["id"]:
                return m
        return None

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
