"""The Platform API v3 routes of the sandbox.

Each route names the schema link it implements (``resource``, ``title``):
request bodies are validated against that link's schema before the handler
runs, and ``sandbox/tests/test_schema_conformance.py`` validates every
response against the link's ``targetSchema``. ``ROUTES`` is the list of
what the sandbox implements; the server does HTTP, auth, paging and errors.
The sandbox's own admin endpoints (``admin.py``) are on the same table,
marked ``admin``: the server answers them behind the admin token instead.

Handlers get ``(platform, request)`` and return ``(status, body)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from . import fir, schema
from .platform import REGIONS, Platform, PlatformError, invalid, not_found, public
from .platform.formation import SIZES, sizes_for


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    # The query string, e.g. Heroku's list filters (``eq[name]=...``).
    query: dict[str, str] = field(default_factory=dict)
    # The running server (``server.Sandbox``), for the admin routes only.
    sandbox: Any = None


@dataclass(frozen=True)
class Route:
    method: str
    regex: re.Pattern
    handler: Callable[[Platform, Request], tuple[int, Any]]
    resource: str | None
    title: str | None
    # Normalises what real clients send before schema validation.
    lenient: Callable[[Any], Any] | None = None
    # The sandbox's own (``/_sandbox/admin/...``), not Heroku's.
    admin: bool = False


ROUTES: list[Route] = []


def route(method: str, pattern: str, resource: str | None = None,
          title: str | None = None, lenient: Callable | None = None,
          admin: bool = False):
    regex = re.compile(
        "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

    def register(fn):
        ROUTES.append(Route(method, regex, fn, resource, title, lenient, admin))
        return fn
    return register


def match(method: str, path: str,
          admin: bool = False) -> tuple[Route, dict] | tuple[None, bool]:
    """The route for ``method path`` (an API route, or with ``admin`` an
    admin one); ``(None, True)`` when the path exists with another method,
    ``(None, False)`` when it does not exist."""
    path_exists = False
    for r in ROUTES:
        if r.admin != admin:
            continue
        m = r.regex.match(path)
        if m:
            path_exists = True
            if r.method == method:
                return r, m.groupdict()
    return None, path_exists


def _bools(*keys: str):
    """heroku3 sends 0/1 for booleans; Heroku's API accepts them."""
    def fix(body):
        if isinstance(body, dict):
            for k in keys:
                if body.get(k) in (0, 1) and not isinstance(body.get(k), bool):
                    body[k] = bool(body[k])
        return body
    return fix


def _formation_lenient(body):
    """The CLI sends string/relative quantities and ``size``; keep them for
    the handler (stashed) and show the schema what it describes."""
    if not isinstance(body, dict):
        return body
    items = body.get("updates") if "updates" in body else [body]
    if not isinstance(items, list):
        return body
    for u in items:
        if not isinstance(u, dict):
            continue
        if isinstance(u.get("quantity"), str):
            u["_quantity"] = u.pop("quantity")
        if "size" in u and "dyno_size" not in u:
            u["_size"] = u.pop("size")
    return body


def _public_view(body):
    """What the schema validator sees: the body without stashed ``_`` keys."""
    if isinstance(body, dict):
        return {k: _public_view(v) for k, v in body.items() if not k.startswith("_")}
    if isinstance(body, list):
        return [_public_view(v) for v in body]
    return body


def validate_body(r: Route, body: Any) -> Any:
    """Normalise leniently, then check against the official schema."""
    if r.lenient is not None:
        body = r.lenient(body)
    if r.resource and r.title:
        errors = schema.request_errors(r.resource, r.title, _public_view(body))
        if errors:
            raise invalid("Invalid params: " + "; ".join(errors))
    return body


def _app(p: Platform, req: Request) -> dict:
    # 404 for no such app, 403 for another user's (Platform.app_for)
    return p.app_for(req.params["app"])


