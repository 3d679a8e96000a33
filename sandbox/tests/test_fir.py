"""Fir, Heroku's next generation, as far as the sandbox models it: a Fir
Private Space and its apps carry ``generation: fir`` (Dev Center *Heroku
Generations*); Shield Fir spaces do not exist yet; the sandbox builds no Fir
app (Fir builds OCI images with Cloud Native Buildpacks, not slugs)."""

from __future__ import annotations

from herotasks_sandbox import schema


def valid(resource: str, title: str, body) -> None:
    errors = list(schema.validator(resource, title, "targetSchema").iter_errors(body))
    assert not errors, [e.message for e in errors]


def test_a_fir_space_and_its_apps_are_fir(api, tools, git_env, tmp_path):
    team = api.post("/teams", {"name": tools.unique("team")})
    space = api.post("/spaces", {"name": tools.unique("fir"), "team": team["name"],
                                 "region": "oregon", "generation": "fir"})
    name = tools.unique("firapp")
    try:
        valid("space", "Create", space)
        assert space["generation"]["name"] == "fir"
        app = api.post("/teams/apps", {"name": name, "team": team["name"],
                                       "space": space["name"]})
        assert app["generation"]["name"] == "fir"
        cedar = api.post("/spaces", {"name": tools.unique("ced"), "team": team["name"],
                                     "region": "oregon"})
        assert cedar["generation"]["name"] == "cedar"
        api.request("DELETE", f"/spaces/{cedar['id']}")
        shield = api.request("POST", "/spaces", json={
            "name": tools.unique("fs"), "team": team["name"], "region": "oregon",
            "generation": "fir", "shield": True})
        assert shield.status_code == 422
        repo = tools.make_repo(tmp_path / "app", git_env,
                               {"Procfile": "web: python3 -m http.server $PORT\n",
                                "requirements.txt": ""})
        done = tools.git(repo, git_env, "push", app["git_url"], "main", timeout=120,
                         check=False)
        assert done.returncode != 0
        assert "does not build Fir-generation apps" in done.stderr
    finally:
        api.request("DELETE", f"/apps/{name}")
        api.request("DELETE", f"/spaces/{space['id']}")
