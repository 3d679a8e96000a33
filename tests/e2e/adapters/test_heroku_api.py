"""HerokuAPI against a local scripted fake: retries, paging, errors, secrecy."""

from __future__ import annotations

import io
import itertools
import logging
import socket

import pytest

from herotasks.adapters.heroku_api import (
    ACCEPT,
    RETRY_POLICY,
    HerokuAPI,
    HerokuRetry,
    make_api,
    make_session,
    resolve_api_url,
    retry_statuses,
)
from herotasks.errors import ApiError, ConfigError, HerotasksError, OutcomeUnknown
from tests.support.fake_api import TOKEN, FakeHeroku, Reply

UNAVAILABLE = Reply(503, {"id": "unavailable", "message": "Service unavailable"})


def api_for(fake, retries=3, dry_run=False):
    session = make_session(retries=retries, backoff_factor=0)
    return HerokuAPI(fake.url, TOKEN, session, dry_run=dry_run)


# -- headers ----------------------------------------------------------------------


def test_sends_heroku_headers(fake):
    fake.add("GET", "/account", Reply(200, {"email": "a@example.com"}))
    assert api_for(fake).account() == {"email": "a@example.com"}
    headers = fake.seen[0].headers
    assert headers["Accept"] == ACCEPT
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["User-Agent"].startswith("herotasks/")


def test_accept_variant_per_call(fake):
    fake.add("GET", "/apps/x", Reply(200, {"name": "x"}))
    api_for(fake).request("GET", "/apps/x", variant="sdk")
    assert fake.seen[0].headers["Accept"] == ACCEPT + ".sdk"


def test_netrc_does_not_override_bearer(fake, no_auth_env):
    # requests would replace a header-set Authorization with netrc Basic auth.
    (no_auth_env / ".netrc").write_text("machine 127.0.0.1 login a password OTHER\n")
    (no_auth_env / ".netrc").chmod(0o600)
    fake.add("GET", "/account", Reply(200, {}))
    api_for(fake).account()
    assert fake.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


# -- retries ----------------------------------------------------------------------


def test_get_retries_on_503_then_succeeds(fake):
    fake.add("GET", "/apps/x", UNAVAILABLE, UNAVAILABLE, Reply(200, {"name": "x"}))
    assert api_for(fake).app("x") == {"name": "x"}
    assert len(fake.calls("GET", "/apps/x")) == 3


def test_requests_counts_every_request_sent_retries_included(fake):
    """Each request Heroku sees costs a rate-limit token: the deploy report's
    count must include the ones urllib3 retried."""
    fake.add("GET", "/apps/x", UNAVAILABLE, UNAVAILABLE, Reply(200, {"name": "x"}))
    fake.add("GET", "/apps/x/formation", Reply(200, []))
    api = api_for(fake)
    api.app("x")
    api.formation("x")
    assert api.requests == len(fake.seen) == 4


def test_patch_is_retried_because_it_sets_absolute_state(fake):
    fake.add("PATCH", "/apps/x", UNAVAILABLE, Reply(200, {"maintenance": True}))
    assert api_for(fake).set_maintenance("x", True) == {"maintenance": True}
    calls = fake.calls("PATCH", "/apps/x")
    assert len(calls) == 2
    assert all(c.body == {"maintenance": True} for c in calls)


def test_gives_up_after_retries_with_herokus_error(fake):
    fake.add("GET", "/apps/x", UNAVAILABLE)
    with pytest.raises(ApiError) as err:
        api_for(fake, retries=2).app("x")
    assert len(fake.calls("GET", "/apps/x")) == 3
    assert err.value.status == 503
    assert err.value.id == "unavailable"
    assert "retry later" in str(err.value)


def test_post_is_never_blindly_retried(fake):
    fake.add("POST", "/apps", UNAVAILABLE, Reply(201, {"name": "new"}))
    with pytest.raises(ApiError) as err:
        api_for(fake).create_app("new")
    assert err.value.status == 503
    assert len(fake.calls("POST", "/apps")) == 1


