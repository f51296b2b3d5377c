#!/usr/bin/env bash
# Every paper experiment at full size, one after the other (one torch thread each), each one's
# results committed as soon as it finishes. Usage: experiments/run_paper.sh [experiment ...]
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$PWD/.venv/bin/python}
export OMP_NUM_THREADS=1
for e in "${@:-paper_wider paper_deeper paper_lr paper_gap paper_explore}"; do
  for name in $e; do
    echo "== $name $(date -u +%H:%M:%S)"
    if PYTHONPATH=. "$PY" "experiments/$name.py"; then
      if [ "${COMMIT:-0}" = 1 ]; then
        git add "experiments/results/$name" &&
          git commit -q -m "results: $name at full size" -- "experiments/results/$name"
      fi
    else
      echo "!! $name failed"
    fi
  done
done
echo "== done $(date -u +%H:%M:%S)"
