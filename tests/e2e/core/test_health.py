"""The watch after a release (core/health.py check): a fault that shows only
under traffic fails it at the first answer that is not as expected, not at
the watch's end; and the precheck's script, run here by bash."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest

from herotasks.core import health
from herotasks.core.config import Health
from herotasks.errors import HerotasksError


class FailsAfter:
    """An app whose path answers 200 for ``n`` requests, then 500."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.seen += 1
                self.send_response(200 if outer.seen <= outer.n else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


class Dynos:
    def __init__(self):
        self.looks = 0

    def dynos(self, app):
        self.looks += 1
        return [{"name": "web.1", "type": "web", "state": "up",
                 "release": {"version": 7}}]


class Clock:
    def __init__(self):
        self.now = 0.0
        self.naps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.now += seconds


@pytest.fixture
def app():
    served = FailsAfter(3)
    yield served
    served.server.shutdown()


def test_the_watch_fails_at_the_first_failing_answer(app):
    clock, api = Clock(), Dynos()
    with pytest.raises(HerotasksError, match="answered HTTP 500, not 200, 3 times in "
                                             "a row during the watch of v7"):
        health.check(api, {"name": "tally", "web_url": app.url},
                     Health(path="/up", watch=60), 7, out=lambda _: None,
                     clock=clock, sleep=clock.sleep)
    # the 4th request failed first: seen within seconds, not at the watch's end
    assert app.seen == 6 and clock.now <= 5.0


def test_one_failed_answer_in_the_watch_is_a_blip(app):
    app.n = 10**6
    clock, api = Clock(), Dynos()
    real_ask = health._ask
    answers = iter([None, "ReadTimeout"])  # the 2nd GET of the watch times out

    def ask(url, h, *, cabundle):
        return next(answers, None) if app.seen >= 1 else real_ask(url, h,
                                                                  cabundle=cabundle)

    with mock.patch.object(health, "_ask", ask):
        line = health.check(api, {"name": "tally", "web_url": app.url},
                            Health(path="/up", watch=10), 7, out=lambda _: None,
                            clock=clock, sleep=clock.sleep)
    assert "kept answering it for 10s" in line


def test_a_healthy_release_is_watched_for_the_whole_watch(app):
    app.n = 10**6
    clock, api = Clock(), Dynos()
    line = health.check(api, {"name": "tally", "web_url": app.url},
                        Health(path="/up", watch=10), 7, out=lambda _: None,
                        clock=clock, sleep=clock.sleep)
    assert "kept answering it for 10s" in line and clock.now >= 10
    # the dynos looked at every 5 s (the API's rate limit), the path each second
    assert api.looks <= 3 and app.seen >= 10


# -- the precheck's script, run by bash as a one-off dyno would ----------------------

WEB_OK = "exec python3 -m http.server $PORT --bind 127.0.0.1"


def precheck(web: str, h: Health, *, asks: bool = True,
             boot: float = 60) -> tuple[int, list[str], str]:
    command = health.precheck_command(web, h, boot=boot, host="tally.example",
                                      asks=asks)
    with socket_port() as port, tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(["bash", "-c", command], capture_output=True,
                              text=True, timeout=120,
                              env={**os.environ, "PORT": str(port), "TMPDIR": tmp})
        # the script leaves nothing behind, passed or failed
        assert os.listdir(tmp) == [], done.stdout
    return done.returncode, health.precheck_found(done.stdout), done.stdout


class socket_port:
    """A free loopback port number (as the dyno's $PORT)."""

    def __enter__(self) -> int:
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc) -> None:
        pass


def test_precheck_passes_a_web_process_that_answers():
    code, found, _ = precheck(WEB_OK, Health(path="/", smoke="test -n \"$PORT\""))
    assert code == 0
    assert found[0].startswith("bound $PORT in ")
    assert found[1].startswith("GET / answered 200 in ")
    assert "health.smoke passed" in found and found[-1].startswith("ok in ")


def test_precheck_fails_a_web_process_that_dies_and_shows_its_output():
    code, found, out = precheck("echo 'no module named app'; exit 4", Health())
    assert code == 1
    assert found[-1].startswith("FAILED: the web process exited with status 4 "
                                "before binding $PORT")
    assert "  web| no module named app" in out


def test_precheck_fails_a_web_process_that_never_binds():
    code, found, _ = precheck("sleep 30", Health(), boot=2)
    assert code == 1 and "did not bind $PORT within 2s" in found[-1]


def test_precheck_fails_a_failing_smoke_command():
    code, found, out = precheck(WEB_OK, Health(smoke="echo broken; exit 2"))
    assert code == 1
    assert found[-1].startswith("FAILED: health.smoke `echo broken; exit 2` exited 2")
    assert "  smoke| broken" in out


def test_precheck_only_boots_when_asked_not_to_judge_answers():
    # /missing answers 404: judged, it would fail; before a migration it is not
    assert precheck(WEB_OK, Health(path="/missing", timeout=1))[0] == 1
    code, found, _ = precheck(WEB_OK, Health(path="/missing", smoke="false"),
                              asks=False)
    assert code == 0 and not any("GET" in f or "smoke" in f for f in found)


def test_an_app_answering_wrong_from_the_start_fails_within_seconds(app):
    app.n = 0  # every answer is a 500: it answers, so it is not warming up
    clock, api = Clock(), Dynos()
    with pytest.raises(HerotasksError, match="answered HTTP 500, not 200, 3 times "
                                             "in a row"):
        health.check(api, {"name": "tally", "web_url": app.url},
                     Health(path="/up", timeout=60, watch=10), 7,
                     out=lambda _: None, clock=clock, sleep=clock.sleep)
    assert app.seen == 3 and clock.now < 5


def test_no_answer_yet_is_waited_for_up_to_the_timeout():
    clock, api = Clock(), Dynos()
    with pytest.raises(HerotasksError, match="for 3s"):
        # nothing listens there: no answer, as while dynos still boot
        health.check(api, {"name": "tally", "web_url": "http://127.0.0.1:9"},
                     Health(path="/up", timeout=3, watch=0), 7,
                     out=lambda _: None, clock=clock, sleep=clock.sleep)
    assert clock.now >= 3


def test_the_watch_asks_a_second_apart_start_to_start_however_slow_the_answer(app):
    # under load an answer may take most of a second: the next ask comes a
    # second after the last one began, not a second after its answer (three
    # slow failures in a row would otherwise take twice as long to see)
    app.n = 10**6
    clock, api = Clock(), Dynos()
    real_ask = health._ask

    def slow_ask(url, h, *, cabundle):
        clock.now += 0.75  # the answer takes 0.75 s
        return real_ask(url, h, cabundle=cabundle)

    with mock.patch.object(health, "_ask", slow_ask):
        health.check(api, {"name": "tally", "web_url": app.url},
                     Health(path="/up", watch=6), 7, out=lambda _: None,
                     clock=clock, sleep=clock.sleep)
    # the pauses between asks make up the second, they do not add one
    watch_naps = clock.naps[1:]
    assert watch_naps and max(watch_naps) <= 0.25 + 1e-9, clock.naps
