"""The Heroku Platform API v3, as herotasks needs it: one ``requests.Session``.

Everything goes through :class:`HerokuAPI`, which tests and the engine build with
:func:`make_api` (the one factory, like twine's ``create_repository``).

Why not heroku3 (installed, 5.2.1): it is wrong exactly where a deploy must be
right (each point checked against a stub of the API):
its ``Release`` model drops ``output_stream_url`` and ``eligible_for_rollback``
and it has no release-by-id call, so release-phase waits and rollbacks cannot be
built on it; ``rollback()`` returns the *oldest* release of a desc-ordered list
rather than the one it created; ``slug()`` drops ``process_types`` (needed to see
a release phase); maintenance/feature "off" send ``0`` instead of ``false``;
resize sends ``size`` instead of ``dyno_size`` and cannot be batched with scale;
it has no pipelines, couplings or promotions; its attached run trusts only a
bundled CA and speaks a different rendezvous line; errors come out as bare
``requests.HTTPError`` with Heroku's id/message buried in ``e.response``; 206 lists
print to stdout. It would be safe for app info, config vars and account only, and
those are three one-line GETs here. A second client (with its own auth, retries,
TLS trust and base-URL monkeypatch) for three GETs is more to test and reason about
than it saves, so herotasks does not use it at all.

Retries: urllib3's ``Retry`` on the session's adapter, made per request from
one table, :data:`RETRY_POLICY` (see :func:`retry_statuses`). A request is
sent again only when it is known not to have taken effect, or when taking
effect twice changes nothing more:

- connect errors, any method: no byte reached Heroku;
- 429, any method: Heroku refused the call without acting on it; the wait is
  ``Retry-After`` when given, else the time one rate-limit token takes to
  come back when ``RateLimit-Remaining`` says none is left (and before that,
  with fewer than :data:`RATE_RESERVE` tokens left, every call is paced to
  the refill rate so the account's pool stops shrinking);
- 409 on ``POST /apps/{app}/dynos``: the runtime does not see a fresh release
  yet (the official CLI retries it);
- 5xx and answers lost after sending (read timeout, dropped connection): only
  for methods that are safe to repeat. Our PATCHes set absolute state
  (``maintenance: true``, ``quantity: 0``), so they are in that set; POST is
  not: for a POST these raise :class:`herotasks.errors.OutcomeUnknown` so the
  caller looks before it undoes or repeats. A caller that knows a POST is
  safe to repeat passes ``idempotent=True``.
"""

from __future__ import annotations

import codecs
import contextvars
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    InvalidHeader,
    MaxRetryError,
    ResponseError,
)
from urllib3.util import Retry

from herotasks import __version__
from herotasks.adapters import auth, git
from herotasks.adapters._out import Output, as_writer
from herotasks.errors import ApiError, ConfigError, HerotasksError, OutcomeUnknown

log = logging.getLogger(__name__)

ACCEPT = "application/vnd.heroku+json; version=3"
#: Methods whose request, sent twice, changes nothing more than sent once.
REPEATABLE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"})
SERVER_ERRORS = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class RetryRule:
    """Answers that may be asked again, for which requests, and why.

    :param statuses: the HTTP statuses this rule retries.
    :param methods: the methods it applies to; None for every method.
    :param path: a regular expression the whole path must match; None: any.
    :param why: the reason, with the Heroku source that says so.
    """

    statuses: frozenset[int]
    methods: frozenset[str] | None
    path: str | None
    why: str

    def applies(self, method: str, path: str, idempotent: bool = False) -> bool:
        if self.methods is not None and method not in self.methods:
            # A caller-vouched POST counts as repeatable, nothing more.
            if not (idempotent and self.methods is REPEATABLE_METHODS):
                return False
        return self.path is None or re.fullmatch(self.path, path) is not None


#: The one retry policy. Connect errors (nothing was sent) are retried for
#: every request; answers lost after sending only for REPEATABLE_METHODS.
RETRY_POLICY: tuple[RetryRule, ...] = (
    RetryRule(
        frozenset({429}), None, None,
        "rate limit: Heroku refused the call without acting on it and takes"
        " it again once a token is back (Dev Center, Platform API Reference,"
        " Rate Limits)",
    ),
    RetryRule(
        frozenset({409}), frozenset({"POST"}), r"/apps/[^/]+/dynos",
        "the dyno runtime does not see a fresh release yet and started"
        " nothing; heroku/cli src/lib/run/dyno.ts retries it",
    ),
    RetryRule(
        SERVER_ERRORS, REPEATABLE_METHODS, None,
        "a server error says nothing about whether the change was made, so"
        " only requests that are safe to repeat are sent again (RFC 9110"
        " 9.2.2)",
    ),
)


