"""A page view becomes a Job; the worker turns each Job into a counted Visit.

Everything that touches the schema lives here, so a schema change shows up
in one file next to its migration.

v2 remembered who visited (the User-Agent) on both tables, in required
columns: NOT NULL, and Django's default='' never reaches the database. v8
no longer reads or writes them, and migration 0005 drops them: a contract
migration. Until it runs, v8's INSERTs leave the columns out and would fail
on NOT NULL, so herotasks first makes them nullable (its db.expand step,
ALTER TABLE ... ALTER COLUMN ... DROP NOT NULL, before the release, while
v6 serves and still writes them), releases v8 with no window, and drops
them once no v6 dyno is left.
"""
from django.db import models
from django.utils import timezone


class Job(models.Model):
    """A visit waiting for the worker. Done jobs keep `done_at` for the record."""

    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, db_index=True)

    @classmethod
    def enqueue(cls, request) -> "Job":
        return cls.objects.create()

    @classmethod
    def next_pending(cls) -> "Job | None":
        return cls.objects.filter(done_at=None).order_by("id").first()

    def complete(self) -> None:
        """Count the visit. Runs inside the worker's claiming transaction."""
        Visit.objects.create()
        Job.objects.filter(pk=self.pk).update(done_at=timezone.now())


class Visit(models.Model):
    """One counted page view."""

    counted_at = models.DateTimeField(auto_now_add=True)

    @classmethod
    def summary(cls) -> dict:
        return {
            "visits": cls.objects.count(),
            "pending": Job.objects.filter(done_at=None).count(),
        }
