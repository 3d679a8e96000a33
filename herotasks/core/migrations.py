"""Are migrations pending? The diff between the deployed and the new commit.

The deployed commit comes from Heroku, not from a git remote: the current
release's slug carries the commit it was built from. Slug promotion never
pushes to the app's git repo, so "what is deployed" must not depend on it.

What herotasks deploys is a *deploy commit* (the source commit plus compiled
assets, see :mod:`herotasks.core.assets`), so the slug's commit is that deploy
commit. To diff sources, we map it back to its source commit, in this order:

1. the slug's commit, when it is in the local history: its
   ``Herotasks-Source:`` trailer, or the commit itself when it has none (a
   source pushed as is: no asset step, or naive/conditional);
   On a machine that never had the deploy commit (a CI runner's fresh
   clone), :func:`herotasks.core.observe.deployed_commit` first fetches it
   from the target's own git, where a pipeline deploy keeps it on a branch
   Heroku does not build (``herotasks/deploys/<sha>``,
   :func:`herotasks.core.slug.keep_deploy_commit`);
2. the slug's ``commit_description``, when a build set it (Heroku's git
   builds leave it empty; a ``source_blob.version_description`` fills it);
3. the release description herotasks writes on slug promotion
   (``... herotasks source <sha>``), looked up on the newest release that
   runs the same slug (a rollback creates a new release with Heroku's own
   description, same slug);
4. the slug's commit itself, which is then not in the local history.

The slug comes first because the build sets it from what was pushed, so it
is the same whichever way the slug got there: a pipeline promotion's release
gets Heroku's description ("Promote ..."), not ours, which is why the deploy
commit itself is kept where any machine can fetch it.

Every uncertain answer means "pending", with the reason said aloud: taking a
window that was not needed costs seconds, skipping a needed one breaks the app.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from herotasks.core import generations
from herotasks.core.state import Pending

SOURCE_MARKER = "herotasks source"
TRAILER = "Herotasks-Source"
_MARKER_RE = re.compile(r"herotasks source ([0-9a-f]{40})")
_TRAILER_RE = re.compile(r"^Herotasks-Source:\s*([0-9a-f]{40})\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Deployed:
    """The source commit running on the app, and how we know it."""

    commit: str | None
    how: str


def release_description(source: str, short: str | None = None) -> str:
    """The description herotasks gives the releases it creates."""
    return f"Deploy {(short or source[:7])} ({SOURCE_MARKER} {source})"


def source_from_text(text: str | None) -> str | None:
    """A source sha from a release description or commit message, if present."""
    if not text:
        return None
    match = _MARKER_RE.search(text) or _TRAILER_RE.search(text)
    return match.group(1) if match else None


def deployed_source(
    current: dict | None,
    releases: Sequence[dict],
    slug: dict | None,
    commit_message: Callable[[str], str | None],
) -> Deployed:
    """Find the source commit the app runs now (pure: data and one lookup in).

    :param current: the current release (None for an app never deployed).
    :param releases: recent releases, newest first.
    :param slug: the current release's slug (``commit``, ``commit_description``).
    :param commit_message: full message of a local commit, None if not local.
    """
    if not current:
        return Deployed(None, "the app has no release yet (first deploy)")
    slug_id = generations.artifact_id(current)  # a slug, or a Fir app's image
    if not slug_id:
        return Deployed(None, f"first deploy (release v{current.get('version')} "
                        "runs no code yet)")
    commit = (slug or {}).get("commit")
    if commit:
        message = commit_message(commit)
        if message is not None:
            return Deployed(source_from_text(message) or commit, "the slug's commit")
        found = source_from_text((slug or {}).get("commit_description"))
        if found:
            return Deployed(found, "the slug's commit description")
    for release in releases:
        if generations.artifact_id(release) == slug_id:
            found = source_from_text(release.get("description"))
            if found:
                return Deployed(found, f"release v{release.get('version')}")
    if not commit:
        return Deployed(None, f"the slug of v{current.get('version')} records "
                        "no commit")
    return Deployed(commit, "the slug's commit")


def pending(
    deployed: Deployed,
    new_commit: str,
    paths: Sequence[str],
    *,
    has_commit: Callable[[str], bool],
    diff_names: Callable[[str, str, Sequence[str]], list[str]],
    migrate_command: str | None = "configured",
) -> Pending:
    """Decide whether the migration paths changed between the two commits.

    :param has_commit: whether a sha is in the local history.
    :param diff_names: names of files that differ between two commits,
        limited to the pathspecs.
    :param migrate_command: None when the app has no migrations at all.
    """
    if migrate_command is None:
        return Pending(False, "no migrate command configured")
    if deployed.commit is None:
        return Pending(True, f"deployed commit unknown: {deployed.how}")
    if deployed.commit == new_commit:
        return Pending(False, "the same commit is deployed")
    if not paths:
        return Pending(True, "no migration paths configured to compare")
    if not has_commit(deployed.commit):
        return Pending(True, f"deployed commit {deployed.commit[:10]} is not in "
                       "the local history (git fetch, or a deep clone)")
    files = diff_names(deployed.commit, new_commit, paths)
    if not files:
        return Pending(False, "no changes under " + ", ".join(paths))
    return Pending(True, summarize(files), tuple(files))


def summarize(files: Iterable[str]) -> str:
    """``db/migrate changed: 2 files`` (the report contract's example)."""
    files = list(files)
    dirs = sorted({posixpath.dirname(f) or f for f in files})
    where = ", ".join(dirs[:3]) + (", ..." if len(dirs) > 3 else "")
    return f"{where} changed: {len(files)} file{'s' if len(files) != 1 else ''}"
