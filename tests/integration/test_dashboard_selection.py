"""Issue 19 (1): one model selected for analysis, everywhere, on every page.

The pair of models under analysis lives in the session (``lcm_baseline``: Model A,
``lcm_selected``: Model B), not in the selectors: the header, the Model A / Model B boxes
of Compare and of Test an event, and what Compare's table compares all name the same
models, whether the choice was made with the archive's "Use" or in a box, and whichever
pages were drawn in between. (The real-browser half, where the box showed the champion
while the table compared the picked model, is ``tests/e2e/test_dashboard_browser.py``.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from streamlit.testing.v1 import AppTest

from dashboard import snapshot
from service.engine import Engine
from tests.integration.test_dashboard import app, build_root, goto, texts

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def built(tmp_path: Path) -> Engine:
    snapshot.forget()
    engine = build_root(tmp_path / "root")
    from models.synth import write_synthetic

    write_synthetic(engine.root / "data" / "holdout", samples=6, seed=3, image_size=32)  # Test an event's data
    return engine


def header(at: AppTest) -> str | None:
    """The version the header names as selected for analysis (None: none)."""
    found = re.search(r"Selected for analysis: v([\d.]+)", texts(at))
    return found[1] if found else None


def compared(at: AppTest) -> tuple[str, str]:
    """(A, B) as Compare's table heads them."""
    columns = list(at.dataframe[0].value.columns)
    a = next(c for c in columns if c.endswith(" (A)"))
    b = next(c for c in columns if c.endswith(" (B)"))
    return a[1:-4], b[1:-4]


def boxes(at: AppTest, prefix: str) -> tuple[str, str]:
    return str(at.selectbox(key=f"lcm_{prefix}_a").value), str(at.selectbox(key=f"lcm_{prefix}_b").value)


def use(at: AppTest, version: str) -> None:
    goto(at, "Archive")
    at.button(key=f"lcm_use_convnext_v{version.replace('.', '_')}").click().run()
    assert f"v{version} selected for analysis" in texts(at)


def test_the_header_the_boxes_and_the_table_agree_across_pages(built: Engine) -> None:
    at = goto(app(built.root).run(), "Compare")  # drawn once before anything is chosen
    assert boxes(at, "cmp") == ("convnext_v1.0.3", "convnext_v1.0.1") and header(at) is None

    use(at, "1.0.0")
    goto(at, "Compare")
    assert boxes(at, "cmp") == ("convnext_v1.0.3", "convnext_v1.0.0")
    assert compared(at) == ("1.0.3", "1.0.0") and header(at) == "1.0.0"

    at.selectbox(key="lcm_cmp_b").set_value("convnext_v1.0.1").run()  # a choice in the box
    assert compared(at) == ("1.0.3", "1.0.1")
    assert header(at) == "1.0.1", "the header still named the model picked in the archive"
    at.selectbox(key="lcm_cmp_a").set_value("convnext_v1.0.0").run()
    assert compared(at) == ("1.0.0", "1.0.1") and header(at) == "1.0.1"

    for page in ("History", "Champion", "Test an event"):
        goto(at, page)
        assert header(at) == "1.0.1", page
    assert boxes(at, "evt") == ("convnext_v1.0.0", "convnext_v1.0.1"), "Test an event analyses the same pair"
    goto(at, "Compare")
    assert boxes(at, "cmp") == ("convnext_v1.0.0", "convnext_v1.0.1"), "the choice was lost"
    assert compared(at) == ("1.0.0", "1.0.1")

    use(at, "1.0.2")  # after the boxes were drawn and changed
    goto(at, "Compare")
    assert boxes(at, "cmp") == ("convnext_v1.0.0", "convnext_v1.0.2")
    assert compared(at) == ("1.0.0", "1.0.2") and header(at) == "1.0.2"


def test_a_choice_in_test_an_event_is_the_selection_too(built: Engine) -> None:
    at = goto(app(built.root).run(), "Test an event")
    at.selectbox(key="lcm_evt_b").set_value("convnext_v1.0.4").run()
    assert header(at) == "1.0.4"
    goto(at, "Compare")
    assert boxes(at, "cmp") == ("convnext_v1.0.3", "convnext_v1.0.4") and compared(at) == ("1.0.3", "1.0.4")


def test_a_selection_that_is_not_in_the_registry_falls_back(built: Engine) -> None:
    at = app(built.root)
    at.session_state["lcm_selected"] = "convnext_v9.9.9"  # e.g. the page now shows another root
    at.session_state["lcm_baseline"] = 42
    goto(at.run(), "Compare")
    assert not at.exception and header(at) is None
    assert boxes(at, "cmp") == ("convnext_v1.0.3", "convnext_v1.0.1")