def retry_statuses(method: str, path: str, idempotent: bool = False) -> set[int]:
    """The statuses :data:`RETRY_POLICY` retries for this request."""
    method = method.upper()
    return {
        status
        for rule in RETRY_POLICY
        if rule.applies(method, path, idempotent)
        for status in rule.statuses
    }


class HerokuRetry(Retry):
    """urllib3's ``Retry`` with Heroku's rate-limit manners.

    - Only the policy's statuses are retried: plain ``Retry`` also retries any
      413/429/503 that carries ``Retry-After``, which would repeat a POST
      whose 503 does not say it was not applied.
    - A 429 waits ``Retry-After`` if given, else at least the time one token
      takes to come back when ``RateLimit-Remaining`` is 0 (or missing);
      asking again at once would only be refused again.
    - A ``Retry-After`` longer than :attr:`RETRY_AFTER_MAX` is not waited for:
      the error comes back at once, saying how long Heroku asked for.
    """

    #: Seconds for one rate-limit token to come back (~75 a minute).
    TOKEN_SECONDS = 60 / 75
    #: Seconds before asking again after a 409 (a release the runtime does
    #: not see yet: "very short-lived", heroku/cli run/dyno.ts, which asks
    #: again at once): a short first pause, then a second each.
    CONFLICT_FIRST = 0.25
    CONFLICT_SECONDS = 1.0
    #: The longest ``Retry-After`` (seconds) a call waits for.
    RETRY_AFTER_MAX = 60
    #: How waiting is done; tests record instead.
    pause = staticmethod(time.sleep)

    def for_request(self, method: str, path: str, idempotent: bool) -> "HerokuRetry":
        """This retry, narrowed to what the policy allows for one request."""
        repeatable = idempotent or method in REPEATABLE_METHODS
        return self.new(
            status_forcelist=frozenset(retry_statuses(method, path, idempotent)),
            allowed_methods=frozenset({method}),
            # After the request went out, only a repeatable one is resent.
            read=self.read if repeatable else False,
        )

    def is_retry(
        self, method: str, status_code: int, has_retry_after: bool = False
    ) -> bool:
        return self._is_method_retryable(method) and status_code in self.status_forcelist

    def increment(self, method=None, url=None, response=None, error=None,
                  _pool=None, _stacktrace=None):  # type: ignore[override]
        if response is not None:
            asked = self._retry_after(response)
            if asked is not None and asked > self.RETRY_AFTER_MAX:
                raise MaxRetryError(  # hands the response back (raise_on_status off)
                    _pool, url, ResponseError(f"Retry-After {asked:g}s is too long")
                )
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response=None) -> None:  # type: ignore[override]
        wait = self.get_backoff_time()
        if response is not None:
            asked = self._retry_after(response)
            if asked is not None:
                wait = asked
            elif response.status == 429:
                left = (response.headers.get("RateLimit-Remaining") or "0").strip()
                if left == "0":
                    wait = max(wait, self.TOKEN_SECONDS)
            elif response.status == 409:
                # the runtime needs a moment to see the release: asking
                # again at once is refused again (a request spent)
                seen = sum(1 for h in self.history if h.status == 409)
                wait = max(wait, self.CONFLICT_FIRST if seen <= 1
                           else self.CONFLICT_SECONDS)
            if response.status == 429:
                log.warning("Heroku's API rate limit is reached; asking again in %.1fs",
                            wait)
        if wait > 0:
            self.pause(wait)

    def _retry_after(self, response) -> float | None:
        try:
            return self.get_retry_after(response)
        except InvalidHeader:  # a garbled header is no instruction
            return None


#: (connect, read) seconds for one API call.
DEFAULT_TIMEOUT = (10.0, 60.0)
#: Heroku's largest page; paging still follows ``Next-Range`` beyond it.
PAGE_MAX = 1000
LIST_RANGE = f"id ..; max={PAGE_MAX}"

# The hosts the token may go to (see resolve_api_url): one of these domains or
# a subdomain of one, or exactly one of the loopback names. The same lists as
# @heroku-cli/command api-client.js ALLOWED_HEROKU_DOMAINS / LOCALHOST_DOMAINS.
_HEROKU_DOMAINS = ("heroku.com", "herokai.com", "herokuspace.com", "herokudev.com")
_LOOPBACK_NAMES = ("localhost", "127.0.0.1")

# Set for the duration of one call (its Retry narrowed by the policy); read by
# _RetryAdapter. A context variable is per thread, so concurrent calls on one
# session do not interfere.
_retry_override: contextvars.ContextVar[Retry | None] = contextvars.ContextVar(
    "herotasks_retry_override", default=None
)


