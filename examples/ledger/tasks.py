"""The ledger app's own tasks.py: the herotasks collection, as tally's."""

from herotasks.tasks import ns  # noqa: F401
