"""examples/make_repo.py --app ledger: the Rails app's five tagged versions."""

from __future__ import annotations

import subprocess
import sys

import pytest

from herotasks.core.classify import classify
from tests.support.tally import MAKE_REPO, git


@pytest.fixture(scope="module")
def ledger_repo(tmp_path_factory):
    dest = tmp_path_factory.mktemp("ledger") / "repo"
    done = subprocess.run([sys.executable, str(MAKE_REPO), "--app", "ledger", str(dest)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dest


def changed(repo, old: str, new: str) -> list[str]:
    return git(repo, "diff", "--name-only", old, new).splitlines()


def verdicts(repo, old: str, new: str) -> dict[str, str]:
    """What herotasks' rails classifier makes of each migration ``new`` adds."""
    return {path: classify("rails", path, git(repo, "show", f"{new}:{path}")).kind
            for path in changed(repo, old, new) if path.startswith("db/migrate/")}


def test_five_tagged_commits_with_the_rails_preset(ledger_repo):
    subjects = git(ledger_repo, "log", "--format=%s", "main").splitlines()
    assert [s.split(":")[0] for s in subjects] == ["v5", "v4", "v3", "v2", "v1"]
    assert "preset: rails" in (ledger_repo / "invoke.yaml").read_text()
    assert git(ledger_repo, "status", "--porcelain") == ""
    # A Ruby app as the buildpack wants one: Gemfile, its lock, the Ruby.
    lock = git(ledger_repo, "show", "v1:Gemfile.lock")
    assert "RUBY VERSION\n   ruby 3.1.2" in lock and "railties (6.1.7" in lock


def test_additive_then_destructive_then_code_only(ledger_repo):
    assert set(verdicts(ledger_repo, "v1", "v2").values()) == {"online"}
    assert set(verdicts(ledger_repo, "v2", "v3").values()) == {"window"}
    v4 = changed(ledger_repo, "v3", "v4")
    assert v4 and not [p for p in v4 if p.startswith(("db/", "app/assets/"))]


def test_compiled_assets_and_the_bundle_are_never_committed(ledger_repo):
    for path in ("public/assets/.sprockets-manifest-1.json", "vendor/bundle/x",
                 "log/production.log", "tmp/cache/x"):
        assert git(ledger_repo, "check-ignore", path) == path


def test_an_unknown_app_is_one_usage_line(tmp_path):
    done = subprocess.run([sys.executable, str(MAKE_REPO), "--app", "nope",
                           str(tmp_path / "x")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("usage: python examples/make_repo.py")
    assert not (tmp_path / "x").exists()
