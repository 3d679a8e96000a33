"""The deploy's facts are one typed record: a misspelt fact fails where it
is written, and the journal keeps what a newer herotasks wrote."""

from __future__ import annotations

import json

import pytest

from herotasks.core import journal as jn
from herotasks.core.facts import Facts


def test_a_step_that_hands_back_a_misspelt_fact_fails_at_once(tmp_path):
    j = jn.start(tmp_path, "app", stage="production", strategy="herotasks")
    j.begin("slug.build")
    with pytest.raises(TypeError, match="not a deploy fact: slugid"):
        j.done("slug.build", slugid="abc")
    with pytest.raises(TypeError, match="not a deploy fact: releas_version"):
        j.remember(releas_version=3)


def test_facts_round_trip_through_the_journal_file(tmp_path):
    j = jn.start(tmp_path, "app", stage="production", strategy="herotasks")
    j.remember(source="a" * 40, previous_version=7, maintenance_was=False,
               plan=[{"name": "check"}], warnings=["near its end"],
               web_command="")
    again = jn.load(tmp_path, "app")
    assert again.facts.source == "a" * 40
    assert again.facts.previous_version == 7
    assert again.facts.maintenance_was is False  # False is a fact, not "unset"
    assert again.facts.web_command == ""  # "": the slug has no web process
    assert again.facts.plan == [{"name": "check"}]
    assert again.facts.warnings == ["near its end"]
    assert again.facts.slug_id is None
    assert again.facts.pid is not None  # the process writing it


def test_a_fact_this_version_does_not_know_is_kept_not_read(tmp_path):
    j = jn.start(tmp_path, "app", stage="production", strategy="herotasks")
    raw = json.loads(j.path.read_text())
    raw["facts"]["image_id"] = "sha256:01"  # written by a newer herotasks
    j.path.write_text(json.dumps(raw))
    again = jn.load(tmp_path, "app")
    assert not hasattr(again.facts, "image_id")
    again.remember(slug_id="s1")
    on_disk = json.loads(again.path.read_text())["facts"]
    assert on_disk["image_id"] == "sha256:01" and on_disk["slug_id"] == "s1"


def test_changes_are_only_the_facts_set():
    facts = Facts(source="b" * 40, pending=False)
    assert facts.changes() == {"source": "b" * 40, "pending": False}
    other = Facts()
    other.update(**facts.changes())
    assert other == facts
