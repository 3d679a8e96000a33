"""Private Spaces, a second user, membership, collaborators and 403.

Sources (docs/sandbox.md, "Teams, spaces and users"): the Platform API schema
(``space``, ``region``, ``team-member``, ``collaborator``, ``team-app``); Dev
Center "Regions" (us and eu are the Common Runtime's regions, the others exist
only for Private Spaces, whose apps run in the space's region), "Heroku
Private Spaces" (only team admins create spaces; team members see them),
"Preboot" (Common Runtime only); heroku/cli's dyno.js (an http(s)
``attach_url`` is attached over SSH); Heroku's 403 ``forbidden`` "You do not
have access to the app NAME." Every body is checked against the schema.
"""

from __future__ import annotations

import pytest

from herotasks_sandbox.testing import conforms


@pytest.fixture(scope="module")
def second(sandbox, admin, tools):
    """A second account (say, CI) with its own token."""
    made = admin.post("/users", {"email": tools.unique("ci") + "@example.com"})
    assert made["token"].startswith("HRKU-") and made["email"].endswith("@example.com")
    client = tools.Api(sandbox.url, made["token"], sandbox.ca_bundle)
    client.email = made["email"]
    client.id = made["id"]
    return client


def team_app_view(app: dict) -> dict:
    # the team-app schema pins git_url and web_url to heroku.com hosts
    return {k: v for k, v in app.items() if k not in ("git_url", "web_url")}


def test_regions_list_the_common_runtime_and_the_private_spaces_ones(api):
    regions = {r["name"]: r for r in api.get("/regions")}
    for r in regions.values():
        conforms("region", "Info", r)
    assert not regions["us"]["private_capable"] and not regions["eu"]["private_capable"]
    for name in ("virginia", "oregon", "frankfurt", "tokyo", "sydney", "dublin"):
        assert regions[name]["private_capable"], name
    assert api.get("/regions/eu")["name"] == "eu"


def test_a_space_region_only_inside_a_space(api, tools):
    refused = api.request("POST", "/apps", json={"name": tools.unique("r"),
                                                 "region": "oregon"})
    assert refused.status_code == 422 and "Private Spaces region" in refused.json()["message"]
    eu = api.post("/apps", {"name": tools.unique("r"), "region": "eu"})
    assert eu["region"]["name"] == "eu" and eu["space"] is None
    api.delete(f"/apps/{eu['id']}")
    team = api.post("/teams", {"name": tools.unique("team")})
    common = api.request("POST", "/spaces", json={"name": tools.unique("sp"),
                                                  "team": team["name"], "region": "us"})
    assert common.status_code == 422 and "Common Runtime region" in common.json()["message"]


def test_spaces_hold_their_teams_apps_in_their_region(api, tools):
    team = api.post("/teams", {"name": tools.unique("team")})
    other = api.post("/teams", {"name": tools.unique("team")})
    space = api.post("/spaces", {"name": tools.unique("sp"), "team": team["name"],
                                 "region": "frankfurt", "shield": True})
    conforms("space", "Create", space)
    assert space["team"] == {"id": team["id"], "name": team["name"]}
    assert space["region"]["name"] == "frankfurt" and space["shield"] is True
    conforms("space", "Info", api.get(f"/spaces/{space['name']}"))
    assert space["id"] in [s["id"] for s in api.get("/spaces")]
    app = api.post("/teams/apps", {"name": tools.unique("sapp"), "team": team["name"],
                                   "space": space["name"]})
    conforms("team-app", "Create", team_app_view(app))
    assert app["space"] == {"id": space["id"], "name": space["name"], "shield": True}
    assert app["region"]["name"] == "frankfurt"
    info = api.get(f"/apps/{app['name']}")
    conforms("app", "Info", team_app_view(info))
    assert info["space"]["shield"] is True
    # the space's region or none; another team's space is refused
    wrong_region = api.request("POST", "/teams/apps", json={
        "name": tools.unique("sapp"), "team": team["name"], "space": space["name"],
        "region": "us"})
    assert wrong_region.status_code == 422, wrong_region.text
    wrong_team = api.request("POST", "/teams/apps", json={
        "name": tools.unique("sapp"), "team": other["name"], "space": space["name"]})
    assert wrong_team.status_code == 422 and "belongs to the team" in wrong_team.text
    missing = api.request("POST", "/teams/apps", json={
        "name": tools.unique("sapp"), "team": team["name"], "space": "no-such-space"})
    assert missing.status_code == 404
    # a space with apps is not deleted; empty, it is
    assert api.request("DELETE", f"/spaces/{space['id']}").status_code == 422
    api.delete(f"/apps/{app['id']}")
    conforms("space", "Delete", api.delete(f"/spaces/{space['id']}"))