def test_post_marked_idempotent_is_retried_for_that_call_only(fake):
    fake.add("POST", "/filters/apps", UNAVAILABLE, Reply(200, [{"id": "a"}]))
    api = api_for(fake)
    got = api.request("POST", "/filters/apps", {"in": {"id": ["a"]}}, idempotent=True)
    assert got == [{"id": "a"}]
    assert len(fake.calls("POST", "/filters/apps")) == 2
    # The widened retry must not leak into the next plain POST.
    fake.add("POST", "/apps", UNAVAILABLE, Reply(201, {}))
    with pytest.raises(ApiError):
        api.create_app("y")
    assert len(fake.calls("POST", "/apps")) == 1


RATE_LIMITED = Reply(429, {"id": "rate_limit",
                           "message": "Your account reached the API rate limit"},
                     {"Retry-After": "3", "RateLimit-Remaining": "0"})


@pytest.fixture
def waits(monkeypatch):
    """The pauses the retry logic asks for, recorded instead of slept."""
    asked: list[float] = []
    monkeypatch.setattr(HerokuRetry, "pause", staticmethod(asked.append))
    return asked


def test_429_on_get_waits_retry_after_then_succeeds(fake, waits):
    fake.add("GET", "/apps/x", RATE_LIMITED, Reply(200, {"name": "x"}))
    assert api_for(fake).app("x") == {"name": "x"}
    assert len(fake.calls("GET", "/apps/x")) == 2
    assert waits == [3]


def test_429_on_post_is_retried_because_heroku_did_nothing(fake, waits):
    fake.add("POST", "/apps/x/releases", RATE_LIMITED, Reply(201, {"version": 4}))
    assert api_for(fake).create_release("x", "slug-1")["version"] == 4
    calls = fake.calls("POST", "/apps/x/releases")
    assert len(calls) == 2 and calls[0].body == calls[1].body == {"slug": "slug-1"}
    assert waits == [3]


def test_429_without_retry_after_waits_for_a_token_when_none_remain(fake, waits):
    # Heroku refills ~75 tokens a minute and documents no Retry-After: with
    # RateLimit-Remaining at 0, asking again at once is sure to fail again.
    empty = Reply(429, {"id": "rate_limit", "message": "slow down"},
                  {"RateLimit-Remaining": "0"})
    fake.add("PATCH", "/apps/x", empty, Reply(200, {"maintenance": True}))
    api_for(fake).set_maintenance("x", True)
    assert len(waits) == 1 and waits[0] >= 60 / 75


def test_429_asking_for_a_long_wait_gives_up_at_once(fake, waits):
    fake.add("GET", "/apps/x", Reply(429, {"id": "rate_limit", "message": "later"},
                                     {"Retry-After": "3600"}))
    with pytest.raises(ApiError) as err:
        api_for(fake).app("x")
    assert len(fake.calls("GET", "/apps/x")) == 1 and waits == []
    assert err.value.status == 429 and "3600" in str(err.value)


def test_a_nearly_empty_token_pool_paces_calls_to_the_refill_rate(fake, waits):
    # Polls (a release phase, a build) would otherwise drain the account's
    # pool and starve every other client of it; below the reserve each call
    # waits one token's refill, so the pool stops shrinking.
    fake.add("GET", "/apps/x", Reply(200, {"name": "x"},
                                     {"RateLimit-Remaining": "12"}))
    api = api_for(fake)
    api.app("x")
    api.app("x")
    assert waits == [HerokuRetry.TOKEN_SECONDS] * 2


def test_a_full_token_pool_does_not_slow_anything(fake, waits):
    fake.add("GET", "/apps/x", Reply(200, {"name": "x"},
                                     {"RateLimit-Remaining": "4400"}))
    api_for(fake).app("x")
    fake.add("GET", "/apps/y", Reply(200, {"name": "y"},
                                     {"RateLimit-Remaining": "soon"}))
    api_for(fake).app("y")
    assert waits == []


