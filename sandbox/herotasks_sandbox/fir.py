"""Fir, Heroku's next generation, as the sandbox models it.

Every rule here cites its source; sandbox/docs/sandbox.md's fidelity table
has one row per rule. Fir lives in Fir Private Spaces (Dev Center *Heroku
Generations*: "Fir is now generally available with Fir Private Spaces"), and
an app there has the space's ``generation`` (platform.py). What differs once
code is built, and is modelled here:

* **Builds make OCI images, not slugs.** The schema's ``build.slug`` is the
  "slug created by this build (only applicable for Cedar-generation apps)";
  Dev Center *Glossary of Heroku Terminology*, "Build Artifact": "The build
  artifact for Fir-generation apps is an Open Container Initiative (OCI)
  image produced by a Cloud Native Buildpack". A Fir build's ``slug`` is
  null; its release names the image (``oci_image``, as heroku/cli's
  ``pipelines:diff`` and ``buildpacks`` read it) and lists it in
  ``artifacts``; ``GET /apps/{app}/oci-images/{id}`` answers it (as an array,
  the schema's ``Info`` targetSchema). The sandbox still compiles with its
  own buildpacks (no Cloud Native Buildpacks, no image layers): what runs is
  the same tree, stored as the image's content.
* **A release is made of an image** (changelog item 3075: "Release Create:
  We added the ``oci_image`` parameter for apps that use CNBs (cnb). You can
  continue to use the ``slug`` parameter for apps that use classic
  buildpacks"): a Fir app takes ``oci_image``, a Cedar app ``slug``. Whether
  an image built on one app can be released on another is not documented:
  the sandbox answers an image neither built on the app nor run by one of
  its releases as not found (the oci-images links are app-scoped), so the
  documented way across apps is a pipeline promotion.
* **The stack is ``cnb``** (changelog 3075's "apps that use CNBs (cnb)";
  heroku/cli ``lib/run/helpers.js`` ``shouldPrependLauncher`` tests
  ``app.stack.name === 'cnb'``).
* **One-off commands go through ``launcher``** (heroku/cli ``run``: "Heroku
  automatically prepends 'launcher' to the command on CNB apps"). The Cloud
  Native Buildpacks launcher sets up the environment the buildpacks left
  (their ``PATH`` entries above all); a command started without it has only
  the base image's. The sandbox's dynos get the buildpack environment (the
  tree's ``.profile.d``) only through ``launcher`` (a one-off) or as a
  process type (which Heroku starts through the launcher too).
* **Logs have no history** (heroku/cli ``logs``: ``--num`` "ignored for Fir
  generation apps", ``--tail`` "always enabled for Fir-generation apps"): a
  log session of a Fir app streams new lines only.
* **Pipelines hold apps of one generation** (the schema's
  ``pipeline.generation``, "the generation of the Heroku platform for this
  pipeline"; Dev Center *Migrating Apps from Cedar Spaces to Fir Spaces*:
  "You can't directly transfer an app between these different generations").
  A pipeline takes the generation of its first app; an app of the other
  generation is refused. Heroku's wording of that refusal is not documented.
* **No preboot**: Fir apps live in Private Spaces, where preboot is refused
  (platform.py ``set_feature``; Dev Center *Preboot*, "only available on the
  Common Runtime"); space apps deploy rolling.

* **Fir's dyno sizes** are their own: ``dyno-1c-0.5gb`` to
  ``dyno-32c-64gb`` (heroku/cli 11.10.0 ``dist/commands/ps/type.js``
  ``COST_MONTHLY`` lists them beside Cedar's Eco ... Shield-*; the schema's
  ``dyno-size.generation`` says which generation a size is for). A Fir app's
  new process types and one-offs get ``dyno-1c-0.5gb`` (not documented: the
  smallest, and what a Fir web dyno was seen running at in a third-party
  note); a size of the other generation is refused with a 422
  (``invalid_params``; Heroku's wording is not documented, the sandbox's
  names both generations), on formation updates and one-off dynos alike.
  Fir sizes are ``private_space_only`` (Fir lives in Fir Private Spaces) and
  carry no ``cost`` (heroku/cli keeps its own price table for them).
* **Fir dynos are named** ``<type>-<hash>-<5 chars>``, Cedar's ``web.1``
  (heroku/cli ``dist/lib/apps/generation.js``: ``web-1234abcde44-123ab``,
  ``^web-[0-9a-z]+-[0-9a-z]{5}$``; the schema's ``log-session.dyno_name``:
  "'web.1' (Cedar-generation) or 'web-1234abcde-123ab' (Fir-generation)";
  ``run:inside``'s example ``web-848cd4f64d-pvpr2``). That is Kubernetes'
  pod naming (Dev Center *Heroku Generations*: Fir is "powered by
  Kubernetes"): a hash of the pod template (here: release, type, size and
  command, so it stays while they do) and five random characters per dyno,
  both from Kubernetes' alphabet ``bcdfghjklmnpqrstvwxz2456789``, which every
  example above fits. One-off dynos: not documented; the sandbox names them
  the same way (``run-<hash>-<5>``, as a third-party test golden records a
  Fir one-off's ``DYNO``: ``run-nss86zptrv-7fpx8``), the release phase's
  ``release-<hash>-<5>``.

Not modelled (no source found that says how): telemetry drains,
``heroku run:inside``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

#: Fir apps' stack: the schema names no id, this one is the sandbox's.
CNB_STACK = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, "stack:cnb")), "name": "cnb"}
#: The base image a CNB build's image starts from (the schema's example
#: ``heroku/heroku:22-cnb``; the sandbox's stack is Heroku-24).
BASE_IMAGE = "heroku/heroku:24-cnb"
#: Fir dynos run on ARM (Dev Center *Migrating Apps from Cedar Spaces to Fir
#: Spaces*: "Fir dynos currently run on ARM-based Graviton processors").
ARCHITECTURE = "arm64"
#: The artifact type of an image in a release's ``artifacts``: the schema's
#: only example is ``slug``; Heroku's word for an image is not documented.
IMAGE_ARTIFACT = "oci-image"
#: Fir's sizes, (name, vCPUs, memory GB) read off their names (heroku/cli
#: 11.10.0 ``dist/commands/ps/type.js`` ``COST_MONTHLY``).
SIZES = tuple((name, int(c), float(m)) for name, c, m in (
    re.fullmatch(r"(dyno-(\d+)c-([\d.]+)gb)", n).groups() for n in (
        "dyno-1c-0.5gb", "dyno-1c-4gb", "dyno-1c-8gb", "dyno-2c-1gb", "dyno-2c-4gb",
        "dyno-2c-8gb", "dyno-2c-16gb", "dyno-4c-8gb", "dyno-4c-16gb", "dyno-4c-32gb",
        "dyno-8c-16gb", "dyno-8c-32gb", "dyno-8c-64gb", "dyno-16c-32gb",
        "dyno-16c-64gb", "dyno-16c-128gb", "dyno-32c-64gb")))
#: A Fir app's size when none is asked for (not documented; see above).
DEFAULT_SIZE = "dyno-1c-0.5gb"
#: Kubernetes' alphabet for generated names (no vowels, no 0/1/3).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
LAUNCHER = re.compile(r"^\s*launcher(\s+|$)")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def is_fir(doc: dict | None) -> bool:
    """An app (or space, pipeline) of the Fir generation."""
    return ((doc or {}).get("generation") or {}).get("name") == "fir"


def generation_name(doc: dict | None) -> str:
    """``fir`` or ``cedar``: the generation of an app (or space, pipeline)."""
    return "fir" if is_fir(doc) else "cedar"


def runnable(release: dict | None) -> str | None:
    """The id of what a release runs: its slug, or its image (whose content
    the sandbox keeps as a slug of the same id, never listed as one)."""
    release = release or {}
    return (release.get("slug") or release.get("oci_image") or {}).get("id")


def release_fields(app: dict, slug: dict | None) -> dict:
    """A new release's artifact fields on ``app``: a slug on Cedar, an
    image on Fir (``slug`` null)."""
    if slug is None:
        return {"slug": None, "artifacts": [], **({"oci_image": None} if is_fir(app) else {})}
    if slug.get("_oci"):
        return {"slug": None, "oci_image": {"id": slug["id"]},
                "artifacts": [{"type": IMAGE_ARTIFACT, "id": slug["id"]}]}
    return {"slug": {"id": slug["id"]}, "artifacts": [{"type": "slug", "id": slug["id"]}]}


def check_artifact(app: dict, slug: dict) -> None:
    """Refuse a slug on a Fir app and an image on a Cedar app (changelog
    3075). The wording is the sandbox's."""
    from herotasks_sandbox.platform import invalid
    if is_fir(app) and not slug.get("_oci"):
        raise invalid(f"{app['name']} is a Fir-generation app: release an OCI image "
                      "(oci_image), not a slug; slugs are for Cedar apps (classic "
                      "buildpacks).")
    if not is_fir(app) and slug.get("_oci"):
        raise invalid(f"{app['name']} is a Cedar-generation app: release a slug, not "
                      "an OCI image; images are for apps that use Cloud Native "
                      "Buildpacks (Fir).")


