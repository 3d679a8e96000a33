"""git.py: builders and parsers with no repo, runners with MockContext and a real one."""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest
from invoke import Context, MockContext, Result

from herotasks.adapters import git
from herotasks.errors import GitError

TOKEN = "hrku-GITTOKEN-abcdef"


# -- builders and parsers ---------------------------------------------------------


def test_push_cmd_pushes_sha_to_main():
    assert git.push_cmd("https://git.heroku.com/app.git", "abc123") == (
        "git push --porcelain --force https://git.heroku.com/app.git abc123:refs/heads/main"
    )
    assert "--force" not in git.push_cmd("https://h/a.git", "abc", "master", force=False)


def test_push_cmd_refuses_credentials_in_url():
    with pytest.raises(GitError, match="credentials"):
        git.push_cmd(f"https://:{TOKEN}@git.heroku.com/app.git", "abc")


def test_diff_names_cmd_uses_glob_pathspecs_and_keeps_magic():
    cmd = git.diff_names_cmd("a", "b", ["db/", "**/migrations/**", ":(exclude)x"])
    assert shlex.split(cmd) == [
        "git", "diff", "--name-only", "--no-renames", "-z", "a", "b", "--",
        ":(glob)db/", ":(glob)**/migrations/**", ":(exclude)x",
    ]


def test_git_cmd_quotes_and_targets_a_repo():
    assert git.git_cmd("add", "my file", repo="/tmp/w t") == "git -C '/tmp/w t' add 'my file'"


def test_parsers():
    assert git.parse_names("a\0dir/b c\0") == ["a", "dir/b c"]
    assert git.parse_names("") == []
    assert git.parse_bool("true\n") is True and git.parse_bool("false\n") is False


# -- push_env ---------------------------------------------------------------------


def test_push_env_shape():
    env = git.push_env(TOKEN, "/ca.pem", base={})
    assert env["HEROTASKS_GIT_TOKEN"] == TOKEN
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_CONFIG_COUNT"] == "3"
    assert [env[f"GIT_CONFIG_KEY_{i}"] for i in range(3)] == [
        "credential.helper", "credential.helper", "http.sslCAInfo"]
    assert env["GIT_CONFIG_VALUE_0"] == ""  # resets helpers from other config
    assert "$HEROTASKS_GIT_TOKEN" in env["GIT_CONFIG_VALUE_1"]
    assert env["GIT_CONFIG_VALUE_2"] == "/ca.pem"
    # The token lives in exactly one variable.
    assert [k for k, v in env.items() if TOKEN in v] == ["HEROTASKS_GIT_TOKEN"]


def test_push_env_appends_after_callers_git_config_env():
    env = git.push_env(TOKEN, base={"GIT_CONFIG_COUNT": "2"})
    assert env["GIT_CONFIG_COUNT"] == "4"
    assert env["GIT_CONFIG_KEY_2"] == "credential.helper"
    assert "GIT_CONFIG_KEY_0" not in env


def test_git_gets_the_token_from_our_helper_only(tmp_path):
    # A stale global helper (say the CLI's, or a keychain) must not answer first.
    global_cfg = tmp_path / "gitconfig"
    global_cfg.write_text(
        '[credential]\n\thelper = "!f() { echo username=old; echo password=STALE; }; f"\n'
    )
    env = {**os.environ, "GIT_CONFIG_GLOBAL": str(global_cfg), "GIT_TRACE": "1",
           **git.push_env(TOKEN)}
    done = subprocess.run(
        ["git", "credential", "fill"], input="protocol=https\nhost=git.heroku.com\n\n",
        env=env, capture_output=True, text=True, cwd=tmp_path, check=True,
    )
    assert f"password={TOKEN}" in done.stdout.splitlines()
    assert "STALE" not in done.stdout
    # GIT_TRACE shows every command git ran: the helper ran without the token.
    assert "run_command" in done.stderr and TOKEN not in done.stderr


# -- runners (MockContext) ----------------------------------------------------------


def test_rev_parse_unknown_ref_is_one_line():
    c = MockContext(run={git.rev_parse_cmd("nope"): Result(exited=1)})
    with pytest.raises(GitError, match="unknown git ref 'nope'"):
        git.rev_parse(c, "nope")


def test_toplevel_outside_a_repo():
    c = MockContext(run={"git rev-parse --show-toplevel": Result(
        stderr="fatal: not a git repository", exited=128)})
    with pytest.raises(GitError, match="not a git repository"):
        git.toplevel(c)


