"""A Fir target, end to end (core/generations.py; the sandbox's Fir:
herotasks_sandbox/fir.py). The scratch app is made in the target's Fir
space, the build there makes an OCI image (no slug), and the pipeline
promotes that exact release (``source.release.id``); no preboot (a space
deploys rolling); the migration runs in a one-off dyno through ``launcher``;
the health check reads dynos and HTTP (Fir logs have no history). What
herotasks cannot do on Fir is refused in the check, before anything changes."""

from __future__ import annotations

import re

import pytest

from tests.support.e2e import RequestLog
from tests.support.projects import assert_clean, lines_of, steps, team_project

pytestmark = pytest.mark.e2e

#: Heroku's pool is 4500 tokens, refilled at ~75 a minute (test_e2e_runtime.py)
DEPLOY_BUDGET = 60
#: Fir's one-offs need `launcher` for the buildpacks' python (a bare
#: `python` is not on the base image's PATH): this command fails without it
FIR_CONFIG = ("herotasks:\n  promote: {method: pipeline}\n"
              "  migrations: {command: python manage.py migrate --noinput}\n")


@pytest.fixture
def fir(api, tools, git_env, tmp_path):
    """A Django-layout app in a Fir space, coupled to a pipeline (production)."""
    team = api.post("/teams", {"name": tools.unique("team")})
    space = api.post("/spaces", {"name": tools.unique("fir"), "team": team["name"],
                                 "region": "oregon", "generation": "fir"})
    proj = team_project(api, tools, git_env, tmp_path, space=space, team=team,
                        layout="django")
    pipeline = api.post("/pipelines", {"name": tools.unique("firpipe"),
                                       "owner": {"id": team["id"], "type": "team"}})
    app = api.get(f"/apps/{proj.app}")
    api.post("/pipeline-couplings", {"app": app["id"], "pipeline": pipeline["id"],
                                     "stage": "production"})
    proj.config = tmp_path / "fir.yaml"
    proj.config.write_text(FIR_CONFIG)
    try:
        yield proj
    finally:
        for a in api.get("/apps"):
            if (a.get("space") or {}).get("id") == space["id"]:
                api.request("DELETE", f"/apps/{a['name']}")
        api.request("DELETE", f"/pipelines/{pipeline['id']}")
        api.request("DELETE", f"/spaces/{space['id']}")


def api_requests(log: RequestLog) -> list[tuple[str, str]]:
    """Platform API requests served (not git, not the sandbox's streams)."""
    return [(m, p) for m, p in log.since()
            if not p.startswith("/_sandbox/") and ".git/" not in p
            and not p.endswith(".git")]


def live_image(api, app: str) -> dict:
    release = next(r for r in api.get(f"/apps/{app}/releases") if r["current"])
    assert release["slug"] is None  # Fir: an image, never a slug
    return api.get(f"/apps/{app}/oci-images/{release['oci_image']['id']}")[0]


def test_a_fir_target_deploys_with_no_window_within_the_budget(fir, api, sandbox):
    done, report = fir.deploy(runtime=fir.config)  # the first deploy
    assert report["ok"], (report["error"], done.stdout[-3000:])
    fir.commit({"index.html": "v2\n"}, "no migration")
    log = RequestLog(sandbox.root)
    done, report = fir.deploy(runtime=fir.config)
    assert report["ok"], (report["error"], done.stdout[-3000:])
    served = api_requests(log)
    # no window: no maintenance, no stopped workers, and no preboot steps
    assert report["windows"]["maintenance"] is None
    assert not [s for s in steps(report) if s.startswith(("preboot.", "maintenance."))]
    assert "no preboot" in done.stdout  # the plan says the space deploys rolling
    # the exact release built on the scratch app, promoted through the pipeline
    image = live_image(api, fir.app)
    # the image was built from this deploy's commit (its source in a trailer)
    assert report["commit"]["to"] in fir.git("log", "-1", "--format=%B", image["commit"])
    promoted = [p for p in served if p == ("POST", "/pipeline-promotions")]
    assert len(promoted) == 1
    assert api.get(f"/apps/{fir.app}/releases/{report['release']['id']}")[
        "oci_image"]["id"] == image["id"]
    assert report["precheck"] and report["precheck"]["ok"]
    print(f"API requests: {len(served)} (Fir, no migration)")
    assert len(served) <= DEPLOY_BUDGET and report["requests"] == len(served), served
    assert_clean(fir.state())


