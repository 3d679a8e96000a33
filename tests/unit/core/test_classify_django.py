"""Django field types and the SQL Django really emits (issue 15).

Two readings of the same files: the static reader (what the file says, plus
what each field type implies), and the SQL Django emits for PostgreSQL, got
offline as ``sqlmigrate`` gets it (herotasks.core.classify.emitted), read
with PostgreSQL's grammar. For every field type Django ships, the static
verdict must never be online where Django's SQL needs the window.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from herotasks.core.classify import classify, emitted
from herotasks.core.classify import django as django_reader

django = pytest.importorskip("django")

# (case, field as makemigrations writes it, static verdict, reason fragment)
FIELDS = [
    ("BigIntegerField", "models.BigIntegerField(null=True)", "online", ""),
    ("BinaryField", "models.BinaryField(null=True)", "online", ""),
    ("BooleanField", "models.BooleanField(null=True)", "online", ""),
    ("CharField", "models.CharField(max_length=10, null=True)", "online", ""),
    ("DateField", "models.DateField(null=True)", "online", ""),
    ("DateTimeField", "models.DateTimeField(null=True)", "online", ""),
    ("DecimalField", "models.DecimalField(decimal_places=2, max_digits=5, null=True)",
     "online", ""),
    ("DurationField", "models.DurationField(null=True)", "online", ""),
    ("EmailField", "models.EmailField(max_length=254, null=True)", "online", ""),
    ("FileField", "models.FileField(null=True, upload_to='')", "online", ""),
    ("FilePathField", "models.FilePathField(null=True, path='/tmp')", "online", ""),
    ("FloatField", "models.FloatField(null=True)", "online", ""),
    ("GenericIPAddressField", "models.GenericIPAddressField(null=True)", "online", ""),
    ("ImageField", "models.ImageField(null=True, upload_to='')", "online", ""),
    ("IntegerField", "models.IntegerField(null=True)", "online", ""),
    ("JSONField", "models.JSONField(null=True)", "online", ""),
    ("SmallIntegerField", "models.SmallIntegerField(null=True)", "online", ""),
    ("TextField", "models.TextField(null=True)", "online", ""),
    ("TimeField", "models.TimeField(null=True)", "online", ""),
    ("URLField", "models.URLField(null=True)", "online", ""),
    ("UUIDField", "models.UUIDField(null=True)", "online", ""),
    ("SlugField", "models.SlugField(null=True)", "window", "db_index=True by default"),
    ("SlugField-no-index", "models.SlugField(db_index=False, null=True)", "online", ""),
    ("SlugField-unique", "models.SlugField(db_index=False, null=True, unique=True)",
     "window", "unique=True"),
    ("PositiveIntegerField", "models.PositiveIntegerField(null=True)",
     "window", "CHECK (col >= 0)"),
    ("PositiveSmallIntegerField", "models.PositiveSmallIntegerField(null=True)",
     "window", "CHECK (col >= 0)"),
    ("PositiveBigIntegerField", "models.PositiveBigIntegerField(null=True)",
     "window", "CHECK (col >= 0)"),
    ("PositiveIntegerField-default",
     "models.PositiveIntegerField(default=0)", "window", "CHECK"),
    ("ForeignKey",
     "models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, "
     "to='tally.counter')", "window", "validated foreign key"),
    ("ForeignKey-bare",
     "models.ForeignKey(db_constraint=False, db_index=False, null=True, "
     "on_delete=django.db.models.deletion.DO_NOTHING, to='tally.counter')",
     "online", ""),
    ("OneToOneField",
     "models.OneToOneField(null=True, on_delete=django.db.models.deletion.CASCADE, "
     "to='tally.counter')", "window", "unique index"),
    ("ManyToManyField", "models.ManyToManyField(to='tally.counter')", "online", ""),
    ("ForeignObject",
     "models.ForeignObject(from_fields=['id'], on_delete=django.db.models.deletion."
     "CASCADE, to='tally.counter', to_fields=['id'])", "online", ""),
    ("GeneratedField",
     "models.GeneratedField(db_persist=True, expression=django.db.models.functions."
     "Lower('label'), output_field=models.CharField(max_length=20))",
     "window", "stored generated column"),
    # removed from Django, still in old migrations
    ("NullBooleanField", "models.NullBooleanField()", "online", ""),
    ("IPAddressField", "models.IPAddressField(null=True)", "online", ""),
    ("CommaSeparatedIntegerField",
     "models.CommaSeparatedIntegerField(max_length=20, null=True)", "online", ""),
    # django.contrib.postgres
    ("ArrayField", "django.contrib.postgres.fields.ArrayField(base_field="
     "models.IntegerField(), null=True, size=None)", "online", ""),
    ("HStoreField", "django.contrib.postgres.fields.HStoreField(null=True)",
     "online", ""),
    ("IntegerRangeField", "django.contrib.postgres.fields.IntegerRangeField(null=True)",
     "online", ""),
    ("BigIntegerRangeField",
     "django.contrib.postgres.fields.BigIntegerRangeField(null=True)", "online", ""),
    ("DecimalRangeField", "django.contrib.postgres.fields.DecimalRangeField(null=True)",
     "online", ""),
    ("DateTimeRangeField",
     "django.contrib.postgres.fields.DateTimeRangeField(null=True)", "online", ""),
    ("DateRangeField", "django.contrib.postgres.fields.DateRangeField(null=True)",
     "online", ""),
    ("CICharField", "django.contrib.postgres.fields.CICharField(max_length=5, "
     "null=True)", "online", ""),
    ("CITextField", "django.contrib.postgres.fields.CITextField(null=True)",
     "online", ""),
    ("CIEmailField", "django.contrib.postgres.fields.CIEmailField(max_length=254, "
     "null=True)", "online", ""),
    ("SearchVectorField", "django.contrib.postgres.search.SearchVectorField(null=True)",
     "online", ""),
    ("SearchQueryField", "django.contrib.postgres.search.SearchQueryField(null=True)",
     "online", ""),
    # defaults: only a database default keeps the old code's INSERTs working
    ("BooleanField-python-default", "models.BooleanField(default=False)",
     "window", "Python-side default only"),
    ("IntegerField-db-default", "models.IntegerField(db_default=0)",
     "online", "AddField(db_default)"),
    ("DateTimeField-db-default-now",
     "models.DateTimeField(db_default=django.db.models.functions.datetime.Now())",
     "online", "AddField(db_default)"),
    ("UUIDField-db-default-random",
     "models.UUIDField(db_default=django.contrib.postgres.functions.RandomUUID())",
     "window", "may rewrite the table"),
    ("CharField-db-index", "models.CharField(db_index=True, max_length=5, null=True)",
     "window", "db_index=True"),
    ("TextField-not-null", "models.TextField()", "window", "NOT NULL without db_default"),
]
# Fields Django refuses to add to a model that has its primary key already,
# or that need GDAL: the static verdict only.
STATIC_ONLY = [
    ("AutoField", "models.AutoField(primary_key=True, serialize=False)",
     "window", "identity primary key"),
    ("BigAutoField", "models.BigAutoField(primary_key=True, serialize=False)",
     "window", "identity primary key"),
    ("SmallAutoField", "models.SmallAutoField(primary_key=True, serialize=False)",
     "window", "identity primary key"),
    ("CompositePrimaryKey", "models.CompositePrimaryKey('id', 'label')",
     "window", "primary key"),
    ("PointField", "django.contrib.gis.db.models.fields.PointField(null=True, "
     "srid=4326)", "window", "GiST index"),
    ("PointField-no-index", "django.contrib.gis.db.models.fields.PointField(null=True, "
     "spatial_index=False, srid=4326)", "online", ""),
    ("MultiPolygonField", "django.contrib.gis.db.models.fields.MultiPolygonField("
     "null=True, srid=4326)", "window", "GiST index"),
    ("RasterField", "django.contrib.gis.db.models.fields.RasterField(null=True)",
     "window", "GiST index"),
    ("GenericRelation", "django.contrib.contenttypes.fields.GenericRelation("
     "to='tally.counter')", "online", "AddField(GenericRelation)"),
    # a third-party or custom class may emit anything
    ("TreeForeignKey", "mptt.fields.TreeForeignKey(null=True, on_delete=django.db."
     "models.deletion.CASCADE, to='tally.counter')", "window", "custom or third-party"),
    ("MoneyField", "djmoney.models.fields.MoneyField(decimal_places=2, max_digits=10, "
     "null=True)", "window", "custom or third-party"),
    ("project-field", "tally.fields.EncryptedTextField(null=True)",
     "window", "custom or third-party"),
]


def migration(number: int, field: str, *, name: str = "f", previous: str) -> str:
    return textwrap.dedent(f"""\
        import django.contrib.postgres.fields
        import django.contrib.postgres.functions
        import django.contrib.postgres.search
        import django.db.models.deletion
        import django.db.models.functions
        import django.db.models.functions.datetime
        from django.db import migrations, models


        class Migration(migrations.Migration):

            dependencies = [('tally', '{previous}')]

            operations = [
                migrations.AddField(
                    model_name='counter',
                    name='{name}',
                    field={field},
                ),
            ]
        """)


@pytest.mark.parametrize("field, kind, reason", [c[1:] for c in FIELDS + STATIC_ONLY],
                         ids=[c[0] for c in FIELDS + STATIC_ONLY])
def test_field_type_static(field, kind, reason):
    verdict = classify("django", "tally/migrations/0002_f.py",
                       migration(2, field, previous="0001_initial"))
    assert verdict.kind == kind, verdict.reason
    assert reason in verdict.reason
    assert verdict.read == django_reader.READ


def _django_fields() -> set[str]:
    """Every Field class Django ships (core and contrib.postgres) that a
    migration can name."""
    from django.contrib.postgres import fields as pg_fields
    from django.contrib.postgres import search as pg_search
    from django.db import models

    names = set()
    for module in (models, models.fields, models.fields.related,
                   models.fields.json, models.fields.files, pg_fields, pg_search):
        for name, obj in vars(module).items():
            # type(obj), not isinstance: a lazy settings object would load
            if issubclass(type(obj), type) and issubclass(obj, models.Field) and \
                    obj.__module__.startswith("django."):
                names.add(name)
    return names


def test_every_field_type_django_ships_is_known_to_the_reader():
    known = (django_reader.PLAIN_FIELDS | set(django_reader.IMPLIED)
             | django_reader.NO_COLUMN_FIELDS | {"ForeignKey"})
    # bases, OrderWrt (the _order column of AlterOrderWithRespectTo, never
    # written in an AddField) and search's private _Float4Field (an
    # output_field for rank expressions)
    abstract = {"Field", "RelatedField", "RangeField", "ContinuousRangeField",
                "CIText", "OrderWrt", "_Float4Field"}
    missing = _django_fields() - known - abstract
    assert not missing, f"field types the reader does not know: {sorted(missing)}"
    tested = {c[0].split("-")[0] for c in FIELDS + STATIC_ONLY}
    assert not (_django_fields() - abstract - tested), "a field type without a case"


# -- the SQL Django emits, offline (sqlmigrate's way) ---------------------------

SETTINGS = """\
SECRET_KEY = "test"
INSTALLED_APPS = ["django.contrib.postgres", "tally"]
# sqlite here: the script asks for PostgreSQL's SQL whatever the settings say
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
USE_TZ = True
"""
INITIAL = """\
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name='Counter',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name='ID')),
                ('label', models.CharField(max_length=20)),
            ],
        ),
    ]
