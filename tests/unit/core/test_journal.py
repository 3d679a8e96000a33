"""The journal: private, atomic, secret-free, and refusing to lose a deploy."""

from __future__ import annotations

import json
import os
import stat

import pytest

from herotasks.core import journal as jn
from herotasks.errors import HerotasksError


def test_file_and_folder_are_private(tmp_path):
    j = jn.start(tmp_path / "state", "tally-prod", stage="production",
                 strategy="herotasks")
    assert stat.S_IMODE(os.stat(j.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(j.path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700


def test_written_before_the_step_with_its_undo(tmp_path):
    j = jn.start(tmp_path, "app", stage="production", strategy="herotasks")
    j.begin("maintenance.on", {"action": "maintenance", "on": False})
    on_disk = json.loads(j.path.read_text())
    assert on_disk["entries"][-1] == {"step": "maintenance.on", "status": "started",
                                      "at": on_disk["entries"][-1]["at"],
                                      "undo": {"action": "maintenance", "on": False},
                                      "error": None}
    j.done("maintenance.on", maintenance_was=False)
    again = jn.load(tmp_path, "app")
    assert again.status("maintenance.on") == "done"
    assert again.facts.maintenance_was is False


def test_open_entries_newest_first_and_closed_ones_skipped(tmp_path):
    j = jn.start(tmp_path, "app", stage=None, strategy="herotasks")
    j.begin("lock.acquire", {"action": "lock.release"})
    j.done("lock.acquire")
    j.begin("workers.stop", {"action": "formation", "updates": []})
    j.done("workers.stop")
    j.begin("check")  # no undo: never open
    j.done("check")
    assert [e.step for e in j.open_entries()] == ["workers.stop", "lock.acquire"]
    j.close("workers.stop")
    assert [e.step for e in j.open_entries()] == ["lock.acquire"]


def test_start_refuses_when_an_interrupted_deploy_left_changes(tmp_path):
    j = jn.start(tmp_path, "app", stage="production", strategy="herotasks")
    j.begin("maintenance.on", {"action": "maintenance", "on": False})
    with pytest.raises(HerotasksError) as err:
        jn.start(tmp_path, "app", stage="production", strategy="herotasks")
    assert "deploy.recover" in str(err.value)
    assert "maintenance.on" in str(err.value)


def test_start_replaces_a_journal_with_nothing_open(tmp_path):
    j = jn.start(tmp_path, "app", stage=None, strategy="herotasks")
    j.begin("check")
    j.done("check")
    k = jn.start(tmp_path, "app", stage=None, strategy="naive")
    assert k.deploy_id != j.deploy_id


def test_finish_removes_the_file(tmp_path):
    j = jn.start(tmp_path, "app", stage=None, strategy="herotasks")
    j.finish()
    assert jn.load(tmp_path, "app") is None


def test_no_temp_files_left_behind(tmp_path):
    j = jn.start(tmp_path, "app", stage=None, strategy="herotasks")
    for i in range(5):
        j.remember(previous_version=i)
    assert [p.name for p in j.path.parent.iterdir()] == ["app.json"]


def test_refuses_secret_looking_keys(tmp_path):
    j = jn.start(tmp_path, "app", stage=None, strategy="herotasks")
    with pytest.raises(HerotasksError, match="refusing to journal"):
        j.remember(assets={"api_token": "x"})  # the check looks inside too
    # the refused write left the last good journal in place
    assert "api_token" not in j.path.read_text()


def test_corrupt_journal_is_one_line(tmp_path):
    path = jn.journal_path(tmp_path, "app")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(HerotasksError) as err:
        jn.load(tmp_path, "app")
    assert "cannot read the deploy journal" in str(err.value)


GOOD = {"version": 1, "app": "app", "deploy_id": "d1", "facts": {},
        "entries": [{"step": "maintenance.on", "status": "done", "at": 1.0,
                     "undo": {"maintenance_was": False}}]}


@pytest.mark.parametrize("raw", [
    [],
    "journal",
    {"version": 1},
    {**GOOD, "app": 7},
    {**GOOD, "facts": []},
    {**GOOD, "entries": {"step": "x"}},
    {**GOOD, "entries": ["maintenance.on"]},
    {**GOOD, "entries": [{"step": "maintenance.on"}]},
    {**GOOD, "entries": [{"step": "x", "status": "done", "at": "noon"}]},
    {**GOOD, "entries": [{"step": "x", "status": "done", "at": 1, "undo": [1]}]},
    {**GOOD, "entries": [{"step": "x", "status": "weird", "at": 1}]},
])
def test_valid_json_in_the_wrong_shape_is_one_line(tmp_path, raw):
    path = jn.journal_path(tmp_path, "app")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(raw))
    with pytest.raises(HerotasksError) as err:
        jn.load(tmp_path, "app")
    line = str(err.value)
    assert str(path) in line and "\n" not in line
    assert json.loads(path.read_text()) == raw  # left as it was


def test_a_well_formed_journal_still_loads(tmp_path):
    path = jn.journal_path(tmp_path, "app")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(GOOD))
    journal = jn.load(tmp_path, "app")
    assert [e.step for e in journal.open_entries()] == ["maintenance.on"]


def test_open_or_start_shares_the_in_flight_journal(tmp_path):
    j = jn.open_or_start(tmp_path, "app", stage="production")
    j.begin("workers.stop", {"action": "formation", "updates": [{"type": "worker"}]})
    k = jn.open_or_start(tmp_path, "app", stage="production")
    assert k.deploy_id == j.deploy_id and k.status("workers.stop") == "started"


@pytest.mark.parametrize("facts", [{"plan": ["x"]}, {"plan": "x"}, {"pid": "12"},
                                   {"pid": True}])
def test_a_copy_with_facts_of_the_wrong_shape_is_damaged(facts):
    # recovery reads these: a wrong shape would be a traceback there (issue 20)
    raw = {"version": 1, "app": "a", "deploy_id": "d", "facts": facts}
    with pytest.raises(HerotasksError, match="is damaged"):
        jn.from_dict(raw, where="the copy")