def image(slug: dict) -> dict:
    """The ``oci-image`` document of an image (stored as its slug)."""
    digest = "sha256:" + (slug.get("checksum") or "").partition(":")[2].lower()
    if not DIGEST.match(digest):
        digest = "sha256:" + hashlib.sha256(slug["id"].encode()).hexdigest()
    process_types = {
        name: {"name": name, "display_cmd": command,
               "command": f"/cnb/process/{name}", "working_dir": "/workspace",
               "default": name == "web"}
        for name, command in (slug.get("process_types") or {}).items()}
    return {
        "id": slug["id"], "base_image_name": BASE_IMAGE,
        "base_top_layer": "sha256:" + hashlib.sha256(BASE_IMAGE.encode()).hexdigest(),
        "commit": slug.get("commit") or "",
        "commit_description": slug.get("commit_description") or "",
        "image_repo": f"{slug.get('_app_id')}/builds", "digest": digest,
        "stack": dict(CNB_STACK), "process_types": process_types,
        "buildpacks": [{"id": b, "version": "sandbox", "homepage": None}
                       for b in slug.get("_buildpacks") or ()],
        "architecture": ARCHITECTURE,
        "created_at": slug["created_at"], "updated_at": slug["updated_at"],
        "deleted_at": slug.get("deleted_at"),
    }


