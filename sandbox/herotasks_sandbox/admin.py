"""The sandbox's own admin endpoints (not Heroku's): faults, settings, users.

They live on the API's route table (``api.ROUTES``, ``admin=True``) under
``/_sandbox/admin/``; the server answers them behind the admin token, with
no rate limit, schema or faults. Handlers get ``(platform, request)`` as the
API's do, and reach the server's own parts (faults, rate limit) through
``request.sandbox``. A bad value (``TypeError``/``ValueError``) answers
``422 invalid_params`` with its message.
"""

from __future__ import annotations

import secrets

from .api import route
from .platform import stack_ref

ADMIN = "/_sandbox/admin"

#: What ``PATCH /_sandbox/admin/settings`` may set.
SETTINGS = ("build_delay", "boot_delay", "stop_grace", "preboot_switch", "boot_timeout",
            "crash_cooloff", "rate_limit", "rate_refill", "app_limit",
            "release_visibility", "clock_offset")


@route("GET", ADMIN + "/faults", admin=True)
def faults_list(p, req):
    return 200, req.sandbox.faults.list()


@route("POST", ADMIN + "/faults", admin=True)
def faults_add(p, req):
    return 201, req.sandbox.faults.add(**req.body).public()


@route("DELETE", ADMIN + "/faults", admin=True)
def faults_clear(p, req):
    req.sandbox.faults.clear()
    return 200, []


@route("PATCH", ADMIN + "/apps/{app}", admin=True)
def app_stack(p, req):
    # an app made before its stack's end of life (the API
    # cannot make one now): {"stack": "heroku-20"}
    app = p.app(req.params["app"])
    ref = stack_ref(req.body["stack"], retired_ok=True)
    with p.store.transaction():
        app = p.app(app["id"])
        app["stack"], app["build_stack"] = dict(ref), dict(ref)
        p.store.put("app", app)
    return 200, {"name": app["name"], "stack": ref}


@route("POST", ADMIN + "/users", admin=True)
def user_create(p, req):
    # a second account, with its own API token (shown once)
    token = "HRKU-sbx-" + secrets.token_hex(24)
    user = p.create_user(req.body.get("email"), token)
    return 201, {"id": user["id"], "email": user["email"], "token": token}


@route("GET", ADMIN + "/users", admin=True)
def user_list(p, req):
    return 200, [{"id": u["id"], "email": u["email"]} for u in p.users()]


@route("GET", ADMIN + "/settings", admin=True)
def settings_info(p, req):
    return 200, settings(p, req.sandbox)


@route("PATCH", ADMIN + "/settings", admin=True)
def settings_update(p, req):
    body = req.body
    values = {}
    for key in body:
        if key not in SETTINGS:
            raise ValueError(f"unknown setting {key}")
        values[key] = float(body[key])
        if values[key] < 0 and key != "clock_offset":
            raise ValueError(f"{key} must be zero or more")
    for key, value in values.items():
        if key.endswith("_delay"):
            p.set_delay(key[: -len("_delay")], value)
    # the runtime's timings, in memory
    for key in ("stop_grace", "preboot_switch", "boot_timeout",
                "crash_cooloff"):
        if key in values:
            setattr(p.runtime, key, values[key])
    if "app_limit" in values:
        p.set_app_limit(int(values["app_limit"]))
    if "release_visibility" in values:
        p.release_visibility = values["release_visibility"]
    if "clock_offset" in values:
        p.set_clock_offset(values["clock_offset"])
    req.sandbox.rate_limit.configure(
        capacity=int(values["rate_limit"]) if "rate_limit" in values
        else None, per_minute=values.get("rate_refill"))
    return 200, settings(p, req.sandbox)


def settings(p, sandbox) -> dict[str, float]:
    bucket = sandbox.rate_limit
    return {"build_delay": p.delay("build"), "boot_delay": p.delay("boot"),
            "stop_grace": p.runtime.stop_grace,
            "preboot_switch": p.runtime.preboot_switch,
            "boot_timeout": p.runtime.boot_timeout,
            "crash_cooloff": p.runtime.crash_cooloff,
            "rate_limit": bucket.capacity, "rate_refill": bucket.per_minute,
            "app_limit": p.app_limit(),
            "release_visibility": p.release_visibility,
            "clock_offset": p.clock_offset()}
