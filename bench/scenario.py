"""The deploy scenario: the main job of the README, and one run of the benchmark.

    python -m bench.scenario [--root DIR] [--strategy herotasks|conditional|naive]
                             [--app tally|ledger]

On a fresh sandbox: create the tally app (or ledger, the Rails app: its
versions' order differs, see APPS), deploy v1, put steady load on its
web_url and keep its worker busy, then deploy, with ``herotasks
deploy.production``, v2 (a migration that needs the window), v3 (code only),
v4 (an additive migration, which herotasks runs with no window), v5 (a
broken release, which herotasks' check before the release stops: it is never
released), v6 (a contract migration dropping columns v6 no longer uses, which
herotasks runs after the release with no window), v7 (a release that breaks
only under traffic, after 200 requests, which herotasks' watch after the
release rolls back) and v8 (a contract dropping NOT NULL columns, which
herotasks makes nullable before the release, then drops after it, with no
window), and say what
happened to every request and every job: per deploy, the steps and their times, the maintenance
window, requests answered by the app, by the maintenance page, and failed
(by kind), and worker job failures. It draws the timeline too: an SVG file
to open, and a compact version in the terminal.

Time is scaled (``Timing``): the sandbox's slug compile, the app's asset
compile and its migration take seconds here where they take minutes on a
large production app, in the same proportions (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from bench.load import FAILED, Load, Record, save_records, summarise
from bench.report import load_report, window
from bench.timeline import render_text, write_svg
from bench.worklog import job_failures
from examples.make_repo import make_repo
from herotasks_sandbox import daemon

REPO = Path(__file__).resolve().parents[1]
STRATEGIES = ("naive", "conditional", "herotasks")


@dataclass(frozen=True)
class ExampleApp:
    """One of examples/: its name (the folder, make_repo's --app and the
    Heroku app's name), the deploys measured (tag: what it stands for) and
    the config vars of its slowness knobs."""

    name: str
    deploys: dict[str, str]
    asset_var: str
    migration_var: str
    #: the app needs its own secret as a config var (Django's SECRET_KEY);
    #: a Rails app gets SECRET_KEY_BASE from the Ruby buildpack
    secret_var: str | None = None
    #: the config var of how many requests the release that breaks under
    #: traffic serves first (tally's v7), if the app has one
    good_requests_var: str | None = None


APPS = {
    "tally": ExampleApp("tally", {"v2": "window-class migration", "v3": "code only",
                                  "v4": "additive migration", "v5": "broken release",
                                  "v6": "contract migration", "v7": "breaks under traffic",
                                  "v8": "contract of NOT NULL columns"},
                        "TALLY_ASSET_SECONDS", "TALLY_MIGRATION_SECONDS", "SECRET_KEY",
                        "TALLY_GOOD_REQUESTS"),
    "ledger": ExampleApp("ledger", {"v2": "additive migration",
                                    "v3": "window-class migration", "v4": "code only",
                                    "v5": "broken release"},
                         "LEDGER_ASSET_SECONDS", "LEDGER_MIGRATION_SECONDS"),
}
APP = "tally"
#: the deploys measured, and what each stands for (tally's)
DEPLOYS = APPS[APP].deploys


@dataclass(frozen=True)
class Timing:
    """How long the slow parts take here. At the default scale, 1 s here
    stands for 30 s on the app of the write-up herotasks grew from: a 4-minute
    slug compile, a 2-minute asset compile, a 30-second migration."""

    build: float = 8.0       # sandbox slug compile (the delay admin setting)
    assets: float = 4.0      # extra asset compile (TALLY_/LEDGER_ASSET_SECONDS)
    migration: float = 1.0   # the window migration (TALLY_/LEDGER_MIGRATION_SECONDS)
    boot: float = 0.0        # extra dyno boot delay (gunicorn's own boot is real)
    stop_grace: float = 1.0  # SIGTERM to SIGKILL (Heroku's 30 s)
    preboot_switch: float = 6.0  # release to preboot's traffic switch (Heroku's ~3 min)


@dataclass
class DeployResult:
    tag: str
    ok: bool
    report: dict
    summary: dict            # bench.load.summarise over the deploy's span
    worker_failures: int
    log: str                 # the deploy's own output, as printed

    #: when the first request failed after the new release went live (epoch
    #: seconds; None: none did)
    first_failure: float | None = None
    #: when the last one did (the failing release stops taking traffic)
    last_failure: float | None = None

    @property
    def stopped(self) -> bool:
        """The deploy stopped before releasing anything (the check before
        the release failed)."""
        return not self.ok and bool((self.report.get("precheck") or {}).get(
            "ok") is False)

    @property
    def rolled_back(self) -> bool:
        """The deploy failed and herotasks put the previous release back."""
        return any(s["name"] == "slug.rollback" and s["ok"]
                   for s in self.report.get("steps", []))

    def back_in(self) -> float | None:
        """Seconds from the first request that failed after the new release
        went live (from the release itself when none failed) to the previous
        release being back (None when nothing was rolled back): the rollback
        done, and no request failing after it (with preboot, a rollback
        release takes traffic only at the switch, so the end of the failures
        counts too)."""
        steps = self.report.get("steps", [])
        live = next((s for s in steps if s["name"] in ("slug.promote", "app.push")
                     and s["ok"]), None)
        back = next((s for s in steps if s["name"] == "slug.rollback" and s["ok"]), None)
        if not (live and back):
            return None
        since = live["finished_at"]
        if self.first_failure is not None and self.first_failure > since:
            since = self.first_failure
        until = max(back["finished_at"], self.last_failure or 0.0)
        return until - since

    def row(self) -> dict:
        """The numbers the tables show."""
        steps = {s["name"]: s for s in self.report.get("steps", [])}
        win = (self.report.get("windows") or {}).get("maintenance")
        migrate = steps.get("db.migrate", {}).get("duration") or 0.0
        out = self.summary["overall"]
        return {
            "deploy": self.tag,
            "ok": self.ok,
            "window": win["duration"] if win else 0.0,
            "migration": migrate if win else 0.0,
            "window_minus_migration": (win["duration"] - migrate) if win else 0.0,
            "workers_down": ((self.report.get("windows") or {}).get("workers_down")
                             or {}).get("duration", 0.0),
            "requests": self.summary["requests"],
            "answered": out["ok"],
            "maintenance_page": out["maintenance"],
            "app_error": out["app_error"],
            "unavailable": out["unavailable"],
            "conn_error": out["conn_error"],
            "unexpected": out["unexpected"],
            "failed": self.summary["failed"]["overall"],
            "failed_outside_window": self.summary["failed"]["outside"],
            "worker_failures": self.worker_failures,
            "total": self.report.get("duration") or 0.0,
            "outcome": ("rolled back" if self.rolled_back
                        else "not released" if self.stopped
                        else "ok" if self.ok else "FAILED"),
            "back_in": self.back_in(),
        }


class Scenario:
    """One strategy, start to finish, on its own sandbox under ``root``."""

    def __init__(self, root: Path, strategy: str = "herotasks", *, rate: float = 50.0,
                 timing: Timing = Timing(), settle: float = 3.0, keep: bool = False,
                 echo=print, app: str = APP, good_requests: int | None = None):
        if strategy not in STRATEGIES:
            raise SystemExit(f"unknown strategy {strategy!r}: "
                             f"use one of {', '.join(STRATEGIES)}")
        if app not in APPS:
            raise SystemExit(f"unknown app {app!r}: use one of {', '.join(APPS)}")
        self.app = APPS[app]
        self.root = Path(root).resolve()
        self.strategy, self.rate, self.timing = strategy, rate, timing
        self.settle, self.keep, self.echo = settle, keep, echo
        #: requests the release that breaks under traffic serves first (None:
        #: the app's own default)
        self.good_requests = good_requests

    # -- set up -----------------------------------------------------------------
    def _fresh(self) -> None:
        daemon.down(self.root / "sandbox")
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)

    def _start_sandbox(self) -> None:
        # The uv cache outlives the bench's fresh sandbox: tally's packages
        # are downloaded once, not on every run.
        os.environ.setdefault("HEROTASKS_SANDBOX_BUILD_CACHE",
                              str(REPO / ".herotasks" / "cache"))
        st = daemon.up(self.root / "sandbox")
        self.env = daemon.read_env(self.root / "sandbox")
        self.url = st.url
        self.verify = self.env["HEROTASKS_CA_BUNDLE"]
        self.http = requests.Session()
        admin = {"Authorization": f"Bearer {self.env['HEROTASKS_SANDBOX_ADMIN_TOKEN']}"}
        self._call("PATCH", "/_sandbox/admin/settings", headers=admin,
                   json={"build_delay": self.timing.build,
                         "boot_delay": self.timing.boot,
                         "stop_grace": self.timing.stop_grace,
                         "preboot_switch": self.timing.preboot_switch})

    def _call(self, method: str, path: str, **kw):
        headers = {"Accept": "application/vnd.heroku+json; version=3",
                   "Authorization": f"Bearer {self.env['HEROKU_API_KEY']}",
                   **kw.pop("headers", {})}
        r = self.http.request(method, self.url + path, headers=headers,
                              verify=self.verify, timeout=60, **kw)
        if r.status_code >= 400:
            raise SystemExit(f"sandbox: {method} {path}: {r.status_code} {r.text}")
        return r.json() if r.content else None

    def _create_app(self) -> None:
        name = self.app.name
        app = self._call("POST", "/apps", json={"name": name})
        self.web_url = app["web_url"]
        # A real Postgres (DATABASE_URL): its DDL locks are what a migration
        # meets in production.
        self._call("POST", f"/apps/{name}/addons", json={"plan": "heroku-postgresql"})
        config = {
            # The slug build on the app (naive, conditional) compiles assets
            # too, and takes as long as the local compile does.
            self.app.asset_var: str(self.timing.assets),
            self.app.migration_var: str(self.timing.migration),
        }
        if self.app.secret_var:
            config[self.app.secret_var] = secrets.token_hex(16)
        if self.good_requests is not None and self.app.good_requests_var:
            config[self.app.good_requests_var] = str(self.good_requests)
        self._call("PATCH", f"/apps/{name}/config-vars", json=config)
        # Standard dynos, preboot on: what a production app that cares
        # about downtime has, for every strategy alike.
        self._call("PATCH", f"/apps/{name}/features/preboot", json={"enabled": True})

    def deploy_env(self) -> dict:
        env = dict(os.environ)
        env.update(self.env)
        # The sandbox's venv first: the asset command runs the app's Django.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env[self.app.asset_var] = str(self.timing.assets)
        # herotasks waits for preboot's switch (Heroku's ~3 min), scaled here
        env["INVOKE_HEROTASKS_TIMEOUTS_PREBOOT"] = str(int(self.timing.preboot_switch) + 1)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def deploy(self, tag: str, strategy: str) -> tuple[bool, dict, str]:
        """Check out ``tag`` and run ``herotasks deploy.production``."""
        repo = self.root / "repo"
        subprocess.run(["git", "checkout", "-q", tag], cwd=repo, check=True)
        report_path = self.root / f"report-{tag}.json"
        report_path.unlink(missing_ok=True)
        herotasks = Path(sys.executable).parent / "herotasks"
        cmd = [str(herotasks), "deploy.production", "--strategy", strategy,
               "--json", str(report_path)]
        self.echo(f"\n$ herotasks deploy.production --strategy {strategy}   # {tag}")
        proc = subprocess.Popen(cmd, cwd=repo, env=self.deploy_env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        lines = []
        for line in proc.stdout:
            lines.append(line)
            self.echo("  | " + line.rstrip("\n"))
        proc.wait()
        if not report_path.exists():
            raise SystemExit(f"deploy of {tag} wrote no report (exit {proc.returncode})")
        return proc.returncode == 0, load_report(report_path), "".join(lines)

    def _scale_worker(self) -> None:
        self._call("PATCH", f"/apps/{self.app.name}/formation",
                   json={"updates": [{"type": "worker", "quantity": 1}]})

    def _worker_logs(self) -> list[Path]:
        logs = self.root / "sandbox" / "logs" / "apps" / self.app.name
        return sorted(logs.glob("worker.*.log"))

    def _wait_web(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.web_url + "up", timeout=5,
                                verify=self.verify).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.web_url} did not answer after v1")

    # -- the run ------------------------------------------------------------------
    def run(self) -> list[DeployResult]:
        self._fresh()
        self._start_sandbox()
        try:
            make_repo(self.root / "repo", self.app.name)
            self._create_app()
            # v1 sets the stage; it is not measured (nothing runs yet).
            ok, _, log = self.deploy("v1", "herotasks")
            if not ok:
                raise SystemExit("the first deploy (v1) failed; see its output above")
            self._scale_worker()
            self._wait_web()
            results = []
            with Load(self.web_url, rate=self.rate, max_duration=1800,
                      cafile=self.verify) as load:
                time.sleep(self.settle)
                for tag in self.app.deploys:
                    ok, report, log = self.deploy(tag, self.strategy)
                    time.sleep(self.settle)
                    results.append((tag, ok, report, log))
                records = load.stop()
            save_records(self.root / "requests.jsonl", records)
            return self._results(results, records)
        finally:
            if not self.keep:
                daemon.down(self.root / "sandbox")

    def _results(self, runs, records: list[Record]) -> list[DeployResult]:
        out = []
        for tag, ok, report, log in runs:
            start = report["started_at"]
            end = report["finished_at"] + self.settle
            mine = [r for r in records if start <= r.t_start < end]
            fails = [f for f in job_failures(self._worker_logs(), since=start)
                     if f.at is None or f.at < end]
            live = next((s["finished_at"] for s in report.get("steps", [])
                         if s["name"] in ("slug.promote", "app.push") and s["ok"]),
                        None)
            failed = sorted(r.t_start for r in mine if r.outcome in FAILED
                            and live is not None and r.t_start >= live)
            out.append(DeployResult(tag, ok, dict(report),
                                    summarise(mine, [window(report, "maintenance")]),
                                    len(fails), log,
                                    first_failure=failed[0] if failed else None,
                                    last_failure=failed[-1] if failed else None))
        self.records = records
        return out

    def draw(self, results: list[DeployResult]) -> Path:
        """The timeline, as a file (SVG) and in the terminal."""
        reports = [r.report for r in results]
        fails = job_failures(self._worker_logs(),
                             since=min(r["started_at"] for r in reports))
        path = write_svg(self.root / f"timeline-{self.strategy}.svg", reports,
                         self.records, fails,
                         title=f"herotasks deploy.production --strategy "
                               f"{self.strategy}: " + ", ".join(
                                   f"{t} ({d})" for t, d in self.app.deploys.items()))
        self.echo(render_text(reports, self.records, fails))
        return path


def describe(strategy: str, results: list[DeployResult],
             deploys: dict[str, str] = DEPLOYS) -> str:
    """What happened, per deploy, in words a user reads at a glance."""
    lines = [f"\nWhat happened ({strategy}):"]
    for res in results:
        row = res.row()
        win = (f"maintenance window {row['window']:.2f}s "
               f"(migration {row['migration']:.2f}s)" if row["window"]
               else "no maintenance window")
        failed = ", ".join(f"{row[k]} {k}" for k in FAILED if row[k]) or "none"
        back = (f" (the previous release back {row['back_in']:.2f}s after the first "
                "failed request, or the release if none failed)"
                if row["back_in"] is not None else "")
        lines.append(
            f"  {res.tag} ({deploys.get(res.tag, '')}): {row['outcome']}{back} in "
            f"{row['total']:.2f}s, {win}; "
            f"{row['requests']} requests: {row['answered']} answered by the app, "
            f"{row['maintenance_page']} by the maintenance page, failed: {failed}; "
            f"worker job failures: {row['worker_failures']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scenario",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=".herotasks/demo",
                        help="working folder, wiped first (default %(default)s)")
    parser.add_argument("--strategy", default="herotasks", choices=STRATEGIES)
    parser.add_argument("--app", default=APP, choices=tuple(APPS),
                        help="the example app (default %(default)s)")
    parser.add_argument("--rate", type=float, default=50.0,
                        help="requests per second on web_url (default %(default)s)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the sandbox running afterwards")
    args = parser.parse_args(argv)
    scenario = Scenario(Path(args.root), args.strategy, rate=args.rate, keep=args.keep,
                        app=args.app)
    results = scenario.run()
    print(describe(args.strategy, results, scenario.app.deploys))
    svg = scenario.draw(results)
    (scenario.root / "results.json").write_text(json.dumps(
        {"strategy": args.strategy, "app": args.app, "timing": asdict(scenario.timing),
         "deploys": [r.row() for r in results]}, indent=2))
    print(f"\ntimeline picture: {svg}")
    if args.keep:
        print(f"sandbox still running: source {scenario.root / 'sandbox' / 'env'}")
    # a broken release that herotasks rolled back is the expected outcome
    return 0 if all(r.ok or r.rolled_back for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
