"""The dashboard in a real browser: ``lifecycle dashboard --allow-actions --no-token`` on a free
127.0.0.1 port, driven by Debian's Chromium (headless) through Playwright.

It reads the champion, rolls back through the page and checks the log (actor
"dashboard"), sees a write made by someone else appear by itself (auto-refresh), and
saves a screenshot of every page under the test's folder and ``test-output/dashboard/``.
The server and the browser are stopped at the end, also on failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bootstrap import open_engine

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-output" / "dashboard"
PAGES = {  # page -> an element that is there once the page is drawn
    "Champion": "[data-testid='stMetricValue']",
    "Archive": ".st-key-lcm_rb_convnext_v1_0_1 button:visible",
    "Versions chart": "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg",
    "Compare": "[data-testid='stDataFrame']",
    "Test an event": ".st-key-lcm_evt_data input",
    "History": "[data-testid='stDataFrame']",
    "Pool": "[data-testid='stDataFrame']",
}

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "('make test' installs it: apt-get install chromium)"),
    pytest.mark.timeout(120),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def dashboard_server(root: Path, port: int, logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_DASHBOARD_TOKEN")}
    env["LIFECYCLE_DASHBOARD_REFRESH"] = "1"
    lifecycle = Path(sys.executable).parent / "lifecycle"
    with open(logs, "wb") as out:
        proc = subprocess.Popen([str(lifecycle), "--root", str(root), "dashboard", "--port", str(port),
                                 "--allow-actions", "--no-token"], stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=REPO, start_new_session=True)
    try:
        wait_healthy(proc, port, logs)
        yield proc
    finally:
        stop(proc)


def wait_healthy(proc: subprocess.Popen[bytes], port: int, logs: Path) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the dashboard exited with {proc.returncode}:\n{logs.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as answer:
                if answer.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the dashboard did not answer on port {port}:\n{logs.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def show(page: Any, name: str) -> None:
    """Switch to a page and wait until it is drawn."""
    page.locator(".st-key-lcm_page").get_by_text(name, exact=True).click()
    page.locator(PAGES[name]).first.wait_for(state="visible", timeout=20_000)
    page.wait_for_timeout(600)  # let the last elements and charts settle


def shoot(page: Any, folder: Path, name: str) -> None:
    path = folder / f"{name.lower().replace(' ', '-')}.png"
    page.screenshot(path=str(path), full_page=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def champion_text(page: Any) -> str:
    return str(page.locator(".st-key-lcm_champion h3").first.inner_text())


def roll_back_to_v1_0_1(page: Any, folder: Path) -> None:
    page.locator(".st-key-lcm_rb_convnext_v1_0_1 button:visible").first.click()
    page.locator(".st-key-lcm_confirm").wait_for(timeout=20_000)
    page.locator(".st-key-lcm_rb_reason input").fill("false positives rose sharply (browser test)")
    page.locator(".st-key-lcm_rb_confirm label").click()
    shoot(page, folder, "archive-rollback-confirmation")
    page.locator(".st-key-lcm_rb_submit button:visible").first.click()
    page.get_by_text("Rolled back: v1.0.1 is the champion again").wait_for(timeout=20_000)


def test_dashboard_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from lifecycle.commands import Rollback
    from tests.integration.test_dashboard import build_root

    engine = build_root(tmp_path / "root")
    port = free_port()
    with dashboard_server(engine.root, port, tmp_path / "server.log"), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", timeout=30_000)
            page.locator(".st-key-lcm_champion h3").wait_for(timeout=30_000)
            page.locator(PAGES["Champion"]).first.wait_for(timeout=20_000)
            assert champion_text(page) == "Champion v1.0.3"
            shoot(page, tmp_path, "champion")
            for name in list(PAGES)[1:]:
                show(page, name)
                shoot(page, tmp_path, name)

            show(page, "Archive")
            roll_back_to_v1_0_1(page, tmp_path)
            last = list(open_engine(engine.root).records())[-1]
            assert (last["command"], last["actor"]) == ("rollback", "dashboard")
            assert [e["type"] for e in last["events"]] == ["archived", "rolled_back"]
            assert last["events"][1]["model_id"] == "convnext_v1.0.1"

            show(page, "Champion")
            assert champion_text(page) == "Champion v1.0.1"
            open_engine(engine.root, actor="someone@else").execute(Rollback(ref="1.0.3", reason="back again"))
            page.locator(".st-key-lcm_champion h3", has_text="Champion v1.0.3").wait_for(timeout=15_000)
            shoot(page, tmp_path, "champion-after-refresh")
        finally:
            browser.close()
    assert (tmp_path / "versions-chart.png").stat().st_size > 10_000


def test_the_model_selected_for_analysis_is_the_one_shown_and_compared(tmp_path: Path) -> None:
    """Issue 19 (1): after "Use" on an archive row, Compare's Model B box showed the champion
    while its table compared the picked model, and the header named another model than the
    one a box had since picked. The box, the table (its caption names both versions) and the
    header agree, also after another page was shown."""
    from playwright.sync_api import sync_playwright

    from tests.integration.test_dashboard import build_root

    def seen(page: Any) -> tuple[str, str, str]:
        """(Model B box, what the table compares, what the header says is selected)."""
        page.wait_for_timeout(800)
        box = str(page.locator(".st-key-lcm_cmp_b input").first.input_value()).split(" ")[0]
        captions = page.locator("[data-testid='stCaptionContainer']").all_inner_texts()
        table = next(c for c in captions if c.startswith("Difference = ")).split(" ")[2]
        header = next((c.split(" ")[3] for c in captions if c.startswith("Selected for analysis: ")), "")
        return box, table, header

    def use(page: Any, version: str) -> None:
        show(page, "Archive")
        page.locator(f".st-key-lcm_use_convnext_v{version.replace('.', '_')} button:visible").first.click()
        page.get_by_text(f"v{version} selected for analysis").wait_for(timeout=20_000)

    engine = build_root(tmp_path / "root")
    port = free_port()
    with dashboard_server(engine.root, port, tmp_path / "server.log"), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", timeout=30_000)
            page.locator(".st-key-lcm_champion h3").wait_for(timeout=30_000)
            show(page, "Compare")  # the boxes are drawn once before anything is chosen
            assert seen(page) == ("v1.0.1", "v1.0.1", "")
            use(page, "1.0.0")
            show(page, "Compare")
            assert seen(page) == ("v1.0.0", "v1.0.0", "v1.0.0"), "the box and the table disagree"
            page.locator(".st-key-lcm_cmp_b input").first.click()
            page.get_by_role("option", name="v1.0.1 (archived, mag 95.00%)").click()
            page.get_by_text("Difference = v1.0.1 - v1.0.3").wait_for(timeout=20_000)
            assert seen(page) == ("v1.0.1", "v1.0.1", "v1.0.1"), "the header names another model"
            show(page, "History")
            show(page, "Compare")
            assert seen(page) == ("v1.0.1", "v1.0.1", "v1.0.1"), "the choice was lost"
            use(page, "1.0.2")
            show(page, "Compare")
            assert seen(page) == ("v1.0.2", "v1.0.2", "v1.0.2")
        finally:
            browser.close()
