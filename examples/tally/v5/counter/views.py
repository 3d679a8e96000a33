"""The counting page and the health check, broken on purpose in v5.

v5 stands for a release that passes its build but does not work: every page,
/up included, answers 500. herotasks' health check (herotasks.health in
invoke.yaml: GET /up must answer 200) sees it and rolls back to v4.
"""
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from counter.models import Job, Visit
from tally.version import VERSION


def index(request):
    """Queue this visit for the worker, then show the counts so far.

    It writes and reads the database on every request, so code that does not
    match the schema answers 500 here.
    """
    raise RuntimeError("v5 is broken on purpose")
    Job.enqueue(request)
    context = Visit.summary() | {"version": VERSION, "now": timezone.now()}
    return render(request, "counter/index.html", context)


def up(request):
    """Cheap liveness check (no database): which release is serving."""
    raise RuntimeError(f"tally {VERSION} is broken on purpose")
