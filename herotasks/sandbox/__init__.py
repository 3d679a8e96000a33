"""The sandbox: a local Heroku to rehearse deploys on (the ``[sandbox]`` extra).

``pip install herotasks`` is the deploy tool; the sandbox's own dependencies
come with ``pip install "herotasks[sandbox]"``. :func:`available` says
whether they are there without importing them, so that ``herotasks --list``
stays quick and the root collection can leave the ``sandbox.*`` tasks out.
"""

from __future__ import annotations

import importlib.util

#: What the ``[sandbox]`` extra installs (pyproject.toml), by import name.
EXTRA_MODULES = ("trustme", "jsonschema", "uv")
#: The one line to say when they are missing.
MISSING = 'the sandbox is not installed: pip install "herotasks[sandbox]"'


def available() -> bool:
    """True when the ``[sandbox]`` extra's packages can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in EXTRA_MODULES)