"""


def _project(root: Path, files: dict[str, str]) -> None:
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "__init__.py").write_text("")
    (root / "proj" / "settings.py").write_text(SETTINGS)
    (root / "manage.py").write_text(
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings')\n")
    (root / "tally" / "migrations").mkdir(parents=True)
    (root / "tally" / "__init__.py").write_text("")
    (root / "tally" / "migrations" / "__init__.py").write_text("")
    (root / "tally" / "migrations" / "0001_initial.py").write_text(INITIAL)
    for path, text in files.items():
        (root / path).write_text(text)


def _runner(root: Path):
    def run(cmd: str) -> tuple[bool, str]:
        done = subprocess.run(cmd, shell=True, cwd=root, capture_output=True,
                              text=True, timeout=120)
        return done.returncode == 0, done.stdout
    return run


@pytest.fixture(scope="module")
def field_sql(tmp_path_factory):
    """One project whose migrations add every field of FIELDS in turn, and
    the SQL Django emits for each."""
    root = tmp_path_factory.mktemp("djproject")
    files, previous = {}, "0001_initial"
    for i, (_, field, _, _) in enumerate(FIELDS, start=2):
        name = f"{i:04d}_f{i}"
        files[f"tally/migrations/{name}.py"] = migration(i, field, name=f"f{i}",
                                                         previous=previous)
        previous = name
    _project(root, files)
    data, why = emitted.django_sql(_runner(root), sys.executable, list(files))
    assert why == ""
    return files, data


@pytest.mark.parametrize("index", range(len(FIELDS)), ids=[c[0] for c in FIELDS])
def test_field_type_sql_from_django_agrees(field_sql, index):
    files, data = field_sql
    path = list(files)[index]
    text = files[path]
    assert "error" not in data[path], data[path]
    truth = classify("django", path, text, emitted=data)
    static = classify("django", path, text)
    assert truth.read == django_reader.READ_SQL
    # never online where Django's SQL needs the window
    assert not (static.kind == "online" and truth.kind == "window"), (
        truth.reason, data[path])
    assert truth.kind == static.kind == FIELDS[index][2], (truth.reason, static.reason)


def _sql_case(tmp_path: Path, *operations: str, header: str = "",
              body: str = "") -> tuple[str, str, dict, str]:
    text = ("import django.db.models.deletion\nfrom django.db import migrations, "
            f"models\n{header}\n\n\nclass Migration(migrations.Migration):\n{body}"
            "    dependencies = [('tally', '0001_initial')]\n\n"
            "    operations = [\n"
            + "".join(f"        {op},\n" for op in operations) + "    ]\n")
    path = "tally/migrations/0002_x.py"
    _project(tmp_path, {path: text})
    data, why = emitted.django_sql(_runner(tmp_path), sys.executable, [path])
    return path, text, data, why


def test_alter_field_that_only_drops_not_null_is_online(tmp_path):
    """Statically an AlterField is window (its SQL depends on the field it
    replaces); Django's SQL says it only drops NOT NULL."""
    path, text, data, why = _sql_case(
        tmp_path, "migrations.AlterField(model_name='counter', name='label', "
        "field=models.CharField(max_length=20, null=True))")
    assert why == ""
    assert classify("django", path, text).kind == "window"
    verdict = classify("django", path, text, emitted=data)
    assert verdict.kind == "online", verdict.reason
    assert "DROP NOT NULL" in verdict.reason