def _need_dict(body) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid("Invalid params: the request body must be a JSON object")
    return body


# -- account --------------------------------------------------------------------
@route("GET", "/account", "account", "Info")
def account_info(p, req):
    return 200, p.account


@route("GET", "/users/{user}", "account", "Info By User")
def account_by_user(p, req):
    # `heroku pipelines:create` reads its owner from /users/~ ("~" is oneself).
    if req.params["user"] not in ("~", p.account["id"], p.account["email"]):
        raise not_found("user")
    return 200, p.account


@route("GET", "/regions", "region", "List")
def region_list(p, req):
    return 200, list(REGIONS.values())


@route("GET", "/regions/{region}", "region", "Info")
def region_info(p, req):
    try:
        return 200, p.region(req.params["region"])
    except PlatformError:
        raise not_found("region") from None


@route("GET", "/account/rate-limits", "rate-limit", "Info")
def rate_limits(p, req):
    return 200, {"remaining": int(req.headers.get("_ratelimit_remaining", 4500))}


# -- apps -------------------------------------------------------------------------
@route("GET", "/apps", "app", "List")
def app_list(p, req):
    return 200, [public(a) for a in p.visible_apps()]


@route("GET", "/users/{user}/apps", "app", "List Owned and Collaborated")
def app_list_owned(p, req):
    # `heroku apps` lists /users/~/apps: the user's own and collaborated apps
    if req.params["user"] not in ("~", p.account["id"], p.account["email"]):
        raise not_found("user")
    return 200, [public(a) for a in p.visible_apps()]


@route("POST", "/apps", "app", "Create")
def app_create(p, req):
    body = _need_dict(req.body)
    return 201, public(p.create_app(body.get("name"), body.get("stack"),
                                    body.get("region")))


@route("POST", "/teams", "team", "Create")
def team_create(p, req):
    return 201, p.create_team(_need_dict(req.body).get("name"))


@route("GET", "/teams", "team", "List")
def team_list(p, req):
    return 200, p.teams()


@route("GET", "/teams/{team}", "team", "Info")
def team_info(p, req):
    return 200, p.team_view(p.team_for(req.params["team"]))


@route("POST", "/teams/apps", "team-app", "Create")
def team_app_create(p, req):
    body = _need_dict(req.body)
    space = p.space(body["space"]) if body.get("space") else None
    if space is not None and not body.get("team"):
        body["team"] = space["team"]["name"]  # a space's apps are its team's
    if not body.get("team"):
        raise invalid("team: required (personal apps are created with POST /apps)")
    team = p.team(body["team"])
    if space is not None and space["team"]["id"] != team["id"]:
        # a space belongs to one team and holds only that team's apps
        raise invalid(f"space: {space['name']} belongs to the team "
                      f"{space['team']['name']}, not {team['name']}")
    return 201, public(p.create_app(body.get("name"), body.get("stack"),
                                    body.get("region"), team=team, space=space))


@route("GET", "/teams/{team}/apps", "team-app", "List By Team")
def team_app_list(p, req):
    team = p.team_for(req.params["team"])
    return 200, [public(a) for a in p.apps()
                 if (a.get("team") or {}).get("id") == team["id"]]


# -- team members --------------------------------------------------------------------
@route("GET", "/teams/{team}/members", "team-member", "List")
def member_list(p, req):
    return 200, p.members(p.team(req.params["team"]))


@route("POST", "/teams/{team}/members", "team-member", "Create")
def member_create(p, req):
    body = _need_dict(req.body)
    return 201, p.add_member(p.team(req.params["team"]), body["email"], body["role"])


@route("PUT", "/teams/{team}/members", "team-member", "Create or Update")
def member_put(p, req):
    body = _need_dict(req.body)
    return 200, p.add_member(p.team(req.params["team"]), body["email"], body["role"])


@route("DELETE", "/teams/{team}/members/{member}", "team-member", "Delete")
def member_delete(p, req):
    return 200, p.remove_member(p.team(req.params["team"]), req.params["member"])


