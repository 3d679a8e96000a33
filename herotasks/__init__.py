"""herotasks: low-downtime Heroku deploys as an Invoke/Fabric task collection.

Use the collection from your own ``tasks.py``::

    from herotasks.tasks import ns

or run the ``herotasks`` console script, which needs no tasks.py.
"""

__version__ = "0.1.0"
