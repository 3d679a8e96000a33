"""The counting page and the health check, with a fault that needs traffic.

v7 stands for a release that boots, answers its first requests and passes a
check before the release (herotasks' health.precheck asks /up in a one-off
dyno), then breaks under real traffic: from the dyno's 201st request on,
every page, /up included, answers 500 (think of a pool or a cache that runs
out). Only the watch after the release can see it; herotasks rolls back.
"""
import os

from counter.models import Job, Visit
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from tally.version import VERSION

#: Requests a dyno serves before the fault shows (the config var
#: TALLY_GOOD_REQUESTS: the benchmark's smoke test, at a lower rate, sets
#: fewer, so the fault still shows within the watch after the release).
GOOD_REQUESTS = int(os.environ.get("TALLY_GOOD_REQUESTS") or 200)
#: One byte per request served, in the dyno's own (ephemeral) filesystem: its
#: size counts the requests of all the dyno's gunicorn processes together.
SERVED = ".tally-served"


def _served() -> int:
    fd = os.open(SERVED, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, b".")
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _fault() -> None:
    if _served() > GOOD_REQUESTS:
        raise RuntimeError(f"v7 broke after {GOOD_REQUESTS} requests, on purpose")


def index(request):
    """Queue this visit for the worker, then show the counts so far.

    It writes and reads the database on every request, so code that does not
    match the schema answers 500 here.
    """
    _fault()
    Job.enqueue(request)
    context = Visit.summary() | {"version": VERSION, "now": timezone.now()}
    return render(request, "counter/index.html", context)


def up(request):
    """Cheap liveness check (no database): which release is serving."""
    _fault()
    return HttpResponse(f"tally {VERSION}\n", content_type="text/plain")
