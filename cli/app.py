"""The ``lifecycle`` command line: the composition root. Nothing imports this module.

User errors print one line (``error: ...``) on stderr and exit with status 2; nothing is
changed. Reading commands (status, list, history, rollback --list, verify, replay) never
import torch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

from bootstrap import open_engine
from cli import render
from lifecycle.errors import UserError
from service.engine import Engine, Outcome

app = typer.Typer(
    name="lifecycle", no_args_is_help=True, pretty_exceptions_enable=False,
    help="Event-sourced model lifecycle: champion, challengers, decisions, rollback, audit.",
)
candidate_app = typer.Typer(no_args_is_help=True, help="Candidate model folders.")
app.add_typer(candidate_app, name="candidate")
data_app = typer.Typer(no_args_is_help=True, help="Data sets: synthetic data, the pool of new events.")
app.add_typer(data_app, name="data")
log_app = typer.Typer(no_args_is_help=True, help="The event log itself: export it, move it to PostgreSQL.")
app.add_typer(log_app, name="log")

F = TypeVar("F", bound=Callable[..., Any])
Root = Annotated[Path, typer.Option("--root", envvar="LIFECYCLE_ROOT",
                                    help="Registry root (default: current folder).")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Limit = Annotated[int | None, typer.Option(
    min=0, help="Rows to show (default: 100 in tables, all with --json; 0: all).")]
TABLE_ROWS = 100
ExpectSeq = Annotated[int | None, typer.Option(
    "--expect-seq", help="Fail if the log is no longer at this commit (scripts).")]


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def command(*args: Any, group: typer.Typer = app, **kwargs: Any) -> Callable[[F], F]:
    """Register a command whose ``UserError`` becomes one line on stderr and exit 2 (or the
    error's own code), and whose unexpected ``OSError`` (a disk or permission failure the
    engine does not name) one line and exit 1."""

    def register(fn: F) -> F:
        @functools.wraps(fn)
        def run(*a: Any, **k: Any) -> Any:
            try:
                return fn(*a, **k)
            except UserError as exc:
                _fail(str(exc), exc.exit_code)
            except BrokenPipeError:
                _stdout_closed()
            except OSError as exc:
                where = f": {exc.filename}" if exc.filename else ""
                _fail(f"{exc.strerror or exc}{where}; nothing more was done (run 'lifecycle verify')", 1)

        group.command(*args, **kwargs)(run)
        return fn

    return register


_ROOT: dict[str, Path] = {}


@app.callback()
def _main(root: Root = Path(".")) -> None:
    _ROOT["path"] = root


def engine(actor: str | None = None) -> Engine:
    return open_engine(_ROOT.get("path", Path(".")).resolve(), actor=actor)


def _done(outcome: Outcome, json_output: bool = False) -> None:
    if json_output:
        render.emit_json(outcome.record)
        return
    render.decision(outcome.record)
    render.say(f"commit {outcome.record['seq']} ({outcome.record['hash'][:12]})")


@command()
def init(
    log: Annotated[str | None, typer.Option(
        "--log", help="A shared PostgreSQL log (postgresql://USER@HOST/DB) instead of events.jsonl.")] = None,
    store: Annotated[Path | None, typer.Option(
        help="The weight store, a path every host can read (with --log; default: ROOT/store).")] = None,
) -> None:
    """Create a registry root here (idempotent); with --log, join (or start) a shared log."""
    if log is None:
        if store is not None:
            raise UserError("--store goes with --log (a shared registry); an embedded root keeps ROOT/store")
        eng = engine()
        created = eng.init()
        typer.echo(f"{'initialised' if created else 'already initialised'}: {eng.root}")
        return
    _init_shared(log, store)


def _init_shared(url: str, store: Path | None) -> None:
    from bootstrap import create_shared_log
    from service.backend import configure, read
    from service.engine import LOG_NAME

    root = _ROOT.get("path", Path(".")).resolve()
    if not url.startswith(("postgresql://", "postgres://")):
        raise UserError("--log takes a postgresql:// URL (postgresql://USER@HOST/DB)")
    if (root / LOG_NAME).is_file() and (root / LOG_NAME).stat().st_size:
        raise UserError(f"{root} has its own log with commits; move it with 'lifecycle log migrate --to URL'")
    if read(root).configured:
        raise UserError(f"{root} already names a log in config/lifecycle.toml")
    shared, registry_id = create_shared_log(url)
    empty = shared.is_empty()  # type: ignore[attr-defined]
    configure(root, url, registry_id, store.resolve() if store else None)
    eng = engine()
    eng.init()
    state = eng.state()
    what = "started" if empty else f"joined ({state.seq} commits)"
    typer.echo(f"initialised: {root} on the shared log {registry_id} ({what})")


@command()
def submit(
    path: Annotated[Path, typer.Argument(help="Candidate folder or .pth file.")],
    version: Annotated[str | None, typer.Option(help="Explicit version (> every version seen).")] = None,
    bump: Annotated[Literal["patch", "minor", "major"], typer.Option()] = "patch",
    architecture: Annotated[str | None, typer.Option(help="timm architecture name.")] = None,
    family: Annotated[str | None, typer.Option(
        help="Model family, the id's prefix (default: from the architecture, e.g. resnet10t).")] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    expect_seq: ExpectSeq = None,
    json_output: Json = False,
) -> None:
    """Register a trained model as the new challenger."""
    from service.submission import build_submit

    eng = engine()
    eng.require_root()
    if version is not None and bump != "patch":
        raise UserError("give either --version or --bump, not both")
    from service.daemon_config import load as load_settings

    cmd, files = build_submit(path, architecture=architecture, family=family,
                              version=version, bump=bump, reason=reason,
                              production_format=load_settings(eng.root).production_format)
    _done(eng.execute(cmd, expected_seq=expect_seq, reason=reason, blobs=files), json_output)


@command()
def evaluate(
    refs: Annotated[list[str] | None, typer.Argument(help="Models (default: challenger and champion).")] = None,
    data: Annotated[Path | None, typer.Option(help="Held-out data set folder to evaluate on.")] = None,
    metrics_file: Annotated[Path | None, typer.Option(help="Recorded metrics (JSON object).")] = None,
    dataset: Annotated[str, typer.Option(help="Name of the held-out data set.")] = "benchmark",
    policy: Annotated[Path | None, typer.Option(help="Policy TOML (composite weights).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=4096)] = 32,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    expect_seq: ExpectSeq = None,
    json_output: Json = False,
) -> None:
    """Evaluate models on a held-out data set (or record metrics from a file)."""
    from service.inputs import load_policy

    eng = engine()
    eng.require_root()
    if (data is None) == (metrics_file is None):
        raise UserError("give --data DIR (evaluate the models) or --metrics-file FILE (record metrics)")
    if metrics_file is not None:
        from lifecycle.commands import RecordEvaluation
        from service.inputs import load_metrics

        if not refs or len(refs) != 1:
            raise UserError("--metrics-file records one model: name exactly one REF")
        cmd = RecordEvaluation(ref=refs[0], dataset=dataset, metrics=load_metrics(metrics_file),
                               policy=load_policy(policy))
        _done(eng.execute(cmd, expected_seq=expect_seq), json_output)
        return
    from cli.progress import evaluation_bars
    from service.modelling import evaluate as run_evaluation

    assert data is not None
    names = refs or _default_refs(eng)
    with evaluation_bars() as bars:
        outcome = run_evaluation(eng, names, data, dataset=dataset, policy=load_policy(policy),
                                 batch_size=batch_size, device=_device(device), progress=bars,
                                 expected_seq=expect_seq)
    _done(outcome, json_output)


def _default_refs(eng: Engine) -> list[str]:
    state = eng.state()
    refs = [r for r, present in (("challenger", state.challenger), ("champion", state.champion)) if present]
    if not refs:
        raise UserError("nothing to evaluate: no challenger and no champion; name models or submit one")
    return refs


def _device(name: str) -> str:
    if name not in ("auto", "cpu", "cuda"):
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")
    if name == "cpu":
        return "cpu"
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here")
    return "cuda" if torch.cuda.is_available() else "cpu"


@command()
def decide(
    policy: Annotated[Path | None, typer.Option(help="Policy TOML file.")] = None,
    dataset: Annotated[str, typer.Option(help="Data set both models were evaluated on.")] = "benchmark",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the decision; record nothing.")] = False,
    same_data: Annotated[bool, typer.Option(
        "--same-data", help="Two evaluations without a data digest (metrics files) were measured "
                            "on the same data: compare them (recorded in the decision).")] = False,
    expect_seq: ExpectSeq = None,
    json_output: Json = False,
) -> None:
    """Judge the challenger against the champion (SPEC section 8) and act on it (or, with
    [decide] require_approval, record the verdict as awaiting approval)."""
    from service.deciding import decide as run_decide
    from service.inputs import load_policy

    eng = engine()
    eng.require_root()
    if dry_run:
        events = run_decide(eng, load_policy(policy), dataset, dry_run=True, same_data=same_data)
        if json_output:
            render.emit_json(events)
            return
        render.decision({"events": events})
        typer.echo("dry run: nothing recorded")
        return
    outcome = run_decide(eng, load_policy(policy), dataset, expected_seq=expect_seq, same_data=same_data)
    assert isinstance(outcome, Outcome)
    _done(outcome, json_output)


@command()
def approve(
    ref: Annotated[str, typer.Argument(help="The challenger whose verdict awaits approval.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the log, with you as the actor).")],
    expect_seq: ExpectSeq = None,
    json_output: Json = False,
) -> None:
    """Approve the verdict awaiting approval: it is carried out (promotion or rejection)."""
    from service.deciding import settle

    _done(settle(engine(), ref, reason, approve=True, expected_seq=expect_seq), json_output)


@command()
def decline(
    ref: Annotated[str, typer.Argument(help="The challenger whose verdict awaits approval.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the log, with you as the actor).")],
    expect_seq: ExpectSeq = None,
    json_output: Json = False,
) -> None:
    """Decline the verdict awaiting approval: the champion stays; a declined promotion
    rejects the challenger, a declined rejection leaves it to be decided by hand."""
    from service.deciding import settle

    _done(settle(engine(), ref, reason, approve=False, expected_seq=expect_seq), json_output)


@command()
def promote(
    ref: str,
    reason: Annotated[str, typer.Option(help="Why (recorded in the log).")],
    expect_seq: ExpectSeq = None,
    json_output: Json = False,
) -> None:
    """Promote the challenger by hand, bypassing the decision rule."""
    from lifecycle.commands import Promote

    _done(engine().execute(Promote(ref, reason), expected_seq=expect_seq, reason=reason),
          json_output)


@command()
def reject(
    ref: str,
    reason: Annotated[str, typer.Option(help="Why (recorded in the log).")],
    expect_seq: ExpectSeq = None,
    json_output: Json = False,
) -> None:
    """Reject the challenger by hand; it is archived as rejected."""
    from lifecycle.commands import Reject

    _done(engine().execute(Reject(ref, reason), expected_seq=expect_seq, reason=reason),
          json_output)


@command()
def rollback(
    list_: Annotated[bool, typer.Option("--list", help="List the models to roll back to.")] = False,
    version: Annotated[str | None, typer.Option(help="Target version (default: previous champion).")] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded in the log).")] = "rollback requested by user",
    severity: Annotated[Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"], typer.Option()] = "MEDIUM",
    expect_seq: ExpectSeq = None,
    json_output: Json = False,
) -> None:
    """Bring back a former champion (SPEC scenario 3)."""
    from projections.views import rollback_list

    eng = engine()
    if list_:
        rows = rollback_list(eng.state())
        render.emit_json(rows) if json_output else render.rollback_targets(rows)
        return
    from lifecycle.commands import Rollback

    cmd = Rollback(ref=version, reason=reason, severity=severity)
    _done(eng.execute(cmd, expected_seq=expect_seq, reason=reason), json_output)


@command()
def status(
    json_output: Json = False,
    as_of: Annotated[str | None, typer.Option(help="Show the state at this time (UTC).")] = None,
    at_seq: Annotated[int | None, typer.Option(help="Show the state after this commit.")] = None,
) -> None:
    """Champion, challenger, log position and production health (exit 1 when the production
    file is not the champion's intact bytes); optionally as of a past moment."""
    from projections.views import parse_time, status_view

    if as_of is not None and at_seq is not None:
        raise UserError("give either --as-of or --at-seq, not both")
    eng = engine()
    state = eng.state(at_seq=at_seq, as_of=parse_time(as_of) if as_of else None)
    view = status_view(state)
    health = None if at_seq is not None or as_of is not None else eng.production_health(state)
    if health is not None:
        view["production"] = health.as_dict()
    render.emit_json(view) if json_output else render.status(view)
    if health is not None and not health.ok:
        raise typer.Exit(1)


@command("list")
def list_models(json_output: Json = False, limit: Limit = None) -> None:
    """All models, champion first (the default for operations)."""
    from projections.views import selection_list

    rows = selection_list(engine().state())
    shown = rows[:_limit(limit, json_output) or None]
    render.emit_json(shown) if json_output else render.selection(shown, len(rows))


def _limit(limit: int | None, json_output: bool) -> int:
    """How many rows to show; 0 means all."""
    return limit if limit is not None else (0 if json_output else TABLE_ROWS)


@command()
def history(
    model: Annotated[str | None, typer.Option(help="Only this model (REF).")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    since: Annotated[str | None, typer.Option(help="Only from this time (UTC).")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    json_output: Json = False,
    limit: Annotated[int | None, typer.Option(
        min=0, help="The latest rows to show (default: 100 in tables, all with --json; 0: all).")] = None,
) -> None:
    """The audit trail: who did what, when and why."""
    from projections.views import history_rows, parse_time

    eng = engine()
    model_id = eng.state().resolve(model).model_id if model else None
    records = eng.records_about(model_id) if model_id else eng.records()
    rows = list(history_rows(records, model_id=model_id, event_type=type_,
                             since=parse_time(since) if since else None, actor=actor))
    keep = _limit(limit, json_output)
    shown = rows[-keep:] if keep else rows
    render.emit_json(shown) if json_output else render.history(shown, len(rows))


@command()
def compare(
    a: Annotated[str, typer.Argument(help="First model (REF).")],
    b: Annotated[str, typer.Argument(help="Second model (REF).")],
    data: Annotated[Path | None, typer.Option(help="Evaluate both on this data set (nothing recorded).")] = None,
    event: Annotated[str | None, typer.Option(help="Run both on this event's images (needs --data).")] = None,
    json_output: Json = False,
) -> None:
    """Compare two models: metrics side by side, on a data set, or on one event."""
    from projections.compare import compare as compare_view

    eng = engine()
    if event is not None:
        from service.modelling import predict_event

        if data is None:
            raise UserError("--event needs --data DIR (the data set that holds the event)")
        rows = predict_event(eng, [a, b], event, data)
        render.emit_json(rows) if json_output else render.predictions(rows)
        return
    if data is not None:
        from service.modelling import compare_on_data

        view = compare_on_data(eng, a, b, data)
    else:
        from service.modelling import stored_paired_test

        state = eng.state()
        view = compare_view(state, a, b)
        if view["same_data"]:
            view["paired_test"] = stored_paired_test(eng, state.resolve(a), state.resolve(b))
    render.emit_json(view) if json_output else render.comparison(view)


@command()
def predict(
    images: Annotated[list[Path] | None, typer.Argument(help="Spectrogram images.")] = None,
    model: Annotated[list[str] | None, typer.Option(help="Model(s) to run (default: the champion).")] = None,
    event: Annotated[str | None, typer.Option(help="Run on this event's images (needs --data).")] = None,
    data: Annotated[Path | None, typer.Option(help="Data set folder holding --event.")] = None,
    json_output: Json = False,
) -> None:
    """Classify images (or one event's images) with the champion or named models."""
    from service.modelling import predict_event, predict_images

    eng = engine()
    refs = model or ["champion"]
    if event is not None:
        if data is None or images:
            raise UserError("--event needs --data DIR and no image arguments")
        rows = predict_event(eng, refs, event, data)
    elif images:
        rows = predict_images(eng, refs, images)
    else:
        raise UserError("give image files, or --event EVENT_ID --data DIR")
    render.emit_json(rows) if json_output else render.predictions(rows)


@command()
def train(
    data: Annotated[list[Path] | None, typer.Option(
        help="Training data folder(s) (labels.csv + images); repeatable.")] = None,
    pool: Annotated[bool, typer.Option("--pool", help="Train on the pool's events (and any --data).")] = False,
    architecture: Annotated[str, typer.Option(help="timm architecture (ignored with --from champion).")]
    = "convnext_tiny",
    from_: Annotated[Literal["auto", "champion", "none"], typer.Option(
        "--from", help="Start from the champion's weights or from scratch (auto: champion if any).")] = "auto",
    epochs: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    batch_size: Annotated[int, typer.Option(min=1, max=4096)] = 32,
    image_size: Annotated[int, typer.Option(min=16, max=1024)] = 224,
    lr: Annotated[float, typer.Option(min=0.0)] = 1e-4,
    patience: Annotated[int, typer.Option(min=1)] = 5,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    reason: Annotated[str | None, typer.Option()] = None,
    json_output: Json = False,
) -> None:
    """Train a challenger on a data set and submit it (ImageNet weights are not available here)."""
    from cli.progress import training_display
    from models.train import TrainConfig
    from service.training import train_challenger, train_on_pool

    if not data and not pool:
        raise UserError("give --data DIR (repeatable) and/or --pool")
    config = TrainConfig(architecture=architecture, epochs=epochs, batch_size=batch_size,
                         image_size=image_size, lr=lr, patience=patience, seed=seed, device=_device(device))
    eng = engine()
    with training_display(epochs) as hooks:
        if pool:
            outcome = train_on_pool(eng, data or [], config, start_from=from_, reason=reason, **hooks)
        else:
            outcome = train_challenger(eng, data or [], config, start_from=from_, reason=reason, **hooks)
    _done(outcome, json_output)


@command()
def replay() -> None:
    """Rebuild the registry and folders from the log; print what changed."""
    from projections.reconcile import ProjectionIncomplete

    try:
        state, changes = engine().replay()
    except ProjectionIncomplete as exc:
        for line in exc.changes:
            typer.echo(line)
        raise
    for line in changes:
        typer.echo(line)
    typer.echo(f"replayed {state.seq} commits; {len(changes)} change(s)")


@command()
def verify(json_output: Json = False) -> None:
    """Check the hash chain, schemas, blobs, registry and folders (exit 1 if wrong)."""
    from service.verify import verify as run_verify

    eng = engine()
    eng.require_root()
    report = run_verify(eng.root, eng.log, eng.store)
    if json_output:
        render.emit_json({"ok": not report.problems, "problems": report.problems,
                          "notes": report.notes, "commits": report.commits,
                          "events": report.events, "blobs": report.blobs})
    else:
        for note in report.notes:
            typer.echo(f"note: {note}")
        for problem in report.problems:
            typer.echo(f"PROBLEM: {problem}")
        typer.echo(f"checked {report.commits} commits, {report.events} events, "
                   f"{report.blobs} blobs: {'FAILED' if report.problems else 'ok'}")
    if report.problems:
        raise typer.Exit(1)


@command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="Root of an installation of the original system.")],
    json_output: Json = False,
) -> None:
    """Take over an installation of the original system into a new registry."""
    from service.importer import build_import

    eng = engine()
    cmd, files, report = build_import(path)
    eng.init()
    for line in report:
        typer.echo(f"import: {line}")
    _done(eng.execute(cmd, blobs=files), json_output)


