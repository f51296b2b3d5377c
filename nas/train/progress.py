"""A transient rich progress bar over one epoch's steps, or a no-op when not wanted."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class _Bar:
    """What the loop calls; the base class does nothing (progress off or not a terminal)."""

    def start_epoch(self, epoch: int, total: int | None, val_acc: float | None) -> None:
        """Begin the bar of ``epoch`` (``total`` steps if known), showing the last val acc."""

    def advance(self) -> None:
        """One step done."""


class _RichBar(_Bar):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("train", total=None)

    def start_epoch(self, epoch: int, total: int | None, val_acc: float | None) -> None:
        acc = "" if val_acc is None else f" val_acc {val_acc:.4f}"
        self.progress.reset(self.task, total=total, description=f"epoch {epoch}{acc}")

    def advance(self) -> None:
        self.progress.advance(self.task)


@contextlib.contextmanager
def progress_bar(enabled: bool, console: Console | None = None) -> Iterator[_Bar]:
    """Yield a bar; rich renders it only when ``enabled`` and the console is a terminal."""
    console = console or Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield _Bar()
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield _RichBar(progress)