# -- Private Spaces ------------------------------------------------------------------
@route("GET", "/spaces", "space", "List")
def space_list(p, req):
    return 200, p.spaces()


@route("POST", "/spaces", "space", "Create")
def space_create(p, req):
    return 201, p.create_space(_need_dict(req.body))


@route("GET", "/spaces/{space}", "space", "Info")
def space_info(p, req):
    return 200, p.space(req.params["space"])


@route("DELETE", "/spaces/{space}", "space", "Delete")
def space_delete(p, req):
    return 200, p.delete_space(p.space(req.params["space"]))


@route("GET", "/apps/{app}", "app", "Info")
def app_info(p, req):
    return 200, public(_app(p, req))


@route("PATCH", "/apps/{app}", "app", "Update", lenient=_bools("maintenance"))
def app_update(p, req):
    body = _need_dict(req.body)
    app = _app(p, req)
    if body.get("name") is not None and body["name"] != app["name"]:
        p.require_owner(app, "rename")
    app = p.update_app(app, maintenance=body.get("maintenance"),
                       name=body.get("name"), build_stack=body.get("build_stack"))
    return 200, public(app)


@route("DELETE", "/apps/{app}", "app", "Delete")
def app_delete(p, req):
    app = _app(p, req)
    p.require_owner(app, "delete")
    return 200, public(p.delete_app(app))


@route("POST", "/apps/{app}/log-sessions", "log-session", "Create")
def log_session_create(p, req):
    return 201, p.log_sessions.create(_app(p, req), _need_dict(req.body))


# -- add-ons (addons.py) ------------------------------------------------------------
def _expand(req: Request) -> str:
    return req.headers.get("Accept-Expansion", "")


def _plan_name(body):
    """The CLI sends ``"plan": {"name": "heroku-postgresql"}``; the schema
    (and Heroku) take the plan's identity as a string too."""
    if isinstance(body, dict) and isinstance(body.get("plan"), dict):
        body = {**body, "plan": body["plan"].get("name") or body["plan"].get("id")}
    if isinstance(body, dict) and body.get("attachment") == {}:
        body = {k: v for k, v in body.items() if k != "attachment"}
    return body


def _lenient_force(body):
    """``addons:destroy`` sends ``{"force": false}`` on a DELETE."""
    return None


@route("GET", "/apps/{app}/addons", "add-on", "List By App")
def addon_list(p, req):
    app = _app(p, req)
    return 200, [p.addons.view(a, _expand(req)) for a in p.addons.addons(app)]


@route("GET", "/addons", "add-on", "List")
def addon_list_all(p, req):
    return 200, [p.addons.view(a, _expand(req)) for a in p.addons.addons()]


@route("POST", "/apps/{app}/addons", "add-on", "Create", lenient=_plan_name)
def addon_create(p, req):
    return 201, p.addons.view(p.addons.create(_app(p, req), _need_dict(req.body)),
                              _expand(req))


@route("GET", "/apps/{app}/addons/{addon}", "add-on", "Info By App")
def addon_info_by_app(p, req):
    app = _app(p, req)
    return 200, p.addons.view(p.addons.addon(req.params["addon"], app), _expand(req))


@route("GET", "/addons/{addon}", "add-on", "Info")
def addon_info(p, req):
    return 200, p.addons.view(p.addons.addon(req.params["addon"]), _expand(req))


@route("DELETE", "/apps/{app}/addons/{addon}", "add-on", "Delete",
       lenient=_lenient_force)
def addon_delete(p, req):
    app = _app(p, req)
    addon = p.addons.addon(req.params["addon"], app)
    if addon["app"]["id"] != app["id"]:
        raise invalid(f"{addon['name']} belongs to {addon['app']['name']}: destroy it "
                      "there, or detach it from this app.")
    return 200, p.addons.view(p.addons.delete(addon))