def find_image(slugs: list[dict], app: dict, identity: str,
               releases: list[dict]) -> dict | None:
    """``app``'s image by id or digest (``oci-image`` identity), else None:
    one built on it, or one a release of it runs (a promotion's)."""
    released = {runnable(r) for r in releases}
    for slug in slugs:
        if slug.get("_oci") and (slug.get("_app_id") == app["id"]
                                 or slug["id"] in released) and (
                identity == slug["id"] or identity == image(slug)["digest"]):
            return slug
    return None


def launched(app: dict, kind: str, command: str) -> tuple[str, bool]:
    """What a dyno runs, and whether it gets the buildpacks' environment.

    Cedar: always (``.profile.d``). Fir: a process type and the release
    phase start through the launcher; a one-off only when its command
    begins with ``launcher`` (which the sandbox strips: it is the launcher).
    """
    if not is_fir(app):
        return command, True
    if kind == "one-off":
        if LAUNCHER.match(command):
            return LAUNCHER.sub("", command, count=1), True
        return command, False
    return command, True


def log_params(app: dict, params: dict[str, Any]) -> dict[str, Any]:
    """A Fir app's log session: no history, always a tail."""
    if is_fir(app):
        return {**params, "lines": 0, "tail": True}
    return params


def check_coupling(app: dict, pipeline: dict, apps: list[dict]) -> str:
    """The generation ``pipeline`` has once ``app`` joins it; refuse an app
    of the other generation (the wording is the sandbox's)."""
    from herotasks_sandbox.platform import invalid
    gen = (app.get("generation") or {}).get("name") or "cedar"
    held = {(a.get("generation") or {}).get("name") or "cedar" for a in apps}
    if held and gen not in held:
        other = held.pop()
        raise invalid(f"{app['name']} is a {gen.title()}-generation app and the pipeline "
                      f"{pipeline['name']} holds {other.title()} apps: a pipeline's apps "
                      "are all of one generation.")
    return gen


def check_size(app: dict, size: dict) -> None:
    """Refuse a size of the other generation (the wording is the sandbox's)."""
    from herotasks_sandbox.platform import invalid
    gen = generation_name(app)
    if size["generation"]["name"] != gen:
        raise invalid(f"{size['name']} is a {size['generation']['name'].title()} dyno "
                      f"size and {app['name']} is a {gen.title()}-generation app: use "
                      f"one of its generation's sizes (GET /apps/{app['name']}/"
                      "available-dyno-sizes).")


def template_hash(*parts: str) -> str:
    """Ten characters that stay while ``parts`` (release, type, size,
    command) do: Kubernetes' pod-template hash, in its alphabet."""
    n = int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:16], "big")
    out = []
    for _ in range(10):
        n, r = divmod(n, len(NAME_ALPHABET))
        out.append(NAME_ALPHABET[r])
    return "".join(out)


def dyno_name(ptype: str, template: str, taken: set[str], rand: Any) -> str:
    """``<type>-<template>-<5 random chars>``, none of ``taken``."""
    while True:
        name = f"{ptype}-{template}-" + "".join(rand.choice(NAME_ALPHABET)
                                                for _ in range(5))
        if name not in taken:
            return name


def dyno_type_of(name: str) -> str:
    """The process type a dyno name begins with: ``web`` of ``web.1`` and of
    ``web-848cd4f64d-pvpr2``."""
    m = re.fullmatch(r"(.+)-[0-9a-z]+-[0-9a-z]{5}", name)
    return m[1] if m else name.split(".")[0]
