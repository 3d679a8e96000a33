"""The formation: how many dynos of each process type, of which size."""

from __future__ import annotations

import re
import uuid
from typing import Any

from .common import Part, PlatformError, invalid, new_id, now

PROCESS_TYPE = re.compile(r"^[-\w]{1,128}$")

DYNO_SIZES = {
    name.lower(): {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dyno-size:{name}")),
                   "name": name}
    for name in ("Eco", "Basic", "Standard-1X", "Standard-2X", "Performance-M",
                 "Performance-L")
}

DEFAULT_SIZE = "Standard-1X"

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
