"""Fir, Heroku's next generation (herotasks_sandbox/fir.py, each rule cited
there and in docs/sandbox.md's fidelity table): Fir Private Spaces and their
apps' ``generation``; builds make OCI images, not slugs (``build.slug`` null,
the image in the release's ``oci_image`` and ``artifacts``); a release is
made of an image; pipelines hold apps of one generation; a promotion names
the exact release; no preboot; one-off commands through ``launcher``; logs
without history. Every answer is checked against the official schema."""

from __future__ import annotations

import re

import pytest
import requests

from herotasks_sandbox import fir, schema
from herotasks_sandbox.testing import as_heroku

PYTHON_APP = {"Procfile": "web: python -m http.server $PORT\n", "requirements.txt": "",
              ".python-version": "3.12\n"}


def valid(resource: str, title: str, body) -> None:
    """``body`` (its loopback URLs in Heroku's form) against the schema."""
    problems: list[str] = []
    body = as_heroku(body, problems)
    errors = list(schema.validator(resource, title, "targetSchema").iter_errors(body))
    assert not errors and not problems, [e.message for e in errors] + problems


@pytest.fixture
def fir_space(api, tools):
    team = api.post("/teams", {"name": tools.unique("team")})
    space = api.post("/spaces", {"name": tools.unique("fir"), "team": team["name"],
                                 "region": "oregon", "generation": "fir"})
    made: list[str] = []

    def app(prefix: str = "firapp") -> dict:
        name = tools.unique(prefix)
        made.append(name)
        return api.post("/teams/apps", {"name": name, "team": team["name"],
                                        "space": space["name"]})
    yield team, space, app
    for name in made:
        api.request("DELETE", f"/apps/{name}")
    api.request("DELETE", f"/spaces/{space['id']}")


def push(tools, git_env, tmp_path, app: dict, files: dict, sub: str = "app") -> str:
    repo = tools.make_repo(tmp_path / sub, git_env, files)
    tools.git(repo, git_env, "push", "--force", app["git_url"], "main", timeout=300)
    return tools.git(repo, git_env, "rev-parse", "HEAD").stdout.strip()


def test_a_fir_space_and_its_apps_are_fir(api, tools, fir_space):
    team, space, new_app = fir_space
    valid("space", "Create", space)
    assert space["generation"]["name"] == "fir"
    app = new_app()
    valid("app", "Create", app)
    assert app["generation"]["name"] == "fir"
    # changelog 3075: Fir apps use CNBs, stack "cnb" (what heroku/cli tests)
    assert app["stack"]["name"] == "cnb" and app["build_stack"]["name"] == "cnb"
    cedar = api.post("/spaces", {"name": tools.unique("ced"), "team": team["name"],
                                 "region": "oregon"})
    assert cedar["generation"]["name"] == "cedar"
    api.request("DELETE", f"/spaces/{cedar['id']}")
    shield = api.request("POST", "/spaces", json={
        "name": tools.unique("fs"), "team": team["name"], "region": "oregon",
        "generation": "fir", "shield": True})
    assert shield.status_code == 422
    # no preboot: a Fir app is a space app, which deploys rolling
    refused = api.request("PATCH", f"/apps/{app['name']}/features/preboot",
                          json={"enabled": True})
    assert refused.status_code == 422 and "Common Runtime" in refused.json()["message"]


