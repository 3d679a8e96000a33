"""The herotasks task collection: ``from herotasks.tasks import ns`` in tasks.py.

One namespace per module (assets, scratch, slug, db, maintenance, workers,
deploy, and the sandbox when present); every ``herotasks.*`` config key is
declared through ``ns.configure`` so invoke.yaml, ``INVOKE_HEROTASKS_*`` env
vars and ``-f`` files can override any of them.
"""

from __future__ import annotations

import importlib.util

from invoke import Collection
from invoke.config import copy_dict, merge_dicts

from herotasks.cli import install_excepthook
from herotasks.core.config import DEFAULTS
from herotasks.tasks import assets, db, deploy, maintenance, scratch, slug, workers

ns = Collection(assets, scratch, slug, db, maintenance, workers, deploy)
# The sandbox namespace is optional (the lead's module): include it when it
# exists, but let a real import error in it surface rather than hide it.
if importlib.util.find_spec("herotasks.tasks.sandbox") is not None:
    from herotasks.tasks import sandbox

    ns.add_collection(sandbox)
# invoke merges a task's config along its path with dict(sub, **outer): the
# *top-level* key of an outer collection replaces the inner one whole. Every
# namespace declares under `herotasks`, so the root must carry the deep merge
# of all of them (e.g. the sandbox's herotasks.sandbox.root), or env vars and
# invoke.yaml could not override the inner keys.
_config = copy_dict(DEFAULTS)
for _sub in ns.collections.values():
    merge_dicts(_config, _sub.configuration())
ns.configure(_config)
# invoke merges config files before any task runs; under `inv` this is the
# only place a bad one can become one line (see herotasks.cli).
install_excepthook()
