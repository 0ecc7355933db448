"""Issue 19 (3): another site cannot drive the dashboard (DNS rebinding).

A real ``lifecycle dashboard --allow-actions --no-token`` on a free 127.0.0.1 port (the
one set-up that acts without a token). A page on attacker.example whose name the
attacker points at 127.0.0.1 is same-origin with itself, so a browser lets it talk to the
dashboard; before issue 19 its WebSocket (``Host``/``Origin: attacker.example``) was
accepted and could roll back. Now:

- a WebSocket whose ``Host`` is not a name of the server is refused by Streamlit
  (``server.allowedHosts``, HTTP 403) before any session exists;
- a WebSocket with the right ``Host`` but a foreign ``Origin`` (Streamlit itself admits
  any origin on localhost or this machine, whatever the port) gets a page that says
  "Refused" and reads nothing;
- the right ``Host`` and ``Origin`` get the page;
- in Chromium, with attacker.example resolved to 127.0.0.1 (``--host-resolver-rules``, a
  real rebinding as the browser sees it), the attacker's page never shows the dashboard
  and cannot roll back, while the same browser uses the real address normally.

Every server (and the browser) is stopped at the end, also on failure.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("websockets")

from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bootstrap import open_engine
from tests.e2e.test_dashboard_browser import CHROMIUM, dashboard_server, free_port
from tests.integration.test_bad_input import fingerprint
from tests.integration.test_dashboard import build_root

pytestmark = pytest.mark.timeout(180)

ATTACKER = "attacker.example"


def page_run(port: int, host: str, origin: str | None) -> str:
    """Open the page's WebSocket on 127.0.0.1:``port`` presenting ``Host: host`` and
    ``Origin: origin``, run the script once and return what it drew (protobuf text), or
    ``refused <status>`` when the handshake is refused."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        with connect(f"ws://{host}/_stcore/stream", sock=sock, origin=origin,  # type: ignore[arg-type]
                     open_timeout=10, max_size=None) as ws:
            rerun = BackMsg()
            rerun.rerun_script.query_string = ""
            ws.send(rerun.SerializeToString())
            drawn: list[str] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                message = ForwardMsg()
                message.ParseFromString(ws.recv(timeout=60))
                drawn.append(str(message))
                if message.WhichOneof("type") == "script_finished":
                    return "\n".join(drawn)
            raise AssertionError("the script run did not finish")
    except InvalidStatus as exc:
        return f"refused {exc.response.status_code}"
    finally:
        sock.close()


def test_foreign_hosts_and_origins_are_refused(tmp_path: Path) -> None:
    root = build_root(tmp_path / "root").root
    before = fingerprint(root)
    port = free_port()
    logs = tmp_path / "server.log"
    with dashboard_server(root, port, logs):
        right = f"127.0.0.1:{port}"
        assert page_run(port, f"{ATTACKER}:{port}", f"http://{ATTACKER}:{port}") == "refused 403"
        assert page_run(port, f"{ATTACKER}:{port}", None) == "refused 403"
        elsewhere = port + 1 if port < 65535 else 1
        for origin in (f"http://localhost:{elsewhere}", f"http://127.0.0.1:{elsewhere}",
                       f"http://127.0.0.1:{port}.{ATTACKER}", f"http://{ATTACKER}:{port}", "null"):
            drawn = page_run(port, right, origin)
            if drawn == "refused 403":  # Streamlit's own check refused it
                assert ATTACKER in origin or origin == "null", f"{origin}: Streamlit admits this one"
                continue
            assert "Refused: the request came from a page on" in drawn, origin  # the page refused it
            assert "Champion v1.0.3" not in drawn and "at commit" not in drawn, origin  # nothing read
        welcome: list[tuple[str, str | None]] = [(right, f"http://{right}"), (f"[::1]:{port}", None),
                                                 (f"localhost:{port}", f"http://localhost:{port}")]
        for host, welcome_origin in welcome:
            drawn = page_run(port, host, welcome_origin)
            assert "Champion v1.0.3" in drawn and "Refused" not in drawn, (host, welcome_origin)
    assert f"host={ATTACKER}:{port}" in logs.read_text()  # Streamlit said why it refused
    assert fingerprint(root) == before


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_a_rebound_page_cannot_roll_back_in_a_browser(tmp_path: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_dashboard_browser import champion_text, roll_back_to_v1_0_1, show

    root = build_root(tmp_path / "root").root
    before = fingerprint(root)
    port = free_port()
    logs = tmp_path / "server.log"
    with dashboard_server(root, port, logs), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", f"--host-resolver-rules=MAP {ATTACKER} 127.0.0.1"])
        try:
            attacker = browser.new_page()
            attacker.goto(f"http://{ATTACKER}:{port}/", timeout=30_000)  # the rebound name reaches the server
            shown = False
            try:  # what the attacker's script would do: open the Archive and roll back
                attacker.locator(".st-key-lcm_champion h3").wait_for(timeout=10_000)
                shown = True
                show(attacker, "Archive")
                roll_back_to_v1_0_1(attacker, tmp_path)
            except PlaywrightTimeout:
                pass
            assert fingerprint(root) == before, "the rebound page rolled back"
            assert not shown, "the rebound page got the dashboard"

            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/", timeout=30_000)
            page.locator(".st-key-lcm_champion h3").wait_for(timeout=30_000)
            assert champion_text(page) == "Champion v1.0.3"
        finally:
            browser.close()
    assert f"host={ATTACKER}:{port}" in logs.read_text()
    assert fingerprint(root) == before, "the registry changed"
    assert list(open_engine(root).records())[-1]["command"] == "submit"  # no rollback
