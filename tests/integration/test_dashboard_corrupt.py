"""Issue 19 (2): a corrupt log is shown on every page, also when a state cache exists.

Readers may start from ``cache/state.json`` and read only the commits after its anchor,
so a line changed before the anchor went unseen: Archive and Compare looked normal with
Rollback enabled, the Champion page half-rendered, and the damage showed only once a
rollback was confirmed and refused. Now every page run checks the whole chain (once per
log key): every page shows one banner naming the line, nothing is drawn from the log and
no action is offered; once the log is restored the pages come back by themselves.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

pytest.importorskip("streamlit")

from streamlit.testing.v1 import AppTest

from bootstrap import open_engine
from dashboard import snapshot
from dashboard.view import PAGES
from lifecycle.errors import LogCorrupt
from projections import snapshot as state_cache
from service.engine import Engine
from tests.integration.test_dashboard import TOKEN, app, build_root, goto, texts

pytestmark = pytest.mark.timeout(180)

LINE = 3  # a line well before the cache's anchor (build_root writes 13 commits)


@pytest.fixture
def cached(tmp_path: Path) -> Engine:
    """build_root's registry with ``cache/state.json`` at its last commit."""
    snapshot.forget()
    engine = build_root(tmp_path / "root")
    reader = open_engine(engine.root)
    state = reader.state()
    position = reader.log.position()
    assert position is not None and state_cache.save(engine.root, position, state)
    assert state_cache.load(engine.root) is not None and state_cache.load(engine.root).anchor.seq > LINE  # type: ignore[union-attr]
    return engine


def tamper(log: Path, line: int, *, rehash: bool) -> bytes:
    """Change the actor of one line (same length); with ``rehash`` its own hash is made
    valid again, so only the next line's link shows it. Returns the original bytes."""
    from events.codec import encode

    original = log.read_bytes()
    lines = original.splitlines(keepends=True)
    if rehash:
        record = orjson.loads(lines[line - 1])
        del record["hash"]
        record["actor"] = "alicX@lab"
        lines[line - 1] = encode(record)[0]
    else:
        lines[line - 1] = lines[line - 1].replace(b'"alice@lab"', b'"alicX@lab"', 1)
    assert lines[line - 1] != original.splitlines(keepends=True)[line - 1]
    log.write_bytes(b"".join(lines))
    return original


def banners(at: AppTest) -> list[str]:
    return [e.value for e in at.error if "is corrupt" in e.value]


def enabled_actions(at: AppTest) -> list[str]:
    """Keys of enabled buttons that act (a rollback, its confirmation)."""
    return [b.key for b in at.button if b.key and b.key.startswith("lcm_rb") and not b.disabled]


@pytest.mark.parametrize("rehash", [False, True], ids=["bad-hash", "bad-link"])
def test_every_page_shows_the_corruption_with_a_state_cache(cached: Engine, rehash: bool) -> None:
    root = cached.root
    original = tamper(root / "events.jsonl", LINE, rehash=rehash)
    assert open_engine(root).state().seq == len(original.splitlines())  # a reader trusting the cache sees nothing
    at = app(root, allow=True).run()
    assert not at.exception
    line = LINE + 1 if rehash else LINE
    for page in ["Archive", "Compare", *(p for p in PAGES if p not in ("Archive", "Compare"))]:
        goto(at, page)
        assert not enabled_actions(at), page
        shown = texts(at)
        assert "Champion v" not in shown and "archived models" not in shown, f"{page} drew from the log"
        assert not at.get("form") and not at.dataframe, page
        assert len(banners(at)) == 1, (page, [e.value for e in at.error])
        assert f"corrupt** at line {line}" in banners(at)[0], page

    (root / "events.jsonl").write_bytes(original)  # restored from a backup
    goto(at, "Archive")
    assert not banners(at) and "3 archived models" in texts(at), "the pages come back by themselves"
    assert not at.button(key="lcm_rb_convnext_v1_0_1").disabled


def test_a_rollback_chosen_before_the_damage_is_dropped(cached: Engine) -> None:
    root = cached.root
    at = goto(app(root, allow=True, token=TOKEN).run(), "Archive")
    at.button(key="lcm_rb_convnext_v1_0_1").click().run()
    assert at.get("form"), "the confirmation is open"
    tamper(root / "events.jsonl", LINE, rehash=False)
    at.run()
    assert banners(at) and not at.get("form") and "lcm_pending" not in at.session_state


def test_the_snapshot_refuses_a_log_that_fails_before_the_cache_anchor(cached: Engine) -> None:
    tamper(cached.root / "events.jsonl", LINE, rehash=True)
    with pytest.raises(LogCorrupt, match=f"line {LINE + 1}"):
        snapshot.load(cached.root)
