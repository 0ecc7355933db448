"""Issue 19 (3), the launcher's half: the token rule and the names the page may be reached by.

- ``--allow-actions`` needs a token on every bind address; the one way without is
  ``--allow-actions --no-token``, accepted only on a loopback bind and only when no token
  is configured.
- The server is started with ``server.allowedHosts`` = the names of the bound address
  (localhost, 127.0.0.1, ::1 for a loopback bind; plus ``--allowed-host`` names), CORS
  and XSRF protection forced on; the page applies the same names to ``Host`` and wants an
  ``Origin`` that is that host (``access.foreign_request``). The real server is exercised
  in ``tests/e2e/test_dashboard_hosts.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")

from dashboard import access
from dashboard.launch import prepare
from tests.integration.test_dashboard import TOKEN


@pytest.fixture(autouse=True)
def no_token_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(access.TOKEN_ENV, raising=False)
    monkeypatch.delenv(access.TOKEN_FILE_ENV, raising=False)

    def never(*args: Any) -> None:  # a start that should have been refused must not replace pytest
        raise AssertionError(f"the dashboard would have started: {args[1]}")

    monkeypatch.setattr("dashboard.launch.os.execve", never)


def flags(command: list[str]) -> list[tuple[str, str]]:
    server = command[command.index("run") + 2: command.index("--")]
    return list(zip(server[::2], server[1::2], strict=True))


@pytest.mark.parametrize(("args", "message"), [
    (["--allow-actions"], "needs a token"),  # loopback: refused too now
    (["--allow-actions", "--host", "::1"], "needs a token"),
    (["--allow-actions", "--host", "0.0.0.0"], "needs a token"),
    (["--allow-actions", "--no-token", "--host", "0.0.0.0"], "for this machine only"),
    (["--allow-actions", "--no-token", "--host", "192.168.1.10"], "for this machine only"),
    (["--no-token"], "goes with --allow-actions"),
    (["--allowed-host", "*.example.org"], "not a host name or an IP address"),
    (["--allowed-host", "dash.example.org:8501"], "not a host name or an IP address"),
])
def test_unsafe_starts_are_refused_with_one_line(cli: Any, args: list[str], message: str) -> None:
    result = cli("dashboard", *args, code=2)
    assert result.stderr.startswith("error: ") and message in result.stderr and result.stderr.count("\n") == 1


def test_no_token_is_refused_when_a_token_is_configured(cli: Any, root: Path) -> None:
    path = root / access.TOKEN_FILE
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    result = cli("dashboard", "--allow-actions", "--no-token", code=2)
    assert "a token is configured" in result.stderr


def test_the_token_or_no_token_reaches_the_page(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command, env = prepare(root, host="127.0.0.1", port=8501, allow_actions=True, no_token=True)
    assert access.TOKEN_ENV not in env and command[-2:] == ["--allow-actions", "--no-token"]
    monkeypatch.setenv(access.TOKEN_ENV, TOKEN)
    for host in ("127.0.0.1", "0.0.0.0"):
        command, env = prepare(root, host=host, port=8501, allow_actions=True)
        assert env[access.TOKEN_ENV] == TOKEN and command[-1] == "--allow-actions" and TOKEN not in command


def test_the_server_accepts_only_the_names_of_its_address(root: Path) -> None:
    command, _ = prepare(root, host="127.0.0.1", port=8501, allow_actions=False)
    found = flags(command)
    assert ("--server.enableCORS", "true") in found and ("--server.enableXsrfProtection", "true") in found
    assert [v for k, v in found if k == "--server.allowedHosts"] == ["127.0.0.1", "localhost", "::1"]
    command, _ = prepare(root, host="127.0.0.1", port=8501, allow_actions=False,
                         extra_hosts=["Dash.Example.org", "[fd00::5]"])
    assert [v for k, v in flags(command) if k == "--server.allowedHosts"][-2:] == ["dash.example.org", "fd00::5"]
    command, _ = prepare(root, host="10.1.2.3", port=8501, allow_actions=False)
    names = [v for k, v in flags(command) if k == "--server.allowedHosts"]
    assert names[0] == "10.1.2.3" and "localhost" not in names and "127.0.0.1" not in names
    everywhere = access.allowed_hosts("0.0.0.0")
    assert {"localhost", "127.0.0.1", "::1"} <= set(everywhere) and "0.0.0.0" not in everywhere


@pytest.mark.parametrize(("host", "origin", "refused"), [
    ("127.0.0.1:8501", "http://127.0.0.1:8501", False),
    ("localhost:8501", "http://localhost:8501", False),
    ("[::1]:8501", "http://[::1]:8501", False),
    ("LOCALHOST:8501", "http://localhost:8501", False),
    ("127.0.0.1:8501", None, False),  # not a browser: no other site drives it
    (None, None, False),  # no headers at all (not a server connection)
    ("attacker.example:8501", "http://attacker.example:8501", True),  # DNS rebinding
    ("attacker.example:8501", None, True),
    ("127.0.0.1:8501", "http://attacker.example", True),
    ("127.0.0.1:8501", "http://localhost:3000", True),  # another local page (Streamlit admits it)
    ("127.0.0.1:8501", "http://127.0.0.1:8502", True),
    ("127.0.0.1:8501", "null", True),
    ("127.0.0.1:8501", "file://", True),
    ("127.0.0.1.attacker.example:8501", "http://127.0.0.1.attacker.example:8501", True),
    ("user@127.0.0.1:8501", "http://127.0.0.1:8501", True),
    ("user@127.0.0.1:8501", None, True),
    ("127.0.0.1:x", None, True),
    ("127.0.0.1/path", None, True),
    ("127.0.0.1", None, False),
])
def test_foreign_hosts_and_origins(host: str | None, origin: str | None, refused: bool) -> None:
    problem = access.foreign_request(host, origin, access.allowed_hosts("127.0.0.1"))
    assert (problem is not None) == refused, problem


@pytest.mark.parametrize(("extra", "token", "enabled"), [
    ([], None, False),  # app.py started by hand: no token and no --no-token is read-only
    (["--no-token"], None, True),
    ([], TOKEN, True),
])
def test_the_page_acts_without_a_token_only_when_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      extra: list[str], token: str | None, enabled: bool) -> None:
    import sys

    from streamlit.testing.v1 import AppTest

    from dashboard import snapshot
    from dashboard.launch import APP
    from tests.integration.test_dashboard import build_root, goto, texts

    snapshot.forget()
    root = build_root(tmp_path / "root").root
    monkeypatch.setattr(sys, "argv", [str(APP), "--root", str(root), "--allow-actions", *extra])
    monkeypatch.setenv("LIFECYCLE_DASHBOARD_REFRESH", "0")
    if token is not None:
        monkeypatch.setenv(access.TOKEN_ENV, token)
    at = goto(AppTest.from_file(str(APP), default_timeout=60).run(), "Archive")
    assert at.button(key="lcm_rb_convnext_v1_0_1").disabled is not enabled
    assert ("actions without a token need --no-token" in texts(at)) is not enabled
