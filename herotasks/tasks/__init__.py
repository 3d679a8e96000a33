"""The herotasks task collection: ``from herotasks.tasks import ns`` in tasks.py.

One namespace per module (assets, scratch, slug, db, maintenance, workers,
deploy, and the sandbox when its extra is installed); every ``herotasks.*``
config key is declared through ``ns.configure`` so invoke.yaml,
``INVOKE_HEROTASKS_*`` env vars and ``-f`` files can override any of them.

``ns`` is made when it is imported (:pep:`562`), so it carries a
``deploy.<stage>`` task for each stage configured in the project it is
imported from (:func:`herotasks.tasks.deploy.project_stages`): invoke builds
its parser before any task sees the config, so this is where configured
stages can become tasks. :func:`collection` makes one for any list of stages.
"""

from __future__ import annotations

from typing import Any, Iterable

from invoke import Collection
from invoke.config import copy_dict, merge_dicts

from herotasks import sandbox as sandbox_extra
from herotasks.cli import install_excepthook
from herotasks.core.config import DEFAULTS
from herotasks.tasks import assets, db, deploy, maintenance, scratch, slug, workers


def collection(stages: Iterable[str] = ()) -> Collection:
    """The root collection, with a ``deploy.<stage>`` task for each of ``stages``."""
    root = Collection(assets, scratch, slug, db, maintenance, workers, deploy)
    # The sandbox is the [sandbox] extra: without its packages there are no
    # sandbox.* tasks, and the console script says what to install
    # (herotasks/cli.py). Checked without importing them, to keep start-up quick.
    if sandbox_extra.available():
        from herotasks.tasks import sandbox

        root.add_collection(sandbox)
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
# only place a bad one can become one line (see herotasks.cli).
install_excepthook()
