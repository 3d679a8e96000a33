"""The counting page and the health check."""
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from tally.version import VERSION

from counter.models import Job, Visit


def index(request):
    """Queue this visit for the worker, then show the counts so far.

    It writes and reads the database on every request, so code that does not
    match the schema answers 500 here.
    """
    Job.enqueue(request)
    context = Visit.summary() | {"version": VERSION, "now": timezone.now()}
    return render(request, "counter/index.html", context)


def up(request):
    """Cheap liveness check (no database): which release is serving."""
    return HttpResponse(f"tally {VERSION}\n", content_type="text/plain")
