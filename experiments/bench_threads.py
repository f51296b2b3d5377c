"""The default search alone and beside one busy neighbour, `threads=auto` against the old way.

    .venv/bin/python experiments/bench_threads.py --old-src /tmp/old   # git archive of the old code
    .venv/bin/python experiments/bench_threads.py --scenarios idle-auto,pair-auto -- search.trials=5

Each scenario runs ``python -m nas.cli_search logger=none`` (the default config: what
`make search` runs, without wandb) in a fresh folder: ``idle-*`` one process, ``pair-*`` two
identical ones started together (each is the other's busy neighbour). ``auto`` is this checkout
with its defaults (threads=auto, OMP_WAIT_POLICY=PASSIVE); ``old`` is ``--old-src`` (a checkout
without the setting: torch's default threads, spinning OpenMP threads); ``one`` is this checkout
with ``threads=1``. The load average is printed before and after each scenario: the machine may
be shared with other work, which the figures then include.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env(src: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_", "MKL_"))}
    env |= {"PYTHONPATH": str(src), "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    return env


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def run_scenario(
    name: str, old_src: Path | None, extra: list[str], timeout: float, new_src: Path = ROOT
) -> dict:
    kind, variant = name.split("-")
    src = old_src if variant == "old" else new_src
    if src is None:
        raise SystemExit(f"{name}: needs --old-src")
    args = [sys.executable, "-m", "nas.cli_search", "logger=none", *extra]
    if variant == "one":
        args.append("threads=1")
    n = 2 if kind == "pair" else 1
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        procs, logs, t0 = [], [], time.perf_counter()
        for i in range(n):
            cwd = Path(tmp) / str(i)
            cwd.mkdir()
            log = open(cwd / "out.log", "w")  # noqa: SIM115 - closed below
            logs.append(log)
            procs.append(
                subprocess.Popen(args, cwd=cwd, env=_env(src), stdout=log, stderr=subprocess.STDOUT)
            )
        walls: list[float | None] = [None] * n
        while any(w is None for w in walls):
            for i, p in enumerate(procs):
                if walls[i] is None and p.poll() is not None:
                    walls[i] = time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout:
                for i, p in enumerate(procs):
                    if walls[i] is None:
                        p.kill()
                        p.wait()
                break
            time.sleep(0.2)
        for log in logs:
            log.close()
        outs = [(Path(tmp) / str(i) / "out.log").read_text() for i in range(n)]
    done = [_last_progress(o) for o in outs]
    threads = next((ln for ln in outs[0].splitlines() if ln.startswith("threads:")), "-")
    return {
        "scenario": name,
        "walls": walls,
        "done": done,
        "load_before": load_before,
        "load_after": _load(),
        "threads": threads,
        "rc": [p.returncode for p in procs],
    }


def _last_progress(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith("[") and "] #" in ln]
    return lines[-1].split("]")[0].lstrip("[") if lines else "0/?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old-src", type=Path, default=None)
    ap.add_argument("--new-src", type=Path, default=ROOT, help="the checkout for auto / one")
    ap.add_argument("--scenarios", default="idle-auto,idle-old,pair-auto,pair-old")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per scenario")
    ap.add_argument("extra", nargs="*", help="overrides passed to every nas-search")
    a = ap.parse_args()
    print("| scenario | wall (s), each process | candidates done | load before -> after |")
    print("|---|---|---|---|")
    for name in a.scenarios.split(","):
        r = run_scenario(name, a.old_src, a.extra, a.timeout, a.new_src)
        walls = ", ".join(
            f"{w:.0f}" if w is not None and rc == 0 else f">{a.timeout:.0f} (killed)"
            for w, rc in zip(r["walls"], r["rc"], strict=True)
        )
        print(
            f"| {name} | {walls} | {', '.join(r['done'])} | "
            f"{r['load_before']} -> {r['load_after']} |",
            flush=True,
        )
        print(f"<!-- {name}: {r['threads']} rc={r['rc']} -->", flush=True)


if __name__ == "__main__":
    main()
