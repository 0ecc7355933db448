"""The Model Management view (SPEC sections 7 and 9), usable as a whole app or as a tab.

``render_model_management(root)`` draws the view into the current Streamlit container:
one snapshot of the log per run (every section shows the same commit), a page selector,
and a small fragment that reruns the page when the log changes (auto-refresh). Actions
(rollback) run ``open_engine(root, actor="dashboard").execute`` with the commit the page
showed, so a concurrent change is refused cleanly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from dashboard.context import KEY, Context, selected_model, show_flashes
from dashboard.sections import archive, compare, event, history, overview, pool, versions
from dashboard.sections.rollback import PENDING
from dashboard.shaping import short_time
from dashboard.snapshot import LogKey, load, log_key
from lifecycle.errors import LogCorrupt, UserError

DEFAULT_REFRESH_SECONDS = 5.0
PAGE_PARAM = "page"  # the page in the URL (``?page=compare``): a link to a view, kept on reload
PAGES: dict[str, Callable[[Context], None]] = {
    "Champion": overview.render,
    "Archive": archive.render,
    "Versions chart": versions.render,
    "Compare": compare.render,
    "Test an event": event.render,
    "History": history.render,
    "Pool": pool.render,
}


def render_model_management(
    root: str | Path, *, allow_actions: bool = False, token: str | None = None,
    refresh_seconds: float | None = DEFAULT_REFRESH_SECONDS,
) -> None:
    """Draw the Model Management view of the registry at ``root``.

    Read-only unless ``allow_actions``; with a ``token``, the page asks for it before any
    action. ``refresh_seconds`` (None: off) is how often the page checks the log.
    """
    path = Path(root).resolve()
    try:
        snapshot = load(path)
    except LogCorrupt as exc:  # every page alike, wherever the damage lies (cache or not)
        _refuse_corrupt(path, exc, refresh_seconds)
        return
    except (UserError, OSError) as exc:
        st.error(f"{exc}" if isinstance(exc, UserError) else f"cannot read {path}: {exc}")
        _auto_refresh(path, _key_or_none(path), refresh_seconds)
        return
    ctx = Context(snapshot, allow_actions=allow_actions, token=token)
    _header(ctx, refresh_seconds)
    show_flashes()
    page = page_selector()
    try:
        PAGES[page](ctx)
    except LogCorrupt as exc:  # damaged after this run's snapshot was read: the next run refuses
        corrupt_banner(path, exc)
    except UserError as exc:
        st.error(str(exc))
    _auto_refresh(path, snapshot.key, refresh_seconds)


def page_slug(page: str) -> str:
    """``"Versions chart"`` -> ``"versions-chart"``: a page's name in the URL."""
    return page.lower().replace(" ", "-")


def page_from_url(value: str | None) -> str:
    """The page a ``?page=`` value names (its slug or its name, any case); Champion when
    it names none. It only chooses what is shown: nothing in a URL ever acts."""
    wanted = page_slug((value or "").strip())
    return next((page for page in PAGES if page_slug(page) == wanted), "Champion")


def page_selector() -> str:
    """The page selector, mirrored in the URL: a new session (a link, a reload) starts on
    the page its URL names; each choice is written back to the URL."""
    key = KEY + "page"
    if st.session_state.get(key) not in PAGES:
        st.session_state[key] = page_from_url(st.query_params.get(PAGE_PARAM))
    page = st.radio("Page", list(PAGES), horizontal=True, key=key, label_visibility="collapsed") or "Champion"
    if st.query_params.get(PAGE_PARAM) != page_slug(page):
        st.query_params[PAGE_PARAM] = page_slug(page)
    return page


def _key_or_none(path: Path) -> LogKey | None:
    try:
        return log_key(path)
    except (UserError, OSError):  # a shared log that cannot be reached: look again later
        return None


def _refuse_corrupt(path: Path, exc: LogCorrupt, refresh_seconds: float | None) -> None:
    """A log that fails its hash chain: the same banner on every page, nothing drawn from
    the log (not even from the state cache), no action offered; the page comes back by
    itself once the log is restored."""
    st.session_state.pop(PENDING, None)  # a rollback chosen before is not carried over
    st.title("Model Management")
    page_selector()
    corrupt_banner(path, exc)
    _auto_refresh(path, _key_or_none(path), refresh_seconds)


def corrupt_banner(path: Path, exc: LogCorrupt) -> None:
    st.error(f"**The event log of `{path}` is corrupt** at line {exc.line} ({exc.why}). Nothing is "
             "shown and no action is possible here until it is restored: restore events.jsonl (or its "
             "database) from a backup; 'lifecycle verify' gives the details.", icon=":material/gpp_bad:")


def _header(ctx: Context, refresh_seconds: float | None) -> None:
    st.title("Model Management")
    state = ctx.state
    mode = "actions allowed" if ctx.allow_actions else "read-only"
    refresh = f"checks for changes every {refresh_seconds:g} s" if refresh_seconds else "auto-refresh off"
    when = short_time(state.last_time) or "never"
    st.caption(f"Registry `{ctx.root}` at commit {state.seq} (last change {when} UTC); "
               f"{len(state.models)} models; {mode}; {refresh}.")
    selected = selected_model(state)
    if selected is not None:
        st.caption(f"Selected for analysis: v{state.models[selected].version} (Model B of Compare and "
                   "Test an event)")


def _auto_refresh(root: Path, seen: LogKey | None, seconds: float | None) -> None:
    """Rerun the whole page when the log has changed since this run read it."""
    if not seconds:
        return

    def watch_log() -> None:
        if log_key(root) != seen:
            st.rerun()

    st.fragment(run_every=seconds)(watch_log)()
