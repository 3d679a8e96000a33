"""The report's JSON follows the contract in docs/architecture.md."""

from __future__ import annotations

import json

import pytest

from herotasks.core.report import Report, StepRecord, write_json


def sample() -> Report:
    r = Report(app="tally-prod", stage="production", strategy="herotasks",
               commit_from=None, commit_to="b" * 40, pending=True,
               pending_reason="db/migrate changed: 2 files", started_at=1.0)
    r.steps.append(StepRecord("slug.build", 1.0, 1.5, ok=True))
    r.steps.append(StepRecord("slug.promote", 1.6, 1.8, ok=True, in_window=True))
    r.open_window("maintenance", 1.6)
    r.close_window("maintenance", 1.9)
    r.finished_at, r.ok = 2.0, True
    r.release_id, r.release_version = "uuid-7", 7
    return r


def test_contract_shape(tmp_path):
    path = write_json(sample(), tmp_path / "out" / "report.json")
    data = json.loads(path.read_text())
    assert set(data) == {"app", "stage", "strategy", "ok", "error", "commit",
                         "migrations", "started_at", "finished_at", "duration",
                         "steps", "windows", "release", "warnings", "requests",
                         "traffic", "precheck"}
    assert data["commit"] == {"from": None, "to": "b" * 40}
    assert data["migrations"] == {"pending": True,
                                  "reason": "db/migrate changed: 2 files"}
    assert data["duration"] == 1.0
    assert data["steps"][0] == {"name": "slug.build", "started_at": 1.0,
                                "finished_at": 1.5, "duration": 0.5, "ok": True,
                                "skipped": False, "in_window": False}
    assert data["windows"]["maintenance"]["duration"] == 1.9 - 1.6
    assert data["windows"]["workers_down"] is None
    assert data["release"] == {"id": "uuid-7", "version": 7}
    assert data["requests"] is None  # not counted: not zero
    assert data["traffic"] is None  # no preboot: it serves once its dynos are up


def test_request_count_is_in_the_json_and_the_summary():
    r = sample()
    r.requests = 42
    assert r.to_json()["requests"] == 42
    assert "  API requests: 42" in r.summary().splitlines()


def test_preboot_traffic_is_reported_as_it_is():
    r = sample()  # started at 1.0, finished at 2.0
    r.preboot_switch_at = 1.5
    assert r.to_json()["traffic"] == {"preboot": True, "at": 1.5, "done": True}
    assert "traffic: the new code took it at the preboot switch, 0.50s into the run" \
        in r.summary()
    r.preboot_switch_at = 2.0 + 150
    assert r.to_json()["traffic"]["done"] is False
    assert ("traffic: the old code still serves; preboot moves it to the new code "
            "within 3 min (150s)") in r.summary()


def test_window_left_open_has_null_end():
    r = sample()
    r.open_window("workers_down", 1.5)
    w = r.to_json()["windows"]["workers_down"]
    assert w == {"started_at": 1.5, "finished_at": None, "duration": None}
    assert "workers down window: STILL OPEN" in r.summary()


def test_first_open_and_first_close_win():
    r = sample()
    r.open_window("maintenance", 5.0)  # already open: ignored
    r.close_window("maintenance", 9.0)  # already closed: ignored
    assert r.windows["maintenance"].started_at == 1.6
    assert r.windows["maintenance"].finished_at == 1.9


def test_summary_lists_steps_windows_release():
    text = sample().summary()
    assert "slug.build" in text and "0.50" in text
    assert "maintenance window: 0.30s" in text
    assert "workers down window: none" in text
    assert "release: v7 (uuid-7)" in text
    assert "(unknown) -> bbbbbbbbbb: ok" in text


def test_check_writable_refuses_what_write_json_could_not_write(tmp_path):
    from herotasks.core.report import check_writable
    from herotasks.errors import ConfigError

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for bad, why in ((tmp_path, "is a directory"),
                     (a_file / "report.json", "is not a directory"),
                     (a_file / "sub" / "report.json", "is not a directory")):
        with pytest.raises(ConfigError, match=why) as err:
            check_writable(bad)
        assert str(bad) in str(err.value)
    # Fine, and nothing made: write_json creates the missing folders later.
    assert check_writable(tmp_path / "new" / "r.json") == tmp_path / "new" / "r.json"
    assert not (tmp_path / "new").exists()
