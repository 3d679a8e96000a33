"""Pipeline promotion and ``deploy.rollback`` end to end on the sandbox.

Pipeline promotion (``herotasks.promote.method: pipeline``) couples the
scratch app into the target's pipeline and promotes its slug: the target gets
a release of that slug and nothing else (not its config vars, not its git
repository), and the scratch app goes afterwards, its coupling with it.
Heroku writes that release's description itself and a git build leaves the
slug's commit description empty, so the slug's commit (the deploy commit) is
kept on a branch of the target's git that Heroku does not build: any machine
can then fetch it and read which source commit is deployed.

``deploy.rollback`` goes back to the previous release's slug and warns, on
stderr, exactly when migrations lie between the two releases: the database
is not rolled back. What the app serves is checked through its web_url.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from herotasks.core.scratch import scratch_name
from tests.support.e2e import RequestLog, remote_refs, step
from tests.support.projects import LAYOUTS, Project, assert_clean, steps, window

pytestmark = pytest.mark.e2e

PIPELINE = "herotasks:\n  promote: {method: pipeline}\n"


def scratch_of(app: str) -> str:
    return scratch_name("ht-scratch", app)


@pytest.fixture
def pipeline(tally, api, tools):
    """A pipeline with the target app coupled at production."""
    made = api.post("/pipelines", {"name": tools.unique("pipe")})
    api.post("/pipeline-couplings", {"app": tally.app, "pipeline": made["id"],
                                     "stage": "production"})
    yield made
    api.request("DELETE", f"/pipelines/{made['id']}")


def coupled(api, pipeline: dict) -> dict[str, str]:
    """App id -> stage of every app in the pipeline."""
    return {c["app"]["id"]: c["stage"]
            for c in api.get(f"/pipelines/{pipeline['id']}/pipeline-couplings")}


def inv_in(root, env, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=root,
                          env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"inv {args}: {done.stdout}\n{done.stderr}"
    return done


def test_pipeline_promotion(tally, pipeline, api, tools, tmp_path):
    api.patch(f"/apps/{tally.app}/config-vars", {"SECRET_KEY_BASE": "prod-only"})
    config_before = api.get(f"/apps/{tally.app}/config-vars")
    target_id = api.get(f"/apps/{tally.app}")["id"]
    conf = tmp_path / "pipeline.yaml"
    conf.write_text(PIPELINE)

    source = tally.git("rev-parse", "HEAD")
    _, report = tally.deploy(runtime=conf)
    assert report["ok"] and "slug.promote" in steps(report)
    assert window(report) == ["slug.promote", "db.migrate", "dynos.restart",
                              "dynos.wait"]
    current = tally.current()
    assert report["release"] == {"id": current["id"], "version": current["version"]}
    # promoted from the scratch app, with Heroku's description, not ours
    assert current["description"].startswith(f"Promote {scratch_of(tally.app)} v")
    # the slug is the one built from the deploy commit of `source`
    deploy_commit = tally.git("rev-parse", "refs/herotasks/assets/latest")
    assert tally.git("rev-parse", f"{deploy_commit}^") == source
    slug = api.get(f"/apps/{tally.app}/slugs/{current['slug']['id']}")
    assert slug["commit"] == deploy_commit
    assert len(tally.applied()) == 1

    # the scratch app is gone, and its coupling with it; the target's
    # config vars are as they were, and its git only keeps the deploy commit
    # on a branch Heroku does not build (for other machines to read)
    assert_clean(tally.state())
    assert coupled(api, pipeline) == {target_id: "production"}
    assert api.get(f"/apps/{tally.app}/config-vars") == config_before
    kept = {f"refs/heads/herotasks/deploys/{deploy_commit}": deploy_commit}
    assert remote_refs(tally) == kept
    assert api.get(f"/apps/{tally.app}/builds") == []  # nothing built there

    # a second deploy with a migration promotes again (a new scratch app is
    # coupled and promoted), and knows exactly what changed
    tally.add_migration()
    _, report = tally.deploy(runtime=conf)
    assert report["ok"] and report["migrations"]["reason"] == \
        "tally/migrations changed: 1 file"
    assert report["commit"]["from"] == source
    assert tally.current()["description"].startswith(f"Promote {scratch_of(tally.app)}")
    assert len(tally.applied()) == 2
    assert coupled(api, pipeline) == {target_id: "production"}
    assert api.get(f"/apps/{tally.app}/config-vars") == config_before
    second = tally.git("rev-parse", "refs/herotasks/assets/latest")
    assert remote_refs(tally) == {
        **kept, f"refs/heads/herotasks/deploys/{second}": second}
    assert api.get(f"/apps/{tally.app}/builds") == []
    assert step(report, "slug.promote")["in_window"]


def test_after_a_pipeline_promotion_another_machine_knows_the_deployed_commit(
        tally, pipeline, api, tools, tmp_path):
    """A CI runner's fresh clone has the user's commits but not the deploy
    commits (they live under refs/herotasks on the machine that made them),
    and the promoted release's description is Heroku's. The deploy commit
    kept on the app's git still says."""
    conf = tmp_path / "pipeline.yaml"
    conf.write_text(PIPELINE)
    source = tally.git("rev-parse", "HEAD")
    tally.deploy(runtime=conf)

    clone = tmp_path / "ci"
    # --no-local: a local clone hard-links every object, reachable or not
    tools.git(tmp_path, tally.env, "clone", "-q", "--no-local", str(tally.root),
              str(clone))
    deploy_commit = tally.git("rev-parse", "refs/herotasks/assets/latest")
    missing = tools.git(clone, tally.env, "cat-file", "-e", deploy_commit,
                        check=False)
    assert missing.returncode != 0  # as on a CI runner
    done = inv_in(clone, tally.env, "deploy.status", "--stage", "production")
    assert f"deployed:    {source[:10]} (from " in done.stdout, done.stdout
    assert "migrations none (the same commit is deployed)" in done.stdout

    # a deploy from there without migration changes takes no window
    (clone / "index.html").write_text("v2\n")
    tools.git(clone, tally.env, "commit", "-q", "-am", "no migration")
    report_path = tmp_path / "ci-report-0.json"
    inv_in(clone, tally.env, "-f", str(conf), "deploy.production", "--json",
           str(report_path))
    report = tools.load_json(report_path)
    assert report["ok"] and report["commit"]["from"] == source
    assert not report["migrations"]["pending"], report["migrations"]
    assert window(report) == [] and report["windows"]["maintenance"] is None
    source = tools.git(clone, tally.env, "rev-parse", "HEAD").stdout.strip()

    # and its next deploy diffs against it: a migration is seen as one file
    migration = clone / LAYOUTS[tally.layout]["migration"].format(n="002")
    migration.write_text("# 2\n")
    tools.git(clone, tally.env, "add", "-A")
    tools.git(clone, tally.env, "commit", "-q", "-m", "migration 2")
    report_path = tmp_path / "ci-report.json"
    inv_in(clone, tally.env, "-f", str(conf), "deploy.production", "--json",
           str(report_path))
    report = tools.load_json(report_path)
    assert report["ok"] and report["commit"]["from"] == source
    assert report["migrations"] == {"pending": True,
                                    "reason": "tally/migrations changed: 1 file"}
    assert len(tally.applied()) == 2


