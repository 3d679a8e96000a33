"""Rails blocks, guards, volatile defaults and db/post_migrate (issue 15).

The shapes are the ones real Rails apps write (strong_migrations'
``safety_assured``, GitLab's and Mastodon's guards and post-deployment
migrations, ``reversible``/``change_table`` from the Rails guides), written
here for each rule; every online case could fail.
"""

from __future__ import annotations

import subprocess

import pytest

from herotasks.adapters import git
from herotasks.core.classify import classify
from herotasks.core.classify import rails as rails_reader
from herotasks.core.config import PRESETS
from tests.support.migrations import NO_TX, change, rails

CASES = [
    # -- safety_assured: the body is read, the wrapper says nothing --------------
    ("safety-assured-block-online",
     rails(change("safety_assured do", "  add_column :counters, :note, :text", "end")),
     "online", "add_column"),
    ("safety-assured-block-window",
     rails(change("safety_assured do", "  remove_column :counters, :label", "end")),
     "after", "remove_column on line 4"),
    ("safety-assured-inline-online",
     rails(change("safety_assured { add_column :counters, :note, :text }")),
     "online", "add_column"),
    # -- reversible: dir.up runs, dir.down does not -----------------------------
    ("reversible-up-block-down-inline",
     rails(change("reversible do |dir|", "  dir.up do",
                  "    add_index :counters, :label, algorithm: :concurrently",
                  "  end", "  dir.down { remove_column :counters, :label }", "end"),
           before=NO_TX),
     "online", "add_index(concurrently)"),
    ("reversible-up-window",
     rails(change("reversible do |direction|",
                  "  direction.up { change_column :counters, :n, :bigint }", "end")),
     "window", "change_column on line 4"),
    ("reversible-down-only-is-skipped",
     rails(change("reversible do |dir|", "  dir.down do",
                  "    remove_column :counters, :label", "  end", "end")),
     "online", "no operations"),
    ("say-with-time",
     rails(change('say_with_time "adding" do', "  add_column :counters, :note, :text",
                  "end")),
     "online", "add_column"),
    ("up-only", rails(change('up_only { execute "UPDATE counters SET n = 0" }')),
     "window", "execute: UPDATE"),
    # -- change_table: each t.* is its top-level form --------------------------------
    ("change-table-columns",
     rails(change("change_table :counters, bulk: true do |t|",
                  "  t.string :a, :b", "  t.integer :n, null: false, default: 0",
                  "  t.references :owner, index: false", "  t.timestamps null: true",
                  "end")),
     "online", "add_column, add_reference(index: false), add_timestamps"),
    ("change-table-plain-index",
     rails(change("change_table :counters do |t|", "  t.index :label", "end")),
     "window", "add_index on line 4"),
    ("change-table-remove",
     rails(change("change_table :counters do |t|", "  t.remove :label", "end")),
     "after", "remove_column"),
    ("change-table-rename",
     rails(change("change_table :counters do |t|", "  t.rename :label, :title",
                  "end")),
     "window", "t.rename"),
    ("change-table-not-null",
     rails(change("change_table :counters do |t|", "  t.boolean :done, null: false",
                  "end")),
     "window", "null: false without a default"),
    ("change-table-bigserial",
     rails(change("change_table :counters do |t|", "  t.bigserial :seq", "end")),
     "window", ":bigserial fills every row"),
    ("change-table-column-uuid-volatile",
     rails(change("change_table :counters do |t|",
                  '  t.column :uid, :uuid, default: "gen_random_uuid()"', "end")),
     "window", "function default on a uuid column"),
    ("change-table-virtual-stored",
     rails(change("change_table :counters do |t|",
                  '  t.virtual :label_lower, type: :string, as: "lower(label)", '
                  "stored: true", "end")),
     "window", "stored generated column"),
    # -- guards: a return only skips work; every branch is read --------------------
    ("return-guard",
     rails("def up\n  return if column_exists?(:counters, :note)\n\n"
           "  add_column :counters, :note, :text\nend"),
     "online", "add_column"),
    ("unless-block",
     rails(change("unless index_exists?(:counters, :label)",
                  "  add_index :counters, :label, algorithm: :concurrently", "end"),
           before=NO_TX),
     "online", "add_index(concurrently)"),
    ("if-else-both-read",
     rails(change("if ENV['FAST']", "  add_column :counters, :note, :text", "else",
                  "  remove_column :counters, :label", "end")),
     "window", "remove_column on line 6"),
    ("modifier-guard",
     rails(change("add_column :counters, :note, :text unless "
                  "column_exists?(:counters, :note)")),
     "online", "add_column"),
    ("loop-is-not-read",
     rails(change("%i[a b].each do |name|", "  add_column :counters, name, :text",
                  "end")),
     "window", "block not read"),
    # -- column rules ------------------------------------------------------------
    ("uuid-function-default",
     rails(change('add_column :counters, :uid, :uuid, default: "gen_random_uuid()"')),
     "window", "function default on a uuid column"),
    ("uuid-constant-default",
     rails(change("add_column :counters, :uid, :uuid, "
                  'default: "00000000-0000-0000-0000-000000000000"')),
     "online", "add_column"),
    ("lambda-now-default",
     rails(change('add_column :counters, :seen_at, :datetime, default: -> { "now()" }, '
                  "null: false")),
     "online", "add_column"),
    ("lambda-current-timestamp-default",
     rails(change("add_column :counters, :seen_at, :datetime, "
                  "default: -> { 'CURRENT_TIMESTAMP' }")),
     "online", "add_column"),
    ("lambda-volatile-default",
     rails(change('add_column :counters, :uid, :uuid, default: -> { "gen_random_uuid()" }')),
     "window", "may be volatile"),
    ("bigserial-column", rails(change("add_column :counters, :seq, :bigserial")),
     "window", ":bigserial fills every row"),
    ("virtual-column-stored",
     rails(change('add_column :counters, :l, :virtual, type: :string, as: "lower(label)", '
                  "stored: true")),
     "window", "stored generated column"),
    ("change-column-null-true",
     rails(change("change_column_null :counters, :label, true")),
     "online", "change_column_null(true)"),
    # -- execute: its SQL, read with PostgreSQL's grammar --------------------------
    ("execute-concurrent-index",
     rails(change('execute "CREATE INDEX CONCURRENTLY i ON counters (label)"'),
           before=NO_TX),
     "online", "execute: CREATE INDEX CONCURRENTLY"),
    ("execute-concurrent-index-in-transaction",
     rails(change('execute "CREATE INDEX CONCURRENTLY i ON counters (label)"')),
     "window", "cannot run inside a transaction"),
    ("execute-heredoc-enum",
     rails("def up\n  execute <<~SQL\n    ALTER TYPE mood ADD VALUE 'meh';\n  SQL\nend"),
     "online", "execute: ALTER TYPE ADD VALUE"),
    ("execute-interpolated",
     rails(change('execute "UPDATE counters SET n = #{n}"')),
     "window", "execute on line 3"),
    ("execute-built", rails(change("execute sql_for(:counters)")),
     "window", "execute on line 3 (unknown effect)"),
    # Mastodon's helper backfills in batches: not a known Rails call
    ("unknown-helper",
     rails("def up\n  safety_assured do\n    add_column_with_default :follow_tags, "
           ":media_only, :boolean, default: false, allow_null: false\n  end\nend"),
     "window", "add_column_with_default on line 4"),
]


