"""Private Spaces: a team's spaces, in a Private Spaces region."""

from __future__ import annotations

from .common import Part, forbidden, invalid, new_id, now
from .stacks import FIR, GENERATION


class Spaces(Part):
    """A team's Private Spaces."""

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