def test_preboot_cannot_be_enabled_in_a_space(api, tools):
    team = api.post("/teams", {"name": tools.unique("team")})
    space = api.post("/spaces", {"name": tools.unique("sp"), "team": team["name"],
                                 "region": "virginia"})
    app = api.post("/teams/apps", {"name": tools.unique("sapp"), "team": team["name"],
                                   "space": space["name"]})
    try:
        refused = api.request("PATCH", f"/apps/{app['name']}/features/preboot",
                              json={"enabled": True})
        assert refused.status_code == 422
        assert "only available on the Common Runtime" in refused.json()["message"]
        assert not api.get(f"/apps/{app['name']}/features/preboot")["enabled"]
    finally:
        api.delete(f"/apps/{app['id']}")
        api.delete(f"/spaces/{space['id']}")


def one_off(api, tools, app: str) -> dict:
    """An attached one-off, retrying the runtime's short 409 right after a
    release as the CLI does (heroku/cli dyno.ts ``_doStart``)."""
    def made():
        r = api.request("POST", f"/apps/{app}/dynos", json={"command": "echo hi",
                                                             "attach": True})
        if r.status_code == 409:
            return None
        assert r.status_code == 201, r.text
        return r.json()
    return tools.wait_until(made, 30, 0.2, f"a one-off on {app}")


def test_a_shield_space_attaches_one_off_dynos_over_https(api, tools):
    team = api.post("/teams", {"name": tools.unique("team")})
    shield = api.post("/spaces", {"name": tools.unique("sp"), "team": team["name"],
                                  "region": "oregon", "shield": True})
    plain = api.post("/spaces", {"name": tools.unique("sp"), "team": team["name"],
                                 "region": "oregon"})
    apps = []
    try:
        for space in (shield, plain):
            app = api.post("/teams/apps", {"name": tools.unique("sapp"),
                                           "team": team["name"], "space": space["name"]})
            apps.append(app)
            api.deploy_slug(app["name"], {"run.sh": "echo hi\n"}, {"web": "sleep 60"})
        dyno = one_off(api, tools, apps[0]["name"])
        conforms("dyno", "Create", dyno)
        assert dyno["attach_url"].startswith("https://"), dyno["attach_url"]
        ssh = api.request("GET", dyno["attach_url"][len(api.base):], token=None)
        assert ssh.status_code == 501
        dyno = one_off(api, tools, apps[1]["name"])
        assert dyno["attach_url"].startswith("rendezvous://"), dyno["attach_url"]
    finally:
        for app in apps:
            api.delete(f"/apps/{app['id']}")
        api.delete(f"/spaces/{shield['id']}")
        api.delete(f"/spaces/{plain['id']}")