@route("POST", "/actions/addons/resolve", "add-on", "Resolution")
def addon_resolve(p, req):
    body = _need_dict(req.body)
    app = p.app_for(body["app"]) if body.get("app") else None
    return 200, [p.addons.view(p.addons.addon(body["addon"], app), _expand(req))]


@route("GET", "/apps/{app}/addon-attachments", "add-on-attachment", "List by App")
def attachment_list_by_app(p, req):
    return 200, p.addons.attachments(_app(p, req))


@route("GET", "/addon-attachments", "add-on-attachment", "List")
def attachment_list(p, req):
    return 200, p.addons.attachments()


@route("GET", "/addons/{addon}/addon-attachments", "add-on-attachment",
       "List by Add-on")
def attachment_list_by_addon(p, req):
    addon = p.addons.addon(req.params["addon"])
    return 200, [a for a in p.addons.attachments() if a["addon"]["id"] == addon["id"]]


@route("GET", "/apps/{app}/addon-attachments/{attachment}", "add-on-attachment",
       "Info by App")
def attachment_info_by_app(p, req):
    return 200, p.addons.attachment(req.params["attachment"], _app(p, req))


@route("GET", "/addon-attachments/{attachment}", "add-on-attachment", "Info")
def attachment_info(p, req):
    return 200, p.addons.attachment(req.params["attachment"])


@route("POST", "/addon-attachments", "add-on-attachment", "Create")
def attachment_create(p, req):
    return 201, p.addons.attach(_need_dict(req.body))


@route("DELETE", "/addon-attachments/{attachment}", "add-on-attachment", "Delete")
def attachment_delete(p, req):
    return 200, p.addons.detach(p.addons.attachment(req.params["attachment"]))


@route("POST", "/actions/addon-attachments/resolve", "add-on-attachment",
       "Resolution")
def attachment_resolve(p, req):
    body = _need_dict(req.body)
    app = p.app_for(body["app"]) if body.get("app") else None
    return 200, [p.addons.attachment(body["addon_attachment"], app)]


@route("GET", "/apps/{app}/collaborators", "collaborator", "List")
def collaborator_list(p, req):
    return 200, p.collaborators(_app(p, req))


@route("POST", "/apps/{app}/collaborators", "collaborator", "Create",
       lenient=_bools("silent"))
def collaborator_create(p, req):
    body = _need_dict(req.body)
    return 201, p.add_collaborator(_app(p, req), body["user"])


@route("GET", "/apps/{app}/collaborators/{collaborator}", "collaborator", "Info")
def collaborator_info(p, req):
    app = _app(p, req)
    for c in p.collaborators(app):
        if req.params["collaborator"] in (c["id"], c["user"]["id"], c["user"]["email"]):
            return 200, c
    raise not_found("collaborator")


@route("DELETE", "/apps/{app}/collaborators/{collaborator}", "collaborator", "Delete")
def collaborator_delete(p, req):
    return 200, p.remove_collaborator(_app(p, req), req.params["collaborator"])


@route("POST", "/filters/apps", "filter-apps", "Apps")
def filter_apps(p, req):
    body = _need_dict(req.body)
    ids = set(((body.get("in") or {}).get("id")) or [])
    return 200, [public(a) for a in p.visible_apps() if not ids or a["id"] in ids]


# -- features -----------------------------------------------------------------------
@route("GET", "/apps/{app}/features", "app-feature", "List")
def feature_list(p, req):
    return 200, p.features(_app(p, req))


@route("GET", "/apps/{app}/features/{feature}", "app-feature", "Info")
def feature_info(p, req):
    return 200, p.feature(_app(p, req), req.params["feature"])


@route("PATCH", "/apps/{app}/features/{feature}", "app-feature", "Update",
       lenient=_bools("enabled"))
