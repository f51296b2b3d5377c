"""Each paper experiment runs end to end at a tiny budget and writes what it promises.

The scripts live in experiments/ (not a package); they are imported from there and run
in-process (``main(argv)``) into tmp_path with ``--quick``: one seed, two epochs, small data.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
# experiment -> (data set, arms whose epoch-0 val acc must equal the teacher's)
CASES = {
    "paper_wider": (
        "mnist1d",
        ["Net2WiderNet", "Net2WiderNet uneven split", "Net2WiderNet zero-out"],
    ),
    "paper_deeper": ("digits", ["Net2DeeperNet"]),
    "paper_explore": ("mnist1d", []),
    "paper_lr": ("digits", ["Net2WiderNet, lr x 1", "Net2WiderNet, lr x 3"]),
    "paper_gap": ("mnist1d", ["Net2WiderNet, lr x 0.1", "Net2WiderNet, lr x 1"]),
    "vit_growth": ("digits", ["Net2Net stream x2 (heads x2)", "Net2Net stream x2 + 1 block"]),
}


@pytest.fixture(scope="module", autouse=True)
def _on_path():
    sys.path.insert(0, str(EXPERIMENTS))
    yield
    sys.path.remove(str(EXPERIMENTS))


@pytest.mark.parametrize("name", list(CASES))
def test_experiment_writes_its_results(name: str, tmp_path: Path) -> None:
    data, exact = CASES[name]
    module = importlib.import_module(name)
    module.main(["--quick", "--seeds", "0", "--data", data, "--out", str(tmp_path)])
    d = tmp_path / data
    for f in ("summary.json", "runs.json", "curves.csv", "acc_vs_epoch.png", "acc_vs_time.png"):
        assert (d / f).stat().st_size > 0, f
    table = (tmp_path / "table.md").read_text()
    assert f"### {data}" in table and "epochs to val acc >=" in table
    summary = json.loads((d / "summary.json").read_text())
    assert summary["targets"] and summary["time_to_target"]
    for row in summary["time_to_target"]:
        assert {"arm", "target", "epochs", "seconds", "speedup_epochs"} <= set(row)
    runs = json.loads((d / "runs.json").read_text())
    for arm, per_seed in runs["arms"].items():
        (run,) = per_seed
        assert run["epoch"][0] == 0 and len(run["epoch"]) == len(run["val_acc"]), arm
        assert 0.0 <= run["test_acc"] <= 1.0
        assert all(b >= a for a, b in zip(run["seconds"], run["seconds"][1:], strict=False))
    teacher64 = runs["teacher"][0]["val_acc64"]
    for arm in exact:
        assert runs["arms"][arm][0]["val_acc"][0] == teacher64, arm
        assert summary["epoch0_equals_teacher"][arm] is True
    if name == "paper_explore":
        warm = runs["arms"]["Net2Net (warm steps)"][0]
        assert len(set(warm["arch"])) == 5  # the seed and four grown architectures
    if name == "paper_gap":
        assert set(summary["gap"]) == set(runs["arms"]) - {"random init"}


@pytest.mark.parametrize("name", ["paper_lr", "paper_explore"])
def test_zero_out_students_start_at_their_teacher(name: str, tmp_path: Path) -> None:
    module = importlib.import_module(name)
    argv = ["--quick", "--seeds", "0", "--data", "digits", "--init", "zero_out"]
    module.main([*argv, "--out", str(tmp_path)])
    assert "new units fresh, outgoing weights zero" in (tmp_path / "table.md").read_text()
    runs = json.loads((tmp_path / "digits" / "runs.json").read_text())
    if name == "paper_explore":  # each warm step's epoch 0 is asserted by the script itself
        assert len(set(runs["arms"]["Net2Net (warm steps)"][0]["arch"])) == 5
        return
    teacher64 = runs["teacher"][0]["val_acc64"]
    warm = [a for a in runs["arms"] if a.startswith("Net2WiderNet")]
    assert warm and all(runs["arms"][a][0]["val_acc"][0] == teacher64 for a in warm)


def test_width_scale_widens_teacher_and_student(tmp_path: Path) -> None:
    module = importlib.import_module("paper_wider")
    params = {}
    for scale in (1, 2):
        out = tmp_path / f"x{scale}"
        argv = ["--quick", "--seeds", "0", "--data", "mnist1d", "--width-scale", str(scale)]
        module.main([*argv, "--out", str(out)])
        runs = json.loads((out / "mnist1d" / "runs.json").read_text())
        arms = runs["arms"]
        assert {r[0]["params"] for r in arms.values()} == {arms["random init"][0]["params"]}
        assert arms["Net2WiderNet zero-out"][0]["val_acc"][0] == runs["teacher"][0]["val_acc64"]
        params[scale] = runs["teacher"][0]["params"], arms["random init"][0]["params"]
    assert params[2][0] > 2 * params[1][0] and params[2][1] > 2 * params[1][1]
    assert "widths x 2" in (tmp_path / "x2" / "table.md").read_text()


def test_bad_option_exits_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    module = importlib.import_module("paper_wider")
    with pytest.raises(SystemExit) as exc:
        module.main(["--epochs", "0", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "--epochs must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit) as exc:
        importlib.import_module("paper_lr").main(
            ["--init", "zero_out", "--noise", "0.01", "--out", str(tmp_path / "x")]
        )
    assert exc.value.code == 2 and "--init zero_out makes none" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit) as exc:
        module.main(["--width-scale", "0", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2 and "--width-scale must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
