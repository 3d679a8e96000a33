"""Assets: compile locally into a deploy commit (config: herotasks.assets).

The deploy commit is the source commit plus the compiled output directory,
made in a temporary git worktree and kept under refs/herotasks/assets/latest;
your branch, index and working tree are never touched.
"""

from __future__ import annotations

from invoke import Collection, task

from herotasks.core.config import DEFAULTS
from herotasks.tasks._support import boundary, is_dry, out, settings


@task(help={"ref": "commit to compile (default: HEAD)"})
@boundary
def precompile(c, ref=None):
    """Compile assets for a commit, skipping the compile when inputs are unchanged."""
    from herotasks.adapters import git
    from herotasks.core import assets as core_assets
    from herotasks.core.state import Pending, State
    from herotasks.core.steps import STEPS

    s = settings(c, require_stage=False)
    if s.assets_command is None:
        out("assets: no asset step configured (herotasks.assets.command is false)")
        return
    git.toplevel(c)
    source = git.rev_parse(c, ref or "HEAD")
    decision = core_assets.decide(c, s, source)
    if is_dry(c):
        state = State(app=s.app or "", stage=s.stage, new_commit=source,
                      deployed_commit=None, pending=Pending(False, ""),
                      assets_rebuild=decision.rebuild)
        out(f"assets.precompile: would "
            f"{STEPS['assets.precompile'].describe(state, s)} ({decision.reason})")
        return
    commit = core_assets.precompile(c, s, source, decision=decision, out=out)
    out(f"assets: deploy commit {commit} ({core_assets.LATEST_REF})")


ns = Collection(precompile)
ns.configure(DEFAULTS)
