"""The documented GitHub Actions workflow (docs/github-actions-deploy.yml),
its commands run as a CI job would run them: a fresh full clone, the token
only from the secret, ``GITHUB_STEP_SUMMARY`` set, each ``run:`` step in
``bash -e`` (GitHub's default shell), against the sandbox.

Only the steps that fetch from the internet are left out: ``actions/*``
(checkout is done by ``git clone``, the artifact is checked as the file its
``path`` names) and the ``install`` step (herotasks is this checkout's).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from invoke.util import yaml

pytestmark = pytest.mark.e2e

WORKFLOW = Path(__file__).resolve().parents[3] / "docs" / "github-actions-deploy.yml"


def job() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["deploy"]


def expand(value: str, secrets: dict[str, str], inputs: dict[str, str]) -> str:
    """GitHub's ``${{ ... }}`` for what the workflow uses: secrets, inputs
    (with ``||`` defaults) and ``github.run_id``."""
    def one(m: re.Match) -> str:
        for part in (p.strip() for p in m[1].split("||")):
            if part.startswith("secrets."):
                got = secrets.get(part[len("secrets."):])
            elif part.startswith("inputs."):
                got = inputs.get(part[len("inputs."):])
            elif part == "github.run_id":
                got = "4242"
            else:
                got = part.strip("'")
            if got:
                return got
        return ""
    return re.sub(r"\$\{\{(.*?)\}\}", one, value)


def run_job(tally, sandbox, tools, git_env, tmp_path, name: str):
    """Every ``run:`` step but the install, in a fresh clone, as a runner;
    (exit codes by step name, the clone, the step summary's text)."""
    clone = tmp_path / f"runner-{name}"
    tools.git(tmp_path, git_env, "clone", "-q", str(tally.root), str(clone))
    summary = tmp_path / f"summary-{name}.md"
    secrets = {"HEROKU_API_KEY": sandbox.api_key}
    env = {k: v for k, v in git_env.items() if k != "HEROKU_API_KEY"}
    # what setup-python and the install step would put first on PATH
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["GITHUB_STEP_SUMMARY"] = str(summary)
    d = job()
    env.update({k: expand(str(v), secrets, {}) for k, v in d["env"].items()})
    codes: dict[str, int] = {}
    for step in d["steps"]:
        if "run" not in step or step.get("id") == "install":
            continue
        done = subprocess.run(["bash", "-e", "-c", expand(step["run"], secrets, {})],
                              cwd=clone, env=env, capture_output=True, text=True,
                              timeout=600, stdin=subprocess.DEVNULL)
        codes[step["name"]] = done.returncode
        assert sandbox.api_key not in done.stdout + done.stderr  # never shown
        if done.returncode:
            break  # GitHub skips the steps after a failed one
    return codes, clone, summary.read_text() if summary.exists() else ""


def test_the_workflow_is_safe_as_written():
    whole = yaml.safe_load(WORKFLOW.read_text())
    assert whole["concurrency"]["cancel-in-progress"] is False
    assert "herotasks-deploy-" in whole["concurrency"]["group"]
    d = job()
    assert d["env"]["HEROKU_API_KEY"] == "${{ secrets.HEROKU_API_KEY }}"
    checkout = next(s for s in d["steps"] if s.get("uses", "").startswith(
        "actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # herotasks needs the history
    upload = next(s for s in d["steps"] if s.get("uses", "").startswith(
        "actions/upload-artifact@"))
    assert upload["if"] == "always()"  # a failed deploy's report above all
    assert upload["with"]["path"] == d["env"]["REPORT"]
    runs = " ".join(s["run"] for s in d["steps"] if "run" in s)
    assert "HEROKU_API_KEY" not in runs  # the token is never in argv


def test_the_workflows_commands_deploy_and_fill_the_job_summary(
        tally, sandbox, tools, git_env, tmp_path):
    codes, clone, summary = run_job(tally, sandbox, tools, git_env, tmp_path, "ok")
    assert codes == {"plan": 0, "deploy": 0}
    report = json.loads((clone / job()["env"]["REPORT"]).read_text())
    assert report["ok"] and report["app"] == tally.app
    assert summary.startswith(f"### herotasks: deploy of `{tally.app}` (production): ok")
    assert "| `slug.build` |" in summary and "| `lock.release` |" in summary
    assert "```mermaid\ngantt" in summary and "    slug.build : " in summary


def test_a_failed_deploy_exits_1_and_still_leaves_its_report_and_summary(
        tally, sandbox, tools, git_env, tmp_path, api):
    tally.deploy()
    api.patch(f"/apps/{tally.app}/config-vars", {"FAIL_MIGRATION": "1"})
    tally.add_migration()
    codes, clone, summary = run_job(tally, sandbox, tools, git_env, tmp_path, "fail")
    assert codes == {"plan": 0, "deploy": 1}
    report = json.loads((clone / job()["env"]["REPORT"]).read_text())
    assert not report["ok"] and "db.migrate failed" in report["error"]
    assert ": FAILED" in summary.splitlines()[0]
    assert "**error**: db.migrate failed" in summary
