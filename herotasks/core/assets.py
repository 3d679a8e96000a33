"""Local asset precompile, producing the *deploy commit* that gets built.

The deploy commit is the source commit's tree plus the compiled output
directory, with the source commit as its only parent. It is made with git
plumbing in a temporary ``git worktree`` (and, when reusing, a temporary index
file), so the user's branch, index and working tree are never touched; it is
kept reachable under ``refs/herotasks/assets/latest``.

Its subject names the source (``herotasks source <sha>``, for people reading
``git log``) and its message carries two trailers read back later:

* ``Herotasks-Source: <sha>``: the source commit (for migration diffs, see
  :mod:`herotasks.core.migrations`);
* ``Herotasks-Recipe: <hash>``: a hash of the asset command and output path, so
  changing either forces a fresh compile.

Skipping: when the asset inputs (git pathspecs) did not change between the
last compiled source and the new one, the compile is skipped and the last
compiled output tree is grafted onto the new source tree. That is
capistrano-rails' most requested feature (capistrano/rails#72) and envato's
``has_asset_changes?``, without committing assets to a branch.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

from herotasks.adapters import git
from herotasks.adapters.shell import run_local
from herotasks.core.config import Settings
from herotasks.core.migrations import SOURCE_MARKER, source_from_text, summarize
from herotasks.core.migrations import TRAILER as SOURCE_TRAILER
from herotasks.errors import CommandError, GitError, hint_command

LATEST_REF = "refs/herotasks/assets/latest"
RECIPE_TRAILER = "Herotasks-Recipe"
_RECIPE_RE = re.compile(rf"^{RECIPE_TRAILER}:\s*(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class AssetsDecision:
    """What ``assets.precompile`` will do for a source commit, and why.

    :param rebuild: run the asset command.
    :param reuse_from: deploy commit whose compiled output can be reused.
    :param ready: an existing deploy commit for exactly this source (nothing
        to do at all).
    """

    rebuild: bool
    reason: str
    reuse_from: str | None = None
    ready: str | None = None


def recipe(settings: Settings) -> str:
    """A short hash of what determines the compiled output besides the inputs."""
    text = f"{settings.assets_command}\0{settings.assets_output}"
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def decide(c: Any, settings: Settings, source: str) -> AssetsDecision:
    """Decide (read-only) whether the asset command must run for ``source``."""
    if settings.assets_command is None:
        return AssetsDecision(False, "no asset step configured")
    latest = _rev(c, LATEST_REF)
    if latest is None:
        return AssetsDecision(True, "no earlier compiled commit")
    message = commit_message(c, latest) or ""
    last_source = source_from_text(message)
    found = _RECIPE_RE.search(message)
    if not last_source or not found or found.group(1) != recipe(settings):
        return AssetsDecision(True, "the asset command or output changed")
    if _rev(c, f"{latest}:{settings.assets_output}", kind="tree") is None:
        return AssetsDecision(True, "the last compiled commit has no output")
    if last_source == source:
        return AssetsDecision(False, "already compiled for this commit",
                              reuse_from=latest, ready=latest)
    if not git.has_commit(c, last_source):
        return AssetsDecision(True, "the last compiled source is not in history")
    changed = git.diff_names(c, last_source, source, settings.assets_inputs)
    if changed:
        return AssetsDecision(True, "asset inputs: " + summarize(changed))
    return AssetsDecision(False, f"asset inputs unchanged since {last_source[:10]}",
                          reuse_from=latest)


def precompile(
    c: Any,
    settings: Settings,
    source: str,
    *,
    decision: AssetsDecision | None = None,
    out: Callable[[str], Any] = print,
) -> str:
    """Make (or find) the deploy commit for ``source``; return its sha.

    Without an asset step the deploy commit is the source commit itself.

    :raises CommandError: the asset command failed (its output's tail shown).
    """
    if settings.assets_command is None:
        return source
    decision = decision or decide(c, settings, source)
    if decision.ready:
        out(f"assets: {decision.reason}: {decision.ready[:10]}")
        return decision.ready
    output = str(settings.assets_output)
    if decision.rebuild:
        out(f"assets: compiling ({decision.reason}): {settings.assets_command}")
        tree = _compile_tree(c, settings, source)
        how = f"Compiled {output} with: {settings.assets_command}"
    else:
        out(f"assets: reusing {decision.reuse_from[:10]} ({decision.reason})")
        out_tree = _rev(c, f"{decision.reuse_from}:{output}", kind="tree")
        if out_tree is None:  # decide() checked, but the ref may have moved since
            raise GitError(f"compiled output of {decision.reuse_from[:10]} vanished",
                           f"run `{hint_command('assets.precompile')}` again")
        tree = _graft_tree(c, source, output, out_tree)
        how = f"Reused {output} from {decision.reuse_from}"
    # The subject names the source in full: Heroku's build copies the pushed
    # commit's message into the slug's commit_description, and the slug is
    # all that reaches the app by pipeline promotion (see core.migrations).
    message = (f"herotasks deploy commit ({SOURCE_MARKER} {source})\n\n{how}\n\n"
               f"{SOURCE_TRAILER}: {source}\n{RECIPE_TRAILER}: {recipe(settings)}\n")
    commit = git.commit_tree(c, tree, [source], message)
    git.update_ref(c, LATEST_REF, commit)
    return commit


def deploy_commit_for(c: Any, settings: Settings, source: str) -> str | None:
    """The existing deploy commit for ``source`` (hand-run ``slug.build``)."""
    if settings.assets_command is None:
        return source
    decision = decide(c, settings, source)
    return decision.ready


def commit_message(c: Any, sha: str) -> str | None:
    """Full message of a local commit, None if it is not in the history."""
    result = run_local(c, git.git_cmd("log", "-1", "--format=%B", sha, "--"),
                       hide=True, warn=True, readonly=True)
    return result.stdout if result.ok else None


def show_file(c: Any, sha: str, path: str) -> str | None:
    """A file's content at a commit, None if the commit has no such file."""
    result = run_local(c, git.git_cmd("show", f"{sha}:{path}"), hide=True,
                       warn=True, readonly=True)
    return result.stdout if result.ok else None


# -- internals ----------------------------------------------------------------


def _rev(c: Any, spec: str, kind: str = "commit") -> str | None:
    """The object ``spec`` names if it is a ``kind``, else None.

    ``REV:PATH`` takes everything after the colon as the path, so the
    ``^{tree}`` peel cannot be used there; the type is checked separately.
    """
    peeled = spec if ":" in spec else f"{spec}^{{{kind}}}"
    result = run_local(c, git.git_cmd("rev-parse", "--verify", "--quiet", peeled),
                       hide=True, warn=True, readonly=True)
    sha = result.stdout.strip() if result.ok else ""
    if not sha:
        return None
    if ":" in spec:
        kind_of = run_local(c, git.git_cmd("cat-file", "-t", sha), hide=True,
                            warn=True, readonly=True)
        if kind_of.stdout.strip() != kind:
            return None
    return sha


def _compile_tree(c: Any, settings: Settings, source: str) -> str:
    """Run the asset command in a throwaway worktree of ``source``; the tree of
    ``source`` plus the output directory."""
    output = str(settings.assets_output)
    workdir = tempfile.mkdtemp(prefix="herotasks-assets-")
    try:
        git.worktree_add(c, workdir, source)
        result = run_local(c, f"cd {shlex.quote(workdir)} && {settings.assets_command}",
                           warn=True, pty=False, untrusted=True)
        if not result.ok:
            raise CommandError(
                f"asset command failed (exit {result.exited}): "
                f"{_tail(result.stderr or result.stdout)}",
                "fix the build locally; nothing was changed on Heroku",
                output=(result.stdout or "") + (result.stderr or ""),
            )
        if not os.path.isdir(os.path.join(workdir, output)):
            raise CommandError(
                f"the asset command did not create {output}/",
                "check herotasks.assets.output against where the command writes",
            )
        git.add_paths(c, workdir, [output])
        return git.write_tree(c, workdir)
    finally:
        git.worktree_remove(c, workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def _graft_tree(c: Any, source: str, output: str, out_tree: str) -> str:
    """``source``'s tree with ``output/`` replaced by ``out_tree``, built in a
    temporary index file (never the user's index)."""
    handle, index = tempfile.mkstemp(prefix="herotasks-index-")
    os.close(handle)
    os.unlink(index)  # git wants to create it; an empty file is "corrupt"
    env = {"GIT_INDEX_FILE": index}
    try:
        for args in (("read-tree", source),
                     ("rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", output),
                     ("read-tree", f"--prefix={output}/", out_tree)):
            result = run_local(c, git.git_cmd(*args), env=env, hide=True, warn=True)
            if not result.ok:
                raise GitError(f"git {args[0]} failed: {_tail(result.stderr)}",
                               output=result.stderr)
        result = run_local(c, git.git_cmd("write-tree"), env=env, hide=True, warn=True)
        if not result.ok:
            raise GitError(f"git write-tree failed: {_tail(result.stderr)}",
                           output=result.stderr)
        return result.stdout.strip()
    finally:
        try:
            os.unlink(index)
        except FileNotFoundError:
            pass


def _tail(text: str | None, lines: int = 1) -> str:
    rows = [r.strip() for r in (text or "").strip().splitlines() if r.strip()]
    return " / ".join(rows[-lines:]) if rows else "no output"