def test_a_fir_target_migrates_through_launcher(fir, api):
    done, report = fir.deploy(runtime=fir.config)
    assert report["ok"], (report["error"], done.stdout[-3000:])
    migration = fir.add_migration()
    assert migration
    done, report = fir.deploy(runtime=fir.config)
    assert report["ok"], (report["error"], done.stdout[-3000:])
    assert "db.migrate" in steps(report)
    print(f"API requests: {report['requests']} (Fir, a migration, window "
          f"{report['windows']['maintenance']['duration']:.1f} s)")
    assert any(m.endswith("002_step.py") for m in fir.applied()), fir.applied()
    assert live_image(api, fir.app)["id"] == api.get(
        f"/apps/{fir.app}/releases/{report['release']['id']}")["oci_image"]["id"]
    assert_clean(fir.state())


def test_a_fir_target_with_slug_promotion_is_refused_in_the_check(fir, api):
    releases = len(api.get(f"/apps/{fir.app}/releases"))
    done, _ = fir.deploy(check=False)  # promote.method: slug (the default)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = lines_of(done)
    assert len(lines) == 1, done.stderr
    assert "Fir-generation app" in lines[0] and "promote.method: pipeline" in lines[0]
    state = fir.state()
    assert not state["maintenance"] and not state["lock"] and not state["scratch"]
    assert len(api.get(f"/apps/{fir.app}/releases")) == releases


def test_a_hand_run_slug_promote_onto_fir_is_refused_before_sending(fir, api):
    releases = len(api.get(f"/apps/{fir.app}/releases"))
    done = fir.inv("slug.promote", "--stage", "production", "--slug",
                   "01234567-89ab-cdef-0123-456789abcdef", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = lines_of(done)
    assert len(lines) == 1 and "Fir-generation app" in lines[0], done.stderr
    assert len(api.get(f"/apps/{fir.app}/releases")) == releases


#: A Fir dyno's name (heroku/cli 11.10.0 dist/lib/apps/generation.js, any type)
FIR_DYNO = re.compile(r"^[a-z]+-[0-9a-z]+-[0-9a-z]{5}$")


def test_a_fir_target_keeps_its_fir_sizes_and_names_through_a_migration(fir, api, tools):
    """Fir's sizes and dyno names (sandbox fir.py): herotasks reads dynos by
    type, id and state, never parses a name, and names no size, so the
    sandbox, which refuses a Cedar size on a Fir app, lets every one-off
    (the check before the release, the held migration) start; the worker it
    stops for the window comes back at its own Fir size."""
    done, report = fir.deploy(runtime=fir.config)
    assert report["ok"], (report["error"], done.stdout[-3000:])
    api.patch(f"/apps/{fir.app}/formation", {"updates": [
        {"type": "worker", "quantity": 1, "dyno_size": {"name": "dyno-2c-4gb"}}]})
    assert fir.add_migration()
    done, report = fir.deploy(runtime=fir.config)
    assert report["ok"], (report["error"], done.stdout[-3000:])
    assert "db.migrate" in steps(report) and report["precheck"]["ok"]
    formation = {f["type"]: (f["quantity"], f["size"])
                 for f in api.get(f"/apps/{fir.app}/formation")}
    assert formation == {"web": (1, "dyno-1c-0.5gb"), "worker": (1, "dyno-2c-4gb")}
    version = api.get(f"/apps/{fir.app}/releases/{report['release']['id']}")["version"]
    running = tools.wait_until(lambda: (ds := [
        d for d in api.get(f"/apps/{fir.app}/dynos") if d["state"] == "up"
        and d["release"]["version"] == version and d["type"] in formation])
        and len(ds) == 2 and ds, 60)
    for d in running:
        assert FIR_DYNO.match(d["name"]) and d["name"].startswith(d["type"] + "-"), d
        assert d["size"] == formation[d["type"]][1]
    assert_clean(fir.state())