@command("export", group=log_app)
def log_export(out: Annotated[Path, typer.Argument(help="The JSONL file to write.")]) -> None:
    """Write the log as a JSONL file byte-identical to an embedded log of the same commits."""
    from service.logmove import export

    count = export(engine(), out)
    typer.echo(f"exported {count} commits to {out}")


@command("migrate", group=log_app)
def log_migrate(
    to: Annotated[str, typer.Option("--to", help="postgresql://USER@HOST/DB (an empty log).")],
) -> None:
    """Move this root's embedded log into PostgreSQL, keeping every hash."""
    from bootstrap import create_shared_log
    from service.logmove import migrate

    eng = engine()
    eng.require_root()
    if not to.startswith(("postgresql://", "postgres://")):
        raise UserError("--to takes a postgresql:// URL (postgresql://USER@HOST/DB)")
    shared, registry_id = create_shared_log(to)
    count = migrate(eng, to, shared, registry_id)
    typer.echo(f"migrated {count} commits to the shared log {registry_id}; events.jsonl kept as "
               "events.jsonl.migrated; run 'lifecycle verify'")


@command()
def lineage(
    ref: Annotated[str, typer.Argument(help="A model: version, id, champion or challenger.")],
    json_output: Json = False,
) -> None:
    """What a model was trained on, from what, with what: its chain of parents."""
    from service.lineage import chain

    links = chain(engine().state(), ref)
    if json_output:
        render.emit_json(links)
        return
    render.lineage(links)


