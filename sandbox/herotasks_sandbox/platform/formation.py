"""The formation: how many dynos of each process type, of which size."""

from __future__ import annotations

import re
import uuid
from typing import Any

from .. import fir
from .common import Part, PlatformError, invalid, new_id, now
from .stacks import FIR, GENERATION

PROCESS_TYPE = re.compile(r"^[-\w]{1,128}$")

#: Cedar's sizes the sandbox offers: (name, compute, memory GB, dedicated,
#: dollars a month, dyno units). Memory and compute (the low end of the
#: "Compute" column) from Dev Center *Dyno Types* (June 2024); prices from
#: heroku/cli 11.10.0 ``dist/commands/ps/type.js`` ``COST_MONTHLY`` (Eco is a
#: shared pool, $0 per dyno there); dyno units where Heroku's dyno-type table
#: gave them (Standard 1 and 2, Performance-M 8, -L 16), else left out.
CEDAR_SIZES = (
    ("Eco", 1, 0.5, False, 0, None), ("Basic", 1, 0.5, False, 7, None),
    ("Standard-1X", 1, 0.5, False, 25, 1.0), ("Standard-2X", 2, 1.0, False, 50, 2.0),
    ("Performance-M", 12, 2.5, True, 250, 8.0), ("Performance-L", 50, 14.0, True, 500, 16.0),
)


def _size_doc(name: str, generation: dict, *, compute: int, memory: float,
              dedicated: bool, cost: int | None, units: float | None,
              architecture: str, private_space_only: bool) -> dict:
    """A ``dyno-size`` document (the schema's attributes)."""
    doc = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dyno-size:{name}")), "name": name,
           "architecture": architecture, "compute": compute, "memory": memory,
           "dedicated": dedicated, "private_space_only": private_space_only,
           "generation": dict(generation),
           "cost": None if cost is None else {"cents": cost * 100, "unit": "month"}}
    if units is not None:
        doc["precise_dyno_units"] = units
    return doc


#: Every size, by lower-case name: Cedar's, then Fir's (fir.py ``SIZES``).
SIZES: dict[str, dict] = {
    **{name.lower(): _size_doc(name, GENERATION, compute=compute, memory=memory,
                               dedicated=dedicated, cost=cost, units=units,
                               architecture="amd64", private_space_only=False)
       for name, compute, memory, dedicated, cost, units in CEDAR_SIZES},
    **{name.lower(): _size_doc(name, FIR, compute=cores, memory=memory,
                               dedicated=False, cost=None, units=None,
                               architecture=fir.ARCHITECTURE, private_space_only=True)
       for name, cores, memory in fir.SIZES},
}

#: ``{id, name}`` of each size, as a formation's ``dyno_size`` shows it.
DYNO_SIZES = {key: {"id": doc["id"], "name": doc["name"]} for key, doc in SIZES.items()}

#: A new formation entry's and a one-off's size when none is asked for.
DEFAULT_SIZE = "Standard-1X"


def generation_of(size: dict) -> str:
    return size["generation"]["name"]


def default_size(app: dict) -> str:
    """The size a new process type or one-off of ``app`` gets (Fir:
    fir.DEFAULT_SIZE)."""
    return fir.DEFAULT_SIZE if fir.is_fir(app) else DEFAULT_SIZE


def app_size(app: dict, name: Any) -> dict:
    """The size called ``name`` (any case) for ``app``; 422 for no such size
    and for a size of the other generation (fir.py ``check_size``)."""
    size = SIZES.get(str(name).lower())
    if size is None:
        raise invalid(f"Invalid dyno size: {name}")
    fir.check_size(app, size)
    return size


def sizes_for(app: dict) -> list[dict]:
    """``GET /apps/{app}/available-dyno-sizes``: the sizes of its generation."""
    gen = fir.generation_name(app)
    return [dict(s) for s in SIZES.values() if generation_of(s) == gen]


PREBOOT_SIZES = {"standard-1x", "standard-2x", "performance-m", "performance-l"}


class Formation(Part):
    """An app's formation: scaling, and one entry per process type."""

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
                    size = app_size(app, u["size"])
                    entry["size"] = size["name"]
                    entry["dyno_size"] = {"id": size["id"], "name": size["name"]}
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
                size = DYNO_SIZES[default_size(app).lower()]
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