def test_another_users_personal_app_is_403_until_they_collaborate(api, second, tools):
    mine = api.create_app()
    try:
        assert second.get("/account")["email"] == second.email
        assert api.get("/account")["email"] != second.email
        for method, path, body in (("GET", "", None), ("GET", "/config-vars", None),
                                   ("PATCH", "/config-vars", {"A": "1"}),
                                   ("DELETE", "", None)):
            r = second.request(method, f"/apps/{mine['name']}{path}",
                               **({"json": body} if body else {}))
            assert r.status_code == 403, (method, path, r.text)
            assert r.json() == {"id": "forbidden", "message":
                                f"You do not have access to the app {mine['name']}."}
        # not found stays 404
        assert second.request("GET", "/apps/no-such-app-x").status_code == 404
        assert mine["name"] not in [a["name"] for a in second.get("/apps")]
        assert mine["name"] not in [a["name"] for a in second.get("/users/~/apps")]
        collab = api.post(f"/apps/{mine['name']}/collaborators", {"user": second.email})
        conforms("collaborator", "Create", collab)
        assert collab["user"]["email"] == second.email
        listed = api.get(f"/apps/{mine['name']}/collaborators")
        conforms("collaborator", "List", listed)
        assert [c["user"]["email"] for c in listed] == [second.email]
        assert second.get(f"/apps/{mine['name']}")["id"] == mine["id"]
        assert mine["name"] in [a["name"] for a in second.get("/users/~/apps")]
        second.patch(f"/apps/{mine['name']}/config-vars", {"BY": "collaborator"})
        # a collaborator can't delete or rename a personal app (Dev Center)
        for method, body in (("DELETE", None), ("PATCH", {"name": tools.unique("x")})):
            r = second.request(method, f"/apps/{mine['name']}",
                               **({"json": body} if body else {}))
            assert r.status_code == 403 and r.json()["id"] == "forbidden", r.text
            assert "Only the owner" in r.json()["message"]
        conforms("collaborator", "Delete",
                 api.delete(f"/apps/{mine['name']}/collaborators/{second.email}"))
        assert second.request("GET", f"/apps/{mine['name']}").status_code == 403
        # the second user's own apps are theirs: owner and /account agree
        theirs = second.create_app()
        assert theirs["owner"]["email"] == second.email
        assert api.request("GET", f"/apps/{theirs['name']}").status_code == 403
        second.delete(f"/apps/{theirs['id']}")
    finally:
        api.request("DELETE", f"/apps/{mine['id']}")


def test_team_apps_are_visible_to_team_members(api, second, tools):
    team = api.post("/teams", {"name": tools.unique("team")})
    app = api.post("/teams/apps", {"name": tools.unique("tapp"), "team": team["name"]})
    try:
        assert second.request("GET", f"/apps/{app['name']}").status_code == 403
        assert second.request("POST", "/teams/apps", json={
            "name": tools.unique("tapp"), "team": team["name"]}).status_code == 403
        member = api.post(f"/teams/{team['name']}/members",
                          {"email": second.email, "role": "member"})
        conforms("team-member", "Create", member)
        assert member["user"]["email"] == second.email and member["role"] == "member"
        listed = api.get(f"/teams/{team['name']}/members")
        conforms("team-member", "List", listed)
        assert sorted(m["role"] for m in listed) == ["admin", "member"]
        assert second.get(f"/apps/{app['name']}")["id"] == app["id"]
        assert team["name"] in [t["name"] for t in second.get("/teams")]
        assert second.get(f"/teams/{team['name']}")["role"] == "member"
        # a member is no admin: they cannot add members or make spaces
        assert second.request("POST", f"/teams/{team['name']}/members", json={
            "email": "sandbox@herotasks.local", "role": "admin"}).status_code == 403
        assert second.request("POST", "/spaces", json={
            "name": tools.unique("sp"), "team": team["name"]}).status_code == 403
        # a member makes team apps, and every member sees them
        theirs = second.post("/teams/apps", {"name": tools.unique("tapp"),
                                             "team": team["name"]})
        assert api.get(f"/apps/{theirs['name']}")["team"]["id"] == team["id"]
        api.delete(f"/apps/{theirs['id']}")
        conforms("team-member", "Delete",
                 api.delete(f"/teams/{team['name']}/members/{second.email}"))
        assert second.request("GET", f"/apps/{app['name']}").status_code == 403
    finally:
        api.request("DELETE", f"/apps/{app['id']}")


def test_git_refuses_another_users_app(api, second, sandbox, tools, git_env, tmp_path):
    import subprocess
    mine = api.create_app()
    try:
        env = dict(git_env)
        url = mine["git_url"].replace("https://", f"https://h:{second.token}@")
        done = subprocess.run(["git", "ls-remote", url], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode != 0
        assert "You do not have access to the app" in done.stderr, done.stderr
    finally:
        api.request("DELETE", f"/apps/{mine['id']}")
