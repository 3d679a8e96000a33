"""Git, as herotasks uses it: pure command builders and parsers, thin runners.

Builders (``*_cmd``) return the shell command string and parsers take plain
stdout, so both are tested with no repository at all. Runners take an invoke
context and go through :func:`herotasks.adapters.shell.run_local`; the ones that
only read are marked ``readonly`` so ``--dry`` still sees the real repository.

Pushing to Heroku's git over HTTPS needs the API token. It is handed to git
through :func:`push_env` only: a credential helper defined in
``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` (git >= 2.31)
whose shell snippet reads ``$HEROTASKS_GIT_TOKEN`` when git asks. The token is
never in a URL, an argv, or a config file.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from invoke import Context

from herotasks.adapters.shell import run_local
from herotasks.errors import GitError

#: Env var the credential helper reads; the one place the token lives for git.
TOKEN_ENV = "HEROTASKS_GIT_TOKEN"
#: Identity of the deploy commits herotasks makes (they are tool output, and a
#: fixed identity works in CI where none is configured).
DEPLOY_IDENTITY = {
    "GIT_AUTHOR_NAME": "herotasks",
    "GIT_AUTHOR_EMAIL": "herotasks@localhost",
    "GIT_COMMITTER_NAME": "herotasks",
    "GIT_COMMITTER_EMAIL": "herotasks@localhost",
}

# Answers only "get"; "store" and "erase" are ignored so nothing is persisted.
# $HEROTASKS_GIT_TOKEN is expanded by the helper's shell at call time, and echo
# is a builtin, so the value never appears in any process's arguments.
_HELPER = (
    '!f() { test "$1" = get || return 0; echo username=heroku;'
    f' echo "password=${TOKEN_ENV}"; }}; f'
)


# -- builders -----------------------------------------------------------------


def git_cmd(*args: str, repo: str | None = None) -> str:
    """``git [-C repo] args...`` quoted for the shell."""
    prefix = ["git", "-C", repo] if repo else ["git"]
    return shlex.join([*prefix, *args])


def rev_parse_cmd(ref: str, repo: str | None = None) -> str:
    return git_cmd("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", repo=repo)


def diff_names_cmd(
    a: str, b: str, pathspecs: Sequence[str] = (), repo: str | None = None
) -> str:
    """Files changed between commits ``a`` and ``b`` under ``pathspecs``.

    Pathspecs use glob magic (``:(glob)``, gitignore-like ``**``), so Django's
    ``**/migrations/**`` matches ``app/migrations/0002.py`` and a plain
    directory such as Rails' ``db/`` matches everything under it.
    """
    # A pathspec that already has magic (":(exclude)...", ":!x") is kept as is.
    specs = [p if p.startswith(":") else f":(glob){p}" for p in pathspecs]
    return git_cmd(
        "diff", "--name-only", "--no-renames", "-z", a, b, "--", *specs, repo=repo
    )


def push_cmd(url: str, sha: str, branch: str = "main", force: bool = True) -> str:
    """``git push URL SHA:refs/heads/BRANCH``: Heroku builds on main/master.

    :raises GitError: the URL carries credentials (they belong in the env).
    """
    if "@" in urlsplit(url).netloc:
        raise GitError(
            "refusing to push to a git URL with credentials in it",
            "use the app's plain https git_url; herotasks supplies the token",
        )
    args = ["push", "--porcelain"]
    if force:
        args.append("--force")
    return git_cmd(*args, url, f"{sha}:refs/heads/{branch}")


# -- parsers ------------------------------------------------------------------


def parse_names(stdout: str) -> list[str]:
    """Paths from ``-z`` output (NUL-separated, no quoting)."""
    return [p for p in stdout.split("\0") if p]


def parse_bool(stdout: str) -> bool:
    """``true``/``false`` as printed by ``git rev-parse --is-*``."""
    return stdout.strip() == "true"


# -- the credential env ---------------------------------------------------------


def push_env(
    token: str,
    cabundle: str | None = None,
    *,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment that lets git authenticate to Heroku's HTTPS git with ``token``.

    Adds config entries after any the caller's environment already defines
    (``base``, default ``os.environ``) rather than replacing them:

    - ``credential.helper = ""`` resets helpers from system/global/repo config
      (a stale keychain entry or the CLI's ``heroku git:credentials`` would
      otherwise answer first), then our helper is the only one;
    - ``http.sslCAInfo`` = ``cabundle`` when given (the sandbox's CA).

    Also sets ``GIT_TERMINAL_PROMPT=0`` so a rejected token fails instead of
    waiting for a password at a prompt nobody sees.
    """
    base = os.environ if base is None else base
    try:
        start = int(base.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        start = 0
    entries = [("credential.helper", ""), ("credential.helper", _HELPER)]
    if cabundle:
        entries.append(("http.sslCAInfo", cabundle))
    env = {TOKEN_ENV: token, "GIT_TERMINAL_PROMPT": "0"}
    for i, (key, value) in enumerate(entries, start):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    env["GIT_CONFIG_COUNT"] = str(start + len(entries))
    return env


# -- runners --------------------------------------------------------------------


def _probe(c: Context, cmd: str, what: str) -> str:
    """Stdout of a read-only git command; GitError naming ``what`` if it fails."""
    result = run_local(c, cmd, hide=True, warn=True, readonly=True)
    if not result.ok:
        raise GitError(f"{what}: {_last_line(result.stderr)}", output=result.stderr)
    return result.stdout.strip()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "git failed"


def toplevel(c: Context) -> str:
    """The repository's root directory.

    :raises GitError: not inside a git work tree.
    """
    result = run_local(
        c, git_cmd("rev-parse", "--show-toplevel"), hide=True, warn=True, readonly=True
    )
    if not result.ok:
        raise GitError(
            "this is not a git repository", "run herotasks inside your app's repository"
        )
    return result.stdout.strip()


def rev_parse(c: Context, ref: str, repo: str | None = None) -> str:
    """The commit sha ``ref`` names.

    :raises GitError: no such commit.
    """
    result = run_local(c, rev_parse_cmd(ref, repo), hide=True, warn=True, readonly=True)
    sha = result.stdout.strip()
    if not result.ok or not sha:
        raise GitError(
            f"unknown git ref {ref!r}", "give a branch, tag or commit that exists here"
        )
    return sha


def is_shallow(c: Context) -> bool:
    cmd = git_cmd("rev-parse", "--is-shallow-repository")
    return parse_bool(_probe(c, cmd, "cannot tell whether the clone is shallow"))


def is_dirty(c: Context, untracked: bool = False) -> bool:
    """Whether tracked files differ from HEAD (staged or not).

    Untracked files are ignored by default: a deploy ships commits, and they are
    in none.
    """
    mode = "--untracked-files=normal" if untracked else "--untracked-files=no"
    return bool(_probe(c, git_cmd("status", "--porcelain", mode), "git status failed"))


def diff_names(
    c: Context, a: str, b: str, pathspecs: Sequence[str] = ()
) -> list[str]:
    cmd = diff_names_cmd(a, b, pathspecs)
    result = run_local(c, cmd, hide=True, warn=True, readonly=True)
    if not result.ok:
        raise GitError(
            f"cannot diff {a[:12]}..{b[:12]}: {_last_line(result.stderr)}",
            output=result.stderr,
        )
    return parse_names(result.stdout)


def has_commit(c: Context, sha: str) -> bool:
    """Whether the local history has ``sha`` (a deployed commit may not be)."""
    cmd = git_cmd("cat-file", "-e", f"{sha}^{{commit}}")
    return run_local(c, cmd, hide=True, warn=True, readonly=True).ok


def is_ancestor(c: Context, a: str, b: str) -> bool:
    """Whether ``a`` is an ancestor of (or equal to) ``b``.

    :raises GitError: either commit is unknown (exit status other than 0/1).
    """
    cmd = git_cmd("merge-base", "--is-ancestor", a, b)
    result = run_local(c, cmd, hide=True, warn=True, readonly=True)
    if result.exited in (0, 1):
        return result.exited == 0
    raise GitError(
        f"cannot compare {a[:12]} and {b[:12]}: {_last_line(result.stderr)}",
        output=result.stderr,
    )


def push(
    c: Context,
    url: str,
    sha: str,
    branch: str = "main",
    force: bool = True,
    env: Mapping[str, str] | None = None,
    hide: bool | str | None = None,
) -> str:
    """Push ``sha`` to ``url`` as ``refs/heads/BRANCH``; the combined output.

    Heroku's build log arrives as ``remote:`` lines on stderr; ``hide=None``
    lets them stream to the terminal as they come.

    :param env: from :func:`push_env` (the token goes only there).
    :raises GitError: the push failed; ``.output`` holds the log for its tail.
    """
    result = run_local(c, push_cmd(url, sha, branch, force), env=env, hide=hide, warn=True)
    output = (result.stdout or "") + (result.stderr or "")
    if not result.ok:
        raise GitError(
            f"git push to {url} failed: {push_failure(output)}",
            "see the build output above",
            output=output,
        )
    return output


def fetch_ref(
    c: Context,
    url: str,
    ref: str,
    dest: str,
    env: Mapping[str, str] | None = None,
) -> bool:
    """Fetch ``ref`` of ``url`` into the local ``dest`` ref; whether it worked.

    Runs under ``--dry`` too: it writes only objects and a ref under
    ``refs/herotasks``, which a dry run needs to say what is deployed.

    :param env: from :func:`push_env` (the token goes only there).
    """
    cmd = git_cmd("fetch", "--no-tags", "--quiet", url, f"+{ref}:{dest}")
    return run_local(c, cmd, env=env, hide=True, warn=True, readonly=True).ok


def push_failure(output: str) -> str:
    """The line that says why a push failed.

    Heroku marks its own verdicts ``remote:  !     ...``; the first such line
    ("Push rejected, failed to compile ...") says more than git's closing
    "error: failed to push some refs".
    """
    for line in output.splitlines():
        text = line.removeprefix("remote:").strip()
        if line.startswith("remote:") and text.startswith("!") and text.strip("! "):
            return text.lstrip("! ").strip()
    return _last_line(output)


def worktree_add(c: Context, path: str, sha: str) -> None:
    """A detached work tree of ``sha`` at ``path``: the user's branch, index and
    files stay untouched while assets compile there."""
    cmd = git_cmd("worktree", "add", "--force", "--detach", path, sha)
    result = run_local(c, cmd, hide=True, warn=True)
    if not result.ok:
        raise GitError(
            f"cannot create a work tree at {path}: {_last_line(result.stderr)}",
            output=result.stderr,
        )


def worktree_remove(c: Context, path: str) -> None:
    """Remove the work tree (even with compiled files in it) and prune leftovers
    of any earlier run that crashed before removing its own."""
    run_local(c, git_cmd("worktree", "remove", "--force", path), hide=True, warn=True)
    run_local(c, git_cmd("worktree", "prune"), hide=True, warn=True)


def add_paths(c: Context, worktree: str, paths: Iterable[str]) -> None:
    """Stage ``paths`` in ``worktree``'s own index, ignored files included (the
    compiled asset directory is usually in ``.gitignore``)."""
    cmd = git_cmd("add", "--force", "--all", "--", *paths, repo=worktree)
    result = run_local(c, cmd, hide=True, warn=True)
    if not result.ok:
        raise GitError(
            f"cannot stage {', '.join(paths)}: {_last_line(result.stderr)}",
            output=result.stderr,
        )


def write_tree(c: Context, worktree: str) -> str:
    """The tree id of ``worktree``'s index ("" under ``--dry``)."""
    result = run_local(c, git_cmd("write-tree", repo=worktree), hide=True, warn=True)
    if not result.ok:
        raise GitError(
            f"git write-tree failed: {_last_line(result.stderr)}", output=result.stderr
        )
    return result.stdout.strip()


def commit_tree_cmd(tree: str, parents: Sequence[str], message: str) -> str:
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    return git_cmd(*args, "-m", message)


def commit_tree(
    c: Context,
    tree: str,
    parents: Sequence[str],
    message: str,
    env: Mapping[str, str] | None = None,
) -> str:
    """A commit of ``tree`` with ``parents``, touching no branch; its sha
    ("" under ``--dry``, where nothing is written).

    Authored as :data:`DEPLOY_IDENTITY` unless ``env`` says otherwise.
    """
    result = run_local(
        c,
        commit_tree_cmd(tree, parents, message),
        env={**DEPLOY_IDENTITY, **(env or {})},
        hide=True,
        warn=True,
    )
    if not result.ok:
        raise GitError(
            f"git commit-tree failed: {_last_line(result.stderr)}", output=result.stderr
        )
    return result.stdout.strip()


def update_ref(c: Context, ref: str, sha: str) -> None:
    """Point ``ref`` (e.g. ``refs/herotasks/deploy``) at ``sha``; keeps the
    deploy commit reachable so ``git gc`` does not drop it."""
    result = run_local(c, git_cmd("update-ref", ref, sha), hide=True, warn=True)
    if not result.ok:
        raise GitError(
            f"cannot update {ref}: {_last_line(result.stderr)}", output=result.stderr
        )
