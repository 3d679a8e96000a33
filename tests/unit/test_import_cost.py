"""What an ``inv`` run does not import until it needs it.

Every ``inv`` pays for its imports (the suite runs about a thousand of them, a
CI job a few): pglast (PostgreSQL's grammar, ~35 ms) is loaded only when
there is SQL to read, and uuid (~3 ms with the platform module it imports)
not at all: the journal's random deploy id comes from :mod:`secrets`. Each case
runs in a fresh interpreter, so what an earlier test imported cannot hide what
this one does.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: what a deploy, a recover or any task of the collection imports up front
ENTRY = "import herotasks.tasks, herotasks.core.deploy, herotasks.core.recover"
#: loaded only by the code that uses them, or not at all
LAZY = ("pglast", "uuid")


def loaded(code: str) -> set[str]:
    """The modules of :data:`LAZY` that ``code`` leaves in ``sys.modules``."""
    probe = f"{textwrap.dedent(code)}\nimport sys\nprint(*sorted(sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split()) & set(LAZY)


def test_entry_points_import_none_of_the_lazy_modules():
    assert loaded(ENTRY) == set()


RAILS_NO_SQL = '''
class AddEmail < ActiveRecord::Migration[7.1]
  def change
    add_column :users, :email, :string
  end
end
'''
DJANGO_NO_SQL = '''
from django.db import migrations, models

class Migration(migrations.Migration):
    operations = [migrations.AddField("user", "email", models.TextField(null=True))]
'''
ALEMBIC_NO_SQL = '''
import sqlalchemy as sa
from alembic import op

def upgrade():
    op.add_column("users", sa.Column("email", sa.Text(), nullable=True))
'''


@pytest.mark.parametrize("preset, path, text", [
    ("rails", "db/migrate/20240101000000_add_email.rb", RAILS_NO_SQL),
    ("django", "app/migrations/0002_email.py", DJANGO_NO_SQL),
    ("alembic", "alembic/versions/0002_email.py", ALEMBIC_NO_SQL),
])
def test_a_migration_without_sql_does_not_load_pglast(preset, path, text):
    lazy = loaded(f"""
        {ENTRY}
        from herotasks.core.classify import classify
        assert classify({preset!r}, {path!r}, {text!r}).kind == "online"
    """)
    assert lazy == set()


def test_sql_to_read_loads_pglast():
    """The control: the probe sees pglast when the SQL reader runs."""
    text = RAILS_NO_SQL.replace("add_column :users, :email, :string",
                                'execute "CREATE INDEX i ON users (email)"')
    assert loaded(f"""
        from herotasks.core.classify import classify
        assert classify("rails", "db/migrate/1_x.rb", {text!r}).kind == "window"
    """) == {"pglast"}
