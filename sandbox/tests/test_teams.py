"""Teams, team apps and the pipeline owner rule in the sandbox.

``POST /teams`` makes a team the account administers; ``POST /teams/apps``
makes an app the team owns; a pipeline with an owner couples only apps of
that owner (Dev Center, "Pipeline Ownership Transition": "To add an app to
a pipeline, the app owner must be the same as the pipeline owner").
Responses are checked against the official schema.
"""

from __future__ import annotations

from herotasks_sandbox.testing import conforms


def test_team_app_and_the_pipeline_owner_rule(api, tools):
    team = api.post("/teams", {"name": tools.unique("team")})
    conforms("team", "Create", team)
    made = api.post("/teams/apps", {"name": tools.unique("tapp"), "team": team["name"]})
    # the team-app schema pins git_url and web_url to heroku.com hosts,
    # which a loopback sandbox cannot serve; everything else must conform
    conforms("team-app", "Create",
             {k: v for k, v in made.items() if k not in ("git_url", "web_url")})
    assert made["team"] == {"id": team["id"], "name": team["name"]}
    assert made["owner"]["id"] == team["id"]
    personal = api.create_app()
    try:
        pipe = api.post("/pipelines", {"name": tools.unique("pipe"),
                                       "owner": {"id": team["id"], "type": "team"}})
        assert pipe["owner"] == {"id": team["id"], "type": "team"}
        coupled = api.post("/pipeline-couplings", {"app": made["name"],
                                                   "pipeline": pipe["id"],
                                                   "stage": "production"})
        assert coupled["stage"] == "production"
        refused = api.request("POST", "/pipeline-couplings", json={
            "app": personal["name"], "pipeline": pipe["id"], "stage": "staging"})
        assert refused.status_code == 422
        assert refused.json()["message"] == (
            "To add an app to a pipeline, the app owner must be the same as the "
            "pipeline owner.")
        api.request("DELETE", f"/pipelines/{pipe['id']}")
    finally:
        api.request("DELETE", f"/apps/{made['id']}")
        api.request("DELETE", f"/apps/{personal['id']}")
