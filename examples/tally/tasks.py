"""The tally app's own tasks.py: how an app takes the herotasks collection.

With this file beside invoke.yaml, ``inv --list`` shows every herotasks task,
``inv deploy.production`` deploys (one task per stage configured in
invoke.yaml), and any step runs by hand: ``inv db.pending``, ``inv
maintenance.on``. An app with tasks of its own adds them next to ours.
"""

from invoke import task

from herotasks.tasks import ns


@task
def console(c):
    """An app task beside the deploy tasks: a Django shell, locally."""
    c.run("python manage.py shell", pty=True)


ns.add_task(console)