@pytest.mark.parametrize("text, kind, reason", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_rails_rule(text, kind, reason):
    verdict = classify("rails", "db/migrate/20261204101200_x.rb", text)
    assert verdict.kind == kind, verdict.reason
    assert reason in verdict.reason
    assert verdict.read == rails_reader.READ


def test_post_migrate_is_a_pending_migration_after_the_release(tmp_path):
    """A diff whose only migration is a post-deployment one (GitLab's and
    Mastodon's db/post_migrate) is pending under the rails preset."""
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, text=True,
                              capture_output=True).stdout

    run("init", "-q")
    (tmp_path / "README").write_text("x\n")
    run("add", "-A")
    run("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "a")
    (tmp_path / "db" / "post_migrate").mkdir(parents=True)
    post = "db/post_migrate/20261204101200_remove_label.rb"
    (tmp_path / post).write_text(rails(change("remove_column :counters, :label")))
    run("add", "-A")
    run("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "b")
    cmd = git.diff_names_cmd("HEAD~1", "HEAD", PRESETS["rails"].migration_paths)
    names = git.parse_names(subprocess.run(cmd, shell=True, cwd=tmp_path, check=True,
                                           capture_output=True, text=True).stdout)
    assert names == [post]
    verdict = classify("rails", post, (tmp_path / post).read_text())
    assert verdict.kind == "after"
    assert "remove_column on line 3" in verdict.reason


@pytest.mark.parametrize("text, kind, reason", [
    (rails("def up; end\n\ndef down; end"), "online", "no operations"),
    (rails("class Note < ApplicationRecord; end\n\ndef up\n"
           "  Note.update_all(done: true)\nend"), "window", "Note.update_all on line 5"),
    (rails(change('create_enum :mood, ["ok", "sad"]', 'enable_extension "citext"',
                  'add_enum_value :mood, "meh"')),
     "online", "create_enum, enable_extension, add_enum_value"),
    (rails(change('rename_enum_value :mood, from: "sad", to: "blue"')),
     "window", "rename_enum_value"),
], ids=["empty-one-line-methods", "one-line-model-class", "enums-extensions",
        "rename-enum-value"])
def test_rails_one_liners_and_enums(text, kind, reason):
    verdict = classify("rails", "db/migrate/20261204101200_x.rb", text)
    assert verdict.kind == kind, verdict.reason
    assert reason in verdict.reason
