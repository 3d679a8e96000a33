"""Heroku's release retention, and the clock tests move to age releases."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from .. import fir
from .common import CLOCK, Part, now, parse_time


def _younger(doc: dict, cutoff: datetime) -> bool:
    """Made after ``cutoff`` (a document with no ``created_at``, as tests
    make them, counts as new)."""
    stamp = doc.get("created_at")
    return not stamp or parse_time(stamp) > cutoff


class Retention(Part):
    """Which slugs the release retention policy destroys."""

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
