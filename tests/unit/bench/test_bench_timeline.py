"""bench.timeline, bench.report, bench.worklog and bench.table on made-up deploys."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from bench import timeline
from bench.load import OUTCOMES, Record, save_records
from bench.report import ReportError, load_report, window
from bench.table import format_table
from bench.worklog import JobFailure, job_failures

SVG = "{http://www.w3.org/2000/svg}"
T0 = 1_750_000_000.0


def make_report(
    strategy: str = "herotasks", start: float = T0, maintenance: bool = True
) -> dict:
    steps, t = [], start
    for name, took in [("assets.compile", 1.0), ("slug.build", 3.0),
                       ("maintenance.on", 0.1), ("db.migrate", 0.5),
                       ("maintenance.off", 0.1), ("scratch.destroy", 0.2)]:
        steps.append({"name": name, "started_at": t, "finished_at": t + took,
                      "duration": took, "ok": True, "skipped": False,
                      "in_window": False})
        t += took
    steps.append({"name": "preboot.<check> & more", "started_at": None,
                  "finished_at": None, "duration": 0, "ok": True, "skipped": True,
                  "in_window": False})
    steps[3]["ok"] = False  # a failed step is drawn differently
    windows = {"maintenance": None, "workers_down": None}
    if maintenance:
        windows = {
            "maintenance": {"started_at": start + 4.0, "finished_at": start + 4.7,
                            "duration": 0.7},
            "workers_down": {"started_at": start + 4.05, "finished_at": None,
                             "duration": None},
        }
    return {"app": "tally", "stage": "production", "strategy": strategy, "ok": True,
            "error": None, "commit": {"from": "a" * 40, "to": "b" * 40},
            "migrations": {"pending": maintenance, "reason": "test"},
            "started_at": start, "finished_at": t, "duration": t - start,
            "steps": steps, "windows": windows,
            "release": {"id": "r", "version": 2}}


def load_records_for(report: dict) -> list[Record]:
    """50/s from 1 s before to 1 s after, maintenance page inside its window."""
    span = window(report, "maintenance")
    records = []
    for i in range(int((report["duration"] + 2) * 50)):
        t = report["started_at"] - 1 + i / 50
        outcome = "maintenance" if span and span[0] <= t <= span[1] else "ok"
        records.append(Record(t, t + 0.01, outcome, 200))
    records[10] = Record(records[10].t_start, records[10].t_end, "app_error", 500)
    return records


def texts(root: ET.Element) -> list[str]:
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]


def test_svg_is_valid_and_names_every_step():
    report = make_report()
    failures = [JobFailure(T0 + 4.5, "worker.1.log", "JOB FAILED at=..."),
                JobFailure(None, "worker.1.log", "JOB FAILED no time")]
    svg = timeline.render_svg([report], load_records_for(report), failures,
                              title="v2 <herotasks>")
    root = ET.fromstring(svg.encode())
    assert root.tag == f"{SVG}svg"
    labels = texts(root)
    for step in report["steps"]:
        assert step["name"] in labels
    assert "v2 <herotasks>" in labels
    assert any("FAILED" in label for label in labels)  # db.migrate failed
    classes = [el.get("class") for el in root.iter(f"{SVG}rect")]
    assert "window-maintenance" in classes and "window-workers_down" in classes
    assert classes.count("step") == 6  # the skipped step has no bar
    # Request buckets are drawn for the outcomes that happened, and only those.
    assert {"ok", "maintenance", "app_error"} == set(classes) & set(OUTCOMES)
    assert classes.count("app_error") == 1
    # Only the failure with a time is placed; the caption counts both.
    ticks = [el for el in root.iter(f"{SVG}line") if el.get("class") == "job-failure"]
    assert len(ticks) == 1
    assert any("worker job failures: 2" in label for label in labels)


def test_svg_without_windows_or_load():
    root = ET.fromstring(timeline.render_svg([make_report(maintenance=False)]))
    classes = {el.get("class") for el in root.iter(f"{SVG}rect")}
    assert not {"window-maintenance", "window-workers_down"} & classes
    assert any("0 requests" in label for label in texts(root))


def test_svg_puts_several_deploys_on_one_axis():
    first = make_report()
    second = make_report(strategy="naive", start=first["finished_at"] + 10)
    labels = texts(ET.fromstring(timeline.render_svg([first, second])))
    assert sum("· herotasks ·" in label for label in labels) == 1
    assert sum("· naive ·" in label for label in labels) == 1


def test_svg_needs_a_report():
    with pytest.raises(ValueError):
        timeline.render_svg([])


def test_text_version_has_a_row_per_step_and_the_counts():
    report = make_report()
    records = load_records_for(report)
    text = timeline.render_text([report], records, [JobFailure(T0 + 4.2, "w", "x")],
                                width=50)
    lines = text.splitlines()
    assert lines[0].startswith("tally · production · herotasks · ok")
    for step in report["steps"]:
        assert any(line.strip().startswith(step["name"][:18]) for line in lines)
    maintenance = sum(r.outcome == "maintenance" for r in records)
    assert any(line.strip().startswith("maintenance page") and
               line.endswith(f" {maintenance}") for line in lines)
    assert any(line.strip().startswith("failed requests") and
               line.endswith("1: 1 app_error") for line in lines)
    assert any(line.strip().startswith("worker failures") and line.endswith(" 1")
               for line in lines)
    bars = [line for line in lines if "│" in line]
    assert len({line.index("│") for line in bars}) == 1  # aligned
    assert {len(line.split("│")[1]) for line in bars} == {50}


def test_cli_renders_saved_files(tmp_path, capsys):
    report = make_report()
    (tmp_path / "report.json").write_text(json.dumps(report))
    save_records(tmp_path / "records.jsonl", load_records_for(report))
    (tmp_path / "worker.1.log").write_text(f"JOB FAILED at={T0 + 4.3} job=1\n")
    code = timeline.main([str(tmp_path / "report.json"),
                          "--records", str(tmp_path / "records.jsonl"),
                          "--logs", str(tmp_path / "worker.1.log"),
                          "--svg", str(tmp_path / "out.svg")])
    assert code == 0
    assert "slug.build" in capsys.readouterr().out
    ET.parse(tmp_path / "out.svg")


def test_cli_says_what_is_wrong_with_a_bad_report(tmp_path, capsys):
    (tmp_path / "report.json").write_text(json.dumps({"app": "tally"}))
    assert timeline.main([str(tmp_path / "report.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lacks stage" in err


def test_report_checks_and_windows(tmp_path):
    report = make_report()
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    assert load_report(path)["app"] == "tally"
    assert window(report, "maintenance") == (T0 + 4.0, T0 + 4.7)
    # Still open when the deploy ended: it ends with the deploy.
    assert window(report, "workers_down") == (T0 + 4.05, report["finished_at"])
    assert window(make_report(maintenance=False), "maintenance") is None

    del report["steps"][0]["ok"]
    path.write_text(json.dumps(report))
    with pytest.raises(ReportError, match="step 0 lacks ok"):
        load_report(path)
    path.write_text("[1, 2]")
    with pytest.raises(ReportError, match="not a herotasks deploy report"):
        load_report(path)


def test_job_failures_from_dyno_logs(tmp_path):
    one = tmp_path / "worker.1.log"
    two = tmp_path / "worker.2.log"
    one.write_text(
        "worker v1 started pid=1\n"
        '2025-01-02T12:00:00 app[worker.1]: JOB FAILED at=105.500 job=3 error="x"\n'
        "JOB FAILED job=? error=no time here\n"
    )
    two.write_text('JOB FAILED at=90.25 job=? error="no such column"\nok\n')
    found = job_failures([one, two])
    assert [f.at for f in found] == [90.25, 105.5, None]
    assert found[0].path == str(two) and "no such column" in found[0].line
    assert [f.at for f in job_failures([one, two], since=100)] == [105.5, None]


def test_table_aligns_numbers_right_and_text_left():
    rows = [["naive", 12.345, 3, None], ["herotasks", 0.5, 0, 1.0]]
    lines = format_table(["strategy", "window", "failed", "ratio"], rows).splitlines()
    assert lines[0].split() == ["strategy", "window", "failed", "ratio"]
    assert lines[2].startswith("naive ") and lines[2].endswith("-")
    assert lines[3].endswith("1.00")
    assert lines[2].index("12.35") + len("12.35") == lines[3].index("0.50") + 4
    markdown = format_table(["strategy", "n"], [["a", 1]], markdown=True).splitlines()
    assert markdown == [
        "| strategy |   n |",
        "| -------- | --: |",
        "| a        |   1 |",
    ]
    with pytest.raises(ValueError):
        format_table(["a", "b"], [[1]])


def test_the_check_before_the_release_says_what_it_found():
    report = make_report(maintenance=False)
    t = report["steps"][1]["finished_at"]
    report["steps"].insert(2, {"name": "health.precheck", "started_at": t,
                               "finished_at": t + 2.0, "duration": 2.0, "ok": False,
                               "skipped": False, "in_window": False})
    report["precheck"] = {"ok": False, "asked": True, "started_at": t,
                          "finished_at": t + 2.0, "duration": 2.0,
                          "found": ["bound $PORT in 800 ms",
                                    "FAILED: GET /up answered 500, not 200, for 1s"]}
    text = timeline.render_text([report])
    assert "FAILED (answers): GET /up answered 500" in text
    svg = timeline.render_svg([report])
    assert "health.precheck: FAILED 2" in svg and "GET /up answered 500" in svg
    del report["precheck"]  # an older report, or the check did not run
    assert "answers" not in timeline.render_text([report])
