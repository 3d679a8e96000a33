"""The outside world, behind small interfaces the deploy engine calls.

- :mod:`~herotasks.adapters.heroku_api`: the Platform API (one retrying Session).
- :mod:`~herotasks.adapters.rendezvous`: ``heroku run --exit-code`` in Python.
- :mod:`~herotasks.adapters.git`: git command builders, parsers and runners.
- :mod:`~herotasks.adapters.shell`: the one local-command chokepoint.
- :mod:`~herotasks.adapters.auth`: the API token, found as the Heroku CLI does.
"""
