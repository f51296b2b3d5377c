"""One mode of one search-vs-scratch run against one mode of another, seed by seed.

``search_vs_scratch.py`` compares net2net with scratch under one setting. To pair each mode at
its own best setting (another pruner, say) read two of its results folders: same seeds and time
limit, the same rules (only candidates finished by the limit count; targets from just above the
best seed model to the best any of the runs reached). Times are only comparable between runs
made at the same machine speed: the seed model is the same work in every run, so when its
training time differs by more than 15 % the output says so.

    .venv/bin/python experiments/compare_searches.py \\
        experiments/results/search_vs_scratch_vit_sh:net2net \\
        experiments/results/search_vs_scratch_vit_step5:scratch
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_vs_scratch import MODES, _fmt, _stats, best_at, time_ratio, time_to, val_targets


def _side(text: str) -> tuple[Path, str]:
    folder, sep, mode = text.rpartition(":")
    if not sep or mode not in MODES:
        raise argparse.ArgumentTypeError(f"{text!r}: expected FOLDER:MODE, MODE one of {MODES}")
    if not (Path(folder) / "results.json").is_file():
        raise argparse.ArgumentTypeError(f"{text!r}: no results.json in {folder}")
    return Path(folder), mode


def load(folder: Path, mode: str) -> tuple[dict[int, dict], dict]:
    """The runs of ``mode`` at its chosen budget, by seed, and the run's settings."""
    saved = json.loads((folder / "results.json").read_text())
    epochs = saved["chosen"][mode]
    runs = {r["seed"]: r for r in saved["runs"] if r["mode"] == mode and r["epochs"] == epochs}
    return runs, saved["settings"]


def compare(a: dict[int, dict], b: dict[int, dict], seconds: float, n_targets: int) -> dict:
    """Per target: each side's times by seed and the ratio of the means (a / b) where every run
    of both sides reached it; best val and its test accuracy at the limit."""
    seeds = sorted(a)
    targets = val_targets([*a.values(), *b.values()], seconds, n_targets)
    rows: list[dict[str, Any]] = []
    for t in targets:
        ta = [time_to(a[s]["curve"], t, seconds) for s in seeds]
        tb = [time_to(b[s]["curve"], t, seconds) for s in seeds]
        rows.append({"target": t, "a": ta, "b": tb, "a_over_b": time_ratio(ta, tb)})
    best = {k: [best_at(d[s]["curve"], seconds) for s in seeds] for k, d in (("a", a), ("b", b))}
    test = {k: [d[s]["test_at_limit"] for s in seeds] for k, d in (("a", a), ("b", b))}
    return {"seeds": seeds, "targets": rows, "best_val_at_limit": best, "test_at_limit": test}


SPEED_TOLERANCE = 0.15  # root times further apart than this: the two runs' machines differed


def root_seconds(runs: dict[int, dict]) -> float:
    """Mean seconds to train the seed model (trial 0, the same work in every run of a seed)."""
    return statistics.fmean(
        next(p["elapsed"] for p in r["curve"] if p["number"] == 0) for r in runs.values()
    )


def speed_note(a: dict[int, dict], b: dict[int, dict]) -> str | None:
    """A warning when the same seed models trained at different speeds in the two runs (another
    day, a busier machine): time ratios across the runs are then off by about that factor."""
    ra, rb = root_seconds(a), root_seconds(b)
    if abs(ra / rb - 1) <= SPEED_TOLERANCE:
        return None
    return (
        f"note: the seed model took {ra:.1f} s vs {rb:.1f} s to train ({ra / rb:.2f}x): the runs "
        "went at different speeds, so their times (and what each reached by the limit) are not "
        "comparable; rerun both on the same machine state"
    )


def markdown(result: dict, names: tuple[str, str]) -> str:
    def times(values: list[float | None]) -> str:
        got = [v for v in values if v is not None]
        if not got:
            return "never"
        miss = len(values) - len(got)
        return f"{statistics.fmean(got):.0f} s" + (f" ({miss} never)" if miss else "")

    lines = [
        f"| target (val) | {names[0]} | {names[1]} | time ratio |",
        "|---:|---:|---:|---:|",
    ]
    for r in result["targets"]:
        ratio = "n/a" if r["a_over_b"] is None else f"{r['a_over_b']:.2f}x"
        lines.append(f"| {r['target']:.4f} | {times(r['a'])} | {times(r['b'])} | {ratio} |")
    for key, what in (("best_val_at_limit", "best val at limit"), ("test_at_limit", "its test")):
        a, b = (_fmt(_stats(result[key][k]), ".4f") for k in ("a", "b"))
        lines.append(f"| {what} | {a} | {b} | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=_side, help="FOLDER:MODE, e.g. experiments/results/X:net2net")
    ap.add_argument("b", type=_side, help="FOLDER:MODE to compare with (the denominator)")
    ap.add_argument("--targets", type=int, default=5, help="number of val-accuracy targets")
    args = ap.parse_args()
    (fa, ma), (fb, mb) = args.a, args.b
    a, sa = load(fa, ma)
    b, sb = load(fb, mb)
    if set(a) != set(b) or sa["seconds"] != sb["seconds"]:
        ap.error(
            f"not comparable: seeds {sorted(a)} / {sorted(b)}, "
            f"time limits {sa['seconds']} / {sb['seconds']} s (both must match)"
        )
    if any("test_at_limit" not in r for r in (*a.values(), *b.values())):
        ap.error("a run predates the at-the-limit test accuracy; rerun it to compare")
    result = compare(a, b, sa["seconds"], args.targets)
    names = (
        f"{fa.name}:{ma} ({sa['pruner']})",
        f"{fb.name}:{mb} ({sb['pruner']})",
    )
    print(
        f"mean time over seeds {result['seeds']}, {sa['seconds']:.0f} s limit; "
        "ratio where every run of both reached the target\n"
    )
    print(markdown(result, names))
    note = speed_note(a, b)
    if note:
        print(f"\n{note}")


if __name__ == "__main__":
    main()
