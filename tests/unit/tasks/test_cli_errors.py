"""herotasks.load_errors: the config-error translation, in process: what it explains,
and that it leaves every other exception exactly as it was."""

from __future__ import annotations

import sys

import pytest

from herotasks import cli, load_errors
from herotasks.errors import ConfigError


def test_an_ordinary_error_is_not_explained():
    try:
        int("abc")
    except ValueError as exc:
        assert load_errors.explain_load_error(exc) is None


def test_the_hook_passes_other_errors_to_the_previous_hook(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *info: seen.append(info))
    load_errors.install_excepthook()
    load_errors.install_excepthook()  # idempotent: still one layer
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    assert len(seen) == 1 and seen[0][0] is RuntimeError
    assert capsys.readouterr().err == ""


def test_the_hook_explains_a_merge_error_in_one_line(monkeypatch, capsys, tmp_path):
    from invoke import Config

    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *info: seen.append(info))
    load_errors.install_excepthook()
    (tmp_path / "invoke.yaml").write_text("herotasks:\n  timeouts: 5\n")
    config = Config(defaults={"herotasks": {"timeouts": {"boot": 300}}},
                    project_location=str(tmp_path))
    try:
        config.load_project()
    except Exception:  # noqa: BLE001 - what invoke raises is the subject
        sys.excepthook(*sys.exc_info())
    assert seen == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "invoke.yaml: herotasks.timeouts must be a mapping, not 5" in err[0]


def test_program_run_without_exit_raises_the_config_error(tmp_path, monkeypatch):
    from herotasks.tasks import ns

    monkeypatch.chdir(tmp_path)
    (tmp_path / "invoke.yaml").write_text("herotasks:\n  stages: {production: {\n")
    program = cli.HerotasksProgram(namespace=ns, name="herotasks", binary="herotasks")
    with pytest.raises(ConfigError, match="invoke.yaml line 3 is not valid YAML"):
        program.run(["herotasks", "--list"], exit=False)
