"""herotasks-sandbox: a local Heroku to rehearse deploys on.

A distribution of its own (``pip install herotasks-sandbox``, or the
``herotasks[sandbox]`` extra): the Platform API, git remotes, builds, real
dyno processes, a router and add-ons, all on 127.0.0.1. ``python -m
herotasks_sandbox`` runs it in the foreground; :mod:`herotasks_sandbox.tasks`
is its ``sandbox.*`` task namespace (``sandbox.up``, ``down``, ``status``);
:mod:`herotasks_sandbox.testing` is a pytest plugin with a session sandbox
and clients for it. docs/sandbox.md beside this package says what it models,
each behaviour with its Heroku source.
"""

__version__ = "0.1.0"
