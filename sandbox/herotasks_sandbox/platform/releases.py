"""Slugs and releases: release, the release phase, rollback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .. import fir
from .common import Part, PlatformError, invalid, new_id, not_found, now


class Releases(Part):
    """Slugs, an app's releases and which one is current."""

    #: Seconds after a release goes live during which the runtime does not
    #: see it yet, so ``POST /apps/{app}/dynos`` answers 409: heroku/cli
    #: ``src/lib/run/dyno.ts`` ``_doStart`` ("the runtime API sends back a
    #: 409 in the event the release isn't found yet", "typically a very
    #: short-lived condition"; the CLI retries twice, no pause between).
    #: An admin setting, ``release_visibility``; in memory.
    RELEASE_VISIBILITY = 0.5

    def release_seen(self, app: dict) -> None:
        """``POST /apps/{app}/dynos`` answers 409 while the app's newest
        release is younger than :attr:`release_visibility` seconds."""
        with self._seen_lock:
            seen = self._seen.get(app["id"])
        if seen is None:
            return
        at, version = seen
        if time.monotonic() - at < self.release_visibility:
            raise PlatformError(
                409, "conflict",
                f"Release v{version} of {app['name']} is not yet available to "
                "the dyno runtime. Please try again.")

    def _released(self, app_id: str, version: int) -> None:
        with self._seen_lock:
            self._seen[app_id] = (time.monotonic(), version)

    def slug(self, identity: str) -> dict:
        doc = self.store.get("slug", identity)
        if doc is None:
            raise not_found("slug")
        return doc

    def put_slug(self, slug: dict) -> dict:
        # Slugs outlive the app that built them (a scratch app's slug is
        # released elsewhere), so they belong to no app in the store.
        return self.store.put("slug", slug)

    def releases(self, app: dict) -> list[dict]:
        return sorted(self.store.find("release", app_id=app["id"]),
                      key=lambda r: r["version"])

    def release(self, app: dict, identity: str) -> dict:
        for r in self.releases(app):
            if identity in (r["id"], str(r["version"]), f"v{r['version']}"):
                return r
        raise not_found("release")

    def current_release(self, app: dict) -> dict:
        for r in reversed(self.releases(app)):
            if r["current"]:
                return r
        raise not_found("release")

    def _put_release(self, app: dict, *, slug: dict | None, description: str,
                     status: str, current: bool, config: dict | None = None) -> dict:
        versions = [r["version"] for r in self.releases(app)]
        rid, ts = new_id(), now()
        release = {
            "id": rid, "version": (max(versions) + 1) if versions else 1,
            "app": self.app_ref(app), "created_at": ts, "updated_at": ts,
            "description": description, "status": status, "current": current,
            **fir.release_fields(app, slug),  # a slug, or a Fir app's image
            "user": self.user(), "addon_plan_names": [],
            "output_stream_url": None,
            "eligible_for_rollback": status == "succeeded",
            "_config": dict(app["_config"] if config is None else config),
        }
        self.store.put("release", release, app_id=app["id"])
        return release

    def create_release(self, app: dict, slug_id: str | None, description: str | None = None,
                       *, config: dict | None = None,
                       on_done: Callable[[dict], None] | None = None) -> dict:
        """Release ``slug_id`` on ``app``.

        With a ``release`` process type the release stays ``pending`` while a
        release dyno runs it; success makes it current and restarts the
        dynos, failure marks it ``failed`` and changes nothing else.
        """
        slug = self.slug(slug_id) if slug_id else None
        if slug and slug.get("deleted_at"):
            raise invalid(f"Slug {slug_id} was deleted by the release retention "
                          "policy and can no longer be released.")
        if slug:
            fir.check_artifact(app, slug)
        phase = bool(slug and "release" in (slug.get("process_types") or {}))
        with self.store.transaction():
            app = self.app(app["id"])
            if config is not None:
                app["_config"] = dict(config)
                self.store.put("app", app)
            if description is None:
                description = (f"Deploy {slug['commit'][:8]}"
                               if slug and slug.get("commit") else "Deploy")
            release = self._put_release(
                app, slug=slug, description=description,
                status="pending" if phase else "succeeded", current=False)
            release["output_stream_url"] = (
                f"{self.api_url}/_sandbox/streams/releases/{release['id']}"
                if phase else None)
            release["eligible_for_rollback"] = False
            self.store.put("release", release, app_id=app["id"])
        if phase:
            self.background(self._release_phase, app, release, on_done)
        else:
            release = self._make_current(app, release)
            if on_done:
                on_done(release)
        self.retain_app(app["id"])  # a 21st release may push an old one out
        return release

    def _release_phase(self, app: dict, release: dict,
                       on_done: Callable[[dict], None] | None) -> None:
        ok = False
        try:
            ok = self.runtime.run_release_phase(app, release) == 0
        except Exception as exc:  # noqa: BLE001 - any failure fails the release
            self.log_release(release, f"release phase error: {exc}\n")
        with self.store.transaction():
            release = self.store.get("release", release["id"])
            if release is None:  # app destroyed meanwhile
                return
            if not ok:
                release["status"] = "failed"
                release["updated_at"] = now()
                self.store.put("release", release, app_id=app["id"])
        if ok:
            release = self._make_current(app, release)
        self.retain_app(app["id"])  # a 21st release may push an old one out
        if on_done:
            on_done(release)

    @staticmethod
    def refuse_expired(release: dict, doing: str) -> None:
        """One error for any use of an expired release's artifact (the
        wording is the sandbox's: Heroku documents only that rollback to an
        expired release is not supported)."""
        if release.get("status") == "expired":
            raise invalid(
                f"Cannot {doing} v{release['version']}: the release is expired, its "
                "slug was deleted by the release retention policy.")

    def release_log_path(self, release_id: str) -> Path:
        return self.root / "logs" / "releases" / f"{release_id}.log"

    def log_release(self, release: dict, text: str) -> None:
        path = self.release_log_path(release["id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(text)

    def _make_current(self, app: dict, release: dict) -> dict:
        with self.store.transaction():
            app = self.app(app["id"])
            for r in self.releases(app):
                if r["current"] and r["id"] != release["id"]:
                    r["current"] = False
                    self.store.put("release", r, app_id=app["id"])
            release = self.store.get("release", release["id"])
            release.update(status="succeeded", current=True, updated_at=now(),
                           eligible_for_rollback=True)
            self.store.put("release", release, app_id=app["id"])
            app["released_at"] = now()
            self._released(app["id"], release["version"])
            if fir.runnable(release):
                slug = self.slug(fir.runnable(release))
                self._sync_formation(app, slug.get("process_types") or {})
                app["slug_size"] = slug.get("size")
            self.store.put("app", app)
        if self.runtime is not None:
            self.runtime.deploy(app["id"], release["id"])
        return release

    def rollback(self, app: dict, release_id: str) -> dict:
        target = None
        for r in self.releases(app):
            if r["id"] == release_id:
                target = r
        if target is None:
            raise not_found("release")
        self.retain(force=True)
        target = self.store.get("release", target["id"])
        self.refuse_expired(target, "roll back to")
        if not target["eligible_for_rollback"] or not fir.runnable(target):
            raise invalid(f"Cannot roll back to v{target['version']}: it has no slug.")
        return self.create_release(app, fir.runnable(target),
                                   description=f"Rollback to v{target['version']}",
                                   config=target["_config"])
