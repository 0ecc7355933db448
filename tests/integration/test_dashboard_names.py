"""Named dashboard tokens: an action from the page is recorded as ``dashboard:<name>``.

``config/dashboard.tokens`` (or ``$LIFECYCLE_DASHBOARD_TOKEN``, or the file named by
``$LIFECYCLE_DASHBOARD_TOKEN_FILE``) holds ``name: token`` lines; the launcher hands them
to the page, the page asks for a token before a rollback and records the rollback as the
token's owner. A wrong token (or none, or the whole file, or another line's text) does
nothing. A single token keeps the actor "dashboard".
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from streamlit.testing.v1 import AppTest

from dashboard import access, snapshot
from dashboard.launch import prepare
from lifecycle.errors import UserError
from service.engine import Engine
from tests.integration.test_bad_input import fingerprint
from tests.integration.test_dashboard import TOKEN, app, build_root, goto, records, texts

pytestmark = pytest.mark.timeout(180)

ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-fedcba9876543210"
TOKENS_TEXT = f"# who may act from the dashboard\nalice: {ALICE}\n\nbob:{BOB}\n"


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.delenv(access.TOKEN_ENV, raising=False)
    monkeypatch.delenv(access.TOKEN_FILE_ENV, raising=False)
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # the page's anti-guessing pause
    snapshot.forget()
    return build_root(tmp_path / "root")


def named(root: Path) -> str:
    """What ``lifecycle dashboard --allow-actions --host 0.0.0.0`` hands the page, from
    ``config/dashboard.tokens``."""
    path = root / access.TOKENS_FILE
    path.write_text(TOKENS_TEXT)
    path.chmod(0o600)
    command, env = prepare(root, host="0.0.0.0", port=8501, allow_actions=True)
    assert ALICE not in " ".join(command) and BOB not in " ".join(command)
    return env[access.TOKEN_ENV]


def roll_back(at: AppTest, target: str, given: str | None, reason: str = "false positives") -> AppTest:
    goto(at, "Archive")
    at.button(key=f"lcm_rb_convnext_v{target.replace('.', '_')}").click().run()
    at.text_input(key="lcm_rb_reason").input(reason)
    at.checkbox(key="lcm_rb_confirm").check()
    if given is not None:
        at.text_input(key="lcm_rb_token").input(given)
    at.button(key="lcm_rb_submit").click().run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize(("name", "token"), [("alice", ALICE), ("bob", BOB)])
def test_a_rollback_is_recorded_as_the_owner_of_the_token(built: Engine, name: str, token: str) -> None:
    root = built.root
    at = app(root, allow=True, token=named(root)).run()
    goto(at, "Archive")
    at.button(key="lcm_rb_convnext_v1_0_1").click().run()
    assert "actor 'dashboard:<the name of your token>'" in texts(at)
    roll_back(at, "1.0.1", token, reason=f"rolled back by {name}")
    assert "Rolled back: v1.0.1 is the champion again" in texts(at)
    last = records(root)[-1]
    assert last["command"] == "rollback" and last["actor"] == f"dashboard:{name}"
    assert last["reason"] == f"rolled back by {name}"
    goto(at, "History")  # the history shows who did it
    assert f"dashboard:{name}" in at.selectbox(key="lcm_hist_actor").options
    at.selectbox(key="lcm_hist_actor").set_value(f"dashboard:{name}").run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert set(shown["actor"]) == {f"dashboard:{name}"} and "rolled_back" in set(shown["type"])


def test_the_page_remembers_who_unlocked_it(built: Engine) -> None:
    root = built.root
    at = app(root, allow=True, token=named(root)).run()
    roll_back(at, "1.0.1", BOB)
    roll_back(at, "1.0.0", None)  # unlocked for this session: not asked again
    assert "Rolled back: v1.0.0" in texts(at)
    assert [r["actor"] for r in records(root)[-2:]] == ["dashboard:bob", "dashboard:bob"]


@pytest.mark.parametrize("given", ["", "alice", f"alice: {ALICE}", TOKENS_TEXT, ALICE[:-1], ALICE + "x",
                                   ALICE.upper(), TOKEN, f"{ALICE}{BOB}"])
def test_a_wrong_token_performs_nothing(built: Engine, given: str) -> None:
    root = built.root
    tokens = named(root)
    before = fingerprint(root)
    at = app(root, allow=True, token=tokens).run()
    at.query_params["token"] = ALICE  # a token in the link does not count
    roll_back(at, "1.0.1", given)
    assert "Wrong access token" in texts(at)
    assert fingerprint(root) == before
    assert records(root)[-1]["command"] == "submit"  # build_root's last commit


def test_a_single_token_keeps_the_actor_dashboard(built: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    root = built.root
    monkeypatch.setenv(access.TOKEN_ENV, TOKEN)
    _, env = prepare(root, host="0.0.0.0", port=8501, allow_actions=True)
    assert env[access.TOKEN_ENV] == TOKEN
    at = roll_back(app(root, allow=True, token=env[access.TOKEN_ENV]).run(), "1.0.1", TOKEN)
    assert "Rolled back: v1.0.1" in texts(at)
    assert records(root)[-1]["actor"] == "dashboard"


def test_named_tokens_in_the_environment(built: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    root = built.root
    monkeypatch.setenv(access.TOKEN_ENV, f"carol.w@lab: {ALICE}\ndave: {BOB}")
    _, env = prepare(root, host="0.0.0.0", port=8501, allow_actions=True)
    roll_back(app(root, allow=True, token=env[access.TOKEN_ENV]).run(), "1.0.1", f"  {ALICE} ")
    assert records(root)[-1]["actor"] == "dashboard:carol.w@lab"
    assert access.actor_for(env[access.TOKEN_ENV], BOB) == "dashboard:dave"
    assert access.actor_for(env[access.TOKEN_ENV], "dave") is None


# -- the token files: refused loudly, never half read --------------------------------------
@pytest.mark.parametrize(("text", "problem"), [
    (f"alice: {ALICE}\nbob: short", "token of 'bob' .* too short"),
    (f"alice: {ALICE}\nalice: {BOB}", "line 2 of .* repeats a name"),
    (f"alice: {ALICE}\nbob: {ALICE}", "two names share one token"),
    (f"alice: {ALICE}\nbob {BOB}", "line 2 of .* is not 'name: token'"),
    (f"alice: {ALICE}\nb o b: {BOB}", "line 2 of .* is not 'name: token'"),
    (f"alice: {ALICE}\n{'x' * 65}: {BOB}", "line 2 of .* is not 'name: token'"),
    (f"alice: {ALICE} extra\nbob: {BOB}", "line 1 of .* is not 'name: token'"),
    ("# nobody yet\n# (comments only)", "names no token"),
    ("alice: short", "token of 'alice' .* too short"),
])
def test_bad_token_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                                     problem: str) -> None:
    monkeypatch.delenv(access.TOKEN_ENV, raising=False)
    monkeypatch.delenv(access.TOKEN_FILE_ENV, raising=False)
    path = tmp_path / access.TOKENS_FILE
    path.parent.mkdir(parents=True)
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(UserError, match=problem) as caught:
        access.load_token(tmp_path)
    assert "\n" not in str(caught.value) and ALICE not in str(caught.value)


def test_token_file_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(access.TOKEN_ENV, raising=False)
    monkeypatch.delenv(access.TOKEN_FILE_ENV, raising=False)
    (tmp_path / "config").mkdir()
    tokens = tmp_path / access.TOKENS_FILE
    tokens.write_text(TOKENS_TEXT)
    tokens.chmod(0o644)
    with pytest.raises(UserError, match="chmod 600"):
        access.load_token(tmp_path)
    tokens.chmod(0o600)
    assert access.load_token(tmp_path) == f"alice: {ALICE}\nbob: {BOB}"
    single = tmp_path / access.TOKEN_FILE
    single.write_text(TOKEN)
    single.chmod(0o600)
    with pytest.raises(UserError, match="keep one of them"):
        access.load_token(tmp_path)
    single.unlink()
    elsewhere = tmp_path / "team.tokens"  # $LIFECYCLE_DASHBOARD_TOKEN_FILE may name either kind
    elsewhere.write_text(f"erin: {BOB}\n")
    elsewhere.chmod(0o600)
    monkeypatch.setenv(access.TOKEN_FILE_ENV, str(elsewhere))
    assert access.load_token(tmp_path) == f"erin: {BOB}"
    assert access.actor_for(f"erin: {BOB}", BOB) == "dashboard:erin"
    assert access.actor_for(TOKEN, TOKEN) == "dashboard" and access.actor_for(TOKEN, BOB) is None
    # one line that is not "name: token" is one token, as before named tokens (a pass phrase)
    phrase = "correct horse: battery staple"
    elsewhere.write_text(phrase + "\n")
    assert access.load_token(tmp_path) == phrase
    assert access.actor_for(phrase, phrase) == "dashboard" and access.actor_for(phrase, "battery") is None
