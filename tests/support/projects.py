"""The deploy tests' projects: a fresh app on the sandbox and a fixture
repository (Rails or Django layout, with stand-in migrate and asset commands
so no framework needs installing), driven with ``inv`` as a user would, with
only the sandbox's env file in its environment.

``project`` (both layouts), ``rails`` and ``tally`` (the cheap layout, for
tests not about a framework) are fixtures (tests/e2e/conftest.py makes them
every e2e module's); the rest are plain helpers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from herotasks.core import lock, scratch
from tests.support import invfork

MIGRATE = """#!/bin/sh
# stand-in migration runner: records applied migrations in $DB_FILE
for m in $(ls {paths} 2>/dev/null); do
  grep -qx "$m" "$DB_FILE" 2>/dev/null && continue
  echo "applying $m"; echo "$m" >> "$DB_FILE"
done
test -z "$FAIL_MIGRATION" || {{ echo "migration failed on purpose"; exit 3; }}
"""

#: The fixture apps' processes: a web that answers, a worker that only runs
#: (sleep: the suite starts hundreds of workers, and an interpreter's start
#: was most of what each cost).
PROCFILE = ("web: python3 -m http.server $PORT --bind 127.0.0.1\n"
            "worker: sleep 3600\n")

LAYOUTS = {
    "rails": {
        "files": {
            "Procfile": PROCFILE,
            # what makes Heroku detect a Ruby app: a Gemfile and its lock
            # (no gems: the buildpack's bundle install has nothing to do)
            "Gemfile": "source 'https://rubygems.org'\n",
            "Gemfile.lock": "GEM\n  remote: https://rubygems.org/\n  specs:\n\n"
                            "PLATFORMS\n  x86_64-linux\n\nDEPENDENCIES\n\n"
                            "RUBY VERSION\n   ruby 3.1.2p20\n\n"
                            "BUNDLED WITH\n   2.3.15\n",
            "bin/migrate": MIGRATE.format(paths="db/migrate/*"),
            "bin/assets": "#!/bin/sh\nmkdir -p public/assets\n"
                          "cp app/assets/* public/assets/\n"
                          "echo '{}' > public/assets/.sprockets-manifest-1.json\n",
            "app/assets/app.css": "body {}\n",
            "db/migrate/001_init.rb": "init\n",
            "index.html": "v1\n",
            ".gitignore": "public/assets\n.herotasks/\n",
        },
        "config": "  assets: {command: bin/assets}\n"
                  "  migrations: {command: bin/migrate}\n",
        "migration": "db/migrate/{n}_step.rb",
    },
    "django": {
        "files": {
            "Procfile": PROCFILE,
            # manage.py without Django: the two commands herotasks runs
            "manage.py": "import os, shutil, subprocess, sys\n"
                         "cmd = sys.argv[1]\n"
                         "if cmd == 'collectstatic':\n"
                         "    shutil.copytree('tally/static', 'staticfiles',"
                         " dirs_exist_ok=True)\n"
                         "    open('staticfiles/staticfiles.json', 'w').write('{}')\n"
                         "elif cmd == 'migrate':\n"
                         "    sys.exit(subprocess.call(['sh', 'bin/migrate']))\n",
            # a Python app with nothing to install: no Django, so the
            # buildpack's collectstatic does not run
            "requirements.txt": "",
            ".python-version": "3.11\n",
            "bin/migrate": MIGRATE.format(paths="*/migrations/*.py"),
            "tally/static/app.css": "body {}\n",
            "tally/migrations/0001_initial.py": "# initial\n",
            "index.html": "v1\n",
            ".gitignore": "staticfiles\n.herotasks/\n",
        },
        # -S: the stand-in needs nothing from site-packages, where this
        # machine's python3 imports certifi from a .pth file at every start
        # (~40 ms of CPU; the command runs at almost every deploy)
        "config": "  assets: {command: python3 -S manage.py collectstatic --noinput}\n"
                  "  migrations: {command: python3 manage.py migrate --noinput}\n",
        "migration": "tally/migrations/{n}_step.py",
    },
}


class Project:
    """A fixture app: its repository, its Heroku app, and `inv` to drive it."""

    def __init__(self, root: Path, app: str, layout: str, env: dict, api, tools):
        self.root, self.app, self.layout, self.env, self.api = root, app, layout, env, api
        self.tools = tools
        self.db = root.parent / f"{app}.db"
        spec = LAYOUTS[layout]
        files = dict(spec["files"])
        files["tasks.py"] = "from herotasks.tasks import ns\n"
        files["invoke.yaml"] = (f"herotasks:\n  preset: {layout}\n"
                                f"  stages:\n    production: {{app: {app}}}\n"
                                + spec["config"]
                                # preboot: the test sandbox's switch (3 s)
                                # plus a margin, as Heroku's ~3 min is scaled
                                + "  timeouts: {boot: 60, release: 120, preboot: 4}\n"
                                # a short watch keeps the suite quick; the
                                # health tests set their own
                                + "  health: {watch: 1}\n")
        tools.make_repo(root, env, files)
        for script in ("bin/migrate", "bin/assets"):
            if (root / script).exists():
                (root / script).chmod(0o755)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "executable scripts")
        self.n = 1

    def git(self, *args):
        return self.tools.git(self.root, self.env, *args).stdout.strip()

    def commit(self, files: dict[str, str], msg: str = "change") -> str:
        for name, text in files.items():
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / name).write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", msg)
        return self.git("rev-parse", "HEAD")

    def add_migration(self) -> str:
        self.n += 1
        name = LAYOUTS[self.layout]["migration"].format(n=f"{self.n:03d}")
        return self.commit({name: f"# {self.n}\n"}, f"migration {self.n}")

    def inv(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = invfork.run(list(args), self.root, self.env, timeout=300)
        if check:
            assert done.returncode == 0, (
                f"inv {' '.join(args)} exited {done.returncode}\n"
                f"{done.stdout}\n{done.stderr}")
        return done

    def deploy(self, *flags: str, check: bool = True,
               runtime: Path | None = None) -> tuple[subprocess.CompletedProcess,
                                                     dict | None]:
        report = self.root.parent / f"{self.app}-report.json"
        report.unlink(missing_ok=True)
        core = ["-f", str(runtime)] if runtime else []
        done = self.inv(*core, "deploy.production", "--json", str(report), *flags,
                        check=check)
        return done, json.loads(report.read_text()) if report.exists() else None

    def hook_file(self, when: str, step: str, command: str) -> Path:
        """A runtime config file (`inv -f`) adding one hook to this run only."""
        path = self.root.parent / "hooks.yaml"
        path.write_text(f"herotasks:\n  hooks:\n    {when}:\n"
                        f"      {step}: [{json.dumps(command)}]\n")
        return path

    def applied(self) -> list[str]:
        return self.db.read_text().split() if self.db.exists() else []

    def scale(self, **types: str) -> None:
        updates = [{"type": t, "quantity": int(q.split(":")[0]),
                    "size": q.split(":")[1]} for t, q in types.items()]
        self.api.patch(f"/apps/{self.app}/formation", {"updates": updates})

    def state(self) -> dict:
        """What a user can see on the platform."""
        app = self.api.get(f"/apps/{self.app}")
        # The Procfile's types: the Ruby buildpack's default ones (console,
        # rake) are in the formation too, at 0, as on Heroku.
        formation = sorted((p["type"], p["quantity"], p["size"])
                           for p in self.api.get(f"/apps/{self.app}/formation")
                           if p["type"] in ("web", "worker"))
        preboot = self.api.get(f"/apps/{self.app}/features/preboot")["enabled"]
        apps = {a["name"] for a in self.api.get("/apps")}
        return {"maintenance": app["maintenance"], "formation": formation,
                "preboot": preboot,
                "lock": lock.lock_app_name(self.app) in apps,
                "scratch": scratch.scratch_name("ht-scratch", self.app) in apps}

    def current(self) -> dict:
        releases = self.api.get(f"/apps/{self.app}/releases",
                                headers={"Range": "version ..; order=desc"})
        return next(r for r in releases if r.get("current"))


def new_project(layout, api, tools, git_env, tmp_path):
    """A fresh app on the sandbox and its fixture repo; the app goes after."""
    app = tools.unique("tally")
    api.create_app(app)
    proj = Project(tmp_path / "repo", app, layout, dict(git_env), api, tools)
    api.patch(f"/apps/{app}/config-vars", {"DB_FILE": str(proj.db)})
    yield proj
    api.request("DELETE", f"/apps/{app}")


@pytest.fixture(params=["rails", "django"])
def project(request, sandbox, api, tools, git_env, tmp_path):
    yield from new_project(request.param, api, tools, git_env, tmp_path)


@pytest.fixture
def rails(sandbox, api, tools, git_env, tmp_path):
    """The Rails-layout project alone (the other e2e files import it)."""
    yield from new_project("rails", api, tools, git_env, tmp_path)


#: The layout for tests about herotasks rather than a framework: the
#: Django-shaped fixture builds with the Python buildpack, which has nothing to
#: install, where the Rails-shaped one runs bundler (about 0.6 s of CPU a build).
PLAIN = "django"


@pytest.fixture
def tally(sandbox, api, tools, git_env, tmp_path):
    """A project in the cheap layout (:data:`PLAIN`), for tests that are about
    herotasks' own behaviour, not about a framework's files."""
    yield from new_project(PLAIN, api, tools, git_env, tmp_path)


def steps(report: dict) -> list[str]:
    return [s["name"] for s in report["steps"]]


def window(report: dict) -> list[str]:
    return [s["name"] for s in report["steps"] if s["in_window"]]


CLEAN = {"maintenance": False, "lock": False, "scratch": False}


def assert_clean(state: dict) -> None:
    assert {k: state[k] for k in CLEAN} == CLEAN, state


# The worker is up for 4 s, then crashes: long enough for dynos.wait to see
# every dyno up even on a loaded machine, so it is the health check's watch
# (10 s in these tests) that sees the crash.
CRASHING_WORKER = ("web: python3 -m http.server $PORT --bind 127.0.0.1\n"
                   "worker: python3 -c \"import time; time.sleep(4); "
                   "raise SystemExit(1)\"\n")


def health_file(proj, **health) -> object:
    path = proj.root.parent / "health.yaml"
    body = ", ".join(f"{k}: {v}" for k, v in health.items())
    path.write_text(f"herotasks:\n  health: {{{body}}}\n")
    return path


# -- a deploy in the background, paused at a step --------------------------------

def start_inv(proj: Project, *args: str) -> subprocess.Popen:
    """``inv ARGS`` in the background, as a second terminal would run it."""
    return subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=proj.root,
                            env=proj.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def paused_at(proj: Project, step: str) -> tuple[Path, Path, Path]:
    """A runtime config whose ``before`` hook on ``step`` says it got there
    (creates REACHED) and then waits until the test creates GO (bounded, so
    a broken test cannot hang a deploy forever)."""
    reached, go = proj.root.parent / "reached", proj.root.parent / "go"
    for f in (reached, go):
        f.unlink(missing_ok=True)
    hook = (f"touch {reached}; i=0; while [ ! -f {go} ] && [ $i -lt 1200 ]; "
            "do sleep 0.1; i=$((i+1)); done")
    return proj.hook_file("before", step, hook), reached, go


def wait_for(proc: subprocess.Popen, path: Path, tools) -> None:
    def there():
        assert proc.poll() is None, f"exited {proc.returncode}: {proc.communicate()}"
        return path.exists()
    tools.wait_until(there, 120, 0.1, f"{path.name} to appear")


# -- team apps ---------------------------------------------------------------------

def lines_of(done) -> list[str]:
    return [line for line in done.stderr.strip().splitlines() if line.strip()]


def team_project(api, tools, git_env, tmp_path, *, space: dict | None = None,
                 team: dict | None = None, layout: str = PLAIN) -> Project:
    team = team or api.post("/teams", {"name": tools.unique("team")})
    app = tools.unique("tally")
    body = {"name": app, "team": team["name"]}
    if space:
        body["space"] = space["name"]
    api.post("/teams/apps", body)
    proj = Project(tmp_path / "repo", app, layout, dict(git_env), api, tools)
    api.patch(f"/apps/{app}/config-vars", {"DB_FILE": str(proj.db)})
    proj.team = team
    return proj
