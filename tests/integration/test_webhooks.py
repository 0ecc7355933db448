"""Webhooks: ``[[hooks]]`` with ``url`` instead of ``command`` (the event JSON POSTed).

A local HTTP server (127.0.0.1, a free port, in a thread, stopped at the end of each test)
records what it is sent and answers as each test scripts it. A real command (``submit``,
in-process) commits a ``trained`` event; the detached runner POSTs it. Checked: the body
is the JSON a command hook gets on stdin, with the configured headers; 5xx is retried
(with a pause) until a 2xx; 4xx and redirects are one attempt each; a server that never
answers or a closed port is retried, then given up, and never delays the command; every
attempt is one line of ``hooks.log`` (no secret in it); bad configurations are one-line
errors that change nothing.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bootstrap import open_engine
from service.hooks import pause, post_webhook
from tests.conftest import Cli

pytestmark = pytest.mark.timeout(120)

SECRET = "Bearer webhook-secret-0123456789"


@dataclass
class Server:
    """What the test server was sent, and how it answers (one entry per request, the last
    one repeated): an HTTP status, ``(status, {header: value})``, or ``"hang"``."""

    port: int
    answers: list[Any]
    requests: list[dict[str, Any]] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner inherits this environment: 127.0.0.1 must not go through a proxy."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    started: list[tuple[ThreadingHTTPServer, threading.Thread, Server]] = []

    def start(*answers: Any) -> Server:
        state = Server(port=0, answers=list(answers) or [200])

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                answer = state.answers[min(len(state.requests), len(state.answers)) - 1]
                if answer == "hang":
                    state.released.wait(30)  # far past the hook's timeout
                    return
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False  # type: ignore[attr-defined]
        state.port = int(httpd.server_address[1])
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        started.append((httpd, thread, state))
        return state

    yield start
    for httpd, thread, state in started:
        state.released.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def configure(root: Path, url: str, extra: str = "", events: str = '["trained"]') -> None:
    (root / "config" / "lifecycle.toml").write_text(
        f'[[hooks]]\nevents = {events}\nurl = "{url}"\ntimeout = 1\n{extra}')


def hook_lines(root: Path) -> list[str]:
    log = root / "hooks.log"
    return log.read_text().splitlines() if log.exists() else []


def wait_for(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def done(root: Path, ending: str) -> Callable[[], bool]:
    """The runner's last line for the webhook has been written."""
    return lambda: any(ending in line for line in hook_lines(root))


def trained_record(root: Path) -> dict[str, Any]:
    return next(r for r in reversed(list(open_engine(root).records()))
                if any(e["type"] == "trained" for e in r["events"]))


def test_the_event_json_is_posted_with_the_headers(cli: Cli, root: Path, candidates: list[Path],
                                                   serve: Callable[..., Server]) -> None:
    server = serve(200)
    configure(root, server.url("/hook?key=query-secret"), events='["*"]',
              extra=f'headers = {{ Authorization = "{SECRET}", X-Team = "ml" }}\n')
    cli("submit", str(candidates[0]))
    wait_for(done(root, "ok (HTTP 200)"))
    record = trained_record(root)
    posted = [r for r in server.requests if json.loads(r["body"])["event"]["type"] == "trained"]
    assert len(posted) == 1
    request = posted[0]
    body = json.loads(request["body"])
    assert body["event"]["type"] == "trained" and body["event"]["model_id"] == "convnext_v1.0.0"
    assert body["seq"] == record["seq"] and body["actor"] == record["actor"] and body["command"] == "submit"
    assert body["time"] == record["time"]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == SECRET and headers["x-team"] == "ml"
    assert request["path"] == "/hook?key=query-secret"
    text = "\n".join(hook_lines(root))
    assert f"webhook POST {server.url('/hook')}?... for trained (commit {record['seq']}): attempt 1 of 4: " \
           "ok (HTTP 200)" in text
    assert "webhook-secret" not in text and "query-secret" not in text  # the log shows no secret


