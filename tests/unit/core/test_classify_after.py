"""The third verdict, ``after`` (contract, issue 16): a migration that only
removes what the new code no longer uses runs once the new release is live
and the old one is gone; one that also adds stays window."""

from __future__ import annotations

import pytest

from herotasks.core.classify import classify
from tests.support.migrations import change, rails

DJANGO = ("from django.db import migrations, models\n\n\n"
          "class Migration(migrations.Migration):\n"
          "    dependencies = [('tally', '0002_counter_label')]\n"
          "    operations = [\n{ops}    ]\n")


def django(*ops: str) -> str:
    return DJANGO.format(ops="".join(f"        {op},\n" for op in ops))


def alembic(*lines: str) -> str:
    return ("from alembic import op\nimport sqlalchemy as sa\n\n\ndef upgrade():\n"
            + "".join(f"    {line}\n" for line in lines))


@pytest.mark.parametrize("preset, path, text, kind, reason, columns", [
    # SQL
    ("custom", "db/m/5.sql", "ALTER TABLE counters DROP COLUMN label;",
     "after", "ALTER TABLE DROP COLUMN on line 1", ("counters.label",)),
    ("custom", "db/m/5.sql", "DROP TABLE votes;\nDROP INDEX counters_label;\n"
     "DROP VIEW v;\nALTER TABLE t DROP CONSTRAINT c;",
     "after", "DROP INDEX on line 2", ()),
    ("custom", "db/m/5.sql", "DROP INDEX CONCURRENTLY i;\nALTER TABLE t DROP COLUMN c;",
     "after", "DROP COLUMN", ("t.c",)),
    ("custom", "db/m/5.sql", "ALTER TABLE t ADD COLUMN n text;\nALTER TABLE t DROP COLUMN c;",
     "window", "adds and removes in one file", ()),
    ("custom", "db/m/5.sql", "ALTER TABLE t RENAME COLUMN a TO b;", "window",
     "RENAME COLUMN", ()),
    ("custom", "db/m/5.sql", "ALTER TABLE t ALTER COLUMN a TYPE bigint;", "window",
     "ALTER COLUMN TYPE", ()),
    ("custom", "db/m/5.sql", "DROP SCHEMA s;", "window", "DROP SCHEMA", ()),
    # what Django emits to remove a ForeignKey
    ("custom", "db/m/5.sql", 'SET CONSTRAINTS "v_c_fk" IMMEDIATE; ALTER TABLE "v" '
     'DROP CONSTRAINT "v_c_fk"; ALTER TABLE "v" DROP COLUMN "c_id" CASCADE;',
     "after", "DROP COLUMN", ("v.c_id",)),
    # Django
    ("django", "tally/migrations/0003_x.py",
     django("migrations.RemoveField(model_name='counter', name='label')"),
     "after", "RemoveField on line 7", ("counter.label",)),
    ("django", "tally/migrations/0003_x.py",
     django("migrations.DeleteModel(name='Vote')",
            "migrations.RemoveIndex(model_name='counter', name='i')",
            "migrations.RemoveConstraint(model_name='counter', name='c')"),
     "after", "RemoveConstraint on line 9", ()),
    # a no-op beside the removal does not make it an expand
    ("django", "tally/migrations/0003_x.py",
     django("migrations.RemoveField(model_name='counter', name='label')",
            "migrations.RunPython(migrations.RunPython.noop)",
            "migrations.SeparateDatabaseAndState(state_operations=[])"),
     "after", "RemoveField on line 7", ("counter.label",)),
    ("django", "tally/migrations/0003_x.py",
     django("migrations.RemoveField(model_name='counter', name='label')",
            "migrations.RenameField(model_name='counter', old_name='a', new_name='b')"),
     "window", "RenameField", ()),
    # Rails
    ("rails", "db/migrate/20261204_x.rb",
     rails(change("remove_reference :votes, :counter", "remove_timestamps :votes",
                  "remove_columns :counters, :a, :b")),
     "after", "remove_reference on line 3",
     ("votes.counter_id", "votes.created_at", "votes.updated_at", "counters.a",
      "counters.b")),
    ("rails", "db/migrate/20261204_x.rb",
     rails(change("drop_table :votes", "remove_index :counters, :label",
                  "remove_foreign_key :votes, :counters")),
     "after", "drop_table on line 3", ()),
    ("rails", "db/migrate/20261204_x.rb",
     rails(change("add_column :counters, :n, :text", "remove_column :counters, :label")),
     "window", "adds and removes in one file", ()),
    # Rails' post-deployment convention: online readings run after the release
    ("rails", "db/post_migrate/20261204_x.rb",
     rails(change("add_column :counters, :n, :text")),
     "after", "db/post_migrate: after the release by convention", ()),
    ("rails", "db/post_migrate/20261204_x.rb",
     rails(change("rename_column :counters, :a, :b")),
     "window", "rename_column", ()),
    # Alembic
    ("alembic", "alembic/versions/abc.py",
     alembic("op.drop_column('counter', 'label')", "op.drop_table('vote')",
             "op.drop_constraint('ck', 'counter')", "op.drop_index('ix')"),
     "after", "op.drop_index on line 9", ("counter.label",)),
    ("alembic", "alembic/versions/abc.py",
     alembic("op.add_column('counter', sa.Column('n', sa.Text()))",
             "op.drop_column('counter', 'label')"),
     "window", "adds and removes in one file", ()),
])
def test_contract_verdict(preset, path, text, kind, reason, columns):
    verdict = classify(preset, path, text)
    assert verdict.kind == kind, verdict.reason
    assert reason in verdict.reason
    assert verdict.column_drops == columns


