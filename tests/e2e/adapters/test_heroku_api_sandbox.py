"""HerokuAPI's retry policy end to end: the client in this process, the
sandbox as a real background server, faults injected through its admin API.

Each test shows what Heroku ends up with (releases, dynos, app state) as well
as what the client said, and counts the attempts in the sandbox's own request
log: a retry that "worked" by sending a change twice is the bug here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from herotasks.adapters.heroku_api import HerokuRetry, make_api
from herotasks.errors import ApiError, OutcomeUnknown
from tests.support.polling import wait_until

pytestmark = pytest.mark.e2e

WEB = {"Procfile": "web: python3 -m http.server $PORT --bind 127.0.0.1\n",
       "index.html": "hi\n"}


@pytest.fixture
def faults(admin):
    admin.delete("/faults")
    yield admin
    admin.delete("/faults")


@pytest.fixture
def client(sandbox):
    api = make_api(sandbox.url, sandbox.api_key, cabundle=sandbox.ca_bundle,
                   retries=3)
    api.timeout = (10.0, 5.0)
    return api


@pytest.fixture
def waits(monkeypatch):
    """The pauses the retry logic takes (really taken, and recorded)."""
    taken: list[float] = []

    def pause(seconds: float) -> None:
        taken.append(seconds)
        real_sleep(seconds)

    real_sleep = HerokuRetry.pause
    monkeypatch.setattr(HerokuRetry, "pause", staticmethod(pause))
    return taken


@pytest.fixture
def released(api, app):
    """The app with one release running, and that release."""
    return app, api.deploy_slug(app["name"], WEB, {"web": "python3 -m http.server"})


class Attempts:
    """Requests the sandbox served since this was made (its server.log)."""

    def __init__(self, root: Path) -> None:
        self.path = root / "logs" / "server.log"
        self.mark = self.path.stat().st_size if self.path.exists() else 0

    def count(self, method: str, path: str) -> int:
        with open(self.path, "rb") as f:
            f.seek(self.mark)
            text = f.read().decode(errors="replace")
        return sum(1 for line in text.splitlines()
                   if f'"{method} {path} HTTP/' in line)


def releases(api, app) -> list[dict]:
    return api.get(f"/apps/{app['name']}/releases")


def test_429_on_get_waits_retry_after_then_succeeds(sandbox, client, app, faults,
                                                    waits):
    path = f"/apps/{app['name']}"
    faults.post("/faults", {"method": "GET", "path": f"^{path}$", "status": 429,
                            "retry_after": 1})
    attempts = Attempts(sandbox.root)
    assert client.app(app["name"])["id"] == app["id"]
    assert attempts.count("GET", path) == 2
    assert waits == [1]


def test_429_on_post_waits_retry_after_and_releases_once(sandbox, api, client,
                                                         released, faults, waits):
    app, first = released
    path = f"/apps/{app['name']}/releases"
    faults.post("/faults", {"method": "POST", "path": f"^{path}$", "status": 429,
                            "retry_after": 1})
    attempts = Attempts(sandbox.root)
    made = client.create_release(app["name"], first["slug"]["id"])
    assert made["version"] == first["version"] + 1
    assert attempts.count("POST", path) == 2
    assert waits == [1]
    assert [r["version"] for r in releases(api, app)].count(made["version"]) == 1
    assert len(releases(api, app)) == len({r["id"] for r in releases(api, app)})


def test_an_empty_rate_limit_bucket_is_waited_out(sandbox, admin, client, app, waits):
    # The sandbox's own bucket, not a fault: no Retry-After, only
    # RateLimit-Remaining: 0, and tokens coming back at 2 a second.
    before = admin.get("/settings")
    admin.patch("/settings", {"rate_limit": 2, "rate_refill": 120})
    try:
        for _ in range(4):
            assert client.app(app["name"])["id"] == app["id"]
    finally:
        admin.patch("/settings", before)
    assert waits and all(w >= HerokuRetry.TOKEN_SECONDS for w in waits)


def test_409_on_dyno_create_is_retried_and_starts_one_dyno(sandbox, api, client,
                                                           released, faults):
    app, _ = released
    path = f"/apps/{app['name']}/dynos"
    faults.post("/faults", {"method": "POST", "path": f"^{path}$", "status": 409,
                            "count": 2, "message": "Couldn't find that release."})
    attempts = Attempts(sandbox.root)
    dyno = client.create_dyno(app["name"], "sleep 30", attach=False)
    assert attempts.count("POST", path) == 3
    names = [d["name"] for d in api.get(path) if d["type"] == "run"]
    assert names == [dyno["name"]]


def test_a_5xx_on_post_after_it_was_processed_is_not_retried(sandbox, api, client,
                                                             released, faults):
    app, first = released
    path = f"/apps/{app['name']}/releases"
    faults.post("/faults", {"method": "POST", "path": f"^{path}$", "status": 503,
                            "after": True})
    attempts = Attempts(sandbox.root)
    with pytest.raises(OutcomeUnknown) as err:
        client.create_release(app["name"], first["slug"]["id"])
    assert attempts.count("POST", path) == 1
    # Heroku did make it: a retry would have made a second one.
    versions = sorted(r["version"] for r in releases(api, app))
    assert versions[-1] == first["version"] + 1
    assert versions.count(first["version"] + 1) == 1
    e = err.value
    assert (e.status, e.method, e.path) == (503, "POST", path)
    assert e.body == {"slug": first["slug"]["id"]}
    assert "may or may not have taken effect" in str(e)


def test_a_read_timeout_on_post_is_outcome_unknown(sandbox, api, client, released,
                                                   faults):
    app, first = released
    path = f"/apps/{app['name']}/releases"
    faults.post("/faults", {"method": "POST", "path": f"^{path}$", "delay": 4,
                            "after": True})
    client.timeout = (10.0, 1.0)
    attempts = Attempts(sandbox.root)
    with pytest.raises(OutcomeUnknown) as err:
        client.create_release(app["name"], first["slug"]["id"])
    assert err.value.status is None
    assert attempts.count("POST", path) <= 1  # logged once answered, if yet
    wait_until(lambda: attempts.count("POST", path) == 1, 30, 0.2, "the late answer")
    versions = sorted(r["version"] for r in releases(api, app))
    assert versions[-1] == first["version"] + 1
    assert versions.count(first["version"] + 1) == 1


def test_a_dropped_connection_on_post_is_outcome_unknown(sandbox, api, client,
                                                         released, faults):
    app, first = released
    path = f"/apps/{app['name']}/releases"
    faults.post("/faults", {"method": "POST", "path": f"^{path}$", "drop": True})
    attempts = Attempts(sandbox.root)
    with pytest.raises(OutcomeUnknown):
        client.create_release(app["name"], first["slug"]["id"])
    assert attempts.count("POST", path) <= 1
    assert max(r["version"] for r in releases(api, app)) == first["version"]


def test_a_5xx_on_patch_is_retried(sandbox, api, client, app, faults):
    path = f"/apps/{app['name']}"
    faults.post("/faults", {"method": "PATCH", "path": f"^{path}$", "status": 503,
                            "after": True})
    attempts = Attempts(sandbox.root)
    assert client.set_maintenance(app["name"], True)["maintenance"] is True
    assert attempts.count("PATCH", path) == 2
    assert api.get(path)["maintenance"] is True


def test_a_read_timeout_on_get_is_retried(sandbox, client, app, faults):
    path = f"/apps/{app['name']}"
    faults.post("/faults", {"method": "GET", "path": f"^{path}$", "delay": 4})
    client.timeout = (10.0, 1.0)
    assert client.app(app["name"])["id"] == app["id"]


def test_a_404_is_not_retried(sandbox, client, faults):
    attempts = Attempts(sandbox.root)
    with pytest.raises(ApiError) as err:
        client.app("no-such-app-here")
    assert err.value.status == 404 and not isinstance(err.value, OutcomeUnknown)
    assert attempts.count("GET", "/apps/no-such-app-here") == 1