class _RetryAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose ``Retry`` each call can set (see for_request).

    ``HTTPAdapter.send`` reads ``self.max_retries`` per request, so a property
    is the one seam that lets a single call differ without a second session.
    """

    @property  # type: ignore[override]
    def max_retries(self) -> Retry:
        return _retry_override.get() or self._max_retries

    @max_retries.setter
    def max_retries(self, value: Retry) -> None:
        self._max_retries = value


def make_session(
    retries: int = 4, cabundle: str | None = None, *, backoff_factor: float = 0.5
) -> requests.Session:
    """The one ``requests.Session`` herotasks talks to Heroku with.

    :param retries: attempts after the first, per kind of failure.
    :param cabundle: PEM file to verify TLS with instead of the system trust
        (the sandbox's CA); None keeps requests' default.
    :param backoff_factor: urllib3 exponential backoff base (tests use 0).
    """
    # The session-wide default (e.g. output streams); API calls narrow it per
    # request from RETRY_POLICY.
    retry = HerokuRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=backoff_factor,
        status_forcelist=frozenset(retry_statuses("GET", "/")),
        allowed_methods=REPEATABLE_METHODS,
        respect_retry_after_header=True,
        # Hand back the last error response so its Heroku id/message is shown.
        raise_on_status=False,
    )
    adapter = _RetryAdapter(max_retries=retry)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update(
        {"Accept": ACCEPT, "User-Agent": f"herotasks/{__version__}"}
    )
    if cabundle:
        # HerokuAPI also passes this per request: a session-level ``verify`` loses
        # to REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in the environment (requests#3829).
        session.verify = cabundle
    return session


class _BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer`` for the API's own origin only.

    An auth object rather than a session header for two reasons: requests
    replaces a header-set Authorization with ``~/.netrc`` Basic auth whenever
    ``session.auth`` is empty (which would send the wrong account's token), and
    output-stream URLs on other hosts must not receive the token (the CLI also
    only authorises Heroku and loopback hosts).
    """

    def __init__(self, token: str, origin: str) -> None:
        self._token = token
        self._origin = origin

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if _origin(request.url or "") == self._origin:
            request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "<BearerAuth ********>"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()


def _path(*segments: object) -> str:
    return "".join("/" + quote(str(s), safe="") for s in segments)


class HerokuAPI:
    """Typed calls to the Heroku Platform API; returns parsed JSON.

    :param base_url: e.g. ``https://api.heroku.com`` or the sandbox's URL.
    :param token: API token; kept out of every repr, log line and error.
    :param session: from :func:`make_session` (a fresh default one if None).
    :param dry_run: send GETs (they change nothing) but only log anything else,
        returning None for it.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        session: requests.Session | None = None,
        *,
        dry_run: bool = False,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session if session is not None else make_session()
        self.session.auth = _BearerAuth(token, _origin(self.base_url))
        self._token = token
        self.dry_run = dry_run
        self.timeout = timeout
        #: Platform API requests sent so far (each costs one of the account's
        #: rate-limit tokens); output streams are not API requests.
        self.requests = 0
        #: Heroku's clock (its last ``Date`` header, epoch seconds), for
        #: ages Heroku judges by its own time (release retention)
        self.server_time: float | None = None

    def __repr__(self) -> str:
        return f"HerokuAPI({self.base_url!r}, dry_run={self.dry_run})"

    def git_env(self) -> dict[str, str]:
        """Environment for ``git push`` to Heroku's git with this API's token and
        CA bundle (:func:`herotasks.adapters.git.push_env`), so callers never
        handle the token themselves."""
        verify = self.session.verify
        return git.push_env(self._token, verify if isinstance(verify, str) else None)

    # -- plumbing -----------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        variant: str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
        missing_ok: bool = False,
    ) -> Any:
        """One API call; the parsed JSON body (None for an empty body).

        :param variant: Accept variant, e.g. ``"sdk"`` for ``version=3.sdk``.
        :param idempotent: allow retrying a POST (the caller vouches for it).
        :param missing_ok: return None on 404 instead of raising.
        :raises ApiError: Heroku answered with an error or could not be reached.
        """
        method = method.upper()
        if self.dry_run and method not in ("GET", "HEAD"):
            log.info("would %s %s %s", method, path, _describe(path, body))
            return None
        response = self._send(method, path, body, variant, headers, idempotent)
        if response.status_code == 404 and missing_ok:
            return None
        self._check(response, method, path, body, idempotent)
        return self._json(response, method, path)

    def get_list(
        self,
        path: str,
        *,
        range: str | None = LIST_RANGE,
        follow: bool = True,
        variant: str | None = None,
    ) -> list[Any]:
        """A list resource, following ``206`` + ``Next-Range`` to the end.

        :param range: the first ``Range`` header; None sends none (for lists
            whose items have no ``id``, such as buildpack installations).
        :param follow: False stops after the first page (a ``max=N`` query).
        """
        items: list[Any] = []
        header = range
        while True:
            extra = {"Range": header} if header else None
            response = self._send("GET", path, None, variant, extra, False)
            self._check(response, "GET", path)
            page = self._json(response, "GET", path)
            if not isinstance(page, list):
                raise ApiError(
                    f"expected a list from GET {path}, got {type(page).__name__}",
                    "the API URL may point at something that is not Heroku",
                )
            items.extend(page)
            next_range = response.headers.get("Next-Range")
            if response.status_code != 206 or not next_range or not follow:
                return items
            if next_range == header:  # a server that repeats itself: stop
                return items
            header = next_range

    def _send(
        self,
        method: str,
        path: str,
        body: Any,
        variant: str | None,
        headers: Mapping[str, str] | None,
        idempotent: bool,
    ) -> requests.Response:
        url = self.base_url + path
        sent = dict(headers or {})
        if variant:
            sent["Accept"] = f"{ACCEPT}.{variant}"
        token = None
        retry = self.session.get_adapter(url).max_retries
        if isinstance(retry, HerokuRetry):
            token = _retry_override.set(retry.for_request(method, path, idempotent))
        self.requests += 1
        try:
            response = self.session.request(
                method,
                url,
                json=body,
                headers=sent,
                timeout=self.timeout,
                verify=self.session.verify,
            )
        except requests.exceptions.SSLError:
            raise ApiError(
                f"TLS verification failed for {self.base_url}",
                "point herotasks.api.cabundle (or HEROTASKS_CA_BUNDLE) at its CA",
                request=f"{method} {path}",
            ) from None
        except requests.RequestException as exc:
            if _never_sent(exc):
                raise ApiError(
                    f"cannot reach {self.base_url}: {type(exc).__name__}",
                    "check the network and HEROKU_HOST / herotasks.api.url",
                    request=f"{method} {path}",
                ) from None
            if not (idempotent or method in REPEATABLE_METHODS):
                raise OutcomeUnknown(
                    f"no answer from {self.base_url} ({type(exc).__name__})"
                    " after the request was sent",
                    _UNKNOWN_HINT,
                    method=method,
                    path=path,
                    body=body,
                ) from None
            raise ApiError(
                f"no answer from {self.base_url}: {type(exc).__name__}",
                "Heroku may be slow or down; retry later (https://status.heroku.com)",
                request=f"{method} {path}",
            ) from None
        finally:
            if token is not None:
                _retry_override.reset(token)
        # each retry urllib3 made was one more request to Heroku
        retries = getattr(response.raw, "retries", None)
        self.requests += len(getattr(retries, "history", None) or ())
        log.debug("%s %s -> %s", method, path, response.status_code)
        try:
            self.server_time = parsedate_to_datetime(response.headers["Date"]).timestamp()
        except (KeyError, TypeError, ValueError):
            pass
        for name in ("X-Heroku-Warning", "Warning-Message"):
            if response.headers.get(name):
                log.warning("Heroku: %s", response.headers[name])
        _pace(response)
        return response

    def _check(
        self,
        response: requests.Response,
        method: str,
        path: str,
        body: Any = None,
        idempotent: bool = False,
    ) -> None:
        if response.status_code < 400:
            return
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            error_id = data.get("id")
            message = str(data.get("message") or "")
        else:
            error_id = None
            text = response.text.strip()
            message = text.splitlines()[0][:200] if text else ""
        message = auth.redact(message or response.reason or "error", [self._token])
        status = response.status_code
        request_id = response.headers.get("Request-Id")
        if status >= 500 and not (idempotent or method in REPEATABLE_METHODS):
            raise OutcomeUnknown(
                message,
                _UNKNOWN_HINT,
                method=method,
                path=path,
                body=body,
                status=status,
                id=error_id,
                request_id=request_id,
            )
        raise ApiError(
            message,
            _hint(status, error_id, response.headers.get("Retry-After")),
            status=status,
            id=error_id,
            request_id=request_id,
            request=f"{method} {path}",
        )

    def _json(self, response: requests.Response, method: str, path: str) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"{method} {path} answered something that is not JSON",
                "the API URL may point at something that is not Heroku",
                status=response.status_code,
            ) from None

    # -- account and apps ---------------------------------------------------

    def account(self) -> dict:
        """The token's account (``id``, ``email``): the cheapest auth check."""
        return self.request("GET", "/account")

    def apps(self) -> list[dict]:
        """Every app the token can see (to find leftover scratch apps)."""
        return self.get_list("/apps")

    def app(self, name: str) -> dict:
        return self.request("GET", _path("apps", name))

    def create_app(
        self, name: str, stack: str | None = None, region: str | None = None,
        team: str | None = None, space: str | None = None,
    ) -> dict | None:
        """A personal app (``POST /apps``) or, with ``team``, a team app
        (``POST /teams/apps``, the schema's "Team App: Create"), in ``space``
        when given (a Private Space's region is the space's: no ``region``)."""
        body = {"name": name, "stack": stack, "region": region}
        if team:
            team_body = {**body, "team": team, "space": space}
            if space:
                team_body.pop("region")
            return self.request("POST", "/teams/apps",
                                {k: v for k, v in team_body.items() if v})
        return self.request("POST", "/apps", {k: v for k, v in body.items() if v})

    def collaborators(self, app: str) -> list[dict]:
        """``GET /apps/{app}/collaborators`` (schema "Collaborator: List")."""
        return self.get_list(_path("apps", app, "collaborators"))

    def add_collaborator(self, app: str, user: str) -> dict | None:
        """``POST /apps/{app}/collaborators {user, silent}``: share a personal
        app with ``user`` (an email), without Heroku's notification mail."""
        return self.request("POST", _path("apps", app, "collaborators"),
                            {"user": user, "silent": True})

    def delete_app(self, name: str, *, missing_ok: bool = False) -> dict | None:
        """Delete an app. ``missing_ok`` makes "already gone" a success, which a
        retried DELETE (first answer lost) would otherwise report as 404."""
        return self.request("DELETE", _path("apps", name), missing_ok=missing_ok)

    def set_maintenance(self, app: str, on: bool) -> dict | None:
        return self.request("PATCH", _path("apps", app), {"maintenance": bool(on)})

    def feature(self, app: str, name: str) -> dict:
        return self.request("GET", _path("apps", app, "features", name))

    def set_feature(self, app: str, name: str, enabled: bool) -> dict | None:
        return self.request(
            "PATCH", _path("apps", app, "features", name), {"enabled": bool(enabled)}
        )

    # -- formation, config, buildpacks --------------------------------------

    def formation(self, app: str) -> list[dict]:
        return self.get_list(_path("apps", app, "formation"))

    def update_formation(
        self, app: str, updates: Iterable[Mapping[str, Any]]
    ) -> list[dict] | None:
        """Batch-update process types in one call (all or nothing).

        Each update is ``{type, quantity, size}``; a formation item as returned by
        :meth:`formation` (``dyno_size: {name}``) works too, so a recorded
        formation can be put back verbatim. Sent as the schema wants it:
        integer ``quantity`` and ``dyno_size: {name}``.
        """
        body = {"updates": [_formation_update(u) for u in updates]}
        return self.request("PATCH", _path("apps", app, "formation"), body)

    def config_vars(self, app: str) -> dict[str, str]:
        return self.request("GET", _path("apps", app, "config-vars"))

    def update_config_vars(
        self, app: str, mapping: Mapping[str, str | None]
    ) -> dict[str, str] | None:
        """Set config vars; a None value deletes that var."""
        return self.request("PATCH", _path("apps", app, "config-vars"), dict(mapping))

    def addons(self, app: str) -> list[dict]:
        """The add-ons attached to ``app``, each with its ``config_vars``."""
        return self.get_list(_path("apps", app, "addons"))

    def buildpacks(self, app: str) -> list[dict]:
        return self.get_list(_path("apps", app, "buildpack-installations"), range=None)

    def set_buildpacks(self, app: str, urls: Iterable[str]) -> list[dict] | None:
        body = {"updates": [{"buildpack": url} for url in urls]}
        return self.request("PUT", _path("apps", app, "buildpack-installations"), body)

    # -- releases, slugs, builds --------------------------------------------

    def releases(self, app: str, limit: int | None = None) -> list[dict]:
        """Releases newest first; ``limit`` asks for just the newest N."""
        size = min(limit, PAGE_MAX) if limit else PAGE_MAX
        items = self.get_list(
            _path("apps", app, "releases"),
            range=f"version ..; max={size}, order=desc",
            follow=limit is None or limit > PAGE_MAX,
        )
        return items[:limit] if limit else items

    def release(self, app: str, id_or_version: str | int) -> dict:
        return self.request("GET", _path("apps", app, "releases", id_or_version))

    def current_release(self, app: str) -> dict | None:
        """The release the app runs now (``current``), or None for a new app.

        Newer releases can be failed or pending, so look past the first one;
        a server without ``current`` falls back to the newest succeeded one.
        """
        recent = self.releases(app, limit=25)
        if len(recent) == 25 and not any(r.get("current") for r in recent):
            recent = self.releases(app)
        for release in recent:
            if release.get("current"):
                return release
        return next((r for r in recent if r.get("status") == "succeeded"), None)

    def create_release(
        self, app: str, slug_id: str, description: str | None = None
    ) -> dict | None:
        body = {"slug": slug_id}
        if description:
            body["description"] = description
        return self.request("POST", _path("apps", app, "releases"), body)

    def rollback(self, app: str, release_id: str) -> dict | None:
        """Roll back to ``release_id`` (a release **uuid**, not a slug); the new
        release that results is returned."""
        return self.request(
            "POST", _path("apps", app, "releases"), {"release": release_id}
        )

    def wait_release(
        self, app: str, release_id: str, timeout: float,
        pauses: Iterable[float] | None = None,
    ) -> dict:
        """Poll a release until it is no longer ``pending`` (release phase done).

        :param pauses: seconds between looks (every 2 s when None; a caller
            waiting long passes a growing schedule, herotasks.core.poll).
        :raises HerotasksError: still pending after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        pauses = iter(pauses if pauses is not None else itertools.repeat(2.0))
        while True:
            release = self.release(app, release_id)
            if release.get("status") != "pending":
                return release
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HerotasksError(
                    f"release v{release.get('version', '?')} of {app} is still"
                    f" pending after {timeout:g}s",
                    "its release phase is still running: check `heroku releases"
                    f" -a {app}` or raise herotasks.timeouts.release",
                )
            time.sleep(min(next(pauses), remaining))

    def slug(self, app: str, slug_id: str) -> dict:
        return self.request("GET", _path("apps", app, "slugs", slug_id))

    def oci_image(self, app: str, image_id: str) -> dict:
        """A Fir build's OCI image (the schema answers ``Info`` with an array
        of images: the first)."""
        found = self.request("GET", _path("apps", app, "oci-images", image_id))
        return (found[0] if isinstance(found, list) and found else found) or {}

    def builds(self, app: str) -> list[dict]:
        """Builds newest first (sorted here by ``created_at``: build ids are
        uuids, so the server's id order says nothing about age)."""
        items = self.get_list(_path("apps", app, "builds"))
        return sorted(items, key=lambda b: b.get("created_at") or "", reverse=True)

    # -- dynos ----------------------------------------------------------------

    def create_dyno(
        self,
        app: str,
        command: str,
        *,
        attach: bool,
        env: Mapping[str, str] | None = None,
        size: str | None = None,
        type: str = "run",
        time_to_live: int | None = None,
    ) -> dict | None:
        """Start a one-off dyno; with ``attach`` its ``attach_url`` is the
        rendezvous address (see :mod:`herotasks.adapters.rendezvous`)."""
        body: dict[str, Any] = {"command": command, "attach": bool(attach), "type": type}
        if env:
            body["env"] = dict(env)
        if size:
            body["size"] = size
        if time_to_live is not None:
            body["time_to_live"] = int(time_to_live)
        return self.request("POST", _path("apps", app, "dynos"), body)

    def dynos(self, app: str) -> list[dict]:
        return self.get_list(_path("apps", app, "dynos"))

    def restart_dynos(self, app: str) -> Any:
        return self.request("DELETE", _path("apps", app, "dynos"))

    # -- pipelines ------------------------------------------------------------

    def pipeline_coupling(self, app: str) -> dict | None:
        """The app's pipeline coupling, or None when it is in no pipeline."""
        return self.request(
            "GET", _path("apps", app, "pipeline-couplings"), missing_ok=True
        )

    def couple(self, pipeline_id: str, app: str, stage: str) -> dict | None:
        body = {"app": app, "pipeline": pipeline_id, "stage": stage}
        return self.request("POST", "/pipeline-couplings", body)

    def promote(
        self, pipeline_id: str, source_app_id: str, target_app_ids: Iterable[str],
        release_id: str | None = None,
    ) -> dict | None:
        """Promote the source's ``release_id`` (None: Heroku takes the source
        app's current release, whatever it runs by then)."""
        source: dict[str, Any] = {"app": {"id": source_app_id}}
        if release_id:
            source["release"] = {"id": release_id}
        body = {
            "pipeline": {"id": pipeline_id},
            "source": source,
            "targets": [{"app": {"id": t}} for t in target_app_ids],
        }
        return self.request("POST", "/pipeline-promotions", body)

    def promotion_targets(self, promotion_id: str) -> list[dict]:
        return self.get_list(_path("pipeline-promotions", promotion_id, "promotion-targets"))

    # -- output streams -------------------------------------------------------

    def stream(
        self,
        url: str,
        out: Output,
        *,
        attempts: int = 30,
        poll: float = 1.0,
        idle_timeout: float = 600.0,
    ) -> bool:
        """Copy an ``output_stream_url`` (build or release phase) to ``out``.

        Follows the stream until the server closes it. A 404 means "not ready
        yet" (the CLI treats it the same way), so it is retried ``attempts``
        times ``poll`` seconds apart. The stream is a courtesy (the build or
        release ``status`` is the truth), so a stream that never appears or
        breaks logs a warning and returns False rather than failing the deploy.
        Both ``text/plain`` and ``text/event-stream`` bodies are understood.
        """
        write = as_writer(out)
        url = urljoin(self.base_url + "/", url)
        for _ in range(max(attempts, 1)):
            try:
                response = self.session.get(
                    url,
                    stream=True,
                    timeout=(self.timeout[0], idle_timeout),
                    verify=self.session.verify,
                )
            except requests.RequestException as exc:
                log.warning("output stream unavailable: %s", type(exc).__name__)
                return False
            with response:
                if response.status_code == 404:
                    time.sleep(poll)
                    continue
                if response.status_code >= 400:
                    log.warning("output stream answered HTTP %s", response.status_code)
                    return False
                try:
                    _copy_stream(response, write)
                except requests.RequestException as exc:
                    log.warning("output stream broke off: %s", type(exc).__name__)
                    return False
                return True
        log.warning("output stream never became available: %s", _origin(url))
        return False


def _copy_stream(response: requests.Response, write: Any) -> None:
    """Write a streamed body as it arrives.

    ``raw.read1`` returns whatever bytes are already there, so a slow build shows
    its lines live even when the server does not use chunked encoding
    (``iter_content`` would wait for a full buffer or the end).
    """
    content_type = response.headers.get("Content-Type", "")
    # requests assumes ISO-8859-1 for text/* without a charset; logs are UTF-8.
    encoding = response.encoding if "charset" in content_type else "utf-8"
    decoder = codecs.getincrementaldecoder(encoding or "utf-8")("replace")
    events = content_type.startswith("text/event-stream")
    pending = ""
    while True:
        data = response.raw.read1(65536, decode_content=True)
        text = decoder.decode(data or b"", final=not data)
        if events:
            pending += text
            *lines, pending = pending.split("\n")
            for line in lines:
                _write_event_line(line.rstrip("\r"), write)
        elif text:
            write(text)
        if not data:
            break
    if events and pending:
        _write_event_line(pending, write)


def _write_event_line(line: str, write: Any) -> None:
    # Server-sent events: only "data:" lines carry output; "id:", "event:" and
    # ":" comments are bookkeeping.
    if line.startswith("data:"):
        data = line[5:]
        write((data[1:] if data.startswith(" ") else data) + "\n")


def _formation_update(update: Mapping[str, Any]) -> dict[str, Any]:
    if not update.get("type"):
        raise ConfigError(f"formation update without a process type: {dict(update)}")
    out: dict[str, Any] = {"type": update["type"]}
    quantity = update.get("quantity")
    if quantity is not None:
        # Only absolute counts: int("+1") would silently turn the CLI's relative
        # "+1" into 1.
        if isinstance(quantity, bool) or not str(quantity).strip().isdigit():
            raise ConfigError(
                f"dyno quantity for {update['type']} must be a whole number,"
                f" not {quantity!r}"
            )
        out["quantity"] = int(quantity)
    size = update.get("size") or (update.get("dyno_size") or {}).get("name")
    if size:
        out["dyno_size"] = {"name": size}
    return out


def _describe(path: str, body: Any) -> str:
    """A dry-run log rendering of ``body`` that never shows a config value."""
    if body is None:
        return ""
    if path.endswith("/config-vars") and isinstance(body, dict):
        body = {k: None if v is None else "***" for k, v in body.items()}
    elif isinstance(body, dict) and "env" in body:
        body = {**body, "env": {k: "***" for k in body["env"]}}
    return json.dumps(body, sort_keys=True)


#: Rate-limit tokens left to the account's other clients (the CLI, CI): below
#: this, each call waits one token's refill first.
RATE_RESERVE = 100


def _pace(response: requests.Response) -> None:
    """Honour ``RateLimit-Remaining`` before Heroku has to refuse anything.

    The pool is the account's, shared with every tool using it, and our polls
    (release phase, build, boot) could otherwise spend it all; paced at the
    refill rate (~75 a minute) the pool stops shrinking. A missing or odd
    header (a server other than Heroku) changes nothing.
    """
    left = (response.headers.get("RateLimit-Remaining") or "").strip()
    if left.isdigit() and int(left) < RATE_RESERVE and response.status_code != 429:
        log.info("Heroku's API rate limit: %s calls left; pacing to its refill rate",
                 left)
        HerokuRetry.pause(HerokuRetry.TOKEN_SECONDS)


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request failed before any byte of it reached a server.

    Only connection set-up failures (refused, unreachable, no DNS, connect
    timeout) and requests that could not even be built qualify; anything
    after that (read timeout, a connection dropped mid-exchange, a TLS
    handshake cut off) may have reached Heroku.
    """
    if isinstance(exc, (requests.exceptions.ConnectTimeout,
                        requests.exceptions.InvalidURL,
                        requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema,
                        requests.exceptions.InvalidHeader)):
        return True
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):
        inner = inner.reason
    # NewConnectionError (refused, DNS) is a ConnectTimeoutError in urllib3 2.
    return isinstance(inner, ConnectTimeoutError)


#: The hint of every OutcomeUnknown (the call itself is in the line already).
_UNKNOWN_HINT = ("it may or may not have taken effect, so it was not sent again:"
                 " check the app (heroku releases / heroku ps) before repeating"
                 " or undoing it")


def _hint(status: int, error_id: str | None,
          retry_after: str | None = None) -> str | None:
    if status == 401:
        if os.environ.get("HEROKU_API_KEY"):
            return "the token in HEROKU_API_KEY is invalid or expired; replace it"
        return auth.LOGIN_HINT
    if status == 403:
        return "check that this account has access to the app"
    if status == 429:
        if retry_after and retry_after.strip().isdigit():
            return (f"the API rate limit is spent; Heroku asks to wait"
                    f" {retry_after.strip()}s, then retry")
        return "the API rate limit is spent; wait a few minutes and retry"
    if status >= 500:
        return "Heroku is having trouble; retry later (https://status.heroku.com)"
    return None


def resolve_api_url(host: str | None = None, *, source: str = "HEROKU_HOST") -> str:
    """The API base URL (scheme, host and port) from ``HEROKU_HOST``.

    Forms, as the CLI reads them (``@heroku-cli/command`` ``vars.js``): a URL
    starting with ``http`` is the API itself; anything else is a domain and
    the API is ``https://api.<domain>``.

    The host decides where the Bearer token goes, so it is parsed and compared
    whole, never searched for a substring (the CLI's own ``isValidHerokuHost``
    lets ``https://evil.example/localhost`` through): a Heroku domain or a
    subdomain of one, or exactly ``localhost`` / ``127.0.0.1`` (the two names
    the CLI sends its token to, ``api-client.js``). Where the CLI would warn and
    fall back to heroku.com we refuse, because a typo'd sandbox host would
    otherwise send a deploy to the real Heroku. Also refused: plain http off
    loopback (the token in clear text), credentials, and a path, query or
    fragment (the CLI drops them silently; ``/`` alone is fine).

    :param source: what to name in the error (``herotasks.api.url`` for a
        configured URL).
    :raises ConfigError: one line saying what is wrong with the URL.
    """
    if host is None:
        host = os.environ.get("HEROKU_HOST", "")
    host = host.strip()
    if not host:
        return auth.DEFAULT_API_URL
    fix = f"fix {source} or unset it to use api.heroku.com"
    if not re.match(r"^https?://", host, re.IGNORECASE):
        if not re.fullmatch(r"[A-Za-z0-9.-]+", host) or not _is_heroku_domain(host):
            raise ConfigError(
                f"{source} {host!r} is neither a Heroku domain nor localhost",
                "give a domain such as heroku.com, or a URL such as"
                " https://127.0.0.1:PORT for the sandbox",
            )
        return f"https://api.{host.lower().rstrip('.')}"
    parts = urlsplit(host)
    name = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{source} {host!r} has an invalid port", fix) from None
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"{source} must not carry a user or password",
            "the token comes from HEROKU_API_KEY or ~/.netrc; remove the user part",
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(
            f"{source} {host!r} has a path, query or fragment",
            "give only scheme, host and port, e.g. https://api.heroku.com",
        )
    loopback = name in _LOOPBACK_NAMES
    if not (loopback or _is_heroku_domain(name)):
        raise ConfigError(
            f"{source} {host!r} is neither a Heroku domain nor localhost", fix
        )
    scheme = parts.scheme.lower()
    if scheme != "https" and not loopback:
        raise ConfigError(
            f"{source} {host!r} would send the token unencrypted",
            "use https:// (plain http is only for localhost and 127.0.0.1)",
        )
    return f"{scheme}://{name}" + (f":{port}" if port else "")


def _is_heroku_domain(name: str) -> bool:
    name = name.lower().rstrip(".")
    return any(name == d or name.endswith("." + d) for d in _HEROKU_DOMAINS)


def make_api(
    url: str | None = None,
    token: str | None = None,
    cabundle: str | None = None,
    retries: int = 4,
    dry_run: bool = False,
) -> HerokuAPI:
    """Build the :class:`HerokuAPI` for the given settings (the one factory).

    :param url: API base URL; None means ``HEROKU_HOST`` or api.heroku.com.
    :param token: None means ``HEROKU_API_KEY`` or ``~/.netrc``, like the CLI.
    :param cabundle: None means ``HEROTASKS_CA_BUNDLE`` when set.
    :raises ApiError: no token can be found.
    :raises ConfigError: bad ``HEROKU_HOST`` or a CA bundle that does not exist.
    """
    base_url = resolve_api_url(url, source="herotasks.api.url") if url else (
        resolve_api_url())
    token = token or auth.find_token(base_url)
    if not token:
        raise ApiError(*auth.missing_token_message(base_url))
    cabundle = cabundle or os.environ.get("HEROTASKS_CA_BUNDLE") or None
    if cabundle and not os.path.isfile(cabundle):
        raise ConfigError(
            f"CA bundle {cabundle} does not exist",
            "fix herotasks.api.cabundle or HEROTASKS_CA_BUNDLE",
        )
    return HerokuAPI(base_url, token, make_session(retries, cabundle), dry_run=dry_run)
