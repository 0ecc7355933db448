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


SHOTS_ENV = "LIFECYCLE_SCREENSHOTS"  # a folder (relative: to the repository): the pages' screenshots
WIDTHS = (1400, 800)
OVERFLOWS = """() => {
    const wide = el => el.scrollWidth > el.clientWidth + 1;
    const page = document.documentElement.scrollWidth > window.innerWidth + 1 ? ["the page"] : [];
    const code = [...document.querySelectorAll("[data-testid='stCode'] pre")].filter(wide)
        .map(el => "code: " + el.innerText.slice(0, 40));
    const key = el => ([...(el.closest("[class*='st-key-']") || {classList: []}).classList]
        .find(c => c.startsWith("st-key-")) || "");
    const labels = [...document.querySelectorAll("button [data-testid='stMarkdownContainer']")]
        .filter(el => el.clientWidth > 0 && wide(el)).map(el => "button: " + el.innerText + " " + key(el));
    return [...page, ...code, ...labels];
}"""
# The archive rows' Use and Rollback buttons still shrink to "U..." at 800 px: their column
# widths are archive.py's (issue 19, 5, left to that page's change); nothing else may.
KNOWN_NARROW: tuple[str, ...] = ()


def screenshot_folder() -> Path | None:
    """Where ``make screenshots`` wants the pages (``$LIFECYCLE_SCREENSHOTS``); None: none taken."""
    named = os.environ.get(SHOTS_ENV, "").strip()
    if not named:
        return None
    folder = Path(named) if Path(named).is_absolute() else REPO / named
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_page_fits_at_1400_and_800_px_and_is_in_the_url(tmp_path: Path) -> None:
    """Issue 19: every page at 1400 and 800 px wide: nothing wider than the window, no code
    line scrolling sideways (the scanner's paths wrap), no button label cut to "U..."; the
    page is in the URL (``?page=``) and a link opens it. With ``$LIFECYCLE_SCREENSHOTS``
    (``make screenshots``), a screenshot of each page at each width goes there
    (``<page>-<width>.png``, and the champion card with the scanner's lines, and a rollback
    confirmation)."""
    from playwright.sync_api import sync_playwright

    from tests.integration.test_dashboard import build_root

    folder = screenshot_folder()
    engine = build_root(tmp_path / "root")
    port = free_port()
    base = f"http://127.0.0.1:{port}/"

    def save(page: Any, name: str, width: int) -> None:
        if folder is not None:
            page.wait_for_timeout(400)
            page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)

    def fits(page: Any, where: str) -> None:
        found = [f for f in page.evaluate(OVERFLOWS) if not any(k in f for k in KNOWN_NARROW)]
        assert found == [], f"{where}: wider than its place"

    with dashboard_server(engine.root, port, tmp_path / "server.log"), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 1000})
                page.goto(f"{base}?page=compare", timeout=30_000)  # a link to a page
                page.locator(PAGES["Compare"]).first.wait_for(timeout=30_000)
                assert page.locator(".st-key-lcm_champion").count() == 0
                for name in PAGES:
                    show(page, name)
                    page.wait_for_url(f"**page={name.lower().replace(' ', '-')}", timeout=10_000)
                    fits(page, f"{name} at {width} px")
                    save(page, name.lower().replace(" ", "-"), width)
                show(page, "Champion")
                page.locator(".st-key-lcm_scanner label").first.click()
                page.locator("[data-testid='stCode']").first.wait_for(timeout=20_000)
                fits(page, f"the scanner's lines at {width} px")
                save(page, "champion-scanner", width)
                page.reload()  # the page survives a reload
                page.locator(".st-key-lcm_champion h3").wait_for(timeout=30_000)
                show(page, "Archive")
                page.reload()
                page.locator(PAGES["Archive"]).first.wait_for(timeout=30_000)
                page.locator(".st-key-lcm_rb_convnext_v1_0_0 button:visible").first.click()
                page.locator(".st-key-lcm_confirm").wait_for(timeout=20_000)
                page.get_by_text("worse on magnitude accuracy").first.wait_for(timeout=20_000)
                fits(page, f"the rollback confirmation at {width} px")
                save(page, "archive-rollback-confirmation", width)
                page.locator(".st-key-lcm_rb_cancel button:visible").first.click()
                page.locator(".st-key-lcm_confirm").wait_for(state="detached", timeout=20_000)
                page.close()
        finally:
            browser.close()
    assert list(open_engine(engine.root).records())[-1]["command"] == "submit", "nothing was changed"