def test_a_fir_build_makes_an_oci_image_and_its_release_names_it(
        api, tools, git_env, tmp_path, fir_space):
    _, _, new_app = fir_space
    app = new_app()
    sha = push(tools, git_env, tmp_path, app, PYTHON_APP)
    build = api.get(f"/apps/{app['name']}/builds")[0]
    valid("build", "Info", build)
    assert build["status"] == "succeeded" and build["generation"] == "fir"
    assert build["slug"] is None and build["release"]["id"]
    release = api.get(f"/apps/{app['name']}/releases/{build['release']['id']}")
    valid("release", "Info", release)
    assert release["slug"] is None and release["status"] == "succeeded"
    image_id = release["oci_image"]["id"]
    assert release["artifacts"] == [{"type": "oci-image", "id": image_id}]
    images = api.get(f"/apps/{app['name']}/oci-images/{image_id}")
    valid("oci-image", "Info", images)
    [image] = images
    assert image["commit"] == sha and image["stack"]["name"] == "cnb"
    assert image["process_types"]["web"]["display_cmd"].startswith("python -m http.server")
    # by digest too (the oci-image identity)
    assert api.get(f"/apps/{app['name']}/oci-images/{image['digest']}")[0]["id"] == image_id
    # an image is no slug
    assert api.request("GET", f"/apps/{app['name']}/slugs/{image_id}").status_code == 404
    # the web process runs from the image
    tools.wait_until(lambda: [d for d in api.get(f"/apps/{app['name']}/dynos")
                              if d["type"] == "web" and d["state"] == "up"], 120)

    # a release is made of an image on Fir (changelog 3075), never of a slug
    again = api.post(f"/apps/{app['name']}/releases",
                     {"oci_image": image_id, "description": "again"})
    valid("release", "Create", again)
    assert again["oci_image"]["id"] == image_id and again["slug"] is None
    cedar = api.create_app()
    try:
        slug = api.deploy_slug(cedar["name"], {"Procfile": "web: sleep 600\n"},
                               {"web": "sleep 600"})["slug"]["id"]
        refused = api.request("POST", f"/apps/{app['name']}/releases", json={"slug": slug})
        assert refused.status_code == 422 and "Fir-generation" in refused.json()["message"]
        # an image belongs to its app: not found from another one
        other = api.request("POST", f"/apps/{cedar['name']}/releases",
                            json={"oci_image": image_id})
        assert other.status_code == 404
    finally:
        api.request("DELETE", f"/apps/{cedar['name']}")


def test_pipelines_hold_one_generation_and_promote_the_exact_release(
        api, tools, git_env, tmp_path, fir_space):
    team, _, new_app = fir_space
    source, target = new_app("firsrc"), new_app("firtgt")
    first = push(tools, git_env, tmp_path, source, PYTHON_APP, "one")
    v_first = api.get(f"/apps/{source['name']}/builds")[0]["release"]["id"]
    push(tools, git_env, tmp_path, source, {**PYTHON_APP, "b.txt": "2\n"}, "two")
    pipeline = api.post("/pipelines", {"name": tools.unique("firpipe"),
                                       "owner": {"id": team["id"], "type": "team"}})
    cedar = api.post("/teams/apps", {"name": tools.unique("ced"), "team": team["name"]})
    try:
        api.post("/pipeline-couplings", {"app": source["id"], "pipeline": pipeline["id"],
                                         "stage": "staging"})
        api.post("/pipeline-couplings", {"app": target["id"], "pipeline": pipeline["id"],
                                         "stage": "production"})
        info = api.get(f"/pipelines/{pipeline['id']}")
        valid("pipeline", "Info", info)
        assert info["generation"]["name"] == "fir"
        mixed = api.request("POST", "/pipeline-couplings", json={
            "app": cedar["id"], "pipeline": pipeline["id"], "stage": "development"})
        assert mixed.status_code == 422 and "one generation" in mixed.json()["message"]

        # source.release.id (changelog 3408): the older release, not the current one
        promotion = api.post("/pipeline-promotions", {
            "pipeline": {"id": pipeline["id"]},
            "source": {"app": {"id": source["id"]}, "release": {"id": v_first}},
            "targets": [{"app": {"id": target["id"]}}]})
        valid("pipeline-promotion", "Create", promotion)
        assert promotion["source"]["release"]["id"] == v_first

        def released():
            targets = api.get(f"/pipeline-promotions/{promotion['id']}/promotion-targets")
            return targets[0] if targets[0]["status"] != "pending" else None
        done = tools.wait_until(released, 60)
        assert done["status"] == "succeeded"
        promoted = api.get(f"/apps/{target['name']}/releases/{done['release']['id']}")
        wanted = api.get(f"/apps/{source['name']}/releases/{v_first}")["oci_image"]["id"]
        assert promoted["oci_image"]["id"] == wanted and promoted["slug"] is None
        assert api.get(f"/apps/{source['name']}/oci-images/{wanted}")[0]["commit"] == first
    finally:
        api.request("DELETE", f"/apps/{cedar['name']}")
        api.request("DELETE", f"/pipelines/{pipeline['id']}")