def feature_update(p, req):
    body = _need_dict(req.body)
    return 200, p.set_feature(_app(p, req), req.params["feature"], body["enabled"])


# -- config vars ----------------------------------------------------------------------
@route("GET", "/apps/{app}/config-vars", "config-var", "Info for App")
def config_info(p, req):
    return 200, p.config_vars(_app(p, req))


@route("PATCH", "/apps/{app}/config-vars", "config-var", "Update")
def config_update(p, req):
    return 200, p.update_config_vars(_app(p, req), _need_dict(req.body))


@route("GET", "/apps/{app}/releases/{release}/config-vars", "config-var",
       "Info for App Release")
def config_for_release(p, req):
    return 200, dict(p.release(_app(p, req), req.params["release"])["_config"])


# -- formation ------------------------------------------------------------------------
@route("GET", "/apps/{app}/formation", "formation", "List")
def formation_list(p, req):
    return 200, [public(f) for f in p.formation(_app(p, req))]


@route("GET", "/apps/{app}/formation/{type}", "formation", "Info")
def formation_info(p, req):
    return 200, public(p.formation_entry(_app(p, req), req.params["type"]))


def _update(u: dict, type_: str | None = None) -> dict:
    size = u.get("_size")
    if size is None and isinstance(u.get("dyno_size"), dict):
        size = u["dyno_size"].get("name") or u["dyno_size"].get("id")
    return {"type": type_ or u.get("type"),
            "quantity": u.get("_quantity", u.get("quantity")), "size": size}


@route("PATCH", "/apps/{app}/formation", "formation", "Batch Update",
       lenient=_formation_lenient)
def formation_batch(p, req):
    body = _need_dict(req.body)
    updates = [_update(u) for u in body["updates"]]
    return 200, [public(f) for f in p.scale(_app(p, req), updates)]


@route("PATCH", "/apps/{app}/formation/{type}", "formation", "Update",
       lenient=_formation_lenient)
def formation_update(p, req):
    app = _app(p, req)
    entry = p.formation_entry(app, req.params["type"])
    return 200, public(p.scale(app, [_update(_need_dict(req.body), entry["type"])])[0])


# -- dyno sizes (both generations; fir.py) ---------------------------------------------
@route("GET", "/dyno-sizes", "dyno-size", "List")
def dyno_size_list(p, req):
    return 200, [dict(s) for s in SIZES.values()]


@route("GET", "/dyno-sizes/{size}", "dyno-size", "Info")
def dyno_size_info(p, req):
    wanted = req.params["size"].lower()
    for s in SIZES.values():
        if wanted in (s["id"], s["name"].lower()):
            return 200, dict(s)
    raise not_found("dyno size")


@route("GET", "/apps/{app}/available-dyno-sizes", "dyno-size", "List App Dyno Sizes")
def dyno_size_app_list(p, req):
    return 200, sizes_for(_app(p, req))


# -- dynos ----------------------------------------------------------------------------
@route("GET", "/apps/{app}/dynos", "dyno", "List")
def dyno_list(p, req):
    return 200, p.runtime.list_dynos(_app(p, req))


@route("GET", "/apps/{app}/dynos/{dyno}", "dyno", "Info")
def dyno_info(p, req):
    return 200, p.runtime.dyno(_app(p, req), req.params["dyno"])


@route("POST", "/apps/{app}/dynos", "dyno", "Create",
       lenient=_bools("attach", "force_no_tty"))
def dyno_create(p, req):
    body = _need_dict(req.body)
    if body.get("size") is None:
        body.pop("size", None)
    app = _app(p, req)
    p.release_seen(app)  # 409 while the runtime doesn't see a fresh release
    return 201, p.runtime.create_one_off(app, body)


@route("DELETE", "/apps/{app}/dynos", "dyno", "Restart all")
def dyno_restart_all(p, req):
    p.runtime.restart(_app(p, req), None)
    return 202, {}