def served(sandbox, proj: Project, tools, want: str) -> str:
    """Wait until the app's web_url serves ``want`` (its index.html)."""
    url = proj.api.get(f"/apps/{proj.app}")["web_url"]

    def body():
        try:
            r = requests.get(url, verify=sandbox.ca_bundle, timeout=10,
                             proxies={"http": None, "https": None})
        except requests.RequestException:
            return None
        return r.text if r.status_code == 200 and r.text == want else None
    return tools.wait_until(body, 60, 0.2, f"{proj.app} to serve {want!r}")


def rollback(proj: Project) -> subprocess.CompletedProcess:
    return proj.inv("deploy.rollback", "--stage", "production")


def test_rollback_warns_when_migrations_lie_between(tally, sandbox, tools):
    first = tally.git("rev-parse", "HEAD")
    tally.deploy()
    v1 = tally.current()
    served(sandbox, tally, tools, "v1\n")

    # v2 brings a migration; rolling back runs v1's slug and says the
    # database stays migrated
    tally.add_migration()
    tally.commit({"index.html": "v2\n"})
    tally.deploy()
    v2 = tally.current()
    served(sandbox, tally, tools, "v2\n")
    done = rollback(tally)
    assert f"rollback: {tally.app} v{v2['version']} -> v{v1['version']}" \
        in done.stdout
    warning = [line for line in done.stderr.splitlines()
               if line.startswith("warning: ")]
    assert warning == [
        f"warning: migrations lie between v{v1['version']} and v{v2['version']} "
        "(tally/migrations changed: 1 file): rolling back the code does not roll back "
        "the database"], done.stderr
    now = tally.current()
    assert now["version"] > v2["version"] and now["slug"] == v1["slug"]
    assert f"rollback: now on v{now['version']}" in done.stdout
    served(sandbox, tally, tools, "v1\n")
    assert len(tally.applied()) == 2  # the database is not rolled back
    assert_clean(tally.state())
    # and the next deploy knows v1's code runs: HEAD's migration is pending
    status = tally.inv("deploy.status", "--stage", "production").stdout
    assert f"deployed:    {first[:10]}" in status, status
    assert "migrations pending (tally/migrations changed: 1 file)" in status, status