@command()
def schema() -> None:
    """Print the JSON Schema of a commit line and its events."""
    from lifecycle.schema import json_schema

    render.emit_json(json_schema())


@command("new", group=candidate_app)
def candidate_new(
    out_dir: Path,
    architecture: Annotated[str, typer.Option(help="timm architecture name.")] = "convnext_atto",
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Write an untrained candidate folder (smoke tests, demos, dry runs)."""
    from models.candidate import write_candidate

    write_candidate(out_dir, architecture=architecture, seed=seed)
    typer.echo(f"wrote {out_dir}")


@command()
def watch(
    inbox: Annotated[Path | None, typer.Option(help="Folder trainers drop candidates into (default: ROOT/inbox).")]
    = None,
    holdout: Annotated[Path | None, typer.Option(help="Held-out benchmark (default: ROOT/data/benchmark).")]
    = None,
    policy: Annotated[Path | None, typer.Option(help="Policy TOML for decisions.")] = None,
    dataset: Annotated[str, typer.Option(help="Name the holdout evaluations are recorded under.")] = "benchmark",
    once: Annotated[bool, typer.Option("--once", help="Process what is there, then exit (cron).")] = False,
    train: Annotated[bool, typer.Option("--train", help="Train from the pool when a trigger is reached.")] = False,
    base_data: Annotated[Path | None, typer.Option(help="Base training data for --train.")] = None,
    architecture: Annotated[str, typer.Option(help="Architecture when no champion exists (--train).")]
    = "convnext_tiny",
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    image_size: Annotated[int, typer.Option(min=16, max=1024)] = 224,
    lr: Annotated[float, typer.Option(min=0.0)] = 1e-4,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    log_json: Annotated[bool, typer.Option("--log-json", help="One JSON object per step.")] = False,
    follow: Annotated[bool, typer.Option(
        "--follow", help="A scanner host: only keep this root's projections and production file "
                         "current with the (shared) log; decide nothing, take no drops.")] = False,
) -> None:
    """The auto-update daemon: new challengers, the data pool, production alerts."""
    from cli.progress import evaluation_bars, training_display
    from daemon.loop import Daemon, Hooks, WatchOptions, stop_on_signals
    from daemon.steplog import StepLog
    from models.train import TrainConfig
    from service.daemon_config import load
    from service.inputs import load_policy

    eng = engine(actor="daemon")
    eng.require_root()
    if follow:
        _follow(eng, once, log_json)
        return
    if train and base_data is None:
        raise UserError("--train needs --base-data DIR (the data the pool's events are added to)")
    holdout = holdout or eng.root / "data" / "benchmark"
    if not (holdout / "labels.csv").is_file():
        raise UserError(f"no held-out benchmark at {holdout}; pass --holdout DIR")
    config = TrainConfig(architecture=architecture, epochs=epochs, image_size=image_size, lr=lr,
                         device=_device(device))
    options = WatchOptions(inbox=inbox or eng.root / "inbox", holdout=holdout, policy=load_policy(policy),
                           dataset=dataset, train=train, base_data=base_data, train_config=config,
                           device=config.device)
    stop_on_signals()
    with evaluation_bars() as bars:
        daemon = Daemon(eng, options, load(eng.root), StepLog(as_json=log_json),
                        Hooks(evaluation=bars, training=lambda: training_display(epochs)))
        raise typer.Exit(daemon.run(once=once))


def _follow(eng: Engine, once: bool, log_json: bool) -> None:
    from daemon.loop import Daemon, WatchOptions, stop_on_signals
    from daemon.steplog import StepLog
    from service.daemon_config import load

    stop_on_signals()
    options = WatchOptions(inbox=eng.root / "inbox", holdout=eng.root, follow=True)
    raise typer.Exit(Daemon(eng, options, load(eng.root), StepLog(as_json=log_json)).run(once=once))


@command()
def dashboard(
    host: Annotated[str, typer.Option(help="Address to bind (default: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8501,
    allow_actions: Annotated[bool, typer.Option("--allow-actions", help="Enable rollback from the page "
                                                "(asks for the configured token).")] = False,
    no_token: Annotated[bool, typer.Option("--no-token", help="With --allow-actions on a loopback --host "
                                           "only: act without a token.")] = False,
    allowed_host: Annotated[list[str] | None, typer.Option(
        "--allowed-host", help="Another name the page is reached by (a DNS name, a proxy's); repeatable. "
        "Connections naming any other host are refused.")] = None,
) -> None:
    """Serve the Model Management dashboard (Streamlit; read-only unless --allow-actions)."""
    from dashboard.launch import serve

    eng = engine()
    eng.require_root()
    raise typer.Exit(serve(eng.root, host=host, port=port, allow_actions=allow_actions, no_token=no_token,
                           extra_hosts=allowed_host or ()))


@command("add", group=data_app)
def data_add(
    event_id: Annotated[str, typer.Option(help="Event id, e.g. GTO_20260210.")],
    station: Annotated[str, typer.Option(help="Station code, e.g. GTO.")],
    date: Annotated[str, typer.Option(help="Event date, YYYY-MM-DD.")],
    image: Annotated[list[Path], typer.Option(help="Spectrogram image(s) of the event; repeatable.")],
    magnitude: Annotated[float | None, typer.Option(help="Magnitude (class derived).")] = None,
    magnitude_class: Annotated[str | None, typer.Option(help="Large, Medium, Moderate or Normal.")] = None,
    azimuth: Annotated[float | None, typer.Option(help="Azimuth in degrees (class derived).")] = None,
    azimuth_class: Annotated[str | None, typer.Option(help="N, NE, ..., NW.")] = None,
    json_output: Json = False,
) -> None:
    """Record a validated event in the pool (for the next training)."""
    from datetime import UTC, datetime

    from service.pool import build_add_data

    eng = engine()
    eng.require_root()
    cmd, files = build_add_data(event_id=event_id, station=station, day=date, images=image,
                                today=datetime.now(UTC).date(), magnitude=magnitude,
                                magnitude_class=magnitude_class, azimuth=azimuth, azimuth_class=azimuth_class)
    from service.holdouts import refuse_pool_event

    refuse_pool_event(eng, eng.state(), cmd.station, cmd.date, files)
    _done(eng.execute(cmd, blobs=files), json_output)


@command("remove", group=data_app)
def data_remove(
    event_id: Annotated[str, typer.Argument(help="The event to take out of the pool.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the log).")],
    json_output: Json = False,
) -> None:
    """Take a wrong event out of the pool (it stays in the log, marked removed)."""
    from lifecycle.commands import RemoveData

    _done(engine().execute(RemoveData(event_id, reason), reason=reason), json_output)


@command("correct", group=data_app)
def data_correct(
    event_id: Annotated[str, typer.Argument(help="The event to correct.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the log).")],
    magnitude: Annotated[float | None, typer.Option(help="Magnitude (class derived).")] = None,
    magnitude_class: Annotated[str | None, typer.Option(help="Large, Medium, Moderate or Normal.")] = None,
    azimuth: Annotated[float | None, typer.Option(help="Azimuth in degrees (class derived).")] = None,
    azimuth_class: Annotated[str | None, typer.Option(help="N, NE, ..., NW or Normal.")] = None,
    json_output: Json = False,
) -> None:
    """Correct an event's labels in the pool (the old ones stay in the log)."""
    from service.pool import build_correction

    command = build_correction(event_id, reason, magnitude=magnitude, magnitude_class=magnitude_class,
                               azimuth=azimuth, azimuth_class=azimuth_class)
    _done(engine().execute(command, reason=reason), json_output)


@command("list", group=data_app)
def data_list(json_output: Json = False) -> None:
    """The pool: validated events not yet in the champion's training data."""
    from projections.views import pool_view
    from service.daemon_config import load_triggers

    eng = engine()
    view = pool_view(eng.state(), load_triggers(eng.root).min_new_events)
    if json_output:
        render.emit_json(view)
        return
    render.table(f"Pool: {view['count']} event(s); the next training starts at {view['min_new_events']}",
                 ["event", "station", "date", "magnitude", "azimuth", "images", "note"],
                 [(e["event_id"], e.get("station"), e.get("date"), e.get("magnitude_class"),
                   e.get("azimuth_class"), len(e.get("images", ())),
                   f"returned by {e['returned_by']}" if e.get("returned_by") else "")
                  for e in view["events"]])


@command()
def observe(
    false_positive_rate: Annotated[float, typer.Option(min=0, max=100, help="Observed FPR, percent.")],
    model: Annotated[str, typer.Option(help="The model observed (default: the champion).")] = "champion",
    accuracy: Annotated[float | None, typer.Option(min=0, max=100, help="Observed accuracy, percent.")] = None,
    window: Annotated[str | None, typer.Option(help="What period, e.g. '2026-03-01..03-07'.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Take the rules' action now (rollback).")] = False,
    json_output: Json = False,
) -> None:
    """Record what the scanner saw in production; CRITICAL findings can roll back at once."""
    from lifecycle.commands import RecordObservation
    from service.daemon_config import load

    eng = engine()
    eng.require_root()
    cmd = RecordObservation(ref=model, false_positive_rate=false_positive_rate, accuracy=accuracy,
                            window=window, apply=apply, rules=load(eng.root).rollback)
    _done(eng.execute(cmd), json_output)


@command("synth", group=data_app)
def data_synth(
    out: Path,
    samples: Annotated[int, typer.Option(min=1, max=1_000_000)] = 600,
    seed: Annotated[int, typer.Option()] = 0,
    image_size: Annotated[int, typer.Option(min=16, max=1024)] = 224,
    events: Annotated[int | None, typer.Option(min=1)] = None,
    first_date: Annotated[str, typer.Option(help="Earliest event date.")] = "2018-01-01",
    last_date: Annotated[str, typer.Option(help="Latest event date.")] = "2025-12-31",
) -> None:
    """Generate a synthetic data set shaped like the real one (same seed, same bytes)."""
    from datetime import date

    from models.synth import write_synthetic

    try:
        first, last = date.fromisoformat(first_date), date.fromisoformat(last_date)
    except ValueError:
        raise UserError("dates must look like 2024-01-31") from None
    data = write_synthetic(out, samples=samples, seed=seed, image_size=image_size, events=events,
                           first_day=first, last_day=last)
    typer.echo(f"wrote {len(data.samples)} images of {len(data.events)} events to {out} "
               f"(digest {data.digest[:12]})")


def _stdout_closed() -> None:
    """The reader of our output went away (``| head -1``): not an error of the command, whose
    work is done; exit 0 without a word (Python would complain again at exit otherwise)."""
    import contextlib
    import io
    import os
    import sys

    with contextlib.suppress(OSError, io.UnsupportedOperation):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise typer.Exit(0)


def main() -> None:
    """Entry point: SIGTERM stops like Ctrl-C (clean-up runs; nothing half-done is kept)."""
    import signal
    import sys

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted; a command that was interrupted before its commit recorded nothing "
                   "(check 'lifecycle history')", err=True)
        sys.exit(130)