@route("DELETE", "/apps/{app}/dynos/{dyno}", "dyno", "Restart")
def dyno_restart(p, req):
    p.runtime.restart(_app(p, req), req.params["dyno"])
    return 202, {}


@route("POST", "/apps/{app}/dynos/{dyno}/actions/stop", "dyno", "Stop")
def dyno_stop(p, req):
    p.runtime.stop_dyno(_app(p, req), req.params["dyno"])
    return 202, {}


# -- sources, builds, slugs -------------------------------------------------------------
@route("POST", "/sources", "source", "Create")
def source_create(p, req):
    return 201, p.builder.create_source()


@route("POST", "/apps/{app}/sources", "source", "Create - Deprecated")
def source_create_deprecated(p, req):
    _app(p, req)
    return 201, p.builder.create_source()


@route("POST", "/apps/{app}/builds", "build", "Create")
def build_create(p, req):
    return 201, public(p.builder.create_build(_app(p, req), _need_dict(req.body)))


@route("GET", "/apps/{app}/builds", "build", "List")
def build_list(p, req):
    return 200, [public(b) for b in p.builder.builds(_app(p, req))]


@route("GET", "/apps/{app}/builds/{build}", "build", "Info")
def build_info(p, req):
    return 200, public(p.builder.build(_app(p, req), req.params["build"]))


@route("GET", "/apps/{app}/buildpack-installations", "buildpack-installation", "List")
def buildpacks_list(p, req):
    return 200, p.builder.buildpack_installations(_app(p, req))


@route("PUT", "/apps/{app}/buildpack-installations", "buildpack-installation", "Update")
def buildpacks_update(p, req):
    return 200, p.builder.set_buildpacks(_app(p, req), _need_dict(req.body)["updates"])


@route("GET", "/apps/{app}/slugs/{slug}", "slug", "Info")
def slug_info(p, req):
    p.retain()
    _app(p, req)
    slug = p.slug(req.params["slug"])
    if slug.get("_oci"):  # a Fir build's image is no slug (fir.py)
        raise not_found("slug")
    return 200, public(slug)


@route("GET", "/apps/{app}/oci-images/{image}", "oci-image", "Info")
def oci_image_info(p, req):
    # the schema's targetSchema is an array of images
    p.retain()
    app = _app(p, req)
    found = fir.find_image(p.store.find("slug"), app, req.params["image"], p.releases(app))
    if found is None:
        raise not_found("oci image")
    return 200, [fir.image(found)]


@route("POST", "/apps/{app}/slugs", "slug", "Create")
def slug_create(p, req):
    return 201, public(p.builder.create_slug(_app(p, req), _need_dict(req.body)))


# -- releases -------------------------------------------------------------------------
@route("GET", "/apps/{app}/releases", "release", "List")
def release_list(p, req):
    p.retain()
    return 200, [public(r) for r in p.releases(_app(p, req))]


@route("GET", "/apps/{app}/releases/{release}", "release", "Info")
def release_info(p, req):
    p.retain()
    return 200, public(p.release(_app(p, req), req.params["release"]))


@route("POST", "/apps/{app}/releases")
def release_create_or_rollback(p, req):
    # One method + href, two schema links: Create ({"slug"}) and Rollback
    # ({"release"}), told apart by the body as Heroku does.
    body = _need_dict(req.body)
    app = _app(p, req)
    if "release" in body and "slug" not in body:
        errors = schema.request_errors("release", "Rollback", body)
        if errors:
            raise invalid("Invalid params: " + "; ".join(errors))
        release = p.release(app, str(body["release"]))
        return 201, public(p.rollback(app, release["id"]))
    if "oci_image" in body and "slug" not in body:
        # changelog 3075: a CNB (Fir) app releases an image; the schema still
        # marks slug required, so the body is checked here (fir.py)
        found = fir.find_image(p.store.find("slug"), app, str(body["oci_image"]),
                               p.releases(app))
        if found is None:
            raise not_found("oci image")
        return 201, public(p.create_release(app, found["id"], body.get("description")))
    errors = schema.request_errors("release", "Create", body)
    if errors:
        raise invalid("Invalid params: " + "; ".join(errors))
    try:
        if p.slug(body["slug"]).get("_oci"):
            raise not_found("slug")
    except PlatformError:
        raise not_found("slug") from None
    return 201, public(p.create_release(app, body["slug"], body.get("description")))


