"""Human output: rich tables and panels. JSON output goes through ``emit_json``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import typer

if TYPE_CHECKING:
    from rich.console import Console

_CONSOLE: list[Console] = []


def get_console() -> Console:
    """The rich console, created on first use (importing rich costs ~40 ms per command)."""
    if not _CONSOLE:
        from rich.console import Console

        console = Console(highlight=False, soft_wrap=False)
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console.width = 140
        _CONSOLE.append(console)
    return _CONSOLE[0]


def visible(text: str, keep: str = "\n") -> str:
    """Text with control characters shown escaped (stored reasons and names come from users:
    an ESC sequence must not reach the terminal)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


def say(text: str) -> None:
    typer.echo(visible(text))


def emit_json(data: Any) -> None:
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def pct(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def score(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:  # Text: cells are never read as rich markup
        out.add_row(*(Text("-" if v is None else visible(str(v), keep="")) for v in row))
    get_console().print(out)


def model_line(entry: Mapping[str, Any] | None, role: str) -> str:
    if entry is None:
        return f"{role}: none"
    m = entry.get("metrics", {})
    return (f"{role}: {entry['model_id']}  mag {pct(m.get('magnitude_accuracy'))}%  "
            f"azi {pct(m.get('azimuth_accuracy'))}%  composite {score(m.get('composite_score'))}")


def status(view: Mapping[str, Any]) -> None:
    champion, challenger, log = view["champion"], view["challenger"], view["log"]
    say(model_line(champion, "Champion"))
    if champion:
        extra = f" (rolled back from v{champion['rollback_from']})" if champion.get(
            "rollback_from") else ""
        say(f"  deployed {champion['deployed_at']}{extra}")
    production = view.get("production")
    if production is not None:
        mark = "ok" if production["ok"] else f"NOT OK ({production['state']})"
        say(f"Production: {mark}: {production['detail']}")
    say(model_line(challenger, "Challenger"))
    if challenger:
        say(f"  {challenger['status']}, submitted {challenger['submitted_at']}")
    pending = view.get("pending_approval")
    if pending:
        say(pending_line(pending))
    counts = ", ".join(f"{n} {s}" for s, n in view["by_status"].items()) or "none"
    say(f"Models: {view['models']} ({counts}); pool: {view['pool']} event(s)")
    say(f"Log: {log['seq']} commits, head {log['hash'][:12]}, "
                  f"last update {log['last_updated'] or '-'}")


def pending_line(pending: Mapping[str, Any]) -> str:
    head = (f"Awaiting approval: {pending['verdict']} {pending['model_id']} "
            f"(requested at commit {pending['requested_seq']}): {pending['reason']}")
    if pending["stale"]:
        return f"{head}\n  STALE: {pending['stale']}; run 'lifecycle decide' again"
    return (f"{head}\n  settle it: lifecycle approve {pending['model_id']} --reason ... | "
            f"lifecycle decline {pending['model_id']} --reason ...")


def selection(rows: Sequence[Mapping[str, Any]], total: int) -> None:
    table("Models (champion first: the default for operations)",
          ["", "model", "version", "role", "mag %", "azi %", "composite", "path"],
          [("*" if r["default"] else "", r["model_id"], r["version"], r["role"],
            pct(r["magnitude_accuracy"]), pct(r["azimuth_accuracy"]),
            score(r["composite_score"]), r["path"]) for r in rows])
    if total > len(rows):
        say(f"showing the first {len(rows)} of {total} models; --limit 0 shows all")


def rollback_targets(rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        say("No archived champion to roll back to.")
        return
    say("Available models for rollback:")
    for r in rows:
        m = r["metrics"]
        mark = "  (previous champion: the default)" if r["previous"] else ""
        say(f"  {r['number']}. {r['model_id']} ({r['status']}, archived: "
            f"{(r['archived_at'] or '-')[:10]}){mark}")
        say(f"     Mag: {pct(m.get('magnitude_accuracy'))}%, Azi: {pct(m.get('azimuth_accuracy'))}%")


def history(rows: Sequence[Mapping[str, Any]], total: int) -> None:
    table("History", ["seq", "time", "actor", "event", "model", "reason / detail"],
          [(r["seq"], r["time"][:19], r["actor"], r["type"], r["model_id"],
            "; ".join(x for x in (r["reason"], r["detail"]) if x)) for r in rows])
    if total > len(rows):
        say(f"showing the latest {len(rows)} of {total} events; --limit 0 shows all")


def decision(record: Mapping[str, Any]) -> None:
    from projections.views import event_detail

    for event in record["events"]:
        text = "; ".join(x for x in (event.get("reason"), event_detail(event)) if x)
        subject = event.get("model_id") or event.get("event_id")
        say(f"{event['type']}: {subject}: {text}" if subject else f"{event['type']}: {text}")
        found = event.get("decision") or {}
        for check in found.get("checks", []):
            mark = "----" if check.get("checked") is False else "ok  " if check["passed"] else "FAIL"
            say(f"  [{mark}] {check['detail']}")
        rows = found.get("same_rows")
        if rows:
            say(f"  same rows: {rows['compared']} compared; left out: champion {rows['left_out']['champion']}, "
                f"challenger {rows['left_out']['challenger']} ({rows['why']})")
        if found.get("power"):
            say(f"  power: {found['power']['detail']}")
        for warning in found.get("warnings", []):
            say(f"  warning: {warning}")
        same = (found.get("dataset") or {}) if isinstance(found.get("dataset"), dict) else {}
        if same.get("same_data"):
            say(f"  same data: {same['same_data']}")
        if event["type"] == "approval_requested":
            say(f"  awaiting approval: lifecycle approve {event['model_id']} --reason ... | "
                f"lifecycle decline {event['model_id']} --reason ...")


def comparison(view: Mapping[str, Any]) -> None:
    a, b = view["a"], view["b"]
    data = "same data" if view["same_data"] else "DIFFERENT data: compare with care"
    marks = {"a": "A better", "b": "B better", "same": "same", None: ""}
    if view.get("paired_test"):
        m = view["paired_test"]
        data += (f"; paired test over events p={m['p_value']:.4g} ({m['events']} events, {m['images']} "
                 f"images, b={m['b']}, c={m['c']}, {m['method']})")
    table(f"A = {a['model_id']} ({a['status']})  vs  B = {b['model_id']} ({b['status']}); {data}",
          ["metric", "A", "B", "B - A", ""],
          [(r["metric"], r["a"], r["b"],
            None if r["difference"] is None else f"{r['difference']:+.4f}", marks[r["better"]])
           for r in view["metrics"]])


def predictions(rows: Sequence[Mapping[str, Any]]) -> None:
    """One line per image: "v1.0.2: Large (95.2%) | v1.0.1: Large (93.8%)" and the truth."""
    for row in rows:
        parts = [f"v{m['version']}: {m['magnitude_pred']} ({100 * m['magnitude_confidence']:.1f}%) "
                 f"{m['azimuth_pred']} ({100 * m['azimuth_confidence']:.1f}%)"
                 for m in row["models"].values()]
        truth = row.get("truth")
        label = f"  [true: {truth['magnitude']} {truth['azimuth']}]" if truth else ""
        say(f"{os.path.basename(row['image'])}: " + " | ".join(parts) + label)


def lineage(links: Sequence[Mapping[str, Any]]) -> None:
    """The chain of parents, newest first, with data, code and the decision of each."""
    for depth, link in enumerate(links):
        pad = "  " * depth
        say(f"{pad}{link['model_id']} ({link['status']}, {link['architecture']}, created {link['created_at']})")
        if not link["recorded"]:
            say(f"{pad}  no lineage recorded (registered from a folder or imported)")
            continue
        for data in link["data"]:
            say(f"{pad}  data {data['path']}: {data.get('total_samples')} samples, {data.get('events')} events, "
                f"sha256 {str(data.get('digest'))[:12]}")
        code, runtime = link.get("code") or {}, link.get("runtime") or {}
        say(f"{pad}  code {code.get('version')} (commit {str(code.get('commit') or 'unknown')[:12]}); "
            f"python {runtime.get('python')}, torch {runtime.get('torch')}, timm {runtime.get('timm')}; "
            f"device {link.get('device')}")
        if link.get("decision"):
            decision = link["decision"]
            say(f"{pad}  decision: {decision.get('outcome') or '-'}: {decision.get('reason') or '-'}")
        say(f"{pad}  parent: {link['parent'] or 'none (trained from scratch)'}")
