"""The tracker factory, the conf/logger options and the console backend."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from tracking_helpers import drive, scripted_search

from nas.search.callbacks import SearchCallback
from nas.tracking import TRACKERS, ConsoleTracker, NullTracker, create_tracker

CONF = Path(__file__).resolve().parents[2] / "conf" / "logger"


def test_unknown_kind_and_bad_option_are_one_line_errors() -> None:
    with pytest.raises(
        ValueError, match=r"^logger: unknown tracker 'tb'; choose one of: console, none, wandb$"
    ):
        create_tracker("tb")
    with pytest.raises(ValueError, match="logger: bad option for the wandb tracker"):
        create_tracker("wandb", projekt="x")
    with pytest.raises(ValueError, match=r"logger\.mode: unknown wandb mode 'offlne'"):
        create_tracker("wandb", mode="offlne")


@pytest.mark.parametrize("option", sorted(TRACKERS))
def test_every_logger_config_instantiates(option: str, tmp_path: Path) -> None:
    """Each conf/logger/<option>.yaml builds a SearchCallback through Hydra's instantiate."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(CONF / f"{option}.yaml")
    assert cfg._target_ == "nas.tracking.create_tracker" and cfg.kind == option
    tracker = instantiate(cfg, run_dir=str(tmp_path))
    assert isinstance(tracker, SearchCallback)
    if option == "wandb":
        assert tracker.mode == "offline" and tracker.dir == tmp_path and tracker.entity is None
        assert tracker.init_timeout <= 30
    tracker.close()


def test_none_tracker_does_not_import_wandb() -> None:
    code = (
        "import sys; from nas.tracking import create_tracker; "
        "t = create_tracker('none'); t.on_search_start('s', {}); "
        "print(type(t).__name__, 'wandb' in sys.modules, 'hydra' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["NullTracker", "False", "False"]
    assert isinstance(create_tracker("none"), NullTracker)


def test_console_tracker_prints_candidates_and_tree() -> None:
    stream = io.StringIO()
    tracker = create_tracker("console", file=stream)
    assert isinstance(tracker, ConsoleTracker)
    script = scripted_search("con")
    drive(tracker, "con", script)
    text = stream.getvalue()
    assert "t3 <- t1  deepen features.3; widen features.0 x2 (32)  58.0% -> 68.0%  complete" in text
    assert "t0 root  seed" in text
    assert "t5 <- t2" in text and "fail (corrupted checkpoint)" in text
    assert text.count("── t") == len(script)  # the tree at the end
