"""The deployed source commit is read from the slug first.

The slug's ``commit`` and ``commit_description`` are set by the build from
the pushed commit, so they reach the app however the slug got there; a
pipeline promotion's release carries Heroku's description, not herotasks'.
"""

from __future__ import annotations

from invoke import Context

from herotasks.core.assets import precompile
from herotasks.core.config import DEFAULTS, Settings
from herotasks.core.migrations import (
    deployed_source,
    release_description,
    source_from_text,
)

D, S, OTHER = "d" * 40, "5" * 40, "0" * 40


def no_message(_sha):
    return None


def test_a_local_deploy_commit_beats_a_release_description():
    # a release description is free text; the slug's commit is the build's
    current = {"version": 4, "slug": {"id": "s1"},
               "description": release_description(OTHER)}
    message = f"herotasks deploy commit\n\nHerotasks-Source: {S}\n"
    got = deployed_source(current, [current], {"commit": D},
                          lambda sha: message if sha == D else None)
    assert got.commit == S and got.how == "the slug's commit"


def test_pipeline_promotion_on_a_machine_without_the_deploy_commit():
    promoted = {"version": 3, "slug": {"id": "s1"},
                "description": "Promote ht-scratch-1234567890 v2"}
    slug = {"commit": D,
            "commit_description": f"herotasks deploy commit (herotasks source {S})"}
    got = deployed_source(promoted, [promoted], slug, no_message)
    assert got.commit == S and got.how == "the slug's commit description"


def test_release_description_when_the_slug_says_nothing_more():
    current = {"version": 5, "slug": {"id": "s1"},
               "description": release_description(S)}
    slug = {"commit": D, "commit_description": "herotasks deploy commit for dddd"}
    got = deployed_source(current, [current], slug, no_message)
    assert got.commit == S and got.how == "release v5"


def test_unknown_deploy_commit_is_reported_as_is():
    promoted = {"version": 3, "slug": {"id": "s1"}, "description": "Promote x v2"}
    got = deployed_source(promoted, [promoted], {"commit": D}, no_message)
    assert got.commit == D and got.how == "the slug's commit"


def test_the_deploy_commit_subject_names_the_source(repo):
    # the build copies the pushed commit's subject into commit_description
    settings = Settings.resolve({"herotasks": {
        **DEFAULTS["herotasks"], "preset": "rails",
        "assets": {"command": "mkdir -p public/assets && "
                              "cp app/assets/app.css public/assets/",
                   "inputs": None, "output": None}}}, require_stage=False)
    source = repo.git("rev-parse", "HEAD")
    commit = precompile(Context(), settings, source, out=lambda _: None)
    subject = repo.git("log", "-1", "--format=%s", commit)
    assert commit != source and source_from_text(subject) == source
