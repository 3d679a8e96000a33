"""The collection is the interface: names, help, config keys, stage tasks."""

from __future__ import annotations

import inspect

import pytest
from invoke import Collection, Program
from invoke.exceptions import Exit

from herotasks.tasks import deploy, ns

INTERFACE = {
    "assets.precompile", "scratch.create", "scratch.destroy", "slug.build",
    "slug.promote", "db.pending", "db.migrate", "maintenance.on", "maintenance.off",
    "workers.stop", "workers.restore", "deploy.to", "deploy.plan", "deploy.status",
    "deploy.rollback", "deploy.recover",
}


def all_tasks(coll=ns, prefix=""):
    for name, t in coll.tasks.items():
        yield prefix + name, t
    for name, sub in coll.collections.items():
        yield from all_tasks(sub, f"{prefix}{name}.")


def test_task_names_are_the_documented_interface():
    assert INTERFACE <= set(ns.task_names)


@pytest.mark.parametrize("name,t", [(n, t) for n, t in all_tasks()
                                    if not n.startswith("sandbox.")])
def test_every_task_has_a_docstring_and_help_for_each_argument(name, t):
    assert (t.__doc__ or t.body.__doc__ or "").strip(), name
    for arg in list(inspect.signature(t.body).parameters)[1:]:
        assert t.help.get(arg), f"{name} --{arg} has no help"


def test_every_herotasks_key_is_declared_for_every_task():
    for name in ("deploy.to", "assets.precompile", "workers.stop"):
        tree = ns.configuration(name)["herotasks"]
        assert tree["strategy"] == "herotasks" and tree["stages"] == {}
        assert set(tree["timeouts"]) == {"build", "release", "migrate", "boot", "stop",
                                          "preboot"}


def test_inner_namespace_keys_survive_the_root_config():
    if "sandbox" not in ns.collections:
        pytest.skip("no sandbox namespace in this checkout")
    assert "sandbox" in ns.configuration("sandbox.up")["herotasks"]


def test_deploy_default_task_is_to():
    assert ns.collections["deploy"].default == "to"


class TestStages:
    def test_add_stages_gives_custom_names_a_task(self):
        root = Collection(deploy)
        assert deploy.add_stages(root, ["qa", "plan", "to"]) == ["qa"]
        assert "qa" in root.collections["deploy"].tasks

    def test_configured_stages(self):
        config = {"herotasks": {"stages": {"qa": {"app": "x"}, "production": "y"}}}
        assert deploy.configured_stages(config) == ["production", "qa"]

    def run(self, argv, capsys, tmp_path, monkeypatch, yaml="production: {app: a}"):
        """`inv ARGV` in a project whose tasks.py imports the collection."""
        monkeypatch.chdir(tmp_path)
        (tmp_path / "tasks.py").write_text("from herotasks.tasks import ns\n")
        (tmp_path / "invoke.yaml").write_text(
            f"herotasks:\n  preset: rails\n  stages:\n    {yaml}\n")
        with pytest.raises(SystemExit) as done:
            Program().run(["inv", *argv])
        return done.value.code, capsys.readouterr().err

    def test_unconfigured_stage_is_one_line(self, capsys, tmp_path, monkeypatch):
        code, err = self.run(["deploy", "--stage", "staging"], capsys, tmp_path,
                             monkeypatch)
        assert code == 1
        assert err.strip() == ("herotasks: unknown stage 'staging' — configured "
                               "stages: production")

    def test_only_configured_stages_get_a_task(self, capsys, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "tasks.py").write_text("from herotasks.tasks import ns\n")
        (tmp_path / "invoke.yaml").write_text(
            "herotasks:\n  stages:\n    qa: {app: a}\n")
        Program().run(["inv", "--list"], exit=False)
        listing = capsys.readouterr().out
        assert "deploy.qa" in listing
        assert "deploy.production" not in listing and "deploy.staging" not in listing

    def test_no_stage_is_one_line(self, capsys, tmp_path, monkeypatch):
        code, err = self.run(["deploy.to"], capsys, tmp_path, monkeypatch,
                             yaml="production: {app: a}\n    staging: {app: b}")
        assert code == 1 and "no stage given" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1

    def test_bad_strategy_is_one_line(self, capsys, tmp_path, monkeypatch):
        code, err = self.run(["deploy.production", "--strategy", "yolo"],
                             capsys, tmp_path, monkeypatch)
        assert code == 1 and "herotasks.strategy is 'yolo'" in err


def test_boundary_turns_errors_into_exit():
    from herotasks.errors import ConfigError
    from herotasks.tasks._support import boundary

    @boundary
    def body(c):
        raise ConfigError("bad thing", "do this")

    with pytest.raises(Exit) as err:
        body(None)
    assert err.value.code == 1
    assert err.value.message == "herotasks: bad thing — do this"


class TestWithoutTheSandboxExtra:
    """The root collection leaves the sandbox out when herotasks-sandbox is
    not installed (tests/test_packaging.py checks that for real, from a
    wheel); the console script then names the extra to install."""

    def run(self, argv, capsys):
        from herotasks.cli import HerotasksProgram

        root = Collection(*(sub for name, sub in ns.collections.items()
                            if name != "sandbox"))
        with pytest.raises(SystemExit) as done:
            HerotasksProgram(namespace=root, name="herotasks",
                             binary="herotasks").run(["herotasks", *argv])
        return done.value.code, capsys.readouterr().err

    @pytest.mark.parametrize("argv", [["sandbox.up", "--root", "x"],
                                      ["sandbox.status"], ["sandbox"],
                                      ["--help", "sandbox.up"]])
    def test_a_sandbox_task_names_the_extra(self, argv, capsys):
        code, err = self.run(argv, capsys)
        assert code == 1
        assert err == ('herotasks: the sandbox is not installed: '
                       'pip install "herotasks[sandbox]"\n')

    @pytest.mark.parametrize("argv", [["nonesuch"], ["--help", "nonesuch"]])
    def test_other_unknown_tasks_keep_invokes_message(self, argv, capsys):
        code, err = self.run(argv, capsys)
        assert code == 1 and "No idea what 'nonesuch' is!" in err

    def test_the_sandbox_is_found_without_importing_it(self, monkeypatch):
        import importlib.util

        from herotasks.tasks import collection, sandbox_installed

        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name: None if name == "herotasks_sandbox" else real(name))
        assert sandbox_installed() is False
        assert "sandbox" not in collection().collections
        monkeypatch.undo()
        assert sandbox_installed() is True
        assert "sandbox" in collection().collections