def test_is_ancestor_distinguishes_no_from_error():
    cmd = "git merge-base --is-ancestor a b"
    assert git.is_ancestor(MockContext(run={cmd: Result(exited=0)}), "a", "b") is True
    assert git.is_ancestor(MockContext(run={cmd: Result(exited=1)}), "a", "b") is False
    with pytest.raises(GitError):
        git.is_ancestor(MockContext(run={cmd: Result(stderr="fatal: bad", exited=128)}),
                        "a", "b")


def test_push_passes_token_only_in_env():
    url = "https://git.heroku.com/app.git"
    env = git.push_env(TOKEN, base={})
    c = MockContext(run={git.push_cmd(url, "abc"): Result(stderr="remote: ok\n")})
    assert "remote: ok" in git.push(c, url, "abc", env=env)
    (cmd,), kw = c.run.call_args
    assert TOKEN not in cmd
    assert kw["env"]["HEROTASKS_GIT_TOKEN"] == TOKEN


def test_failed_push_keeps_the_log_for_its_tail():
    url = "https://git.heroku.com/app.git"
    log = ("remote: -----> Building\nremote:  !     Push rejected, failed to compile\n"
           "remote:  !     Push failed\nerror: failed to push some refs to 'x'\n")
    c = MockContext(run={git.push_cmd(url, "abc"): Result(stderr=log, exited=1)})
    with pytest.raises(GitError) as err:
        git.push(c, url, "abc")
    assert str(err.value).startswith(
        f"git push to {url} failed: Push rejected, failed to compile")
    assert err.value.output == log


# -- runners (a real repository) ----------------------------------------------------


def sh(cwd, *args):
    env = {**os.environ, **git.DEPLOY_IDENTITY}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                           capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    root = tmp_path / "app"
    root.mkdir()
    sh(root, "init", "-q", "-b", "main")
    (root / ".gitignore").write_text("public/assets/\n")
    (root / "db").mkdir()
    (root / "db" / "schema.rb").write_text("v1\n")
    (root / "app.py").write_text("print(1)\n")
    sh(root, "add", ".")
    sh(root, "commit", "-qm", "one")
    monkeypatch.chdir(root)
    return root


def test_repository_probes(repo):
    c = Context()
    first = git.rev_parse(c, "HEAD")
    (repo / "db" / "schema.rb").write_text("v2\n")
    (repo / "untracked.txt").write_text("x")
    assert git.is_dirty(c) is True
    sh(repo, "commit", "-qam", "two")
    assert git.is_dirty(c) is False  # untracked files are not a dirty tree
    assert git.is_dirty(c, untracked=True) is True
    second = git.rev_parse(c, "HEAD")
    assert os.path.samefile(git.toplevel(c), repo)
    assert git.is_shallow(c) is False
    assert git.diff_names(c, first, second, ["db/"]) == ["db/schema.rb"]
    assert git.diff_names(c, first, second, ["**/migrations/**"]) == []
    assert git.is_ancestor(c, first, second) is True
    assert git.is_ancestor(c, second, first) is False
    assert git.has_commit(c, first) is True
    assert git.has_commit(c, "0" * 40) is False


def test_deploy_commit_leaves_branch_index_and_files_alone(repo, tmp_path):
    c = Context()
    head = git.rev_parse(c, "HEAD")
    wt = str(tmp_path / "wt")
    git.worktree_add(c, wt, head)
    assets = tmp_path / "wt" / "public" / "assets"
    assets.mkdir(parents=True)
    (assets / "app-1.css").write_text("body{}")
    git.add_paths(c, wt, ["public/assets"])  # ignored, so this needs --force
    tree = git.write_tree(c, wt)
    deploy = git.commit_tree(c, tree, [head], "herotasks: assets for " + head[:7])
    git.update_ref(c, "refs/herotasks/deploy", deploy)
    git.worktree_remove(c, wt)

    assert sh(repo, "rev-parse", "HEAD") == head
    assert sh(repo, "status", "--porcelain") == ""
    assert not (repo / "public").exists()
    assert not os.path.exists(wt)
    assert sh(repo, "rev-parse", "refs/herotasks/deploy") == deploy
    assert sh(repo, "rev-parse", deploy + "^") == head
    assert sh(repo, "show", f"{deploy}:public/assets/app-1.css") == "body{}"
    assert sh(repo, "log", "-1", "--format=%an", deploy) == "herotasks"


def test_push_to_a_local_bare_repo(repo, tmp_path):
    remote = tmp_path / "remote.git"
    sh(tmp_path, "init", "-q", "--bare", str(remote))
    c = Context()
    head = git.rev_parse(c, "HEAD")
    git.push(c, remote.as_uri(), head, env=git.push_env(TOKEN), hide=True)
    assert sh(remote, "rev-parse", "refs/heads/main") == head