def test_409_on_dyno_create_is_retried(fake, waits):
    conflict = Reply(409, {"id": "conflict", "message": "release not found"})
    fake.add("POST", "/apps/x/dynos", conflict, conflict, Reply(201, {"name": "run.1"}))
    assert api_for(fake).create_dyno("x", "true", attach=False)["name"] == "run.1"
    assert len(fake.calls("POST", "/apps/x/dynos")) == 3


def test_a_first_409_on_dyno_create_is_asked_again_soon(fake, waits):
    # "very short-lived" (heroku/cli run/dyno.ts, which asks again at once):
    # the first pause is short, a second conflict waits the full second (a
    # dyno right after a release, as health.precheck's after the build,
    # should not lose a second to it)
    conflict = Reply(409, {"id": "conflict", "message": "release not found"})
    fake.add("POST", "/apps/x/dynos", conflict, conflict, Reply(201, {"name": "run.1"}))
    api_for(fake).create_dyno("x", "true", attach=False)
    assert waits == [HerokuRetry.CONFLICT_FIRST, HerokuRetry.CONFLICT_SECONDS]
    assert HerokuRetry.CONFLICT_FIRST < HerokuRetry.CONFLICT_SECONDS


def test_409_elsewhere_is_not_retried(fake):
    fake.add("POST", "/apps/x/releases", Reply(409, {"id": "conflict", "message": "no"}),
             Reply(201, {}))
    with pytest.raises(ApiError) as err:
        api_for(fake).create_release("x", "slug-1")
    assert err.value.status == 409 and not isinstance(err.value, OutcomeUnknown)
    assert len(fake.calls("POST", "/apps/x/releases")) == 1


def test_5xx_on_post_is_outcome_unknown_not_retried(fake):
    fake.add("POST", "/apps/x/releases", UNAVAILABLE, Reply(201, {}))
    with pytest.raises(OutcomeUnknown) as err:
        api_for(fake).create_release("x", "slug-1")
    assert len(fake.calls("POST", "/apps/x/releases")) == 1
    e = err.value
    assert (e.status, e.method, e.path) == (503, "POST", "/apps/x/releases")
    assert e.body == {"slug": "slug-1"}
    assert "may or may not" in str(e) and "\n" not in str(e)


def test_read_timeout_on_post_is_outcome_unknown_not_retried(fake):
    fake.add("POST", "/apps/x/releases", Reply(201, {"version": 2}, delay=2))
    api = api_for(fake)
    api.timeout = (5.0, 0.3)
    with pytest.raises(OutcomeUnknown) as err:
        api.create_release("x", "slug-1")
    assert len(fake.calls("POST", "/apps/x/releases")) == 1
    assert err.value.status is None and err.value.request == "POST /apps/x/releases"
    assert TOKEN not in str(err.value)


def test_dropped_connection_on_post_is_outcome_unknown(fake):
    fake.add("POST", "/apps/x/dynos", Reply(drop=True), Reply(201, {}))
    with pytest.raises(OutcomeUnknown):
        api_for(fake).create_dyno("x", "true", attach=False)
    assert len(fake.calls("POST", "/apps/x/dynos")) == 1


def test_read_timeout_on_get_is_retried(fake):
    fake.add("GET", "/apps/x", Reply(200, {}, delay=2), Reply(200, {"name": "x"}))
    api = api_for(fake)
    api.timeout = (5.0, 0.3)
    assert api.app("x") == {"name": "x"}
    assert len(fake.calls("GET", "/apps/x")) == 2


def test_connect_error_on_post_is_retried_and_not_outcome_unknown(monkeypatch):
    # Nothing listens: no byte reached a server, so repeating is safe.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seen: list[str] = []
    original = HerokuRetry.increment

    def counting(self, method=None, url=None, *args, **kwargs):
        seen.append(method)
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(HerokuRetry, "increment", counting)
    api = HerokuAPI(f"http://127.0.0.1:{port}", TOKEN, make_session(2, backoff_factor=0))
    with pytest.raises(ApiError) as err:
        api.create_release("x", "slug-1")
    assert not isinstance(err.value, OutcomeUnknown)
    assert seen == ["POST"] * 3 and "cannot reach" in str(err.value)