def test_rollback_without_migrations_between_does_not_warn(tally, sandbox, tools):
    tally.deploy()
    v1 = tally.current()
    tally.commit({"index.html": "v2\n"})
    _, report = tally.deploy()
    assert not report["migrations"]["pending"]
    v2 = tally.current()
    served(sandbox, tally, tools, "v2\n")
    done = rollback(tally)
    assert f"v{v2['version']} -> v{v1['version']}" in done.stdout
    assert "warning" not in done.stderr and "migration" not in done.stderr
    now = tally.current()
    assert now["slug"] == v1["slug"]
    served(sandbox, tally, tools, "v1\n")


def test_pipeline_method_without_a_pipeline_changes_nothing(tally, api, sandbox,
                                                            tmp_path):
    """A configuration error, found before the lock, the build or the window:
    not after the build with maintenance already on."""
    conf = tmp_path / "pipeline.yaml"
    conf.write_text(PIPELINE)
    log = RequestLog(sandbox.root)
    done, report = tally.deploy(runtime=conf, check=False)
    assert done.returncode == 1 and report is None
    assert done.stderr.strip() == (
        f"herotasks: {tally.app} is in no pipeline — couple it to one, or use "
        "herotasks.promote.method: slug")
    assert [(m, p) for m, p in log.since() if m != "GET"] == []
    assert_clean(tally.state())


# -- a release phase that needs production data fails on the scratch app ------

#: A release command that needs the target's config (its database, here the
#: DB_FILE the fixture sets on the target only): on the scratch app, which
#: gets no production data, Heroku still runs it, and it fails.
NEEDS_DB = "release: test -n \"$DB_FILE\" && bin/migrate\n"


def needs_db(proj: Project) -> str:
    procfile = (proj.root / "Procfile").read_text() + NEEDS_DB
    return proj.commit({"Procfile": procfile}, "release phase")


def test_a_failing_scratch_release_phase_does_not_fail_a_slug_deploy(tally, api):
    """The slug is built whatever the scratch release phase does; released
    on the target, its release phase runs there with the target's config."""
    needs_db(tally)
    done, report = tally.deploy()
    assert report["ok"], done.stdout + done.stderr
    # the scratch app's release phase ran and failed (the push streams it)
    assert "Release command declared by your Procfile failed" in done.stderr
    assert len(tally.applied()) == 1  # the target's release phase migrated
    current = tally.current()
    assert current["status"] == "succeeded"
    slug = api.get(f"/apps/{tally.app}/slugs/{current['slug']['id']}")
    assert slug["commit"] == tally.git("rev-parse", "refs/herotasks/assets/latest")
    assert_clean(tally.state())


def test_pipeline_promotion_of_a_failed_scratch_release_is_refused_before_the_window(
        tally, pipeline, api, sandbox, tmp_path):
    """Heroku promotes the source app's current release: after the scratch
    release failed that is an older slug (or none). Refused after the build,
    before maintenance, in one line; the target is as it was."""
    conf = tmp_path / "pipeline.yaml"
    conf.write_text(PIPELINE)
    tally.deploy(runtime=conf)
    before = tally.current()
    needs_db(tally)
    log = RequestLog(sandbox.root)
    done, report = tally.deploy(runtime=conf, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert report is not None and not report["ok"]
    assert "maintenance.on" not in [s["name"] for s in report["steps"]
                                    if s["started_at"] is not None]
    errors = [line for line in done.stderr.splitlines()
              if line.startswith("herotasks: ")]
    assert len(errors) == 1, done.stderr
    assert "release phase failed on the scratch app" in errors[0], done.stderr
    assert "promote.method: slug" in errors[0]
    assert tally.current()["id"] == before["id"]
    assert not any(p.startswith("/pipeline-promotions") and m == "POST"
                   for m, p in log.since())
    assert not any(p == f"/apps/{tally.app}" and m == "PATCH" for m, p in log.since())
    assert_clean(tally.state())
