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


def test_a_recovery_says_what_became_of_the_deploy_never_ok():
    # issue 20: an undo's head read "OLD -> NEW: ok", as if NEW went live
    r = sample()
    r.verdict = "undone"
    head = r.summary().splitlines()[0]
    assert head.startswith("recovery of ") and head.endswith(": undone")
    assert "bbbbbbbbbb" in head and ": ok" not in head
    r.ok = False
    assert r.summary().splitlines()[0].endswith(": FAILED")


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


def test_check_writable_asks_the_file_system_not_the_permission_bits(tmp_path):
    """root passes every access(2) permission check, and /proc (like a
    read-only mount) accepts none of the files access(2) allows: only trying
    to create one tells. The try leaves nothing behind."""
    from herotasks.core.report import check_writable
    from herotasks.errors import ConfigError

    for bad in ("/proc/herotasks-nowhere/report.json", "/proc/report.json"):
        with pytest.raises(ConfigError, match="cannot be written") as err:
            check_writable(bad)
        assert bad in str(err.value) and len(str(err.value).splitlines()) == 1
    before = set(tmp_path.iterdir())
    check_writable(tmp_path / "r.json")
    assert set(tmp_path.iterdir()) == before


def test_the_step_summary_is_markdown_with_a_table_and_a_timeline(tmp_path):
    from herotasks.core.report import markdown, write_step_summary

    r = sample()
    r.warnings.append("web is scaled to 0")
    text = markdown(r)
    assert text.startswith("### herotasks: deploy of `tally-prod` (production): ok")
    assert "| `slug.build` | 0.00 | 0.50 |  |" in text
    assert "| `slug.promote` | 0.60 | 0.20 | window |" in text
    assert "- maintenance window: 0.30 s" in text
    assert "- warning: web is scaled to 0" in text
    gantt = text[text.index("```mermaid"):]
    assert "    section outside any window\n    slug.build : 1000, 1500" in gantt
    assert "    section window\n    slug.promote : 1600, 1800" in gantt
    # written only where GitHub Actions says, appended to what is there
    assert write_step_summary(r, {}) is None
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    assert write_step_summary(r, {"GITHUB_STEP_SUMMARY": str(target)}) == target
    assert target.read_text() == "earlier step\n" + text + "\n"