def test_5xx_is_retried_with_a_pause_until_it_succeeds(cli: Cli, root: Path, candidates: list[Path],
                                                       serve: Callable[..., Server]) -> None:
    server = serve(500, 503, 200)
    configure(root, server.url())
    cli("submit", str(candidates[0]))
    wait_for(done(root, "attempt 3 of 4: ok (HTTP 200)"))
    lines = hook_lines(root)
    assert len(server.requests) == 3 and len(lines) == 3
    assert lines[0].endswith("attempt 1 of 4: HTTP 500 Internal Server Error; retrying in 0.5 s")
    assert lines[1].endswith("attempt 2 of 4: HTTP 503 Service Unavailable; retrying in 1 s")
    assert [json.loads(r["body"]) for r in server.requests].count(json.loads(server.requests[0]["body"])) == 3
    assert [pause(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 8, 8]  # the whole thing is bounded


def test_4xx_is_one_attempt_and_a_failure(cli: Cli, root: Path, candidates: list[Path],
                                          serve: Callable[..., Server]) -> None:
    server = serve(404, 200)
    configure(root, server.url())
    cli("submit", str(candidates[0]))
    wait_for(done(root, "; not retried"))
    time.sleep(1.0)  # a retry would come after 0.5 s
    assert len(server.requests) == 1
    assert hook_lines(root)[-1].endswith("attempt 1 of 4: HTTP 404 Not Found; not retried")
    assert len(hook_lines(root)) == 1


def test_redirects_are_not_followed(cli: Cli, root: Path, candidates: list[Path],
                                    serve: Callable[..., Server]) -> None:
    elsewhere = serve(200)
    server = serve((307, {"Location": elsewhere.url("/stolen")}))
    configure(root, server.url(), extra="retries = 2\n")
    cli("submit", str(candidates[0]))
    wait_for(done(root, "; not retried"))
    time.sleep(1.0)
    assert len(server.requests) == 1 and elsewhere.requests == []
    assert hook_lines(root)[-1].endswith(
        f"attempt 1 of 3: HTTP 307 redirect to '{elsewhere.url('/stolen')}' not followed; not retried")


def test_a_server_that_never_answers_does_not_delay_the_command(
        cli: Cli, root: Path, candidates: list[Path], serve: Callable[..., Server]) -> None:
    server = serve("hang")
    configure(root, server.url(), extra="retries = 2\n")  # 3 attempts of 1 s, pauses of 0.5 s and 1 s
    started = time.monotonic()
    cli("submit", str(candidates[0]))
    took = time.monotonic() - started
    assert not any("giving up" in line for line in hook_lines(root)), "the command waited for the hook"
    assert took < 15
    assert open_engine(root).state().challenger == "convnext_v1.0.0"
    wait_for(done(root, "; giving up"))
    lines = hook_lines(root)
    assert len(lines) == 3 and len(server.requests) == 3
    assert lines[0].endswith("attempt 1 of 3: timed out after 1 s; retrying in 0.5 s")
    assert lines[1].endswith("attempt 2 of 3: timed out after 1 s; retrying in 1 s")
    assert lines[2].endswith("attempt 3 of 3: timed out after 1 s; giving up")


def test_a_closed_port_is_retried_then_given_up(cli: Cli, root: Path, candidates: list[Path]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configure(root, f"http://127.0.0.1:{port}/hook", extra="retries = 1\n")
    cli("submit", str(candidates[0]))
    wait_for(done(root, "; giving up"))
    lines = hook_lines(root)
    assert len(lines) == 2 and "attempt 1 of 2: connection failed (" in lines[0]
    assert lines[0].endswith("; retrying in 0.5 s") and lines[1].endswith("; giving up")


def test_a_server_that_trickles_its_answer_is_cut_at_the_timeout() -> None:
    """The socket timeout bounds each read; the runner bounds the whole attempt."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 100:
                if stop.wait(0.2):
                    return
                connection.sendall(bytes([byte]))

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    lines: list[str] = []
    payload = {"url": f"http://127.0.0.1:{listener.getsockname()[1]}/hook", "timeout": 1, "retries": 0,
               "event": {"seq": 7, "time": "t", "actor": "me", "command": "submit", "event": {"type": "trained"}}}
    started = time.monotonic()
    try:
        assert post_webhook(payload, lines.append) is False
    finally:
        stop.set()
        thread.join(10)
        listener.close()
    assert time.monotonic() - started < 3
    assert lines == [f"webhook POST {payload['url']} for trained (commit 7): attempt 1 of 1: "
                     "timed out after 1 s; giving up"]


@pytest.mark.parametrize(("hook", "problem"), [
    ('url = "http://127.0.0.1:9/x"\ncommand = ["true"]', "give exactly one of command"),
    ('events = ["*"]', "give exactly one of command"),
    ('url = "ftp://127.0.0.1/x"', "hooks.url must start with http:// or https://"),
    ('url = "file:///etc/passwd"', "hooks.url must start with http:// or https://"),
    ('url = "http://127.0.0.1:9/x"\nretries = 99', "hooks.retries must be at most 10"),
    ('url = "http://127.0.0.1:9/x"\nretries = -1', "hooks.retries must be at least 0"),
    ('url = "http://127.0.0.1:9/x"\nretries = 1.5', "hooks.retries must be a whole number"),
    ('url = "http://127.0.0.1:9/x"\nheaders = { X = 1 }', "hooks.headers.X must be a string"),
    ('url = "http://127.0.0.1:9/x"\nheaders = { X = "a\\nInjected: yes" }', "hooks.headers.X must be a string"),
    ('url = "http://127.0.0.1:9/x"\nheaders = "Authorization: x"', "hooks.headers must be a table"),
    ('url = "http://user:pw@127.0.0.1:9/x"', "must not hold a user name or password"),
    ('url = "http://127.0.0.1:99999/x"', "hooks.url is not a valid URL"),
    ('url = "http:///x"', "hooks.url has no host"),
    ('url = 5', "hooks.url must be an http:// or https:// URL"),
    ('command = ["true"]\nretries = 2', "retries: only for webhooks"),
    ('url = "http://127.0.0.1:9/x"\nmethod = "GET"', "unknown keys ['method']"),
])
def test_bad_webhook_settings_are_one_line_errors(cli: Cli, root: Path, candidates: list[Path], hook: str,
                                                  problem: str) -> None:
    path = root / "config" / "lifecycle.toml"
    path.write_text(f"[[hooks]]\n{hook}\n")
    result = cli("submit", str(candidates[0]), code=2)
    message = result.stderr.strip()
    assert "\n" not in message and message.startswith(f"error: {path}: ")
    assert problem in message, message
    assert open_engine(root).state().challenger is None  # nothing changed
    assert not (root / "hooks.log").exists()