def test_alter_field_help_text_emits_no_sql_and_is_online(tmp_path):
    path, text, data, _ = _sql_case(
        tmp_path, "migrations.AlterField(model_name='counter', name='label', "
        "field=models.CharField(help_text='shown', max_length=20))")
    verdict = classify("django", path, text, emitted=data)
    assert verdict.kind == "online"
    assert "(no SQL)" in verdict.reason


def test_alter_field_widening_type_is_window_from_sql(tmp_path):
    path, text, data, _ = _sql_case(
        tmp_path, "migrations.AlterField(model_name='counter', name='label', "
        "field=models.TextField())")
    verdict = classify("django", path, text, emitted=data)
    assert verdict.kind == "window"
    assert "ALTER COLUMN TYPE" in verdict.reason
    assert verdict.decided_by is not None and verdict.decided_by.line == 10


def test_run_python_is_window_unless_noop_from_sql(tmp_path):
    path, text, data, _ = _sql_case(
        tmp_path, "migrations.RunPython(migrations.RunPython.noop, "
        "migrations.RunPython.noop)",
        "migrations.AddField('counter', 'note', models.TextField(null=True))")
    assert classify("django", path, text, emitted=data).kind == "online"
    path, text, data, _ = _sql_case(
        tmp_path / "b", "migrations.RunPython(print)")
    verdict = classify("django", path, text, emitted=data)
    assert (verdict.kind, verdict.reason) == (
        "window", "Raw Python operation on line 10 (Python, not SQL: unknown effect)")