REMOVE = django("migrations.RemoveField(model_name='counter', name='label')")
ADD = django("migrations.AddField(model_name='counter', name='n', "
             "field=models.TextField(null=True))")


@pytest.mark.parametrize("mode, text, kind, reason", [
    ("auto", "# herotasks: after\n" + ADD, "after", "marker: herotasks: after"),
    ("auto", "# herotasks: after\n# herotasks: online\n" + ADD, "window",
     "both online and after"),
    ("auto", "# herotasks: after\n# herotasks: window\n" + ADD, "window", "marker"),
    ("auto", "# herotasks: later\n" + ADD, "window", "herotasks: after"),
    ("after", ADD, "after", "migrations.mode: after"),
    ("after", "# herotasks: window\n" + REMOVE, "window", "marker: herotasks: window"),
    ("after", "# herotasks: online\n" + REMOVE, "after", "migrations.mode: after"),
    # running it early would break the old code: online does not beat it
    ("online", "# herotasks: after\n" + REMOVE, "after", "marker: herotasks: after"),
    ("window", "# herotasks: after\n" + REMOVE, "window", "migrations.mode: window"),
])
def test_marker_and_mode(mode, text, kind, reason):
    verdict = classify("django", "tally/migrations/0003_x.py", text, mode=mode)
    assert (verdict.kind, reason in verdict.reason) == (kind, True), verdict.reason
    # a marked or set verdict has no findings, so no column gap to watch
    assert verdict.column_drops == ()


@pytest.mark.parametrize("preset, path, text, db_names", [
    # SQL, Rails and Alembic name the database's table and column
    ("custom", "db/m/5.sql", "ALTER TABLE counters DROP COLUMN label;", True),
    ("rails", "db/migrate/20261204_x.rb", rails(change("remove_column :counters, :label")),
     True),
    ("alembic", "alembic/versions/abc.py", alembic("op.drop_column('counter', 'label')"),
     True),
    # Django read statically names the model and the field (Meta.db_table
    # and db_column are not read): no SQL can be written from it
    ("django", "tally/migrations/0003_x.py",
     django("migrations.RemoveField(model_name='counter', name='label')"), False),
])
def test_a_dropped_column_says_whether_it_is_named_as_the_database_names_it(
        preset, path, text, db_names):
    verdict = classify(preset, path, text)
    finding, = (f for f in verdict.findings if f.drops_column)
    assert finding.db_names is db_names


def test_django_own_sql_inside_the_file_keeps_the_database_names():
    """A RunSQL's drop (and Django's emitted SQL) is SQL: its names are the
    database's, even inside a Django file."""
    verdict = classify("django", "tally/migrations/0003_x.py", django(
        "migrations.RunSQL('ALTER TABLE tally_counter DROP COLUMN label')"))
    finding, = (f for f in verdict.findings if f.drops_column)
    assert finding.drops_column == "tally_counter.label" and finding.db_names
