"""bench.load against a tiny local server that answers the ways a deploy can."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.load import (
    OUTCOMES,
    Load,
    LoadError,
    Record,
    load_records,
    save_records,
    summarise,
)

ROOT = Path(__file__).resolve().parents[3]
MAINTENANCE_PAGE = b"<body class='herotasks-sandbox-maintenance'>back soon</body>"

# path -> (status, headers, body); "drop" closes the connection without answering
ANSWERS = {
    "/ok": (200, {}, b"tally v1"),
    "/maintenance": (503, {"X-Herotasks-Sandbox": "maintenance"}, MAINTENANCE_PAGE),
    "/maintenance-body-only": (503, {}, MAINTENANCE_PAGE),
    "/no-web-dynos": (503, {"X-Herotasks-Sandbox": "no-web-dynos"}, b"no web dynos"),
    "/bare-503": (503, {}, b"Service Unavailable"),
    "/app-500": (500, {}, b"Server Error (500)"),
    "/app-502": (502, {}, b"Bad Gateway"),
    "/not-found": (404, {}, b"Not Found"),
    "/drop": None,
}


class Answers(BaseHTTPRequestHandler):
    def do_GET(self):
        answer = ANSWERS[self.path]
        if answer is None:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        status, headers, body = answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def run(url: str, **options) -> list[Record]:
    options = {"rate": 100.0, "max_duration": 0.1, "timeout": 5.0} | options
    return Load(url, **options).start().wait()


@pytest.mark.parametrize(
    "path, outcome, status",
    [
        ("/ok", "ok", 200),
        ("/maintenance", "maintenance", 503),
        ("/maintenance-body-only", "maintenance", 503),
        ("/no-web-dynos", "unavailable", 503),
        ("/bare-503", "unavailable", 503),
        ("/app-500", "app_error", 500),
        ("/app-502", "app_error", 502),
        ("/not-found", "unexpected", 404),
        ("/drop", "conn_error", None),
    ],
)
def test_outcomes_are_classified(server, path, outcome, status):
    records = run(f"http://127.0.0.1:{server.server_port}{path}")
    assert {(r.outcome, r.status) for r in records} == {(outcome, status)}


def test_a_closed_port_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    records = run(f"http://127.0.0.1:{port}/")
    assert records and all(r.outcome == "conn_error" for r in records)


def test_every_due_request_is_sent_and_recorded_in_order(server):
    # Open loop: request i is due at i / rate, so 0.2 s at 100/s is 20
    # requests, however long each one takes.
    records = run(f"http://localhost:{server.server_port}/ok", max_duration=0.2)
    assert len(records) == 20
    assert records == sorted(records, key=lambda r: r.t_start)
    assert all(r.t_start <= r.t_end for r in records)


def test_stop_ends_the_load_early(server):
    load = Load(f"http://127.0.0.1:{server.server_port}/ok", rate=50, max_duration=60)
    with load:
        while not load.records:
            time.sleep(0.01)
    stopped = load.records
    assert 0 < len(stopped) < 50 * 60
    assert load.records == stopped  # nothing is sent after stop


def test_https_with_a_private_ca(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    try:
        url = f"https://127.0.0.1:{httpd.server_port}/ok"
        assert {r.outcome for r in run(url, cafile=str(cafile))} == {"ok"}
        # Without the CA the certificate is not trusted: no answer counts as ok.
        assert {r.outcome for r in run(url)} == {"conn_error"}
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "http://10.0.0.8:5000/",
        "http://127.0.0.1.example.com/",
        "ftp://127.0.0.1/",
        "127.0.0.1:5000",
    ],
)
def test_refuses_anything_but_loopback_http(url):
    with pytest.raises(LoadError):
        Load(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:5000/", "http://localhost/", "http://[::1]:80/x?y=1"]
)
def test_accepts_loopback_urls(url):
    Load(url)  # constructing starts nothing


def test_cli_refuses_a_remote_url_with_one_line():
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", "http://example.com/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not on this machine" in done.stderr


def rec(t_start: float, t_end: float, outcome: str) -> Record:
    return Record(t_start, t_end, outcome, None)


def test_summarise_splits_inside_and_outside_the_windows():
    records = [
        rec(0.0, 0.1, "ok"),
        rec(0.9, 1.05, "maintenance"),  # started before the window, answered in it
        rec(1.5, 1.6, "maintenance"),
        rec(1.6, 1.7, "conn_error"),  # inside: still counted as failed
        rec(2.5, 2.6, "app_error"),  # outside
        rec(5.0, 5.1, "unavailable"),  # inside the second window
        rec(7.0, 8.0, "ok"),
    ]
    summary = summarise(records, [(1.0, 2.0), None, (4.9, 5.2)])
    assert summary["requests"] == 7
    assert summary["span"] == pytest.approx(8.0)
    assert summary["rate"] == pytest.approx(7 / 8)
    assert set(summary["overall"]) == set(OUTCOMES)
    assert summary["overall"]["ok"] == 2 and summary["overall"]["maintenance"] == 2
    assert summary["inside"]["maintenance"] == 2
    assert summary["outside"]["maintenance"] == 0
    assert summary["inside"]["unavailable"] == 1
    assert summary["outside"]["app_error"] == 1
    assert summary["failed"] == {"overall": 3, "inside": 2, "outside": 1}


def test_summarise_without_windows_or_records():
    empty = summarise([])
    assert empty["requests"] == 0 and empty["rate"] == 0.0
    assert empty["failed"] == {"overall": 0, "inside": 0, "outside": 0}
    summary = summarise([rec(0, 1, "maintenance")])
    assert summary["outside"]["maintenance"] == 1  # no window: nothing is inside


def test_records_round_trip_through_a_file(tmp_path):
    records = [Record(1.0, 1.5, "ok", 200), Record(2.0, 2.1, "conn_error", None)]
    save_records(tmp_path / "r.jsonl", records)
    assert load_records(tmp_path / "r.jsonl") == records