def test_create_model_with_index_is_online_from_sql(tmp_path):
    """Indexes and foreign keys of a new table come as deferred SQL; they are
    on the new table, so online."""
    path, text, data, _ = _sql_case(
        tmp_path, "migrations.CreateModel(name='Vote', fields=[('id', "
        "models.BigAutoField(primary_key=True, serialize=False)), ('slug', "
        "models.SlugField()), ('counter', models.ForeignKey(on_delete=django.db."
        "models.deletion.CASCADE, to='tally.counter'))])")
    verdict = classify("django", path, text, emitted=data)
    assert verdict.kind == "online", verdict.reason
    assert any(f.what.startswith("deferred:") for f in verdict.findings)


def test_no_django_settings_falls_back_to_static_reading(tmp_path):
    (tmp_path / "manage.py").write_text(
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'nowhere.settings')\n")
    data, why = emitted.django_sql(_runner(tmp_path), sys.executable,
                                   ["tally/migrations/0002_x.py"])
    assert data == {} and "ModuleNotFoundError" in why
    text = migration(2, "models.TextField(null=True)", previous="0001_initial")
    verdict = classify("django", "tally/migrations/0002_x.py", text, emitted=data,
                       unavailable=why)
    assert verdict.kind == "online"
    assert verdict.read.startswith(django_reader.READ + " (no SQL from the framework")


