"""A page view becomes a Job; the worker turns each Job into a counted Visit.

Everything that touches the schema lives here, so a schema change shows up
in one file next to its migration.

v2 remembers who visited (the User-Agent) on both tables. The columns are
required, so this code fails on a v1 schema, and v1 code (which does not fill
them) fails on the v2 schema.

v4 also kept where the visit came from (the Referer), in columns that may be
empty. v6 no longer reads or writes them, and migration 0004 drops them: a
contract migration. Until it runs, v6 code works on the v4 schema (the
columns are nullable, so INSERTs that leave them out succeed), so herotasks
releases v6 with no window and drops the columns once no v4 dyno is left.
"""
from django.db import models
from django.db.models import Count
from django.utils import timezone


class Job(models.Model):
    """A visit waiting for the worker. Done jobs keep `done_at` for the record."""

    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, db_index=True)
    user_agent = models.CharField(max_length=200)

    @classmethod
    def enqueue(cls, request) -> "Job":
        agent = request.headers.get("User-Agent", "")[:200]
        return cls.objects.create(user_agent=agent)

    @classmethod
    def next_pending(cls) -> "Job | None":
        return cls.objects.filter(done_at=None).order_by("id").first()

    def complete(self) -> None:
        """Count the visit. Runs inside the worker's claiming transaction."""
        Visit.objects.create(user_agent=self.user_agent)
        Job.objects.filter(pk=self.pk).update(done_at=timezone.now())


class Visit(models.Model):
    """One counted page view, and who made it."""

    counted_at = models.DateTimeField(auto_now_add=True)
    user_agent = models.CharField(max_length=200)

    @classmethod
    def summary(cls) -> dict:
        by_agent = cls.objects.values("user_agent").annotate(n=Count("id"))
        return {
            "visits": cls.objects.count(),
            "pending": Job.objects.filter(done_at=None).count(),
            "agents": by_agent.order_by("-n")[:5],
        }
