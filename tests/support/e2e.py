"""Helpers shared by the end-to-end task tests that came after test_e2e_deploy.

The fixture apps themselves (:class:`Project`, the Rails and Django layouts)
live in ``test_e2e_deploy`` and are reused as they are, so every e2e module
deploys the very same apps. What is here reads the platform the way a user
(or a hook in the middle of a deploy) can: the app's git repository over
smart HTTP, the Platform API during a window, the sandbox's request log.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

from tests.support.projects import Project

#: A hook body that photographs the app from inside a window. It runs under
#: ``inv`` with the sandbox's env file (HEROKU_HOST, HEROTASKS_CA_BUNDLE), as
#: any user hook would, and appends one JSON line. herotasks keeps the token
#: out of a hook's environment, so the probe reads it from a file of its own.
PROBE = """\
import json, os, ssl, sys, urllib.request

host, app = os.environ["HEROKU_HOST"].rstrip("/"), os.environ["HEROTASKS_APP"]
ctx = ssl.create_default_context(cafile=os.environ["HEROTASKS_CA_BUNDLE"])
with open(sys.argv[3]) as f:
    token = f.read().strip()


def get(path):
    req = urllib.request.Request(host + path, headers={
        "Accept": "application/vnd.heroku+json; version=3",
        "Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        return json.load(r)


shot = {"step": os.environ["HEROTASKS_STEP"], "when": sys.argv[2],
        "maintenance": get(f"/apps/{app}")["maintenance"],
        "preboot": get(f"/apps/{app}/features/preboot")["enabled"],
        "formation": {p["type"]: p["quantity"]
                      for p in get(f"/apps/{app}/formation")},
        "dynos": [{"name": d["name"], "type": d["type"], "state": d["state"],
                   "version": (d.get("release") or {}).get("version")}
                  for d in get(f"/apps/{app}/dynos")]}
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(shot) + "\\n")
"""


def probe_config(proj: Project, *points: tuple[str, str]) -> tuple[Path, Path]:
    """A runtime config (``inv -f``) photographing the app at each
    ``(when, step)``; returns (config path, JSON-lines output path)."""
    script = proj.root.parent / "probe.py"
    script.write_text(PROBE)
    token = proj.root.parent / "probe-token"
    token.touch(mode=0o600)
    token.write_text(proj.env["HEROKU_API_KEY"])
    out = proj.root.parent / f"{proj.app}-shots.jsonl"
    out.unlink(missing_ok=True)
    hooks: dict[str, dict[str, list[str]]] = {"before": {}, "after": {}}
    for when, name in points:
        hooks[when].setdefault(name, []).append(
            f"{sys.executable} {script} {out} {when} {token}")
    path = proj.root.parent / "probe.yaml"
    path.write_text("herotasks:\n  hooks: " + json.dumps(hooks) + "\n")
    return path, out


def shots(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The probe's photographs, keyed by (when, step)."""
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    return {(r["when"], r["step"]): r for r in rows}


def git_http_env(git_env: dict[str, str]) -> dict[str, str]:
    """git talking to the sandbox's git over HTTPS: the token through a
    credential helper reading $HEROKU_API_KEY, never in a URL or argument."""
    env = dict(git_env)
    start = int(env.get("GIT_CONFIG_COUNT", "0"))
    env.update({f"GIT_CONFIG_KEY_{start}": "credential.helper",
                f"GIT_CONFIG_VALUE_{start}":
                    '!f() { echo username=heroku; echo "password=$HEROKU_API_KEY"; }; f',
                "GIT_CONFIG_COUNT": str(start + 1)})
    return env


def remote_refs(proj: Project) -> dict[str, str]:
    """The app's git repository as ``git ls-remote`` shows it (ref -> sha)."""
    url = proj.api.get(f"/apps/{proj.app}")["git_url"]
    done = subprocess.run(["git", "ls-remote", url], cwd=proj.root,
                          env=git_http_env(proj.env), capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return {ref: sha for sha, ref in (line.split("\t") for line
                                      in done.stdout.splitlines() if line)}


def step(report: dict, name: str) -> dict:
    """The report's record of step ``name`` (the first one)."""
    return next(s for s in report["steps"] if s["name"] == name)


def encloses(outer: dict, inner: dict) -> bool:
    """``outer`` (a window or step) spans all of ``inner``."""
    return (outer["started_at"] <= inner["started_at"]
            and inner["finished_at"] <= outer["finished_at"])


class RequestLog:
    """The sandbox's request log (``ROOT/logs/server.log``), read from a mark.

    Each served request is one line ``... "METHOD /path HTTP/1.1" status``;
    git's smart HTTP and the API go through the same server.
    """

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / "logs" / "server.log"
        self.mark = self.path.stat().st_size if self.path.exists() else 0

    def lines(self) -> list[str]:
        """The log's lines since the mark."""
        with open(self.path, "rb") as f:
            f.seek(self.mark)
            return f.read().decode(errors="replace").splitlines()

    def since(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every request served since the mark."""
        return list(_requests("\n".join(self.lines())))


def _requests(text: str) -> Iterator[tuple[str, str]]:
    for line in text.splitlines():
        if '"' not in line:
            continue
        request = line.split('"')[1].split()
        if len(request) >= 2:
            yield request[0], request[1]