def test_one_off_commands_need_launcher_and_logs_have_no_history(
        api, heroku, tools, git_env, tmp_path, fir_space):
    _, _, new_app = fir_space
    app = new_app()
    push(tools, git_env, tmp_path, app, PYTHON_APP)
    # heroku/cli prepends `launcher` on a cnb app: the buildpacks' python
    ran = heroku("run", "--exit-code", "-a", app["name"], "--", "python", "--version",
                 timeout=120)
    assert ran.returncode == 0 and "Python 3.12" in ran.stdout, ran.stderr
    # without it, only the base image's environment: no python on PATH
    bare = heroku("run", "--no-launcher", "--exit-code", "-a", app["name"], "--",
                  "python", "--version", timeout=120)
    assert bare.returncode != 0 and "Python 3.12" not in bare.stdout

    session = api.post(f"/apps/{app['name']}/log-sessions", {"lines": 100})
    valid("log-session", "Create", session)
    got = requests.get(session["logplex_url"], stream=True, timeout=(5, 3),
                       verify=api.verify)
    text = b""
    try:
        for chunk in got.iter_content(1024):
            text += chunk
    except requests.exceptions.RequestException:
        pass  # a tail: it only ends when the stream's read times out
    assert b"Starting process" not in text  # no history on Fir


#: heroku/cli 11.10.0 dist/commands/ps/type.js COST_MONTHLY: Fir's sizes
FIR_SIZES = {"dyno-1c-0.5gb", "dyno-1c-4gb", "dyno-1c-8gb", "dyno-2c-1gb", "dyno-2c-4gb",
             "dyno-2c-8gb", "dyno-2c-16gb", "dyno-4c-8gb", "dyno-4c-16gb", "dyno-4c-32gb",
             "dyno-8c-16gb", "dyno-8c-32gb", "dyno-8c-64gb", "dyno-16c-32gb",
             "dyno-16c-64gb", "dyno-16c-128gb", "dyno-32c-64gb"}
#: heroku/cli dist/lib/apps/generation.js tells a Fir dyno by this name
FIR_WEB = re.compile(r"^web-[0-9a-z]+-[0-9a-z]{5}$")
#: Kubernetes' name alphabet, which every documented Fir dyno name fits
K8S = "[bcdfghjklmnpqrstvwxz2456789]"


def refused_size(answer) -> str:
    """A 422 in Heroku's error shape (id, message): the message."""
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["id"] == "invalid_params" and body["message"], body
    return body["message"]


