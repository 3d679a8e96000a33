"""Sources, builds, slugs and buildpack installations: the sandbox's compile.

Heroku turns a source tarball into a *slug* (the compiled app, ready to
run) and releases it. The sandbox does the same with one compile function
for both ways in: a ``git push`` (``gitserver.py`` archives the pushed
commit into a blob) and ``POST /apps/{app}/builds`` (a tarball the client
uploaded to a ``POST /sources`` URL). Either way the input is a source tree
and the output is

- a slug document (commit, Procfile process types, checksum, size),
- the slug directory ``ROOT/slugs/<slug-id>/`` that dynos run in,
- a ``./app/...`` tarball blob behind the slug's ``blob.url``,
- and a release made through ``Platform.create_release``.

Detection follows Heroku's: the first language whose files the app has
(Ruby, Node.js, Python, in Heroku's order), else "No default language could
be detected". Python apps get a real build (``python_buildpack.py``: the
interpreter, their dependencies installed into the slug, collectstatic by
the buildpack's rule), and so do Ruby apps (``ruby_buildpack.py``: the
lock's gems into ``vendor/bundle``, a Rails app's assets:precompile unless
a sprockets manifest is committed, the buildpack's ``.profile.d`` defaults
and default process types). Node.js builds are modelled, not run (no npm
packages are installed). Every build but a Ruby one needs a Procfile; all
wait the configurable compile delay (``platform.delay("build")``) to model slow slug compiles.
The log uses Heroku's ``----->`` layout, because people and tools read it.

Sources are only ever read from the sandbox's own blob store: a build from
any other URL is refused, so a build can never send traffic off the machine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from isal import igzip

from . import fir, python_buildpack, ruby_buildpack
from .platform import (
    PROCESS_TYPE,
    STACK,
    UUID,
    Platform,
    PlatformError,
    invalid,
    new_id,
    not_found,
    now,
    stack_ref,
    stack_retired,
)

log = logging.getLogger("herotasks_sandbox")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
BLOB_PATH = re.compile(r"^/_sandbox/blobs/(?P<id>[0-9a-f]{8}(?:-[0-9a-f]{4}){3}"
                       r"-[0-9a-f]{12})$")
PROCFILE_LINE = re.compile(r"^([-\w]{1,128}):\s*(.*?)\s*$")

# Files that tell Heroku's buildpack detection which language an app is in,
# in the order Heroku tries the official buildpacks (each one's bin/detect):
# (description, buildpack name, marker files).
LANGUAGES = (
    ("Ruby", "heroku/ruby", ruby_buildpack.DETECT_FILES),
    ("Node.js", "heroku/nodejs", ("package.json",)),
    ("Python", "heroku/python", python_buildpack.DETECT_FILES),
)
#: Where uv keeps downloaded wheels across builds (and sandboxes, when set).
BUILD_CACHE_ENV = "HEROTASKS_SANDBOX_BUILD_CACHE"



class BuildFailed(Exception):
    """The compile failed for a reason the app's owner can fix; the message
    lines go to the build log, Heroku style (`` !     ...``)."""

    def __init__(self, *lines: str):
        super().__init__(lines[0] if lines else "build failed")
        self.lines = lines


class BuildLog:
    """The build's output, appended line by line so that the output stream
    and a ``git push`` in progress can follow it."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "a", encoding="utf-8")

    def write(self, line: str = "") -> None:
        self._f.write(line + "\n")
        self._f.flush()

    def header(self, text: str) -> None:
        self.write(f"-----> {text}")

    def info(self, text: str) -> None:
        self.write(f"       {text}")

    def error(self, text: str) -> None:
        self.write(f" !     {text}".rstrip())

    def close(self) -> None:
        self._f.close()