def test_python_of_the_migrate_command():
    assert emitted.python_of("python manage.py migrate --noinput") == "python"
    assert emitted.python_of("python3.12 ./manage.py migrate") == "python3.12"
    assert emitted.python_of("bin/rails db:migrate") is None
    assert emitted.python_of(None) is None


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.parametrize("dirty", [False, True])
def test_observe_classifies_from_djangos_sql_when_the_tree_is_the_commit(
        tmp_path, monkeypatch, dirty):
    """deploy's observe step: the pending files of the deploy commit are
    classified from Django's SQL (AlterField that only drops NOT NULL:
    online), unless the working tree differs (then read statically)."""
    from invoke import Context

    from herotasks.core.config import Settings
    from herotasks.core.observe import migration_verdicts
    from herotasks.core.state import Pending

    path = "tally/migrations/0002_x.py"
    _, text, _, _ = _sql_case(
        tmp_path, "migrations.AlterField(model_name='counter', name='label', "
        "field=models.CharField(max_length=20, null=True))")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x")
    source = _git(tmp_path, "rev-parse", "HEAD")
    if dirty:
        (tmp_path / path).write_text(text + "\n# edited\n")
    monkeypatch.chdir(tmp_path)
    settings = Settings.resolve(
        {"herotasks": {"preset": "django",
                       "migrations": {"command": f"{sys.executable} manage.py "
                                      "migrate --noinput"}}}, require_stage=False)
    (verdict,) = migration_verdicts(Context(), settings, source,
                                    Pending(True, "diff", (path,)))
    if dirty:
        assert (verdict.kind, verdict.read) == (
            "window", django_reader.READ + " (no SQL from the framework: the working "
            "tree is not the deploy commit, unchanged)")
    else:
        assert (verdict.kind, verdict.read) == ("online", django_reader.READ_SQL)


def test_an_operation_that_needs_the_database_falls_back_without_reaching_one(
        tmp_path):
    """Dropping a unique constraint makes Django look its name up in the
    database: the script's connection goes nowhere, so that file alone is
    read statically (the settings' own database is never asked)."""
    path, text, data, why = _sql_case(
        tmp_path, "migrations.AlterField(model_name='counter', name='label', "
        "field=models.CharField(max_length=20, unique=True))",
        "migrations.AlterField(model_name='counter', name='label', "
        "field=models.CharField(max_length=20))")
    assert why == ""
    assert "herotasks-offline" in data[path]["error"]
    verdict = classify("django", path, text, emitted=data)
    assert verdict.kind == "window"
    assert verdict.read.startswith(django_reader.READ + " (no SQL from the framework: ")


PG_OPS = ("from django.contrib.postgres.operations import AddConstraintNotValid, "
          "ValidateConstraint")
NOT_VALID = ("AddConstraintNotValid(model_name='counter', constraint=models."
             "CheckConstraint(condition=models.Q(('label__gt', '')), name='label_set'))")
VALIDATE = "ValidateConstraint(model_name='counter', name='label_set')"


@pytest.mark.parametrize("ops, body, kind, reason", [
    ((NOT_VALID,), "", "online", "AddConstraintNotValid"),
    ((VALIDATE,), "", "online", "ValidateConstraint"),
    ((NOT_VALID, VALIDATE), "", "window", "label_set was added NOT VALID in the same"),
    ((NOT_VALID, VALIDATE), "    atomic = False\n", "online",
     "AddConstraintNotValid, ValidateConstraint"),
    (("migrations.RunSQL(migrations.RunSQL.noop, 'DROP TABLE x')",), "", "online",
     "RunSQL(noop)"),
], ids=["not-valid", "validate-later", "validate-same-transaction",
        "validate-not-atomic", "runsql-noop"])
def test_not_valid_constraints_static_and_from_sql(tmp_path, ops, body, kind, reason):
    path, text, data, why = _sql_case(tmp_path, *ops, header=PG_OPS, body=body)
    static = classify("django", path, text)
    assert (static.kind, static.read) == (kind, django_reader.READ), static.reason
    assert reason in static.reason
    if ops == (VALIDATE,):
        return  # validating a constraint 0001 never added: Django's SQL needs it
    truth = classify("django", path, text, emitted=data)
    assert (truth.kind, truth.read) == (kind, django_reader.READ_SQL), truth.reason
