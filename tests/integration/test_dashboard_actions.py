"""Dashboard actions: refused without the flag or the token, and none reachable by a GET.

With ``AppTest``: a read-only page refuses a rollback even when the client forges the
click of a disabled button or the pending-action state; a page with actions refuses a
rollback the engine would not allow (a rejected model) and one without the token; query
strings naming actions (the only thing a link can carry) do nothing.

With a real server (``lifecycle dashboard --allow-actions`` and a token, on a free
127.0.0.1 port): plain HTTP GET requests with such query strings, to the page and to
Streamlit's own endpoints, leave the registry byte for byte unchanged; so does a real
browser that opens those links and runs the page (when Chromium is there). The server
is stopped at the end of the test, also on failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from dashboard import snapshot
from dashboard.access import TOKEN_ENV, TOKEN_FILE_ENV
from service.engine import Engine
from tests.e2e.test_dashboard_browser import CHROMIUM, REPO, free_port, stop, wait_healthy
from tests.integration.test_bad_input import fingerprint
from tests.integration.test_dashboard import TOKEN, app, build_root, goto, records, texts

pytestmark = pytest.mark.timeout(180)

ACTION_QUERIES = [
    {"action": "rollback", "version": "1.0.1"},
    {"rollback": "1.0.0", "token": TOKEN, "reason": "via a link", "confirm": "true"},
    {"action": "promote", "version": "1.0.4", "reason": "x"},
    {"lcm_pending": "convnext_v1.0.1", "lcm_rb_confirm": "true", "lcm_rb_reason": "x",
     "lcm_rb_submit": "true", "lcm_rb_token": TOKEN, "lcm_page": "Archive"},
]


@pytest.fixture
def built(tmp_path: Path) -> Engine:
    snapshot.forget()
    return build_root(tmp_path / "root")


def unchanged(root: Path, before: dict[str, str]) -> None:
    assert fingerprint(root) == before, "the registry changed"
    assert records(root)[-1]["command"] == "submit"  # build_root's last commit: no rollback, no promote


# -- AppTest: the page ------------------------------------------------------------------------
def test_read_only_page_ignores_a_forged_click_on_a_disabled_rollback(built: Engine) -> None:
    before = fingerprint(built.root)
    at = goto(app(built.root).run(), "Archive")
    button = at.button(key="lcm_rb_convnext_v1_0_1")
    assert button.disabled
    button.proto.disabled = False  # what a hand-made websocket message could claim
    button.click().run()
    assert not at.exception and not at.get("form")
    assert "lcm_pending" not in at.session_state
    unchanged(built.root, before)


def test_read_only_page_drops_a_forged_pending_rollback(built: Engine) -> None:
    before = fingerprint(built.root)
    at = app(built.root)
    at.session_state["lcm_pending"] = {"model_id": "convnext_v1.0.1", "version": "1.0.1", "seq": built.state().seq}
    goto(at.run(), "Archive")
    assert not at.get("form") and "Roll back to" not in texts(at)
    assert "lcm_pending" not in at.session_state
    unchanged(built.root, before)


def test_the_engine_refuses_what_the_page_would_not_offer(built: Engine) -> None:
    """Actions allowed, a forged choice of a rejected model: the engine still says no."""
    before = fingerprint(built.root)
    at = app(built.root, allow=True)
    at.session_state["lcm_pending"] = {"model_id": "convnext_v1.0.2", "version": "1.0.2", "seq": built.state().seq}
    goto(at.run(), "Archive")
    assert at.button(key="lcm_rb_convnext_v1_0_2").disabled
    at.text_input(key="lcm_rb_reason").input("forged")
    at.checkbox(key="lcm_rb_confirm").check()
    at.button(key="lcm_rb_submit").click().run()
    assert not at.exception and "Not rolled back" in texts(at)
    unchanged(built.root, before)


@pytest.mark.parametrize("given", ["", " ", TOKEN[:-1], TOKEN + "x", TOKEN.upper()])
def test_no_rollback_without_the_token(built: Engine, given: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # the page's anti-guessing pause
    before = fingerprint(built.root)
    at = app(built.root, allow=True, token=TOKEN)
    at.query_params["token"] = TOKEN  # a token in the link does not count
    goto(at.run(), "Archive")
    at.button(key="lcm_rb_convnext_v1_0_1").click().run()
    at.text_input(key="lcm_rb_reason").input("no token")
    at.checkbox(key="lcm_rb_confirm").check()
    at.text_input(key="lcm_rb_token").input(given)
    at.button(key="lcm_rb_submit").click().run()
    assert "Wrong access token" in texts(at)
    unchanged(built.root, before)


@pytest.mark.parametrize("query", ACTION_QUERIES)
def test_query_strings_naming_actions_do_nothing(built: Engine, query: dict[str, str]) -> None:
    before = fingerprint(built.root)
    at = app(built.root, allow=True, token=TOKEN)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    for page in ("Champion", "Archive", "History"):
        goto(at, page)
        assert not at.get("form"), f"an action form opened on {page}"
    assert "Champion v1.0.3" in texts(goto(at, "Champion"))
    unchanged(built.root, before)


# -- a real server ---------------------------------------------------------------------------
@contextmanager
def server(root: Path, port: int, logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``lifecycle dashboard --allow-actions`` with a token, stopped (process group) on exit."""
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, TOKEN_FILE_ENV)}
    env.update({TOKEN_ENV: TOKEN, "LIFECYCLE_DASHBOARD_REFRESH": "1"})
    lifecycle = Path(sys.executable).parent / "lifecycle"
    with open(logs, "wb") as out:
        proc = subprocess.Popen([str(lifecycle), "--root", str(root), "dashboard", "--host", "127.0.0.1",
                                 "--port", str(port), "--allow-actions"], stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
    try:
        wait_healthy(proc, port, logs)
        yield proc
    finally:
        stop(proc)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def links(base: str) -> list[str]:
    queries = [urllib.parse.urlencode(q) for q in ACTION_QUERIES]
    paths = ["/", "/index.html", "/_stcore/health", "/_stcore/host-config", "/_stcore/stream",
             "/_stcore/upload_file/session/file", "/media/x.png", "/component/x/index.html", "/rollback"]
    return [f"{base}{path}?{query}" for path in paths for query in queries]


def test_get_requests_change_nothing_on_a_live_server(tmp_path: Path) -> None:
    root = build_root(tmp_path / "root").root
    before = fingerprint(root)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with server(root, port, tmp_path / "server.log") as proc:
        answers = {url: get(url) for url in links(base)}
        page_status, page = answers[f"{base}/?{urllib.parse.urlencode(ACTION_QUERIES[0])}"]
        assert page_status == 200 and b"<html" in page.lower()  # the requests reached the server
        assert all(status < 500 for status, _ in answers.values()), answers
        if CHROMIUM.exists():
            open_links_in_a_browser([f"{base}/?{urllib.parse.urlencode(q)}" for q in ACTION_QUERIES])
        assert proc.poll() is None, "the server died"
    assert proc.poll() is not None, "the server is still running"
    unchanged(root, before)


def open_links_in_a_browser(urls: list[str]) -> None:
    """Each link opened in Chromium: the page runs (with the query string) and acts on nothing."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page()
            for url in urls:
                page.goto(url, timeout=30_000)
                page.locator(".st-key-lcm_champion h3").wait_for(timeout=30_000)
                assert page.locator(".st-key-lcm_champion h3").first.inner_text() == "Champion v1.0.3"
                assert page.locator(".st-key-lcm_confirm").count() == 0
        finally:
            browser.close()
