"""Pending-migration detection: the deployed source commit and the diff."""

from __future__ import annotations

from herotasks.core.migrations import (
    Deployed,
    deployed_source,
    pending,
    release_description,
    source_from_text,
    summarize,
)

A, B, S = "a" * 40, "b" * 40, "5" * 40


def no_message(_sha):
    return None


class TestDeployedSource:
    def test_first_deploy(self):
        got = deployed_source(None, [], None, no_message)
        assert got.commit is None and "first deploy" in got.how

    def test_release_description_marker_wins(self):
        current = {"version": 7, "slug": {"id": "s1"},
                   "description": release_description(S)}
        got = deployed_source(current, [current], {"commit": A}, no_message)
        assert got.commit == S

    def test_rollback_release_is_traced_to_the_original_by_slug(self):
        rollback = {"version": 9, "slug": {"id": "s1"}, "description": "Rollback to v7"}
        other = {"version": 8, "slug": {"id": "s2"},
                 "description": release_description(B)}
        original = {"version": 7, "slug": {"id": "s1"},
                    "description": release_description(S)}
        got = deployed_source(rollback, [rollback, other, original],
                              {"commit": A}, no_message)
        assert got.commit == S and got.how == "release v7"

    def test_local_deploy_commit_trailer(self):
        current = {"version": 3, "slug": {"id": "s1"}, "description": "Promote"}
        msg = f"herotasks deploy commit\n\nHerotasks-Source: {S}\n"
        got = deployed_source(current, [current], {"commit": A},
                              lambda sha: msg if sha == A else None)
        assert got.commit == S

    def test_commit_description_trailer(self):
        current = {"version": 3, "slug": {"id": "s1"}}
        got = deployed_source(current, [current],
                              {"commit": A,
                               "commit_description": f"x\nHerotasks-Source: {S}"},
                              no_message)
        assert got.commit == S

    def test_plain_git_push_deploy_uses_the_slug_commit(self):
        current = {"version": 3, "slug": {"id": "s1"}, "description": "Deploy aaaaaaa"}
        got = deployed_source(current, [current], {"commit": A}, lambda sha: "fix\n")
        assert got.commit == A

    def test_slug_without_commit(self):
        current = {"version": 3, "slug": {"id": "s1"}}
        assert deployed_source(current, [current], {}, no_message).commit is None

    def test_release_without_slug(self):
        current = {"version": 2, "slug": None}  # only config vars were set
        got = deployed_source(current, [current], None, no_message)
        assert got.commit is None and "first deploy" in got.how


class TestPending:
    def call(self, deployed, files=(), known=True, paths=("db/migrate",), cmd="m"):
        seen = {}

        def diff(a, b, specs):
            seen["args"] = (a, b, tuple(specs))
            return list(files)

        got = pending(deployed, B, paths, has_commit=lambda sha: known,
                      diff_names=diff, migrate_command=cmd)
        return got, seen

    def test_unknown_deployed_is_pending_with_reason(self):
        got, seen = self.call(Deployed(None, "the app has no release yet"))
        assert got.pending and "no release yet" in got.reason
        assert not seen

    def test_missing_locally_is_pending(self):
        got, _ = self.call(Deployed(A, "x"), known=False)
        assert got.pending and "not in the local history" in got.reason

    def test_diff_touching_paths(self):
        got, seen = self.call(Deployed(A, "x"),
                              files=["db/migrate/1.rb", "db/migrate/2.rb"])
        assert got.pending
        assert got.reason == "db/migrate changed: 2 files"
        assert seen["args"] == (A, B, ("db/migrate",))

    def test_diff_not_touching_paths(self):
        got, _ = self.call(Deployed(A, "x"))
        assert not got.pending and "no changes under db/migrate" in got.reason

    def test_same_commit(self):
        got, seen = self.call(Deployed(B, "x"))
        assert not got.pending and not seen

    def test_no_migrate_command(self):
        got, _ = self.call(Deployed(None, "x"), cmd=None)
        assert not got.pending

    def test_no_paths_means_pending(self):
        got, _ = self.call(Deployed(A, "x"), paths=())
        assert got.pending


def test_source_marker_roundtrip():
    assert source_from_text(release_description(S)) == S
    assert source_from_text("Deploy abc") is None
    assert source_from_text(None) is None


def test_summarize_many_dirs():
    text = summarize(["a/m/1", "b/m/1", "c/m/1", "d/m/1"])
    assert text == "a/m, b/m, c/m, ... changed: 4 files"
    assert summarize(["db/schema.rb"]) == "db changed: 1 file"
