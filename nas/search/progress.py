"""Progress lines for the whole search: finished / target, best so far, elapsed and time left.

Per-candidate epoch progress is nas.train's own display; this prints one line per candidate, so
it composes with it (rich allows one live display at a time).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.console import Console

from nas.search.config import SearchConfig

if TYPE_CHECKING:
    from nas.search.callbacks import CandidateInfo

__all__ = ["Progress", "format_mutation"]

STYLE = {"complete": "green", "pruned": "yellow", "fail": "red"}


def format_mutation(mutation: list[dict]) -> str:
    """'widen features.0 x2 -> 32, deepen features.3' (or 'root')."""
    parts = []
    for m in mutation or []:
        if m.get("op") == "widen":
            parts.append(f"widen {m.get('target')} {m.get('old_width')}->{m.get('width')}")
        else:
            parts.append(f"{m.get('op')} {m.get('target')}")
    return ", ".join(parts) or "root"


class Progress:
    """One line per finished candidate and a header; silent when disabled."""

    def __init__(self, cfg: SearchConfig, enabled: bool = True) -> None:
        self.cfg, self.enabled = cfg, enabled
        self.console = Console(highlight=False)
        if not self.console.is_terminal:  # logs and pipes: wide lines, no wrapping mid-table
            self.console = Console(highlight=False, width=160)
        self.done_here = 0
        self.started = time.perf_counter()

    def note(self, msg: str) -> None:
        if self.enabled:
            self.console.print(f"[bold]search:[/] {msg}")

    def start(self, s: Any) -> None:
        self.started = time.perf_counter()
        what = "resuming" if s.resumed else "new"
        extra = f", recovered {len(s.recovered)} stale RUNNING trial(s)" if s.recovered else ""
        self.note(
            f"{what} study [cyan]{s.name}[/] ({s.cfg.objective}, "
            f"{'warm start' if s.cfg.warm_start else 'scratch'}): "
            f"{s.finished()}/{s.cfg.trials} candidates finished{extra}"
        )

    def candidate(
        self, s: Any, number: int, info: CandidateInfo | None, result: dict[str, Any]
    ) -> None:
        self.done_here += 1
        if not self.enabled:
            return
        finished, target = s.finished(), s.cfg.trials
        elapsed = time.perf_counter() - self.started
        eta = elapsed / self.done_here * max(target - finished, 0)
        left = f"~{eta:.0f}s left"
        if s.cfg.time_limit:
            budget = s.cfg.time_limit - (time.perf_counter() - s.t0)
            left += f" (budget {max(budget, 0):.0f}s)"
        state = result["state"]
        acc = result.get("val_acc")
        before = result.get("val_acc_before_training")
        best = _best(s)
        mut = format_mutation(info.mutation) if info else "?"
        line = (
            f"[{finished}/{target}] #{number} [{STYLE.get(state, '')}]{state}[/] {mut}"
            + (f" | val {acc:.4f}" if acc is not None else "")
            + (f" (before {before:.4f})" if before is not None else "")
            + (f" | {result['reason']}" if result.get("reason") else "")
            + (f" | best {best[1]:.4f} (#{best[0]})" if best else "")
            + f" | {elapsed:.0f}s elapsed, {left}"
        )
        self.console.print(line)


def _best(s: Any) -> tuple[int, float] | None:
    from nas.search.parents import candidates, rank_by_accuracy

    ranked = rank_by_accuracy(candidates(s.study))
    return (ranked[0].number, ranked[0].values[0]) if ranked else None
