"""Heroku's platform generations as data: what a deploy does differently on each.

Heroku runs two generations (Dev Center *Heroku Generations*): Cedar, and
Fir, which lives in Fir Private Spaces. An app says which it is
(``app.generation.name``, changelog item 3075). The planner, the actions and
the check read the target's :class:`Generation` record; no step compares
generation names. The sandbox models each rule (sandbox/docs/sandbox.md's
fidelity table, herotasks_sandbox/fir.py), with its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Generation:
    """How a deploy treats the apps of one generation.

    :param artifact: the release field naming what a build made: ``slug``
        (Cedar) or ``oci_image`` (Fir: "The build artifact for Fir-generation
        apps is an Open Container Initiative (OCI) image", Dev Center
        *Glossary*; the build's ``slug`` is null).
    :param promote_methods: the ``herotasks.promote.method`` values that can
        put the scratch app's build on the target. Fir: only ``pipeline``,
        naming the exact release (changelog 3408, ``source.release.id``);
        whether an image built on one app can be released on another by id
        is not documented, so herotasks does not rely on it.
    :param names_stack: the scratch app is created with the target's stack
        (a Fir app's stack is ``cnb``, the space decides it).
    :param one_off_prefix: what a one-off dyno's command starts with: Fir
        runs it through the Cloud Native Buildpacks ``launcher``, which sets up
        the buildpacks' environment (heroku/cli 11.10.0 ``run``: "Heroku
        automatically prepends 'launcher' to the command on CNB apps").
    :param log_history: ``heroku logs`` shows past lines (Fir: tail only);
        herotasks' health check reads dynos and HTTP, never logs, either way.
    """

    name: str
    artifact: str
    promote_methods: tuple[str, ...]
    names_stack: bool
    one_off_prefix: str
    log_history: bool

    def one_off(self, command: str) -> str:
        """``command`` as a one-off dyno of this generation must be given it."""
        return self.one_off_prefix + command

    def check_promote(self, app: str, method: str) -> str | None:
        """Why ``method`` cannot put a build on ``app`` (None: it can)."""
        if method in self.promote_methods:
            return None
        made = "OCI images" if self.artifact == "oci_image" else "slugs"
        return (f"{app} is a {self.name.title()}-generation app: its builds are {made}, "
                "which Heroku documents putting on another app only through a pipeline "
                f"promotion of the exact release (herotasks.promote.method is {method})")


GENERATIONS: dict[str, Generation] = {g.name: g for g in (
    Generation("cedar", artifact="slug", promote_methods=("slug", "pipeline"),
               names_stack=True, one_off_prefix="", log_history=True),
    Generation("fir", artifact="oci_image", promote_methods=("pipeline",),
               names_stack=False, one_off_prefix="launcher ", log_history=False),
)}


def of(app: dict | None) -> Generation:
    """The record of ``app``'s generation (Cedar when it names none: apps
    from before Fir, and every Common Runtime app)."""
    name = (((app or {}).get("generation") or {}).get("name") or "cedar").lower()
    return GENERATIONS.get(name) or GENERATIONS["cedar"]


def known(app: dict | None) -> bool:
    """herotasks has a record for ``app``'s generation."""
    name = (((app or {}).get("generation") or {}).get("name") or "cedar").lower()
    return name in GENERATIONS


def artifact_id(release: dict | None) -> str | None:
    """The id of what ``release`` runs: its slug (Cedar) or its OCI image
    (Fir, whose ``slug`` is null)."""
    release = release or {}
    return (release.get("slug") or release.get("oci_image") or {}).get("id")


def artifact(api: Any, app: str, release: dict | None) -> dict | None:
    """What ``release`` of ``app`` runs, as a slug reads: ``id``, ``commit``,
    ``commit_description`` and ``process_types`` (name -> command). An OCI
    image's process types carry the command as ``display_cmd``."""
    release = release or {}
    if (release.get("slug") or {}).get("id"):
        return api.slug(app, release["slug"]["id"])
    image_id = (release.get("oci_image") or {}).get("id")
    if not image_id:
        return None
    return from_image(api.oci_image(app, image_id))


def from_image(image: dict) -> dict:
    """An ``oci-image`` document in a slug's shape (see :func:`artifact`)."""
    types = image.get("process_types") or {}
    return {"id": image.get("id"), "commit": image.get("commit"),
            "commit_description": image.get("commit_description"),
            "process_types": {name: (t or {}).get("display_cmd") or (t or {}).get("command")
                              for name, t in types.items()}}
