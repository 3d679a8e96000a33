"""An in-memory stand-in for :class:`herotasks.adapters.heroku_api.HerokuAPI`.

Same method names and return shapes, just enough behaviour for the engine's
decisions: releases become current, rollbacks copy a slug, formation changes
replace dynos, app names are unique (422), missing things are 404. Every call
that changes something is appended to ``calls`` as ``(method, args...)`` so
tests assert order; ``fail[method]`` injects an error (or a callable run first).

The end-to-end tests run the same code against the real sandbox; this fake
only keeps unit tests fast and exact.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any, Callable

from herotasks.errors import ApiError

_ids = itertools.count(1)


def _id() -> str:
    return str(uuid.UUID(int=next(_ids)))


class FakeHeroku:
    base_url = "https://api.fake.test"
    _token = "fake-token-never-printed"

    def __init__(self) -> None:
        self.apps_: dict[str, dict] = {}
        self.config: dict[str, dict[str, str]] = {}
        self.features: dict[str, dict[str, bool]] = {}
        self.formation_: dict[str, dict[str, dict]] = {}
        self.releases_: dict[str, list[dict]] = {}
        self.slugs: dict[str, dict] = {}
        self.builds_: dict[str, list[dict]] = {}
        self.buildpacks_: dict[str, list[str]] = {}
        self.addons_: dict[str, list[dict]] = {}
        self.couplings: dict[str, dict] = {}
        self.promotions: dict[str, list[dict]] = {}
        self.calls: list[tuple] = []
        #: the env each one-off dyno was started with, in order
        self.dyno_envs: list[dict] = []
        self.fail: dict[str, Any] = {}
        self.dynos_state: dict[str, list[dict]] = {}
        self.release_status = "succeeded"  # what the next created release ends as
        self.dyno_state = "up"

    # -- test helpers -----------------------------------------------------------

    def add_app(self, name: str, *, formation: dict[str, tuple[int, str]] | None = None,
                preboot: bool = False, maintenance: bool = False,
                stack: str = "heroku-24", buildpacks: tuple[str, ...] = ()) -> dict:
        app = {"id": _id(), "name": name, "maintenance": maintenance,
               "git_url": f"https://git.fake.test/{name}.git",
               "stack": {"name": stack}, "build_stack": {"name": stack},
               "region": {"name": "us"}}
        self.apps_[name] = app
        self.config[name] = {}
        self.features[name] = {"preboot": preboot}
        self.formation_[name] = {
            t: {"type": t, "quantity": q, "size": s}
            for t, (q, s) in (formation or {}).items()}
        self.releases_[name] = []
        self.builds_[name] = []
        self.buildpacks_[name] = list(buildpacks)
        return app

    def add_release(self, app: str, *, commit: str | None = None,
                    process_types: dict | None = None,
                    description: str = "Deploy") -> dict:
        slug = self._slug(app, commit, process_types or {"web": "run"})
        return self._release(app, slug["id"], description, "succeeded")

    def mutations(self) -> list[str]:
        """Names of the changing calls, in order."""
        return [c[0] for c in self.calls]

    def _check(self, method: str, *args: Any) -> None:
        fault = self.fail.get(method)
        if fault is None:
            return
        if callable(fault) and not isinstance(fault, Exception):
            fault(*args)
        else:
            raise fault

    def _app(self, name: str) -> dict:
        if name not in self.apps_:
            raise ApiError("Couldn't find that app.", status=404, id="not_found",
                           request=f"GET /apps/{name}")
        return self.apps_[name]

    def _slug(self, app: str, commit: str | None, process_types: dict) -> dict:
        slug = {"id": _id(), "commit": commit, "commit_description": None,
                "process_types": dict(process_types), "app": app}
        self.slugs[slug["id"]] = slug
        return slug

    def _release(self, app: str, slug_id: str, description: str, status: str) -> dict:
        releases = self.releases_[app]
        release = {"id": _id(), "version": len(releases) + 1, "status": status,
                   "current": False, "slug": {"id": slug_id},
                   "description": description, "output_stream_url": None}
        releases.append(release)
        if status == "succeeded":
            for r in releases:
                r["current"] = r is release
            self._boot(app, release["version"])
        return release

    def _boot(self, app: str, version: int) -> None:
        dynos = []
        for p in self.formation_[app].values():
            for i in range(p["quantity"]):
                dynos.append({"name": f"{p['type']}.{i + 1}", "type": p["type"],
                              "state": self.dyno_state,
                              "release": {"version": version}})
        self.dynos_state[app] = dynos

    # -- the HerokuAPI surface ---------------------------------------------------

    def account(self) -> dict:
        self._check("account")
        return {"id": "acct", "email": "dev@example.com"}

    def apps(self) -> list[dict]:
        return list(self.apps_.values())

    def app(self, name: str) -> dict:
        self._check("app", name)
        return dict(self._app(name))

    def create_app(self, name: str, stack: str | None = None,
                   region: str | None = None, team: str | None = None,
                   space: str | None = None) -> dict:
        self._check("create_app", name)
        if name in self.apps_:
            raise ApiError("Name is already taken", status=422, id="invalid_params",
                           request="POST /apps")
        self.calls.append(("create_app", name, team, space))
        return dict(self.add_app(name, stack=stack or "heroku-24"))

    def collaborators(self, app: str) -> list[dict]:
        self._check("collaborators", app)
        return [{"user": {"email": e}} for e in self._app(app).get("_collaborators", [])]

    def add_collaborator(self, app: str, user: str) -> dict:
        self._check("add_collaborator", app, user)
        self.calls.append(("add_collaborator", app, user))
        self._app(app).setdefault("_collaborators", []).append(user)
        return {"user": {"email": user}}

    def delete_app(self, name: str, *, missing_ok: bool = False) -> dict | None:
        # Heroku takes an app's id or its name
        name = next((n for n, a in self.apps_.items() if a.get("id") == name), name)
        self._check("delete_app", name)
        if name not in self.apps_:
            if missing_ok:
                return None
            self._app(name)
        self.calls.append(("delete_app", name))
        return self.apps_.pop(name)

    def set_maintenance(self, app: str, on: bool) -> dict:
        self._check("set_maintenance", app, on)
        self.calls.append(("set_maintenance", app, on))
        self._app(app)["maintenance"] = bool(on)
        return self._app(app)

    def feature(self, app: str, name: str) -> dict:
        self._app(app)
        if name not in self.features[app]:
            raise ApiError("Couldn't find that feature.", status=404, id="not_found")
        return {"name": name, "enabled": self.features[app][name]}

    def set_feature(self, app: str, name: str, enabled: bool) -> dict:
        self._check("set_feature", app, name, enabled)
        self.calls.append(("set_feature", app, name, enabled))
        self.features[self._app(app)["name"]][name] = bool(enabled)
        return {"name": name, "enabled": bool(enabled)}

    def formation(self, app: str) -> list[dict]:
        self._app(app)
        return [dict(p) for p in self.formation_[app].values()]

    def update_formation(self, app: str, updates: list[dict]) -> list[dict]:
        self._check("update_formation", app, updates)
        self.calls.append(("update_formation", app,
                           [dict(u) for u in updates]))
        for u in updates:
            p = self.formation_[app].setdefault(
                u["type"], {"type": u["type"], "quantity": 0, "size": "standard-1x"})
            if "quantity" in u:
                p["quantity"] = int(u["quantity"])
            if u.get("size"):
                p["size"] = u["size"]
        current = self.current_release(app)
        if current:
            self._boot(app, current["version"])
        # (not through self.formation: a test may count herotasks' looks)
        return [dict(p) for p in self.formation_[app].values()]

    def config_vars(self, app: str) -> dict:
        self._check("config_vars", app)
        self._app(app)
        return dict(self.config[app])

    def update_config_vars(self, app: str, mapping: dict) -> dict:
        self._check("update_config_vars", app, mapping)
        self._app(app)
        self.calls.append(("update_config_vars", app, dict(mapping)))
        for k, v in mapping.items():
            if v is None:
                self.config[app].pop(k, None)
            else:
                self.config[app][k] = v
        return dict(self.config[app])

    def addons(self, app: str) -> list[dict]:
        self._app(app)
        return list(self.addons_.get(app, []))

    def buildpacks(self, app: str) -> list[dict]:
        self._app(app)
        return [{"buildpack": {"url": u, "name": u}, "ordinal": i}
                for i, u in enumerate(self.buildpacks_[app])]

    def set_buildpacks(self, app: str, urls: list[str]) -> list[dict]:
        self.calls.append(("set_buildpacks", app, list(urls)))
        self.buildpacks_[app] = list(urls)
        return self.buildpacks(app)

    def releases(self, app: str, limit: int | None = None) -> list[dict]:
        self._app(app)
        newest = [dict(r) for r in reversed(self.releases_[app])]
        return newest[:limit] if limit else newest

    def release(self, app: str, id_or_version: Any) -> dict:
        for r in self.releases_[app]:
            if id_or_version in (r["id"], r["version"], str(r["version"])):
                return dict(r)
        raise ApiError("Couldn't find that release.", status=404, id="not_found")

    def current_release(self, app: str) -> dict | None:
        self._check("current_release", app)
        return next((dict(r) for r in reversed(self.releases_[app]) if r["current"]),
                    None)

    def create_release(self, app: str, slug_id: str,
                       description: str | None = None) -> dict:
        self._check("create_release", app, slug_id)
        self.calls.append(("create_release", app, slug_id))
        return dict(self._release(app, slug_id, description or "Deploy",
                                  self.release_status))

    def rollback(self, app: str, release_id: str) -> dict:
        self._check("rollback", app, release_id)
        self.calls.append(("rollback", app, release_id))
        target = self.release(app, release_id)
        return dict(self._release(app, target["slug"]["id"],
                                  f"Rollback to v{target['version']}", "succeeded"))

    def wait_release(self, app: str, release_id: str, timeout: float,
                     pauses=None) -> dict:
        return self.release(app, release_id)

    def slug(self, app: str, slug_id: str) -> dict:
        if slug_id not in self.slugs:
            raise ApiError("Couldn't find that slug.", status=404, id="not_found")
        return dict(self.slugs[slug_id])

    def build(self, app: str, build_id: str) -> dict:
        return next(b for b in self.builds_[app] if b["id"] == build_id)

    def builds(self, app: str) -> list[dict]:
        return list(reversed(self.builds_[app]))

    def receive_push(self, app: str, sha: str, process_types: dict | None = None,
                     ok: bool = True) -> dict:
        """What Heroku does on `git push`: build, and release on success."""
        build = {"id": _id(), "status": "succeeded" if ok else "failed",
                 "source_blob": {"version": sha}, "slug": None}
        if ok:
            slug = self._slug(app, sha, process_types or {"web": "run"})
            build["slug"] = {"id": slug["id"]}
            if not self.formation_[app]:  # a first release starts web=1
                self.formation_[app]["web"] = {"type": "web", "quantity": 1,
                                               "size": "basic"}
            release = self._release(app, slug["id"], f"Deploy {sha[:7]}", "succeeded")
            build["release"] = {"id": release["id"]}  # as Heroku's build info
        self.builds_[app].append(build)
        return build

    def create_dyno(self, app: str, command: str, *, attach: bool,
                    env: dict | None = None, size: str | None = None,
                    type: str = "run", time_to_live: int | None = None) -> dict:
        self._check("create_dyno", app, command)
        self.calls.append(("create_dyno", app, command))
        self.dyno_envs.append(dict(env or {}))
        return {"id": _id(), "name": "run.1", "type": "run", "state": "starting",
                "attach_url": f"rendezvous://127.0.0.1:5000/{_id()}"}

    def stop_dyno(self, app: str, dyno: str) -> None:
        self._check("stop_dyno", app, dyno)
        self.calls.append(("stop_dyno", app, dyno))

    def dynos(self, app: str) -> list[dict]:
        self._app(app)
        return [dict(d) for d in self.dynos_state.get(app, [])]

    def restart_dynos(self, app: str) -> None:
        self._check("restart_dynos", app)
        self.calls.append(("restart_dynos", app))

    def pipeline_coupling(self, app: str) -> dict | None:
        return self.couplings.get(app)

    def couple(self, pipeline_id: str, app: str, stage: str) -> dict:
        self.calls.append(("couple", app, stage))
        self.couplings[app] = {"pipeline": {"id": pipeline_id}, "stage": stage,
                               "app": {"id": self._app(app)["id"]}}
        return self.couplings[app]

    def promote(self, pipeline_id: str, source_app_id: str,
                target_app_ids: list[str], release_id: str | None = None) -> dict:
        self.calls.append(("promote", source_app_id, list(target_app_ids)))
        source = next(a for a in self.apps_.values() if a["id"] == source_app_id)
        picked = (self.release(source["name"], release_id) if release_id
                  else self.current_release(source["name"]))
        slug_id = picked["slug"]["id"]
        targets = []
        for target_id in target_app_ids:
            target = next(a for a in self.apps_.values() if a["id"] == target_id)
            release = self._release(target["name"], slug_id,
                                    f"Promote {source['name']}", self.release_status)
            targets.append({"app": {"id": target_id}, "status": "succeeded",
                            "release": {"id": release["id"]}, "error_message": None})
        promotion = {"id": _id(), "status": "completed"}
        self.promotions[promotion["id"]] = targets
        return promotion

    def promotion_targets(self, promotion_id: str) -> list[dict]:
        return self.promotions[promotion_id]

    def stream(self, url: str, out: Callable[[str], Any], **kw: Any) -> bool:
        return True


class FakeSession:
    """:class:`herotasks.adapters.rendezvous.Session` without a socket: a
    held dyno that is ready at once; told to go, it runs as the test's
    (patched) ``rendezvous.attach`` says, looked up then."""

    opened: list["FakeSession"] = []

    def __init__(self, attach_url: str, **kw: Any) -> None:
        self.url, self.sent, self.closed = attach_url, b"", False
        FakeSession.opened.append(self)

    def until(self, out: Any, line: str, **kw: Any) -> int | None:
        return None

    def send(self, data: bytes) -> None:
        self.sent += data

    def finish(self, out: Any, **kw: Any) -> int:
        from herotasks.adapters import rendezvous

        return rendezvous.attach(self.url, out)

    def close(self) -> None:
        self.closed = True
