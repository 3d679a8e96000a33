"""run_local: local under fabric, c.run under invoke, dry-run aware."""

from __future__ import annotations

from unittest.mock import Mock

from fabric import Connection
from invoke import Config, Context, MockContext, Result

from herotasks.adapters.shell import run_local


def test_plain_context_uses_run():
    c = MockContext(run={"git status": Result("clean")})
    assert run_local(c, "git status", hide=True).stdout == "clean"
    c.run.assert_called_once_with("git status", warn=False, hide=True, in_stream=False)


def test_fabric_connection_uses_local_not_remote_run():
    # As fabric's own `connection` test fixture builds it: nothing connects.
    cxn = Connection("deploy.example.com", user="u")
    cxn.run = Mock()
    cxn.local = Mock(return_value=Result("local"))
    assert run_local(cxn, "git rev-parse HEAD").stdout == "local"
    cxn.local.assert_called_once()
    cxn.run.assert_not_called()


def test_env_is_added_not_replaced_and_kept_out_of_the_command():
    c = MockContext(run={"git push origin": Result()})
    run_local(c, "git push origin", env={"HEROTASKS_GIT_TOKEN": "s3cret"})
    (cmd,), kw = c.run.call_args
    assert "s3cret" not in cmd
    assert kw["env"] == {"HEROTASKS_GIT_TOKEN": "s3cret"}
    assert kw["replace_env"] is False


def test_readonly_commands_run_even_under_dry():
    c = Context(Config(overrides={"run": {"dry": True}}))
    assert run_local(c, "echo probe", hide=True, readonly=True).stdout == "probe\n"
    # A changing command is only echoed.
    assert run_local(c, "echo change", hide=True).stdout == ""


def test_env_really_reaches_the_process():
    c = Context()
    result = run_local(c, 'echo "$HT_TEST_VAR:$HOME"', env={"HT_TEST_VAR": "yes"},
                       hide=True)
    value, home = result.stdout.strip().split(":", 1)
    assert value == "yes" and home  # added to, not replacing, our environment
