"""The gap between release and contract (issue 16): a dropped column is safe
for the new code's INSERTs when the deployed schema shows it nullable or
with a database default; otherwise the plan takes the window."""

from __future__ import annotations

from herotasks.core.classify import classify
from herotasks.core.classify.gap import resolve
from tests.support.migrations import change, rails

SCHEMA = '''ActiveRecord::Schema[7.1].define(version: 2026_12_04_101200) do
  create_table "counters", force: :cascade do |t|
    t.string "label"
    t.string "code", null: false
    t.integer "n", default: 0, null: false
    t.datetime "created_at", null: false
  end
end
'''


def rails_drop(*columns: str):
    return classify("rails", "db/migrate/20261204_drop.rb",
                    rails(change(*(f"remove_column :counters, :{c}" for c in columns))))


def test_rails_schema_proves_nullable_and_defaulted_columns_safe():
    files = {"db/schema.rb": SCHEMA}
    verdict, = resolve("rails", [rails_drop("label", "n", "code", "gone")], files.get)
    assert verdict.kind == "after"
    # code is NOT NULL without a default; gone is not in the schema: unproven
    assert verdict.column_drops == ("counters.code", "counters.gone")
    assert "nullable or with a default in db/schema.rb" in verdict.findings[0].why


def test_without_a_schema_nothing_is_proven():
    verdict, = resolve("rails", [rails_drop("label")], {}.get)
    assert verdict.column_drops == ("counters.label",)


def django(*ops: str) -> str:
    return ("from django.db import migrations, models\n\n\n"
            "class Migration(migrations.Migration):\n    operations = [\n"
            + "".join(f"        {op},\n" for op in ops) + "    ]\n")


def test_django_history_proves_null_true_and_db_default_not_default():
    history = {
        "tally/migrations/": "tree HEAD:tally/migrations/\n\n0001_initial.py\n"
                             "0002_more.py\n__init__.py\n",
        "tally/migrations/0001_initial.py": django(
            "migrations.CreateModel(name='Counter', fields=[('id', models.BigAutoField("
            "primary_key=True)), ('label', models.CharField(max_length=9)), "
            "('note', models.TextField(null=True))])"),
        "tally/migrations/0002_more.py": django(
            "migrations.AlterField(model_name='counter', name='label', "
            "field=models.CharField(max_length=9, null=True))",
            "migrations.AddField(model_name='counter', name='n', "
            "field=models.IntegerField(default=0))",
            "migrations.AddField(model_name='counter', name='m', "
            "field=models.IntegerField(db_default=0))"),
    }
    drop = classify("django", "tally/migrations/0003_drop.py", django(*(
        f"migrations.RemoveField(model_name='counter', name='{f}')"
        for f in ("label", "note", "n", "m"))))
    verdict, = resolve("django", [drop], history.get)
    # n has only Django's default=, which never reaches the database
    assert verdict.column_drops == ("counter.n",)
    assert "null=True where it was last defined" in verdict.findings[0].why
    assert "db_default=" in verdict.findings[3].why


def test_django_own_sql_names_the_table_and_column():
    """From sqlmigrate the drop is ALTER TABLE "tally_counter" DROP COLUMN
    "owner_id": the app's prefix and a ForeignKey's _id are Django's."""
    history = {
        "tally/migrations/": "tree HEAD:tally/migrations/\n\n0001_initial.py\n",
        "tally/migrations/0001_initial.py": django(
            "migrations.AddField(model_name='counter', name='label', "
            "field=models.CharField(max_length=9, null=True))",
            "migrations.AddField(model_name='counter', name='owner', "
            "field=models.ForeignKey(null=True, on_delete=models.CASCADE, to='x.y'))"),
    }
    emitted = {"tally/migrations/0003_drop.py": {"atomic": True, "ops": [
        {"op": "RemoveField", "sql": 'ALTER TABLE "tally_counter" DROP COLUMN '
         '"label" CASCADE;'},
        {"op": "RemoveField", "sql": 'ALTER TABLE "tally_counter" DROP COLUMN '
         '"owner_id" CASCADE;'}]}}
    drop = classify("django", "tally/migrations/0003_drop.py", django(
        "migrations.RemoveField(model_name='counter', name='label')",
        "migrations.RemoveField(model_name='counter', name='owner')"), emitted=emitted)
    assert drop.kind == "after" and "SQL from Django" in drop.read
    assert drop.column_drops == ("tally_counter.label", "tally_counter.owner_id")
    verdict, = resolve("django", [drop], history.get)
    assert verdict.column_drops == ()


def test_other_files_are_left_as_they_are():
    sql = classify("custom", "db/m/5.sql", "ALTER TABLE t DROP COLUMN c;")
    online = classify("custom", "db/m/4.sql", "CREATE TABLE x (a int);")
    assert resolve("custom", [sql, online], {}.get) == (sql, online)


def test_what_resolve_leaves_is_the_expand_and_each_drop_says_if_sql_can_name_it():
    from herotasks.core.classify.gap import unsafe, why_not_expandable

    files = {"db/schema.rb": SCHEMA}
    verdict, = resolve("rails", [rails_drop("label", "code")], files.get)
    found, = unsafe([verdict])
    assert found.drops_column == "counters.code" and why_not_expandable(found) is None
    static = classify("django", "tally/migrations/0003_drop.py", django(
        "migrations.RemoveField(model_name='counter', name='label')"))
    assert "model and field" in why_not_expandable(unsafe([static])[0])
    alembic = classify("alembic", "alembic/versions/abc.py",
                       "from alembic import op\n\n\ndef upgrade():\n"
                       "    op.drop_column(TABLE, 'label')\n")
    assert "not known" in why_not_expandable(unsafe([alembic])[0])


def test_the_expand_sql_drops_not_null_only_where_it_is_set_and_quotes_names():
    """The SQL is derived from the findings' names, quoted as PostgreSQL
    quotes identifiers and literals; a nullable column takes no lock; a
    missing table or column fails the step (herotasks cannot tell)."""
    from herotasks.core.classify.gap import LOCK_TIMEOUT, expand_command, expand_sql

    sql = expand_sql(["counter_job.user_agent", 'we"ird.it\'s'])
    assert sql.startswith(f"SET lock_timeout = '{LOCK_TIMEOUT}';\nDO $herotasks$")
    assert 'ALTER TABLE "counter_job" ALTER COLUMN "user_agent" DROP NOT NULL;' in sql
    assert 'ALTER TABLE "we""ird" ALTER COLUMN "it\'s" DROP NOT NULL;' in sql
    assert "to_regclass('\"we\"\"ird\"')" in sql and "attname = 'it''s'" in sql
    assert sql.count("IF required THEN") == 2
    assert sql.count("RAISE EXCEPTION") == 4
    # a schema-qualified table: each part quoted
    assert 'ALTER TABLE "app"."t" ALTER COLUMN "c"' in expand_sql(["app.t.c"])
    # the command: psql on DATABASE_URL with the password out of argv
    command = expand_command(["counter_job.user_agent"])
    assert "PGPASSWORD" in command and "psql -X -q -v ON_ERROR_STOP=1" in command
    assert "DATABASE_URL" in command and "bash -c" in command
