"""Heroku's stacks as they are now: heroku-24 the default, heroku-22 supported
through April 2027, heroku-20 past its end of life (30 April 2025), so no new
app and no build uses it while its existing apps run on."""

from __future__ import annotations

import requests

from herotasks_sandbox import schema
from herotasks_sandbox.testing import as_heroku, wait_until


def valid(resource: str, title: str, body) -> None:
    """``body`` is what the schema says (loopback URLs read as Heroku's)."""
    problems: list[str] = []
    body = as_heroku(body, problems)
    errors = list(schema.validator(resource, title, "targetSchema").iter_errors(body))
    assert not problems and not errors, problems + [e.message for e in errors]


def test_an_app_gets_the_stack_it_asks_for(api, tools):
    made = api.post("/apps", {"name": tools.unique("st"), "stack": "heroku-22"})
    try:
        valid("app", "Create", made)
        assert made["stack"]["name"] == made["build_stack"]["name"] == "heroku-22"
        assert api.post("/apps", {"name": tools.unique("st")})["stack"]["name"] \
            == "heroku-24"
    finally:
        api.request("DELETE", f"/apps/{made['name']}")


def test_no_new_app_and_no_stack_set_on_an_ended_stack(api, app, tools):
    name = tools.unique("st")
    r = api.request("POST", "/apps", json={"name": name, "stack": "heroku-20"})
    assert r.status_code == 422 and "end of life" in r.json()["message"]
    assert api.request("GET", f"/apps/{name}").status_code == 404
    r = api.request("PATCH", f"/apps/{app['name']}", json={"build_stack": "heroku-20"})
    assert r.status_code == 422
    assert api.get(f"/apps/{app['name']}")["build_stack"]["name"] == "heroku-24"


def test_an_app_left_on_an_ended_stack_runs_but_builds_nothing(api, admin, app,
                                                               sandbox, tools):
    admin.patch(f"/apps/{app['name']}", {"stack": "heroku-20"})
    got = api.get(f"/apps/{app['name']}")
    valid("app", "Info", got)
    assert got["stack"]["name"] == "heroku-20"
    source = api.post("/sources")
    requests.put(source["source_blob"]["put_url"], data=tools.tarball(
        {"Procfile": "web: sleep 600\n"}), verify=sandbox.ca_bundle, timeout=30,
        headers={"Content-Type": ""}).raise_for_status()
    build = api.post(f"/apps/{app['name']}/builds",
                     {"source_blob": {"url": source["source_blob"]["get_url"]}})
    done = wait_until(lambda: (b := api.get(f"/apps/{app['name']}/builds/{build['id']}"))
                      ["status"] != "pending" and b, 60, 0.2, "the build")
    valid("build", "Info", done)
    assert done["status"] == "failed" and done["slug"] is None
    log = api.session.get(done["output_stream_url"], verify=sandbox.ca_bundle).text
    assert "Error: The 'heroku-20' stack is no longer supported." in log
