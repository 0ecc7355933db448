"""Progress display for long commands (rich bars on a terminal, one line per epoch always)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.render import get_console, say


def _bars() -> Progress:
    console = get_console()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True,
                    disable=not console.is_terminal)


@contextlib.contextmanager
def evaluation_bars() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    with _bars() as progress:
        def start(model_id: str, total: int) -> Callable[[int], None]:
            task = progress.add_task(f"evaluating {model_id}", total=total)
            return lambda n: progress.advance(task, n)

        yield start


@contextlib.contextmanager
def training_display(epochs: int) -> Iterator[dict[str, Any]]:
    with _bars() as progress:
        epoch_task = progress.add_task("epochs", total=epochs)
        batch_task = progress.add_task("batches", total=None)

        def on_split(train: int, val: int) -> None:
            say(f"training on {train} images, validating on {val} (split by event)")
            progress.update(batch_task, total=train)

        def on_batch(n: int) -> None:
            progress.advance(batch_task, n)

        def on_epoch(row: dict[str, float]) -> None:
            progress.advance(epoch_task)
            progress.reset(batch_task)
            say(f"epoch {int(row['epoch'])}: loss {row['train_loss']:.3f}/{row['val_loss']:.3f}  "
                f"mag {row['train_mag_acc']:.1f}%/{row['val_mag_acc']:.1f}%  "
                f"azi {row['train_azi_acc']:.1f}%/{row['val_azi_acc']:.1f}%  (train/val)")

        yield {"on_epoch": on_epoch, "on_batch": on_batch, "on_split": on_split}