@pytest.mark.parametrize("method, path, statuses", [
    ("GET", "/apps/x", {429, 500, 502, 503, 504}),
    ("PATCH", "/apps/x/formation", {429, 500, 502, 503, 504}),
    ("POST", "/apps/x/releases", {429}),
    ("POST", "/apps/x/dynos", {409, 429}),
    ("POST", "/apps/x/dynos/run.1/actions/stop", {429}),
    ("DELETE", "/apps/x", {429, 500, 502, 503, 504}),
])
def test_retry_policy_by_method_and_path(method, path, statuses):
    assert retry_statuses(method, path) == statuses


def test_retry_policy_is_data_with_reasons():
    assert all(rule.why for rule in RETRY_POLICY)
    assert retry_statuses("POST", "/apps/x/releases", idempotent=True) == (
        retry_statuses("GET", "/apps/x"))


def test_unreachable_api_is_one_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api = HerokuAPI(f"http://127.0.0.1:{port}", TOKEN, make_session(1, backoff_factor=0))
    with pytest.raises(ApiError) as err:
        api.account()
    assert err.value.status is None
    assert "cannot reach" in str(err.value) and "HEROKU_HOST" in str(err.value)
    assert TOKEN not in str(err.value)


# -- paging -----------------------------------------------------------------------


def test_list_follows_206_next_range(fake):
    path = "/apps/x/formation"
    fake.add(
        "GET",
        path,
        Reply(206, [{"id": "a"}, {"id": "b"}], {"Next-Range": "id ]b..; max=2"}),
        Reply(200, [{"id": "c"}]),
    )
    assert [f["id"] for f in api_for(fake).formation("x")] == ["a", "b", "c"]
    first, second = fake.calls("GET", path)
    assert first.headers["Range"] == "id ..; max=1000"
    assert second.headers["Range"] == "id ]b..; max=2"


def test_releases_newest_first_with_limit_reads_one_page(fake):
    path = "/apps/x/releases"
    fake.add(
        "GET",
        path,
        Reply(206, [{"version": 9}, {"version": 8}], {"Next-Range": "version ]8..; max=2"}),
    )
    got = api_for(fake).releases("x", limit=2)
    assert [r["version"] for r in got] == [9, 8]
    (call,) = fake.calls("GET", path)
    assert call.headers["Range"] == "version ..; max=2, order=desc"


def test_current_release_skips_newer_failed_ones(fake):
    fake.add(
        "GET",
        "/apps/x/releases",
        Reply(200, [
            {"version": 5, "status": "failed", "current": False},
            {"version": 4, "status": "succeeded", "current": True},
        ]),
    )
    assert api_for(fake).current_release("x")["version"] == 4


def test_buildpacks_send_no_range(fake):
    fake.add("GET", "/apps/x/buildpack-installations", Reply(200, []))
    api_for(fake).buildpacks("x")
    assert "Range" not in fake.seen[0].headers


# -- errors -----------------------------------------------------------------------


def test_heroku_error_body_becomes_api_error(fake):
    fake.add(
        "GET",
        "/apps/nope",
        Reply(404, {"id": "not_found", "message": "Couldn't find that app."},
              {"Request-Id": "req-123"}),
    )
    with pytest.raises(ApiError) as err:
        api_for(fake).app("nope")
    e = err.value
    assert (e.status, e.id, e.message, e.request_id) == (
        404, "not_found", "Couldn't find that app.", "req-123")
    assert str(e) == "Couldn't find that app. (not_found, HTTP 404 on GET /apps/nope)"


def test_non_json_error_body(fake):
    fake.add("GET", "/account", Reply(400, "<html>\nBad gateway thing</html>",
                                      {"Content-Type": "text/html"}))
    with pytest.raises(ApiError) as err:
        api_for(fake).account()
    assert err.value.message == "<html>"
    assert err.value.id is None


