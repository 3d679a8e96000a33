"""Pipelines: couplings and promotions."""

from __future__ import annotations

import threading

from .. import fir
from .common import Part, PlatformError, invalid, new_id, not_found, now
from .stacks import FIR, GENERATION

PIPELINE_STAGES = ("test", "review", "development", "staging", "production")


class Pipelines(Part):
    """Pipelines, their apps (couplings) and promotions."""

    def pipeline(self, identity: str) -> dict:
        return self._by_id_or_name("pipeline", identity, "pipeline")

    def create_pipeline(self, name: str, owner: dict | None = None) -> dict:
        """A pipeline owned by the account, or by ``owner`` (``{id, type}``,
        a team the account is in)."""
        if owner:
            if owner.get("type") == "team":
                owner = {"id": self.team_for(str(owner.get("id")))["id"], "type": "team"}
            elif owner.get("id") != self.account["id"]:
                raise invalid("owner: must be this account or one of its teams")
        with self.store.transaction():
            if self.store.find("pipeline", name=name):
                raise invalid("Name is already taken")
            ts = now()
            doc = {"id": new_id(), "name": name, "created_at": ts, "updated_at": ts,
                   "owner": owner or {"id": self.account["id"], "type": "user"},
                   "generation": dict(GENERATION)}
            return self.store.put("pipeline", doc)

    def delete_pipeline(self, pipeline: dict) -> dict:
        with self.store.transaction():
            for c in self.couplings(pipeline):
                self.store.delete("pipeline-coupling", c["id"])
            self.store.delete("pipeline", pipeline["id"])
        return pipeline

    def couplings(self, pipeline: dict) -> list[dict]:
        return [c for c in self.store.find("pipeline-coupling")
                if c["pipeline"]["id"] == pipeline["id"]]

    def coupling_for_app(self, app: dict) -> dict:
        found = self.store.find("pipeline-coupling", app_id=app["id"])
        if not found:
            raise not_found("pipeline coupling")
        return found[0]

    def couple(self, app: dict, pipeline: dict, stage: str) -> dict:
        if stage not in PIPELINE_STAGES:
            raise invalid(f"stage: must be one of {', '.join(PIPELINE_STAGES)}")
        owner = (pipeline.get("owner") or {}).get("id")
        if owner and owner != (app.get("owner") or {}).get("id"):
            # Dev Center, "Pipeline Ownership Transition": "To add an app to
            # a pipeline, the app owner must be the same as the pipeline owner."
            raise invalid("To add an app to a pipeline, the app owner must be the "
                          "same as the pipeline owner.")
        with self.store.transaction():
            if self.store.find("pipeline-coupling", app_id=app["id"]):
                raise invalid("App is already part of a pipeline.")
            held = [self.store.get("app", c["app"]["id"]) for c in self.couplings(pipeline)]
            generation = fir.check_coupling(app, pipeline, [a for a in held if a])
            if generation != pipeline["generation"]["name"]:  # its first app's
                pipeline["generation"] = dict(FIR if generation == "fir" else GENERATION)
                self.store.put("pipeline", pipeline)
            ts = now()
            doc = {"id": new_id(), "created_at": ts, "updated_at": ts,
                   "app": {"id": app["id"]},
                   "pipeline": {"id": pipeline["id"], "name": pipeline["name"]},
                   "stage": stage}
            return self.store.put("pipeline-coupling", doc, app_id=app["id"])

    def uncouple(self, coupling: dict) -> dict:
        self.store.delete("pipeline-coupling", coupling["id"])
        return coupling

    def promote(self, pipeline: dict, source_app: dict, target_apps: list[dict],
                release_id: str | None = None) -> dict:
        """Release the source's slug on each target: the slug of
        ``source.release`` when given, else of the source's current release
        (the schema: "the specific release to promote from (optional,
        defaults to current release)")."""
        source = (self.release(source_app, release_id) if release_id
                  else self.current_release(source_app))
        if not fir.runnable(source):
            raise invalid("Source app has no slug to promote.")
        self.refuse_expired(source, "promote")
        ts = now()
        promotion = {
            "id": new_id(), "created_at": ts, "updated_at": None,
            "pipeline": {"id": pipeline["id"]},
            "source": {"app": {"id": source_app["id"]},
                       "release": {"id": source["id"]}},
            "status": "pending",
        }
        self.store.put("pipeline-promotion", promotion)
        targets = []
        for target_app in target_apps:
            t = {"id": new_id(), "app": {"id": target_app["id"]},
                 "pipeline_promotion": {"id": promotion["id"]},
                 "release": None, "status": "pending", "error_message": None}
            self.store.put("pipeline-promotion-target", t)
            targets.append((t, target_app))
        self.background(self._run_promotion, promotion, source, targets)
        return promotion

    def _run_promotion(self, promotion: dict, source: dict, targets: list) -> None:
        done = threading.Event()
        remaining = [len(targets)]
        lock = threading.Lock()

        def finished(t: dict):
            def cb(release: dict):
                t["release"] = {"id": release["id"]}
                t["status"] = "succeeded" if release["status"] == "succeeded" else "failed"
                if t["status"] == "failed":
                    t["error_message"] = "Release phase failed."
                self.store.put("pipeline-promotion-target", t)
                with lock:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        done.set()
            return cb

        for t, app in targets:
            try:
                # Promotion copies only the slug: the target keeps its own
                # config vars, add-ons and git repository.
                release = self.create_release(
                    app, fir.runnable(source),
                    description=f"Promote {source['app']['name']} v{source['version']}",
                    on_done=finished(t))
                if t["status"] == "pending":
                    t["release"] = {"id": release["id"]}
                    self.store.put("pipeline-promotion-target", t)
            except PlatformError as exc:
                t.update(status="failed", error_message=exc.message)
                self.store.put("pipeline-promotion-target", t)
                with lock:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        done.set()
        if not targets:
            done.set()
        done.wait()
        promotion.update(status="completed", updated_at=now())
        self.store.put("pipeline-promotion", promotion)

    def promotion(self, identity: str) -> dict:
        doc = self.store.get("pipeline-promotion", identity)
        if doc is None:
            raise not_found("pipeline promotion")
        return doc

    def promotion_targets(self, promotion: dict) -> list[dict]:
        return [t for t in self.store.find("pipeline-promotion-target")
                if t["pipeline_promotion"]["id"] == promotion["id"]]
