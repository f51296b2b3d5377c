"""`nas-lineage`: list studies, print the tree, export JSON / PNG, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from nas.cli_lineage import main

MUTATIONS = {
    1: [{"op": "widen", "target": "features.0", "factor": 2.0, "width": 16}],
    2: [{"op": "deepen", "target": "features.3"}],
    3: [
        {"op": "deepen", "target": "features.3"},
        {"op": "widen", "target": "features.0", "width": 32},
    ],
}
PARENTS = {0: None, 1: 0, 2: 0, 3: 1}
ACC = {0: 0.80, 1: 0.86, 2: 0.84, 3: 0.91}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Optuna study with the user attrs the search writes (see contracts.md)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = tmp_path_factory.mktemp("lineage") / "nas.db"
    storage = f"sqlite:///{path}"
    study = optuna.create_study(study_name="grow", storage=storage, direction="maximize")
    for n in range(4):
        trial = study.ask()
        parent = PARENTS[n]
        attrs = {
            "parent": parent,
            "mutation": MUTATIONS.get(n, []),
            "arch": {"seed": "cnn1d", "depth": 2 + n},
            "params": 1000 * (n + 1),
            "flops": 9000 * (n + 1),
            "curve": [{"epoch": 1, "val_acc": ACC[n] - 0.02}, {"epoch": 2, "val_acc": ACC[n]}],
            "val_acc_before": None if parent is None else ACC[parent],
        }
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        study.tell(trial, ACC[n])
    pruned = study.ask()  # trial 4: a pruned child of 3
    pruned.set_user_attr("parent", 3)
    pruned.set_user_attr("mutation", MUTATIONS[2])
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    optuna.create_study(study_name="other", storage=storage)
    return path


def test_tree_json_and_png(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out_json, out_png = tmp_path / "l.json", tmp_path / "l.png"
    main(["--storage", f"sqlite:///{db}", "--study", "grow", "--json", str(out_json),
          "--png", str(out_png), "--curves", str(tmp_path / "c.png"), "--width", "150"])  # fmt: skip
    text = capsys.readouterr().out
    lines = text.splitlines()
    for n in range(5):
        assert sum(f"── t{n} " in line for line in lines) == 1
    line = {n: next(ln for ln in lines if f"── t{n} " in ln) for n in range(5)}
    col = {n: ln.index(f"t{n} ") for n, ln in line.items()}
    assert col[1] == col[2] == col[0] + 4 and col[3] == col[1] + 4 and col[4] == col[3] + 4
    assert "91.0%" in line[3] and "* best" in line[3] and "[pruned]" in line[4]

    doc = json.loads(out_json.read_text())
    assert doc["study"] == "grow" and doc["best_trial"] == 3 and doc["best_path"] == [0, 1, 3]
    rows = {r["number"]: r for r in doc["rows"]}
    assert {n: r["parent"] for n, r in rows.items()} == PARENTS | {4: 3}
    assert {n: rows[n]["mutation"] for n in MUTATIONS} == MUTATIONS
    assert rows[0]["mutation"] == [] and rows[4]["state"] == "pruned"
    assert rows[3]["val_acc"] == ACC[3] and rows[3]["val_acc_before"] == ACC[1]
    assert rows[3]["curve"] == [ACC[3] - 0.02, ACC[3]]
    (root,) = doc["tree"]
    assert [c["number"] for c in root["children"]] == [1, 2]
    assert root["children"][0]["children"][0]["number"] == 3
    assert out_png.read_bytes()[:4] == b"\x89PNG" and out_png.stat().st_size > 10_000
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_lists_studies_without_study(db: Path, capsys: pytest.CaptureFixture) -> None:
    main(["--storage", str(db)])  # a plain path means an SQLite file
    out = capsys.readouterr().out
    assert "grow" in out and "other" in out and "--study NAME" in out


def _error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err


def test_unknown_study_is_one_line(db: Path, capsys: pytest.CaptureFixture) -> None:
    err = _error(["--storage", f"sqlite:///{db}", "--study", "nope"], capsys)
    assert "study 'nope' not found" in err and "grow, other" in err


def test_unopenable_storage_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "absent" / "nas.db"
    err = _error(["--storage", f"sqlite:///{missing}", "--study", "x"], capsys)
    assert "no SQLite database" in err and str(missing) in err
    assert not missing.exists()  # reading never creates a database
    err = _error(["--storage", "postgresql+psycopg://u@127.0.0.1:9/db"], capsys)
    assert "storage: cannot open" in err
    err = _error(["--storage", "nosuchdriver://x/y"], capsys)
    assert "storage: cannot open" in err


def test_console_script_default_storage(db: Path, tmp_path: Path) -> None:
    """The installed entry point, run where outputs/nas.db is (the search's default)."""
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "nas.db").write_bytes(db.read_bytes())
    exe = Path(sys.executable).with_name("nas-lineage")
    ok = subprocess.run([exe, "--study", "grow"], cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "── t3 " in ok.stdout
    bad = subprocess.run(
        [exe, "--study", "x"], cwd=tmp_path / "outputs", capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: storage: no SQLite database")