# -- pipelines ------------------------------------------------------------------------
@route("GET", "/pipelines", "pipeline", "List")
def pipeline_list(p, req):
    # `heroku pipelines:add NAME` finds its pipeline with ?eq[name]=NAME.
    name = req.query.get("eq[name]")
    if name is None:
        return 200, p.store.find("pipeline")
    return 200, p.store.find("pipeline", name=name)


@route("POST", "/pipelines", "pipeline", "Create")
def pipeline_create(p, req):
    body = _need_dict(req.body)
    return 201, p.create_pipeline(body["name"], body.get("owner"))


@route("GET", "/pipelines/{pipeline}", "pipeline", "Info")
def pipeline_info(p, req):
    return 200, p.pipeline(req.params["pipeline"])


@route("DELETE", "/pipelines/{pipeline}", "pipeline", "Delete")
def pipeline_delete(p, req):
    return 200, p.delete_pipeline(p.pipeline(req.params["pipeline"]))


@route("GET", "/pipelines/{pipeline}/pipeline-couplings", "pipeline-coupling",
       "List By Pipeline")
def coupling_list_by_pipeline(p, req):
    return 200, p.couplings(p.pipeline(req.params["pipeline"]))


@route("GET", "/pipeline-couplings", "pipeline-coupling", "List")
def coupling_list(p, req):
    return 200, p.store.find("pipeline-coupling")


@route("POST", "/pipeline-couplings", "pipeline-coupling", "Create")
def coupling_create(p, req):
    body = _need_dict(req.body)
    return 201, p.couple(p.app_for(body["app"]), p.pipeline(body["pipeline"]), body["stage"])


@route("GET", "/pipeline-couplings/{coupling}", "pipeline-coupling", "Info")
def coupling_info(p, req):
    doc = p.store.get("pipeline-coupling", req.params["coupling"])
    if doc is None:
        raise not_found("pipeline coupling")
    return 200, doc


@route("DELETE", "/pipeline-couplings/{coupling}", "pipeline-coupling", "Delete")
def coupling_delete(p, req):
    doc = p.store.get("pipeline-coupling", req.params["coupling"])
    if doc is None:
        raise not_found("pipeline coupling")
    return 200, p.uncouple(doc)


@route("GET", "/apps/{app}/pipeline-couplings", "pipeline-coupling", "Info By App")
def coupling_for_app(p, req):
    return 200, p.coupling_for_app(_app(p, req))


@route("POST", "/pipeline-promotions", "pipeline-promotion", "Create")
def promotion_create(p, req):
    body = _need_dict(req.body)
    pipeline = p.pipeline(body["pipeline"]["id"])
    source = p.app_for(body["source"]["app"]["id"])
    targets = [p.app_for(t["app"]["id"]) for t in body["targets"]]
    release = (body["source"].get("release") or {}).get("id")
    return 201, p.promote(pipeline, source, targets, release_id=release)


@route("GET", "/pipeline-promotions/{promotion}", "pipeline-promotion", "Info")
def promotion_info(p, req):
    return 200, p.promotion(req.params["promotion"])


@route("GET", "/pipeline-promotions/{promotion}/promotion-targets",
       "pipeline-promotion-target", "List")
def promotion_targets(p, req):
    return 200, p.promotion_targets(p.promotion(req.params["promotion"]))


# The sandbox's own admin endpoints join the table (admin.py imports ``route``).
from . import admin as _admin  # noqa: E402, F401
