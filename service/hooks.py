"""Notification hooks for chosen event types: commands that get the event JSON on stdin,
or webhooks that get the same JSON POSTed (``Content-Type: application/json``).

Guarantees:
1. A hook never blocks or breaks the engine: each one runs in a detached runner process
   (``python -m service.hooks``) that enforces the timeout (a command's whole process group
   is killed; a webhook attempt is abandoned) and logs the outcome to ``<root>/hooks.log``;
   the command that committed the event returns at once.
2. Hooks run only after the commit is durable and projected.
3. A failing, missing or hanging hook is logged with its reason; nothing else happens.
4. A webhook is tried at most ``1 + retries`` times: again after a connection error, a
   timeout or a 5xx answer, after a pause of 0.5 s, 1 s, 2 s, ... (at most 8 s), so the
   runner ends within ``(1 + retries) * timeout`` plus the pauses. A 2xx answer is success;
   a 4xx answer is a failure that is not retried; a redirect is never followed (a failure,
   not retried). Each attempt is one line of ``hooks.log``, which names the URL without its
   query string and never shows the headers (they may hold a secret).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.daemon_config import Hook, Settings

LOG = "hooks.log"


def dispatch(root: Path, settings: Settings, record: Mapping[str, Any]) -> int:
    """Start a runner for every (hook, event) pair that matches; returns how many."""
    started = 0
    for event in record["events"]:
        for hook in settings.hooks:
            if event["type"] in hook.events or "*" in hook.events:
                _start(root, hook, record, event)
                started += 1
    return started


def _start(root: Path, hook: Hook, record: Mapping[str, Any], event: Mapping[str, Any]) -> None:
    payload: dict[str, Any] = {
        "root": str(root), "command": hook.command if isinstance(hook.command, str) else list(hook.command),
        "timeout": hook.timeout,
        "event": {"seq": record["seq"], "time": record["time"], "actor": record["actor"],
                  "command": record["command"], "event": dict(event)},
    }
    if hook.url is not None:
        payload.update(url=hook.url, retries=hook.retries, headers=[list(pair) for pair in hook.headers])
    runner = subprocess.Popen([sys.executable, "-m", "service.hooks"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True, cwd=root)
    assert runner.stdin is not None
    runner.stdin.write(json.dumps(payload).encode())
    runner.stdin.close()


def run_hook(payload: Mapping[str, Any]) -> str:
    """Run one hook to completion or timeout; returns the log line."""
    command, timeout = payload["command"], float(payload["timeout"])
    data = json.dumps(payload["event"], sort_keys=True).encode()
    what = f"hook {command!r} for {payload['event']['event']['type']} (commit {payload['event']['seq']})"
    try:
        process = subprocess.Popen(command, shell=isinstance(command, str), stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        return f"{what}: could not start ({exc})"
    try:
        _, err = process.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return f"{what}: timed out after {timeout:g} s; killed"
    if process.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"{what}: failed with exit status {process.returncode} {tail[0][:200]}".rstrip()
    return f"{what}: ok"


# -- webhooks ------------------------------------------------------------------------------
FIRST_PAUSE = 0.5  # seconds before the first retry; doubled each time ...
MAX_PAUSE = 8.0  # ... up to this
USER_AGENT = "lifecycle-webhook"


class _Expired(Exception):
    """An attempt ran past its timeout (the runner's own alarm)."""


def shown_url(url: str) -> str:
    """The URL for the log: without its query string and fragment (they may hold a secret)."""
    parts = urllib.parse.urlsplit(url)
    bare = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return bare + ("?..." if parts.query else "")


def pause(retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (1, 2, ...): 0.5, 1, 2, 4, 8, 8, ..."""
    return float(min(FIRST_PAUSE * 2 ** (retry - 1), MAX_PAUSE))


def post_webhook(payload: Mapping[str, Any], log: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep) -> bool:
    """POST the event JSON to ``payload["url"]`` with retries (guarantee 4); every attempt
    is passed to ``log`` as one line. True when an attempt got a 2xx answer."""
    url, timeout, retries = str(payload["url"]), float(payload["timeout"]), int(payload.get("retries", 0))
    event = payload["event"]
    what = f"webhook POST {shown_url(url)} for {event['event']['type']} (commit {event['seq']})"
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        log(f"{what}: refused (only http:// and https:// URLs)")
        return False
    body = json.dumps(event, sort_keys=True).encode()
    headers = {"User-Agent": USER_AGENT, **{str(k): str(v) for k, v in payload.get("headers", [])},
               "Content-Type": "application/json"}
    attempts = 1 + retries
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        outcome, ok, again = _attempt(request, timeout)
        step = f"{what}: attempt {attempt} of {attempts}: {outcome}"
        if ok:
            log(step)
            return True
        if not again:
            log(f"{step}; not retried")
            return False
        if attempt == attempts:
            log(f"{step}; giving up")
            return False
        wait = pause(attempt)
        log(f"{step}; retrying in {wait:g} s")
        sleep(wait)
    return False  # pragma: no cover - the loop returns


def _opener() -> urllib.request.OpenerDirector:
    """http and https only, the environment's proxies, and no redirect handler: a 3xx
    answer is an ``HTTPError``, never followed."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def _attempt(request: urllib.request.Request, timeout: float) -> tuple[str, bool, bool]:
    """One POST: (what happened, success, worth retrying)."""
    try:
        with _deadline(timeout), _opener().open(request, timeout=timeout) as answer:
            status = int(answer.status)
        return f"ok (HTTP {status})", True, False
    except urllib.error.HTTPError as exc:
        code, reason = exc.code, str(exc.reason)[:100]
        location = exc.headers.get("Location") if exc.headers else None
        exc.close()
        if 300 <= code < 400:
            return f"HTTP {code} redirect to {str(location)[:200]!r} not followed", False, False
        return f"HTTP {code} {reason}".rstrip(), False, code >= 500
    except (_Expired, TimeoutError):
        return f"timed out after {timeout:g} s", False, True
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return f"timed out after {timeout:g} s", False, True
        return f"connection failed ({str(exc.reason)[:200]})", False, True
    except (http.client.HTTPException, OSError) as exc:
        return f"connection failed ({exc!r:.200})", False, True


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise ``_Expired`` in the body once ``seconds`` have passed (the socket timeout alone
    bounds each read, not a server that trickles its answer). Main thread only; elsewhere
    the socket timeout is the only bound."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    done = False

    def expired(signum: int, frame: Any) -> None:
        if not done:
            raise _Expired

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
        done = True
    finally:
        done = True
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _log(root: Path, line: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(root / LOG, "a") as f:
        f.write(f"{stamp} {line}\n")


def main() -> None:
    payload = json.loads(sys.stdin.buffer.read())
    root = Path(payload["root"])
    try:
        if payload.get("url"):
            post_webhook(payload, lambda line: _log(root, line))
            return
        line = run_hook(payload)
    except Exception as exc:  # the runner must log, whatever happens
        url = payload.get("url")
        hook = f"webhook {shown_url(str(url))}" if url else f"hook {payload.get('command')!r}"
        line = f"{hook}: runner error {exc!r}"
    _log(root, line)


if __name__ == "__main__":
    main()
