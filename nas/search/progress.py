"""Progress lines for the whole search: finished / target, best so far, elapsed and time left.

Per-candidate epoch progress is nas.train's own display; this prints one line per candidate, so
it composes with it (rich allows one live display at a time). Every line printed also goes to
the ``nas.search.progress`` logger as plain text (under Hydra: the run folder's job log).

The time left follows the measured growth of candidate cost: children grow, so each costs more
than the last, and the mean so far underestimates what is left (at 10/20 candidates a mean
said ~518 s where 4,400 s remained). :func:`estimate_seconds_left` fits a line through the
costs of the candidates measured so far and sums it over the ones still to come.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console

from nas.search.config import SearchConfig
from nas.search.mutation import format_mutation

if TYPE_CHECKING:
    from nas.search.callbacks import CandidateInfo

__all__ = ["Progress", "best_candidate", "estimate_seconds_left"]

log = logging.getLogger(__name__)

STYLE = {"complete": "green", "pruned": "yellow", "fail": "red"}


def estimate_seconds_left(costs: Sequence[tuple[int, float]], upcoming: Sequence[int]) -> float:
    """Seconds the ``upcoming`` candidates will take, from the measured ``costs``.

    Args:
        costs: ``(position, seconds)`` of the candidates measured so far (position: e.g. the
            trial number; the root, on another budget, is best left out).
        upcoming: positions of the candidates still to come.

    A least-squares line through the costs, its slope kept >= 0 (a cost that falls is taken
    as flat: the mean), is summed over ``upcoming``; a single measurement counts for each.
    """
    if not costs or not upcoming:
        return 0.0
    xs = [float(x) for x, _ in costs]
    ys = [float(y) for _, y in costs]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    slope = max(slope, 0.0)
    return sum(max(my + slope * (float(u) - mx), 0.0) for u in upcoming)


class Progress:
    """One line per finished candidate and a header; silent when disabled."""

    def __init__(self, cfg: SearchConfig, enabled: bool = True) -> None:
        self.cfg, self.enabled = cfg, enabled
        self.console = Console(highlight=False, record=True)
        if not self.console.is_terminal:  # logs and pipes: wide lines, no wrapping mid-table
            self.console = Console(highlight=False, width=160, record=True)
        self.done_here = 0
        self.started = time.perf_counter()
        self.last = self.started
        self.costs: list[tuple[int, float]] = []  # (trial number, seconds) of children

    def emit(self, markup: str) -> None:
        """Print one line (rich markup) and log it as plain text."""
        self.console.print(markup)
        self.log_printed()

    def log_printed(self) -> None:
        """Send what the console printed since the last call to the log, as plain text."""
        text = self.console.export_text(clear=True).rstrip()
        if text:
            log.info(text)

    def note(self, msg: str) -> None:
        if self.enabled:
            self.emit(f"[bold]search:[/] {msg}")

    def start(self, s: Any) -> None:
        self.started = self.last = time.perf_counter()
        what = "resuming" if s.resumed else "new"
        extra = f", recovered {len(s.recovered)} stale RUNNING trial(s)" if s.recovered else ""
        self.note(
            f"{what} study [cyan]{s.name}[/] ({s.cfg.objective}, "
            f"{'warm start' if s.cfg.warm_start else 'scratch'}): "
            f"{s.finished()}/{s.cfg.trials} candidates finished{extra}"
        )

    def seconds_left(self, number: int, remaining: int) -> float:
        """Time the ``remaining`` candidates after trial ``number`` will take, as measured."""
        costs = self.costs or [(number, self.last - self.started)]  # only the root so far
        return estimate_seconds_left(costs, range(number + 1, number + 1 + remaining))

    def candidate(
        self, s: Any, number: int, info: CandidateInfo | None, result: dict[str, Any]
    ) -> None:
        now = time.perf_counter()
        if info is None or info.job_type != "root":
            self.costs.append((number, now - self.last))
        self.last = now
        self.done_here += 1
        if not self.enabled:
            return
        finished, target = s.finished(), s.cfg.trials
        elapsed = now - self.started
        eta = self.seconds_left(number, max(target - finished, 0))
        left = f"~{eta:.0f}s left"
        if s.cfg.time_limit:
            budget = s.cfg.time_limit - (time.perf_counter() - s.t0)
            left += f" (budget {max(budget, 0):.0f}s)"
        state = result["state"]
        acc = result.get("val_acc")
        before = result.get("val_acc_before_training")
        best = (
            (result["best_trial"], result["best_val_acc"])
            if result.get("best_trial") is not None
            else best_candidate(s.study)
        )
        mut = "?" if info is None else format_mutation(info.mutation)
        mut = "root" if info is not None and info.job_type == "root" else mut
        line = (
            f"[{finished}/{target}] #{number} [{STYLE.get(state, '')}]{state}[/] {mut}"
            + (f" | val {acc:.4f}" if acc is not None else "")
            + (f" (before {before:.4f})" if before is not None else "")
            + (f" | {result['reason']}" if result.get("reason") else "")
            + (f" | best {best[1]:.4f} (#{best[0]})" if best else "")
            + f" | {elapsed:.0f}s elapsed, {left}"
        )
        self.emit(line)


def best_candidate(study: Any) -> tuple[int, float] | None:
    """(trial number, val accuracy) of the study's best finished candidate, or None."""
    from nas.search.parents import candidates, rank_by_accuracy

    ranked = rank_by_accuracy(candidates(study))
    return (ranked[0].number, ranked[0].values[0]) if ranked else None