class Builder:
    """The API side of sources, builds and slugs, and the compile itself.

    Paths under the sandbox root:

    - ``blobs/<uuid>``: uploaded sources and slug tarballs (served by the
      server at ``/_sandbox/blobs/<uuid>``);
    - ``repos/<app-id>.git``: each app's bare git repository (by id, so a
      rename keeps the repository and a new app of an old name gets a new
      one, as on Heroku);
    - ``slugs/<slug-id>/``: compiled slugs, the directories dynos run in;
    - ``tmp/builds/<build-id>/``: a build's scratch space;
    - ``logs/builds/<build-id>.log``: build output.
    """

    def __init__(self, platform: Platform):
        self.platform = platform
        root = platform.root
        self.blobs = root / "blobs"
        self.repos = root / "repos"
        self.slugs = root / "slugs"
        self.scratch = root / "tmp" / "builds"
        self.logs = root / "logs" / "builds"
        for d in (self.blobs, self.repos, self.slugs, self.scratch, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        self._slug_lock = threading.Lock()
        self._recover()

    def _recover(self) -> None:
        """A build cut short by a sandbox restart can never finish: say so
        instead of leaving it ``pending`` forever, and drop its scratch."""
        for build in self.platform.store.find("build", status="pending"):
            self._log(build["id"], " !     The sandbox restarted during this build.")
            self._finish(build["id"], "failed")
        leftovers = [*self.scratch.iterdir(), *self.slugs.glob(".tmp-*"),
                     *self.repos.glob(".tmp-*")]
        for leftover in leftovers:
            shutil.rmtree(leftover, ignore_errors=True)

    # -- blobs and sources ------------------------------------------------------
    def blob_url(self, blob_id: str) -> str:
        return f"{self.platform.api_url}/_sandbox/blobs/{blob_id}"

    def blob_path(self, blob_id: str) -> Path:
        return self.blobs / blob_id

    def create_source(self) -> dict:
        """``POST /sources``: one URL to PUT a tarball to and GET it back
        (unguessable, like Heroku's presigned S3 URLs)."""
        url = self.blob_url(new_id())
        return {"source_blob": {"get_url": url, "put_url": url}}

    def _own_blob(self, url: Any) -> Path:
        """The blob file behind ``url``, which must be one of this sandbox's
        blob URLs: the sandbox fetches nothing from anywhere else."""
        if not isinstance(url, str) or not url:
            raise invalid("source_blob.url: required, the URL of a gzipped tarball "
                          "(get one from POST /sources and PUT the tarball there)")
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host not in LOOPBACK:
            raise invalid(
                f"source_blob.url: the sandbox never downloads from {host or url!r}; "
                "upload the tarball to a POST /sources put_url and build from its "
                "get_url")
        api = urlsplit(self.platform.api_url)
        m = BLOB_PATH.match(parts.path)
        try:
            port = parts.port
        except ValueError:
            port = None
        if m is None or port != api.port:
            raise invalid(
                f"source_blob.url: {url} is not a blob of this sandbox; upload the "
                "tarball to a POST /sources put_url and build from its get_url")
        return self.blob_path(m["id"])

    # -- builds -------------------------------------------------------------------
    def build_log_path(self, build_id: str) -> Path:
        return self.logs / f"{build_id}.log"

    def build_done(self, build_id: str) -> bool | None:
        """None: no such build; False: still running; True: finished."""
        build = self.platform.store.get("build", build_id)
        return None if build is None else build["status"] != "pending"

    def builds(self, app: dict) -> list[dict]:
        return self.platform.store.find("build", app_id=app["id"])

    def build(self, app: dict, build_id: str) -> dict:
        doc = self.platform.store.get("build", build_id) if UUID.match(build_id) else None
        if doc is None or doc["app"]["id"] != app["id"]:
            raise not_found("build")
        return doc

    def create_build(self, app: dict, body: dict) -> dict:
        """``POST /apps/{app}/builds``: compile a tarball from the blob store."""
        blob = body.get("source_blob")
        if not isinstance(blob, dict):
            raise invalid("source_blob: required, an object with the tarball's url")
        path = self._own_blob(blob.get("url"))
        buildpacks = _buildpack_list(body.get("buildpacks"))
        source_blob = {"checksum": blob.get("checksum"), "url": blob["url"],
                       "version": blob.get("version"),
                       "version_description": blob.get("version_description")}
        return self._start(app, source_blob, path, buildpacks)

    def start_git_build(self, app: dict, sha: str, git_env: dict[str, str]) -> dict:
        """Build commit ``sha`` of the app's repository, during the push.

        ``git_env`` carries the pre-receive hook's object directories: the
        pushed objects are still in git's quarantine, so ``git archive``
        must look there too. The archive becomes a source blob, so a git
        build looks like any other build in the API (``source_blob.url``,
        ``version`` = the sha).
        """
        env = {**git_base_env(self.repos), **git_env,
               "GIT_DIR": str(self.repo_path(app))}
        blob_id = new_id()
        tmp = self.blob_path(blob_id).with_suffix(".part")
        _git(env, "archive", "--format=tar.gz", "-o", str(tmp), sha)
        tmp.replace(self.blob_path(blob_id))
        source_blob = {"checksum": "SHA256:" + _sha256(self.blob_path(blob_id)),
                       "url": self.blob_url(blob_id), "version": sha,
                       # Heroku's git builds leave the slug's commit_description
                       # empty (a real api:release payload: "commit":
                       # "<full sha>", "commit_description": ""): the commit
                       # message is not there for clients to read.
                       "version_description": ""}
        return self._start(app, source_blob, self.blob_path(blob_id), None)

    def _start(self, app: dict, source_blob: dict, tarball: Path,
               buildpacks: list[dict] | None) -> dict:
        build_id, ts = new_id(), now()
        build = {
            "id": build_id, "app": {"id": app["id"]}, "buildpacks": buildpacks,
            "created_at": ts, "updated_at": ts, "status": "pending",
            # Not a schema property, but the List link's second Range field
            # (builds start as they are created).
            "started_at": ts,
            "output_stream_url":
                f"{self.platform.api_url}/_sandbox/streams/builds/{build_id}",
            "source_blob": source_blob,
            "stack": (app.get("build_stack") or STACK)["name"],
            "slug": None, "release": None, "user": self.platform.user(),
            "generation": ((app.get("generation") or {}).get("name") or "cedar"),
        }
        self.build_log_path(build["id"]).touch()
        self.platform.store.put("build", build, app_id=app["id"])
        self.platform.background(self._run, build, tarball)
        return build

    def _run(self, build: dict, tarball: Path) -> None:
        """The whole build, off the request: fetch, compile, release."""
        work = self.scratch / build["id"]
        out = BuildLog(self.build_log_path(build["id"]))
        status, slug, release, buildpacks = "failed", None, None, build["buildpacks"]
        try:
            app = self.platform.app(build["app"]["id"])
            tree = self._unpack_source(build, tarball, work)
            slug, buildpacks = self._compile(app, build, tree, out)
            out.header("Launching...")
            try:
                release = self.platform.create_release(app, slug["id"])
            except PlatformError as exc:
                raise BuildFailed(f"Release failed: {exc.message}") from None
            out.info(f"Released v{release['version']}")
            web_url = self.platform.app(app["id"]).get("web_url")
            if web_url:
                out.info(f"{web_url} deployed to Heroku")
            out.write()
            status = "succeeded"
        except BuildFailed as exc:
            for line in exc.lines:
                out.error(line)
        except PlatformError as exc:  # the app went away mid-build
            out.error(exc.message)
        except Exception:  # noqa: BLE001 - a sandbox bug must not hang the push
            log.exception("build %s crashed", build["id"])
            out.error("The sandbox failed while building (see ROOT/logs/server.log).")
        finally:
            out.close()
            shutil.rmtree(work, ignore_errors=True)
            self._finish(build["id"], status, slug=slug, release=release,
                         buildpacks=buildpacks)

    def _finish(self, build_id: str, status: str, *, slug: dict | None = None,
                release: dict | None = None,
                buildpacks: list[dict] | None = None) -> None:
        store = self.platform.store
        with store.transaction():
            build = store.get("build", build_id)
            if build is None:  # the app was destroyed meanwhile
                return
            build.update(status=status, updated_at=now(),
                         # Fir: null, "only applicable for Cedar-generation apps"
                         slug={"id": slug["id"]} if slug and not slug.get("_oci") else None,
                         release={"id": release["id"]} if release else None)
            if buildpacks is not None:
                build["buildpacks"] = buildpacks
            store.put("build", build, app_id=build["app"]["id"])

    def _log(self, build_id: str, line: str) -> None:
        out = BuildLog(self.build_log_path(build_id))
        out.write(line)
        out.close()

    def _unpack_source(self, build: dict, tarball: Path, work: Path) -> Path:
        blob = build["source_blob"]
        if not tarball.is_file():
            raise BuildFailed("Failed to download the source tarball: nothing was "
                              f"uploaded to {blob['url']}.",
                              "PUT the tarball to the source's put_url, then build.")
        checksum = blob.get("checksum")
        if checksum:
            algo, _, expected = checksum.partition(":")
            if algo.upper() != "SHA256":
                raise BuildFailed(f"Unsupported checksum {checksum!r}: "
                                  "use SHA256:<hex>.")
            if _sha256(tarball) != expected.lower():
                raise BuildFailed("The source tarball does not match "
                                  f"source_blob.checksum {checksum}.")
        tree = work / "src"
        tree.mkdir(parents=True)
        try:
            with tarfile.open(tarball, "r:*") as tar:
                tar.extractall(tree, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BuildFailed(f"The source is not a readable gzipped tarball: {exc}") from None
        # Tarballs from GitHub and the like wrap the app in one directory;
        # Heroku builds from inside it.
        entries = list(tree.iterdir())
        if len(entries) == 1 and entries[0].is_dir() and \
                not (tree / "Procfile").exists():
            return entries[0]
        return tree

    # -- the compile ------------------------------------------------------------
    def _compile(self, app: dict, build: dict, tree: Path,
                 out: BuildLog) -> tuple[dict, list[dict]]:
        """Source tree in, slug out (or ``BuildFailed``): the sandbox buildpack."""
        stack = (app.get("build_stack") or STACK)["name"]
        out.header(f"Building on the {stack.title()} stack")
        if stack_retired(stack):
            # Heroku's end-of-life FAQs: "No further builds (code deployments)
            # will be allowed" once a stack has ended; the words are
            # heroku-buildpack-python's lib/checks.sh ensure_supported_stack
            raise BuildFailed(f"Error: The '{stack}' stack is no longer supported.", "",
                              f"This buildpack no longer supports the '{stack}' stack "
                              "since it has", "reached its end-of-life:",
                              "https://devcenter.heroku.com/articles/stack"
                              "#stack-support-details", "",
                              "Upgrade to a newer stack to continue using this "
                              "buildpack.")
        lang, buildpacks = self._buildpack(app, build, tree, out)
        failed = f"Push rejected, failed to compile {lang + ' ' if lang else ''}app."
        defaults: dict[str, str] = {}
        try:
            # The Ruby buildpack's default process types stand in for a
            # missing Procfile (a web process for Rails and Rack apps).
            process_types = {} if lang == "Ruby" and not (tree / "Procfile").exists() \
                else _procfile(tree)
            self._compile_delay(out)
            if lang == "Python":
                self._python(app, build, tree, out)
            elif lang == "Ruby":
                defaults = self._ruby(app, build, tree, out)
        except BuildFailed as exc:
            raise BuildFailed(*exc.lines, "", failed) from None
        out.header("Discovering process types")
        if process_types:
            # Heroku pads the label to line up with the defaults' line.
            label = "Procfile declares types     ->" if defaults else \
                "Procfile declares types ->"
            out.info(f"{label} " + ", ".join(sorted(process_types)))
        elif lang == "Ruby":
            out.error("No Procfile detected, using the default web server.")
        if defaults:
            out.info("Default types for buildpack -> " + ", ".join(sorted(defaults)))
        process_types = {**defaults, **process_types}
        out.write()
        out.header("Compressing...")
        slug = self._store_slug(app, build, tree, process_types,
                                lang or "Procfile")
        out.info(f"Done: {_human_size(slug['size'])}")
        return slug, buildpacks

    def _buildpack(self, app: dict, build: dict, tree: Path,
                   out: BuildLog) -> tuple[str | None, list[dict]]:
        """Which language the app is, and the buildpacks that stand for it.

        The sandbox downloads no buildpack: a chosen official one names the
        language (and its detection must still pass, as on Heroku); any
        other gets the sandbox's Procfile-only build.
        """
        chosen = build["buildpacks"] or [
            {"url": b["url"], "name": b["name"]} for b in app.get("_buildpacks") or []]
        if chosen:
            names = [b.get("name") or b.get("url") for b in chosen]
            for name in names:
                out.header(f"Using buildpack: {name}")
            lang = next((desc for desc, bp, _ in LANGUAGES if bp in names), None)
            if lang is None:
                out.info("(the sandbox does not download buildpacks; it builds "
                         "with its own)")
            else:
                markers = next(m for desc, _, m in LANGUAGES if desc == lang)
                if not any((tree / m).exists() for m in markers):
                    bp = next(bp for desc, bp, _ in LANGUAGES if desc == lang)
                    raise BuildFailed(f"App not compatible with buildpack: {bp}")
                out.header(f"{lang} app detected")
            return lang, chosen
        for desc, bp, markers in LANGUAGES:
            if any((tree / m).exists() for m in markers):
                out.header(f"{desc} app detected")
                return desc, [{"url": bp, "name": bp}]
        raise BuildFailed(
            "No default language could be detected for this app.",
            "HINT: This occurs when Heroku cannot detect the buildpack to use "
            "for this application automatically.",
            "See https://devcenter.heroku.com/articles/buildpacks")

    def _compile_delay(self, out: BuildLog) -> None:
        """Model a slow slug compile (dependency install and the like)."""
        seconds = self.platform.delay("build")
        if seconds <= 0:
            return
        out.header(f"Installing dependencies (sandbox compile delay: {seconds:g}s)")
        start = time.monotonic()
        while (left := start + seconds - time.monotonic()) > 0:
            time.sleep(min(1.0, left))
            elapsed = min(time.monotonic() - start, seconds)
            out.info(f"... {elapsed:.1f}s of {seconds:g}s")

    def _python(self, app: dict, build: dict, tree: Path, out: BuildLog) -> None:
        """heroku/python: the interpreter and dependencies into the slug,
        then collectstatic (``python_buildpack.py``)."""
        cache = Path(os.environ.get(BUILD_CACHE_ENV) or self.platform.root / "cache")
        py = python_buildpack.PythonBuild(
            tree, self.platform.config_vars(app), cache_dir=cache,
            step=out.header, info=out.info, warn=out.error,
            source_version=build["source_blob"].get("version"))
        try:
            py.install()
            py.collectstatic()
        except python_buildpack.PythonBuildError as exc:
            raise BuildFailed(*exc.lines) from None

    def _ruby(self, app: dict, build: dict, tree: Path,
              out: BuildLog) -> dict[str, str]:
        """heroku/ruby: the lock's gems into the slug, Rails assets, the
        environment defaults (``ruby_buildpack.py``); returns the buildpack's
        default process types. The build cache (the generated
        SECRET_KEY_BASE) is per app, under the sandbox root."""
        rb = ruby_buildpack.RubyBuild(
            tree, self.platform.config_vars(app),
            cache_dir=self.platform.root / "cache" / "ruby" / app["id"],
            step=out.header, info=out.info, warn=out.error,
            source_version=build["source_blob"].get("version"), stack=STACK["name"])
        try:
            return rb.compile()
        except ruby_buildpack.RubyBuildError as exc:
            raise BuildFailed(*exc.lines) from None

    def _store_slug(self, app: dict, build: dict, tree: Path,
                    process_types: dict[str, str], description: str) -> dict:
        """The compiled tree becomes slug dir + ``./app`` tarball + document."""
        slug_id, blob_id = new_id(), new_id()
        blob = self.blob_path(blob_id)
        tmp = blob.with_suffix(".part")
        packed = pack_slug(tree, tmp)
        tmp.replace(blob)
        shutil.move(str(packed), str(self.slugs / slug_id))
        source = build["source_blob"]
        ts = now()
        slug = {
            "id": slug_id, "commit": source.get("version"),
            "commit_description": source.get("version_description"),
            "process_types": process_types,
            "checksum": "SHA256:" + _sha256(blob), "size": blob.stat().st_size,
            "stack": dict(app.get("build_stack") or STACK),
            "buildpack_provided_description": description,
            "blob": {"method": "get", "url": self.blob_url(blob_id)},
            "created_at": ts, "updated_at": ts, "deleted_at": None,
            "_blob_id": blob_id, "_app_id": app["id"],
        }
        if fir.is_fir(app):  # a Fir build makes an OCI image, not a slug (fir.py)
            slug.update(_oci=True, _buildpacks=[b.get("name") or b.get("url") for b in
                                                build.get("buildpacks") or ()])
        return self.platform.put_slug(slug)

    # -- slugs made through the API -----------------------------------------------
    def create_slug(self, app: dict, body: dict) -> dict:
        """``POST /apps/{app}/slugs``: a slug whose tarball the client PUTs to
        ``blob.url`` (``./app/...`` layout), released later by id."""
        stack = (stack_ref(body["stack"]) if body.get("stack") is not None
                 else dict(app.get("build_stack") or STACK))
        process_types = body["process_types"]
        for name in process_types:
            if not PROCESS_TYPE.match(name):
                raise invalid(f"process_types: {name!r} is not a process type name")
        blob_id, ts = new_id(), now()
        slug = {
            "id": new_id(), "commit": body.get("commit"),
            "commit_description": body.get("commit_description"),
            "process_types": dict(process_types), "checksum": body.get("checksum"),
            "size": None, "stack": stack,
            "buildpack_provided_description": body.get("buildpack_provided_description"),
            "blob": {"method": "get", "url": self.blob_url(blob_id)},
            "created_at": ts, "updated_at": ts, "deleted_at": None,
            "_blob_id": blob_id, "_app_id": app["id"],
        }
        self.platform.put_slug(slug)
        # Only the create response invites the upload, as on Heroku.
        return {**slug, "blob": {"method": "put", "url": slug["blob"]["url"]}}

    def destroy_slug(self, slug: dict) -> None:
        """Remove a slug's tarball and directory (release retention,
        ``Platform.retain``); its document stays, with ``deleted_at``."""
        if slug.get("_blob_id"):
            self.blob_path(slug["_blob_id"]).unlink(missing_ok=True)
        shutil.rmtree(self.slugs / slug["id"], ignore_errors=True)

    def slug_dir(self, slug_id: str) -> Path:
        """The directory dynos of ``slug_id`` run in.

        Compiled slugs have it from their build; a slug made through the API
        gets it here, on first use, from its uploaded tarball.
        """
        target = self.slugs / slug_id
        if target.is_dir():
            return target
        slug = self.platform.slug(slug_id)
        with self._slug_lock:
            if target.is_dir():
                return target
            tarball = self.blob_path(slug.get("_blob_id") or "")
            if not slug.get("_blob_id") or not tarball.is_file():
                raise invalid(f"Slug {slug_id} has no uploaded tarball: PUT the "
                              "slug's ./app tarball to its blob.url first.")
            tmp = self.slugs / f".tmp-{new_id()}"
            tmp.mkdir()
            try:
                with tarfile.open(tarball, "r:*") as tar:
                    tar.extractall(tmp, filter="data")
                root = tmp / "app" if (tmp / "app").is_dir() else tmp
                root.rename(target)
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise invalid(f"Slug {slug_id}: its tarball cannot be unpacked "
                              f"({exc}).") from None
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return target

    # -- buildpack installations --------------------------------------------------
    def buildpack_installations(self, app: dict) -> list[dict]:
        return [{"ordinal": i, "buildpack": {"url": b["url"], "name": b["name"]}}
                for i, b in enumerate(app.get("_buildpacks") or [])]

    def set_buildpacks(self, app: dict, updates: list[dict]) -> list[dict]:
        """``PUT /apps/{app}/buildpack-installations``: replace the list."""
        wanted = []
        for i, u in enumerate(updates):
            value = u.get("buildpack") if isinstance(u, dict) else None
            if not isinstance(value, str) or not value.strip():
                raise invalid(f"updates.{i}.buildpack: a buildpack name or URL")
            wanted.append({"url": value.strip(), "name": _buildpack_name(value.strip())})
        with self.platform.store.transaction():
            app = self.platform.app(app["id"])
            app["_buildpacks"] = wanted
            app["updated_at"] = now()
            self.platform.store.put("app", app)
        return self.buildpack_installations(app)

    # -- git repositories -----------------------------------------------------------
    def repo_path(self, app: dict) -> Path:
        return self.repos / f"{app['id']}.git"

    def app_renamed(self, app: dict) -> None:
        """Nothing moves: repositories are kept by app id, so the renamed app's
        new git URL reaches the same repository, as on Heroku."""

    def app_deleted(self, app: dict) -> None:
        """A destroyed app's repository goes with it (its slugs stay: another
        app may run them, as promotions do)."""
        shutil.rmtree(self.repo_path(app), ignore_errors=True)


# -- helpers ------------------------------------------------------------------------
def _procfile(tree: Path) -> dict[str, str]:
    path = tree / "Procfile"
    if not path.is_file():
        raise BuildFailed(
            "Procfile not found: this app has no Procfile in its root directory.",
            "The sandbox runs the processes a Procfile declares; add a Procfile",
            "(e.g. \"web: gunicorn myapp.wsgi\"), commit it and push again.")
    types: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        m = PROCFILE_LINE.match(line)
        if m and m[2] and not line.lstrip().startswith("#"):
            types[m[1]] = m[2]
    if not types:
        raise BuildFailed("Procfile declares no process types: each line must read "
                          "\"<type>: <command>\", e.g. \"web: gunicorn myapp.wsgi\".")
    return types


def _buildpack_list(value: Any) -> list[dict] | None:
    if not value:
        return None
    out = []
    for i, b in enumerate(value):
        url = (b.get("url") or b.get("name")) if isinstance(b, dict) else None
        if not isinstance(url, str) or not url:
            raise invalid(f"buildpacks.{i}: needs a url or a name")
        out.append({"url": url, "name": b.get("name") or _buildpack_name(url)})
    return out


def _buildpack_name(value: str) -> str:
    """Registry name for the official buildpacks' URLs and URNs."""
    m = re.match(r"^https?://github\.com/heroku/heroku-buildpack-([\w-]+?)(?:\.git)?/?$",
                 value)
    if m:
        return f"heroku/{m[1]}"
    if value.startswith("urn:buildpack:"):
        return value[len("urn:buildpack:"):]
    return value


def pack_slug(tree: Path, dest: Path) -> Path:
    """``tree`` as a slug tarball at ``dest``: a gzipped tar of ``./app/...``,
    as Heroku's own (Dev Center, "Creating Slugs from Scratch": ``tar czfv
    slug.tgz ./app``). Returns where the tree is now: moved, on the same file
    system, into a folder named ``app`` beside it, which tar archives as
    ``./app``.

    tar itself, not :mod:`tarfile`: a Django app's slug (its virtualenv,
    ~5,000 files, 67 MB) took 2.0 s of the sandbox's CPU through tarfile (1.4
    s of it Python per file). The gzip stream is ISA-L's (``isal.igzip``,
    which lets go of the GIL while it compresses): 0.3 s of CPU for that
    slug where ``gzip -1`` took 0.9 s, for a tarball 1% bigger, and no
    process of its own for the hundreds of small slugs the tests make.
    Level 1: the tarball is for download only; gzip's level 6 took twice the
    CPU of its level 1 for 15% less. No name and no time in the gzip header
    (``gzip -n``): the same tree makes the same bytes.

    GNU tar (the sandbox runs on Linux) exits 1 for a file whose status
    changed while it was read: the Python buildpack hardlinks the slug's
    packages from the shared uv cache (``UV_LINK_MODE``), so another build
    linking the same file changes its link count and ctime, never its
    bytes. That is not an error; 2 and up are.
    """
    holder = tree.parent / f".slug-{new_id()}"
    holder.mkdir()
    app = holder / "app"
    tree.rename(app)
    with open(dest, "wb") as out, tempfile.TemporaryFile() as errors:
        tar = subprocess.Popen(["tar", "-C", str(holder), "--warning=no-file-changed",
                                "-cf", "-", "./app"],
                               stdout=subprocess.PIPE, stderr=errors,
                               stdin=subprocess.DEVNULL)
        assert tar.stdout is not None
        try:
            with igzip.IGzipFile(filename="", mode="wb", compresslevel=1, fileobj=out,
                                 mtime=0) as packed:
                shutil.copyfileobj(tar.stdout, packed, 1 << 20)
        finally:
            tar.stdout.close()
            rc = tar.wait()
        if rc not in (0, 1):
            errors.seek(0)
            raise OSError("packing the slug failed: "
                          + errors.read().decode(errors="replace").strip())
    return app


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _human_size(size: int) -> str:
    """Like ``du -h``, as Heroku's "Done: 52.3M"."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f}M"
    return f"{max(size, 1) / 1024:.1f}K"


def git_base_env(home: Path) -> dict[str, str]:
    """A git environment free of the user's and the machine's git config
    (a global ``core.hooksPath`` would bypass the sandbox's hook)."""
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home),
            "LANG": "C.UTF-8", "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}


def _git(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(["git", *args], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise BuildFailed(f"git {args[0]} failed: "
                          f"{(done.stderr or done.stdout).strip() or done.returncode}")
    return done.stdout