def test_fir_dynos_have_fir_sizes_and_fir_names(api, heroku, tools, git_env, tmp_path,
                                                  fir_space):
    _, _, new_app = fir_space
    app = new_app()
    push(tools, git_env, tmp_path, app, {
        **PYTHON_APP, "Procfile": "web: python -m http.server $PORT\nworker: sleep 600\n"})
    name = app["name"]

    # the sizes: both generations' in /dyno-sizes, the app's own in available-dyno-sizes
    every = api.get("/dyno-sizes")
    valid("dyno-size", "List", every)
    by_name = {s["name"]: s for s in every}
    assert FIR_SIZES <= set(by_name) and "Standard-1X" in by_name
    assert by_name["Standard-1X"]["generation"]["name"] == "cedar"
    one = api.get("/dyno-sizes/dyno-2c-4gb")
    valid("dyno-size", "Info", one)
    assert one["generation"]["name"] == "fir" and one["private_space_only"] is True
    assert (one["compute"], one["memory"]) == (2, 4.0)
    own = api.get(f"/apps/{name}/available-dyno-sizes")
    valid("dyno-size", "List App Dyno Sizes", own)
    assert {s["name"] for s in own} == FIR_SIZES

    # a Fir formation starts at Fir's smallest size, never a Cedar one
    formation = api.get(f"/apps/{name}/formation")
    valid("formation", "List", formation)
    assert {(f["type"], f["size"], f["dyno_size"]["name"]) for f in formation} == {
        ("web", "dyno-1c-0.5gb", "dyno-1c-0.5gb"), ("worker", "dyno-1c-0.5gb",
                                                    "dyno-1c-0.5gb")}
    # a Cedar size is refused, in Heroku's error shape, and changes nothing
    assert "Cedar" in refused_size(api.request("PATCH", f"/apps/{name}/formation", json={
        "updates": [{"type": "web", "quantity": 2, "dyno_size": {"name": "Standard-1X"}}]}))
    assert "Cedar" in refused_size(api.request(
        "PATCH", f"/apps/{name}/formation/worker", json={"dyno_size": {"name": "eco"}}))
    assert {f["size"] for f in api.get(f"/apps/{name}/formation")} == {"dyno-1c-0.5gb"}
    assert api.get(f"/apps/{name}/formation/web")["quantity"] == 1

    # Fir dynos: <type>-<template hash>-<5 chars>, one hash for one release and size
    api.patch(f"/apps/{name}/formation", {"updates": [{"type": "web", "quantity": 2}]})
    web = tools.wait_until(lambda: (ds := [d for d in api.get(f"/apps/{name}/dynos")
                                           if d["type"] == "web" and d["state"] == "up"])
                           and len(ds) == 2 and ds, 120)
    valid("dyno", "List", web)
    for d in web:
        assert FIR_WEB.match(d["name"]) and re.fullmatch(
            f"web-{K8S}{{10}}-{K8S}{{5}}", d["name"]), d["name"]
        assert d["size"] == "dyno-1c-0.5gb"
    assert len({d["name"].split("-")[1] for d in web}) == 1
    assert len({d["name"] for d in web}) == 2
    # a dyno answers to its name (what `heroku ps:restart --dyno` sends)
    assert api.get(f"/apps/{name}/dynos/{web[0]['name']}")["id"] == web[0]["id"]
    resized = api.patch(f"/apps/{name}/formation/worker",
                        {"dyno_size": {"name": "dyno-2c-4gb"}})
    valid("formation", "Update", resized)
    assert resized["size"] == "dyno-2c-4gb"

    # one-off dynos: the app's default size, a Fir name; a Cedar size refused
    assert "Cedar" in refused_size(api.request(
        "POST", f"/apps/{name}/dynos", json={"command": "sleep 5", "size": "Standard-1X"}))
    run = api.post(f"/apps/{name}/dynos", {"command": "sleep 5", "attach": False})
    valid("dyno", "Create", run)
    assert run["size"] == "dyno-1c-0.5gb"
    assert re.fullmatch(f"run-{K8S}{{10}}-{K8S}{{5}}", run["name"]), run["name"]

    # the official CLI reads them without error (ps, ps:type)
    ps = heroku("ps", "-a", name, timeout=60)
    assert ps.returncode == 0, ps.stderr
    assert all(d["name"] in ps.stdout for d in web) and "dyno-1c-0.5gb" in ps.stdout
    kinds = heroku("ps:type", "-a", name, timeout=60)
    assert kinds.returncode == 0, kinds.stderr
    # its price table knows Fir's sizes: web 2 x $25 a month, worker 0 x $150
    assert "dyno-1c-0.5gb" in kinds.stdout and "dyno-2c-4gb" in kinds.stdout
    assert "$50" in kinds.stdout, kinds.stdout


def test_cedar_apps_refuse_fir_sizes_and_keep_cedar_names(api, tools):
    cedar = api.create_app()
    name = cedar["name"]
    try:
        api.deploy_slug(name, {"Procfile": "web: sleep 600\n"}, {"web": "sleep 600"})
        assert {s["generation"]["name"]
                for s in api.get(f"/apps/{name}/available-dyno-sizes")} == {"cedar"}
        assert api.get(f"/apps/{name}/formation/web")["size"] == "Standard-1X"
        assert "Fir" in refused_size(api.request(
            "PATCH", f"/apps/{name}/formation",
            json={"updates": [{"type": "web", "dyno_size": {"name": "dyno-1c-0.5gb"}}]}))
        # (a fresh release is not yet visible to the dyno runtime: a 409 first)
        [answer] = tools.wait_until(
            lambda: (a := api.request("POST", f"/apps/{name}/dynos", json={
                "command": "sleep 5", "size": "dyno-2c-4gb"})).status_code != 409 and [a],
            30)
        assert "Fir" in refused_size(answer)
        run = api.post(f"/apps/{name}/dynos", {"command": "sleep 5", "attach": False})
        assert re.fullmatch(r"run\.\d+", run["name"]) and run["size"] == "Standard-1X"
    finally:
        api.request("DELETE", f"/apps/{name}")


def test_a_dyno_name_tells_its_type_in_both_generations():
    """What a log session's ``dyno`` filter by type matches (logs.py)."""
    assert fir.dyno_type_of("web-848cd4f64d-pvpr2") == "web"      # run:inside's example
    assert fir.dyno_type_of("run-nss86zptrv-7fpx8") == "run"
    assert fir.dyno_type_of("my-worker-848cd4f64d-pvpr2") == "my-worker"
    assert fir.dyno_type_of("web.1") == "web" and fir.dyno_type_of("run.4821") == "run"
    assert fir.dyno_type_of("web") == "web"
