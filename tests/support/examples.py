"""The example apps (examples/), deployed end to end on the sandbox: their
history as a git repository, ``inv deploy.production`` run in it as a user
runs it, and a GET through the app's router."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from tests.support import REPO

MAKE_REPO = REPO / "examples" / "make_repo.py"


def example_repo(tmp_path: Path, app: str) -> Path:
    """``app``'s history (examples/make_repo.py: a commit per version, tagged)."""
    repo = tmp_path / app
    subprocess.run([sys.executable, str(MAKE_REPO), "--app", app, str(repo)],
                   check=True, capture_output=True, timeout=60)
    return repo


def get(url: str, sandbox) -> requests.Response:
    """GET ``url`` (an app's web_url) as a browser would, trusting the
    sandbox's CA and no proxy."""
    return requests.get(url, verify=sandbox.ca_bundle, timeout=60, allow_redirects=False,
                        proxies={"http": None, "https": None})


class Deployer:
    """``inv deploy.production`` in an example's repository, as a user runs
    it, with the stage's app and the test sandbox's short timeouts in a
    runtime config (``inv -f``) next to the repository."""

    def __init__(self, repo: Path, app: str, env: dict):
        self.repo, self.env = repo, dict(env)
        self.config = repo.parent / f"{repo.name}-test.yaml"
        self.config.write_text(
            "herotasks:\n"
            f"  stages:\n    production: {{app: {app}}}\n"
            "  timeouts: {boot: 90, release: 180, preboot: 4}\n"
            "  health: {path: /up, status: 200, timeout: 60, watch: 1}\n")

    def __call__(self, ref: str) -> tuple[dict, str]:
        """Check out ``ref`` and deploy it; (the --json report, the output),
        both checked."""
        subprocess.run(["git", "checkout", "-q", ref], cwd=self.repo, check=True)
        report_path = self.repo.parent / f"report-{ref.replace('/', '-')}.json"
        report_path.unlink(missing_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "invoke", "-f", str(self.config), "deploy.production",
             "--json", str(report_path)], cwd=self.repo, env=self.env,
            capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        report = json.loads(report_path.read_text())
        assert report["ok"], report
        return report, output
