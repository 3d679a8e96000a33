"""The herotasks task collection: ``from herotasks.tasks import ns`` in tasks.py.

One namespace per module (assets, scratch, slug, db, maintenance, workers,
deploy, and ``sandbox`` when the herotasks-sandbox distribution is installed); every ``herotasks.*``
config key is declared through ``ns.configure`` so invoke.yaml,
``INVOKE_HEROTASKS_*`` env vars and ``-f`` files can override any of them.

``ns`` is made when it is imported (:pep:`562`), so it carries a
``deploy.<stage>`` task for each stage configured in the project it is
imported from (:func:`herotasks.tasks.deploy.project_stages`): invoke builds
its parser before any task sees the config, so this is where configured
stages can become tasks. :func:`collection` makes one for any list of stages.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Iterable

from invoke import Collection
from invoke.config import copy_dict, merge_dicts

from herotasks.core.config import DEFAULTS
from herotasks.load_errors import install_excepthook
from herotasks.tasks import assets, db, deploy, maintenance, scratch, slug, workers

#: The sandbox is a distribution of its own (herotasks-sandbox, which the
#: ``[sandbox]`` extra installs); without it, this is the one line to say.
SANDBOX_MISSING = 'the sandbox is not installed: pip install "herotasks[sandbox]"'


def sandbox_installed() -> bool:
    """Whether herotasks-sandbox is there, found without importing it."""
    return importlib.util.find_spec("herotasks_sandbox") is not None


def collection(stages: Iterable[str] = ()) -> Collection:
    """The root collection, with a ``deploy.<stage>`` task for each of ``stages``."""
    root = Collection(assets, scratch, slug, db, maintenance, workers, deploy)
    # Without herotasks-sandbox there are no sandbox.* tasks, and the console
    # script says what to install (herotasks/cli.py).
    if sandbox_installed():
        from herotasks_sandbox import tasks as sandbox

        root.add_collection(sandbox, name="sandbox")
    # invoke merges a task's config along its path with dict(sub, **outer): the
    # *top-level* key of an outer collection replaces the inner one whole. Every
    # namespace declares under `herotasks`, so the root must carry the deep
    # merge of all of them (e.g. the sandbox's herotasks.sandbox.root), or env
    # vars and invoke.yaml could not override the inner keys.
    config = copy_dict(DEFAULTS)
    for sub in root.collections.values():
        merge_dicts(config, sub.configuration())
    root.configure(config)
    deploy.add_stages(root, stages)
    return root


def __getattr__(name: str) -> Any:
    if name == "ns":
        return collection(deploy.project_stages())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# invoke merges config files before any task runs; under `inv` this is the
# only place a bad one can become one line (see herotasks.load_errors).
install_excepthook()