def test_missing_ok_turns_404_into_none(fake):
    assert api_for(fake).pipeline_coupling("solo") is None


def test_401_hint_names_heroku_api_key(fake, monkeypatch):
    monkeypatch.setenv("HEROKU_API_KEY", "whatever")
    fake.add("GET", "/account", Reply(401, {"id": "unauthorized",
                                            "message": "Invalid credentials provided."}))
    with pytest.raises(ApiError) as err:
        api_for(fake).account()
    assert "HEROKU_API_KEY" in str(err.value)
    assert "\n" not in str(err.value)


# -- the token stays secret -------------------------------------------------------


def test_token_never_in_repr_errors_or_logs(fake, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 and requests log at DEBUG too
    fake.add(
        "GET",
        "/account",
        Reply(401, {"id": "unauthorized", "message": f"Bad token {TOKEN} given"}),
    )
    api = api_for(fake)
    with pytest.raises(ApiError) as err:
        api.account()
    assert TOKEN not in str(err.value)
    assert TOKEN not in repr(err.value)
    assert TOKEN not in err.value.message
    assert "Bad token" in err.value.message
    assert TOKEN not in repr(api) and TOKEN not in repr(api.session.auth)
    assert caplog.records, "expected some log output to check"
    assert TOKEN not in caplog.text


def test_token_not_sent_to_other_origins(fake):
    other = FakeHeroku()
    try:
        other.add("GET", "/out", Reply(200, "build log\n", {"Content-Type": "text/plain"}))
        buf = io.StringIO()
        assert api_for(fake).stream(other.url + "/out", buf) is True
        assert buf.getvalue() == "build log\n"
        assert "Authorization" not in other.seen[0].headers
    finally:
        other.close()


# -- dry run ----------------------------------------------------------------------


def test_dry_run_reads_but_sends_no_change(fake, caplog):
    caplog.set_level(logging.INFO, logger="herotasks")
    fake.add("GET", "/apps/x", Reply(200, {"name": "x", "maintenance": False}))
    api = api_for(fake, dry_run=True)
    assert api.app("x")["name"] == "x"
    assert api.set_maintenance("x", True) is None
    assert api.update_config_vars("x", {"SECRET_KEY": "hunter2", "OLD": None}) is None
    assert api.create_release("x", "slug-1") is None
    assert [s.method for s in fake.seen] == ["GET"]
    assert 'would PATCH /apps/x {"maintenance": true}' in caplog.text
    assert "SECRET_KEY" in caplog.text and "hunter2" not in caplog.text


# -- bodies -----------------------------------------------------------------------


def test_update_formation_sends_schema_shape(fake):
    fake.add("PATCH", "/apps/x/formation", Reply(200, []))
    api_for(fake).update_formation("x", [
        {"type": "worker", "quantity": "0", "size": "standard-1x"},
        # a formation item as GET returns it, put back verbatim
        {"type": "web", "quantity": 2, "dyno_size": {"id": "d1", "name": "standard-2x"},
         "command": "gunicorn"},
    ])
    assert fake.seen[0].body == {"updates": [
        {"type": "worker", "quantity": 0, "dyno_size": {"name": "standard-1x"}},
        {"type": "web", "quantity": 2, "dyno_size": {"name": "standard-2x"}},
    ]}


def test_update_formation_rejects_relative_quantity(fake):
    with pytest.raises(ConfigError):
        api_for(fake).update_formation("x", [{"type": "web", "quantity": "+1"}])
    assert fake.seen == []


def test_rollback_posts_release_uuid(fake):
    fake.add("POST", "/apps/x/releases", Reply(201, {"version": 10}))
    assert api_for(fake).rollback("x", "rel-uuid")["version"] == 10
    assert fake.seen[0].body == {"release": "rel-uuid"}


def test_promote_body(fake):
    fake.add("POST", "/pipeline-promotions", Reply(201, {"id": "p1"}))
    api_for(fake).promote("pipe", "src", ["t1", "t2"])
    assert fake.seen[0].body == {
        "pipeline": {"id": "pipe"},
        "source": {"app": {"id": "src"}},
        "targets": [{"app": {"id": "t1"}}, {"app": {"id": "t2"}}],
    }


def test_create_dyno_body(fake):
    fake.add("POST", "/apps/x/dynos", Reply(201, {"attach_url": "rendezvous://h:1/s"}))
    api_for(fake).create_dyno("x", "rake db:migrate", attach=True, env={"TERM": "dumb"})
    assert fake.seen[0].body == {
        "command": "rake db:migrate", "attach": True, "type": "run", "env": {"TERM": "dumb"}}


# -- waiting and streaming --------------------------------------------------------


def test_wait_release_until_not_pending(fake):
    path = "/apps/x/releases/r1"
    fake.add("GET", path, Reply(200, {"status": "pending"}), Reply(200, {"status": "pending"}),
             Reply(200, {"status": "succeeded", "version": 3}))
    done = api_for(fake).wait_release("x", "r1", timeout=30, pauses=itertools.repeat(0))
    assert done["status"] == "succeeded"
    assert len(fake.calls("GET", path)) == 3


def test_wait_release_times_out_with_a_clear_error(fake):
    fake.add("GET", "/apps/x/releases/r1", Reply(200, {"status": "pending", "version": 3}))
    with pytest.raises(HerotasksError, match="v3 of x is still pending"):
        api_for(fake).wait_release("x", "r1", timeout=0, pauses=itertools.repeat(0))


def test_stream_plain_chunks_and_waits_for_404(fake):
    fake.add("GET", "/streams/b1",
             Reply(404, {"id": "not_found", "message": "not yet"}),
             Reply(200, headers={"Content-Type": "text/plain"},
                   chunks=[b"-----> Building\n", "caf\u00e9 ".encode()[:4],
                           "caf\u00e9 ".encode()[4:], b"done\n"]))
    got: list[str] = []
    assert api_for(fake).stream(fake.url + "/streams/b1", got.append, poll=0) is True
    assert "".join(got) == "-----> Building\ncaf\u00e9 done\n"


def test_stream_event_stream(fake):
    fake.add("GET", "/streams/r1", Reply(200, headers={"Content-Type": "text/event-stream"},
             chunks=[b"id: 1\ndata: Running release", b" command\n\n: keepalive\ndata: ok\n\n"]))
    buf = io.StringIO()
    assert api_for(fake).stream("/streams/r1", buf) is True
    assert buf.getvalue() == "Running release command\nok\n"


def test_stream_that_never_appears_returns_false(fake):
    buf = io.StringIO()
    assert api_for(fake).stream(fake.url + "/gone", buf, attempts=2, poll=0) is False
    assert len(fake.calls("GET", "/gone")) == 2


# -- TLS ----------------------------------------------------------------------------


def test_tls_with_and_without_the_ca_bundle(server_tls, cabundle):
    fake = FakeHeroku(tls=server_tls)
    try:
        fake.add("GET", "/account", Reply(200, {"id": "u1"}))
        trusted = HerokuAPI(fake.url, TOKEN, make_session(0, cabundle))
        assert trusted.account() == {"id": "u1"}
        untrusted = HerokuAPI(fake.url, TOKEN, make_session(0))
        with pytest.raises(ApiError, match="TLS verification failed"):
            untrusted.account()
    finally:
        fake.close()


# -- make_api -----------------------------------------------------------------------


def test_make_api_without_token_tells_what_to_do(no_auth_env):
    with pytest.raises(ApiError) as err:
        make_api()
    assert "HEROKU_API_KEY" in str(err.value) and "heroku login" in str(err.value)


def test_make_api_resolves_host_token_and_bundle(no_auth_env, monkeypatch, cabundle):
    monkeypatch.setenv("HEROKU_HOST", "http://127.0.0.1:5999")
    monkeypatch.setenv("HEROKU_API_KEY", TOKEN)
    monkeypatch.setenv("HEROTASKS_CA_BUNDLE", cabundle)
    api = make_api(dry_run=True)
    assert api.base_url == "http://127.0.0.1:5999"
    assert api.session.verify == cabundle
    assert api.dry_run is True
    assert TOKEN not in repr(api)


def test_git_env_carries_token_and_bundle_for_git_only(cabundle):
    api = HerokuAPI("https://api.heroku.com", TOKEN, make_session(0, cabundle))
    env = api.git_env()
    assert env["HEROTASKS_GIT_TOKEN"] == TOKEN
    assert cabundle in env.values()
    plain = HerokuAPI("https://api.heroku.com", TOKEN, make_session(0)).git_env()
    assert "http.sslCAInfo" not in plain.values()


def test_make_api_rejects_missing_ca_bundle(no_auth_env):
    with pytest.raises(ConfigError, match="does not exist"):
        make_api(url="http://127.0.0.1:1", token="t", cabundle="/nonexistent/ca.pem")


@pytest.mark.parametrize("host, url", [
    ("", "https://api.heroku.com"),
    ("heroku.com", "https://api.heroku.com"),
    ("herokudev.com", "https://api.herokudev.com"),
    ("http://127.0.0.1:5000/", "http://127.0.0.1:5000"),
    ("https://localhost:8443", "https://localhost:8443"),
])
def test_resolve_api_url_like_the_cli(host, url):
    assert resolve_api_url(host) == url


def test_resolve_api_url_refuses_foreign_host():
    with pytest.raises(ConfigError, match="neither a Heroku domain nor localhost"):
        resolve_api_url("https://api.example.com")


# The host is parsed and compared whole: a loopback or Heroku name anywhere
# else in the URL (path, subdomain, user part) must not pass, or the Bearer
# token would go to that host.
@pytest.mark.parametrize("host", [
    "https://evil.example/localhost",
    "https://localhost.evil.example",
    "http://127.0.0.1.evil.example",
    "https://evil.example/127.0.0.1",
    "https://api.heroku.com.evil.example",
    "https://evilheroku.com",
    "https://localhost@evil.example",
    "https://evil.example#.heroku.com",
    "https://evil.example?x=.heroku.com",
    "evil.example/heroku.com",
    "localhost.evil.example",
])
def test_resolve_api_url_compares_the_whole_host(host):
    with pytest.raises(ConfigError) as err:
        resolve_api_url(host)
    assert "HEROKU_HOST" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("host, url", [
    # The CLI's check fails on the trailing slash and it falls back to its
    # default, which is this very URL: accept it as that.
    ("https://api.heroku.com/", "https://api.heroku.com"),
    ("HTTPS://API.Heroku.com", "https://api.heroku.com"),
    ("https://127.0.0.1:5443", "https://127.0.0.1:5443"),
    ("https://localhost:5443/", "https://localhost:5443"),
    ("http://localhost:5000", "http://localhost:5000"),
    ("https://api.staging.herokudev.com", "https://api.staging.herokudev.com"),
])
def test_resolve_api_url_accepts_exact_hosts(host, url):
    assert resolve_api_url(host) == url


@pytest.mark.parametrize("host, why", [
    ("http://api.heroku.com", "https"),            # the token in clear text
    ("https://user:pw@127.0.0.1:5000", "user"),    # credentials in the URL
    ("https://127.0.0.1:5000/v3", "path"),         # the CLI would drop it
    ("https://127.0.0.1:99999", "port"),
])
def test_resolve_api_url_refuses_urls_it_would_have_to_guess_at(host, why):
    with pytest.raises(ConfigError, match=why):
        resolve_api_url(host)


def test_make_api_checks_a_configured_url_like_heroku_host(no_auth_env):
    # herotasks.api.url receives the token just as HEROKU_HOST does.
    with pytest.raises(ConfigError, match="herotasks.api.url"):
        make_api(url="https://localhost.evil.example", token="t")
