"""Read offline wandb runs back, through wandb's own reader (``wandb leet inspect --json``).

wandb 0.31 dropped its Python datastore reader; its CLI prints a run's ``.wandb`` log as one
JSON record per line (``run``, ``config``, ``history``, ``summary``, ``exit`` ...) and, with
``--summary``, one merged object (config, summary, state). Tables logged offline live as
``files/<summary[key].path>`` (``media/table/<key>_<step>_<hash>.table.json``:
``{"columns": [...], "data": [[...], ...]}``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class OfflineRun:
    """What an offline run holds, as read back from its ``.wandb`` log."""

    path: Path
    name: str
    group: str
    job_type: str
    state: str
    start_time: str
    exit_code: int | None
    config: dict[str, Any]
    summary: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    run_id: str = ""
    resumed: bool = False  # started with resume: `wandb sync` appends it to the run of its id

    def curve(self, key: str) -> list[Any]:
        """Values of ``key`` over the history rows that have it, in step order."""
        return [row[key] for row in self.history if key in row]

    def table(self, key: str) -> dict[str, Any]:
        """The logged ``wandb.Table`` under ``key`` as ``{"columns": [...], "data": [...]}``."""
        ref = self.summary.get(key)
        if not isinstance(ref, dict) or "path" not in ref:
            raise KeyError(f"run {self.name} has no table '{key}'")
        return json.loads((self.path / "files" / ref["path"]).read_text())


def _wandb_cli() -> str:
    local = Path(sys.executable).with_name("wandb")
    return str(local) if local.exists() else (shutil.which("wandb") or "wandb")


def _inspect(run_dir: Path, *extra: str) -> str:
    proc = subprocess.run(
        [_wandb_cli(), "leet", "inspect", "--json", *extra, str(run_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"wandb leet inspect {run_dir} failed: {proc.stderr.strip()[:500]}")
    return proc.stdout


def read_offline_run(run_dir: str | Path) -> OfflineRun:
    """Read one offline run folder (``.../wandb/offline-run-<date>-<id>``)."""
    run_dir = Path(run_dir)
    merged = json.loads(_inspect(run_dir, "--summary"))
    meta: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    for line in _inspect(run_dir).splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("type") == "run":
            meta = record["run"]
        elif record.get("type") == "history":
            history.append(record["history"]["item"])
    return OfflineRun(
        path=run_dir,
        name=merged.get("name") or meta.get("display_name", ""),
        group=meta.get("run_group", ""),
        job_type=meta.get("job_type", ""),
        state=merged.get("state", ""),
        start_time=merged.get("start_time") or meta.get("start_time", ""),
        exit_code=merged.get("exit_code"),
        config={k: v for k, v in merged.get("config", {}).items() if k != "_wandb"},
        summary=merged.get("summary", {}),
        history=history,
        run_id=meta.get("run_id", ""),
        resumed=bool(meta.get("resume", False)),
    )


def find_offline_runs(wandb_dir: str | Path) -> list[Path]:
    """Offline run folders under ``wandb_dir`` (a ``wandb/`` folder or one containing it)."""
    root = Path(wandb_dir)
    if (root / "wandb").is_dir():
        root = root / "wandb"
    return sorted(p for p in root.glob("offline-run-*") if p.is_dir())


def read_offline_runs(
    wandb_dir: str | Path, names: Iterable[str] | None = None
) -> dict[str, OfflineRun]:
    """Offline runs under ``wandb_dir`` by run name (the latest start wins on a repeated name).

    Args:
        wandb_dir: a ``wandb/`` folder or the folder holding it.
        names: read only runs with these names (a cheap byte search of each ``.wandb`` log
            skips the others before the CLI is called, ~0.3 s per run read).
    """
    wanted = None if names is None else set(names)
    paths = find_offline_runs(wandb_dir)
    if wanted is not None:
        paths = [p for p in paths if _mentions(p, wanted)]
    runs = sorted((read_offline_run(p) for p in paths), key=lambda r: r.start_time)
    return {r.name: r for r in runs if wanted is None or r.name in wanted}


def _mentions(run_dir: Path, names: set[str]) -> bool:
    """Whether a run's log holds one of ``names`` as a protobuf string (length byte + bytes)."""
    data = b"".join(f.read_bytes() for f in run_dir.glob("*.wandb"))
    encoded = [n.encode() for n in names]
    return any((bytes([len(e)]) + e if len(e) < 128 else e) in data for e in encoded)
