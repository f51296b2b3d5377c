"""`nas-lineage`: print a search's lineage tree, export it as JSON and as a picture.

nas-lineage                                  # list the studies in outputs/nas.db
nas-lineage --study s1                       # the tree in the terminal
nas-lineage --study s1 --json l.json --png l.png --curves c.png

Plain argparse (no Hydra): it only reads the Optuna storage the search wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

DEFAULT_DB = Path("outputs") / "nas.db"


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def storage_url(value: str | None) -> str:
    """An SQLAlchemy URL; a plain path means an SQLite file. Default: ``<cwd>/outputs/nas.db``
    (the search's default storage)."""
    if value is None:
        return f"sqlite:///{(Path.cwd() / DEFAULT_DB).resolve()}"
    return value if "://" in value else f"sqlite:///{Path(value).resolve()}"


def _open(url: str) -> Any:
    """Open the storage read-mostly: a missing SQLite file is an error, not a new database."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            _fail(
                f"storage: no SQLite database at {path} (run nas-search first or pass --storage URL)"
            )
    from nas.search.storage import open_storage

    try:
        return open_storage(url)
    except ValueError as exc:  # SearchConfigError: already one line naming the URL
        _fail(str(exc))


def _list_studies(storage: Any, url: str) -> None:
    import optuna
    from rich.console import Console
    from rich.table import Table

    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    if not summaries:
        print(f"no studies in {url}")
        return
    table = Table(title=f"studies in {url}")
    for col in ("study", "trials", "directions", "started"):
        table.add_column(col)
    for s in sorted(summaries, key=lambda s: str(s.datetime_start or "")):
        directions = ",".join(d.name.lower() for d in s.directions)
        started = s.datetime_start.isoformat(timespec="seconds") if s.datetime_start else "-"
        table.add_row(s.study_name, str(s.n_trials), directions, started)
    Console().print(table)
    print("show one with: nas-lineage --study NAME")


def export(rows: list[dict], study: str, url: str) -> dict[str, Any]:
    """The JSON document written by ``--json``: rows, the best path and a nested tree."""
    from nas.search.lineage import lineage_tree
    from nas.tracking.rows import best_number, best_path

    return {
        "study": study,
        "storage": url,
        "best_trial": best_number(rows),
        "best_path": best_path(rows),
        "rows": rows,
        "tree": lineage_tree(rows),
    }


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    parser = argparse.ArgumentParser(prog="nas-lineage", description=__doc__.splitlines()[0])
    parser.add_argument("--storage", help="SQLAlchemy URL or SQLite file (default: outputs/nas.db)")
    parser.add_argument("--study", help="study name; omit to list the studies")
    parser.add_argument("--json", type=Path, metavar="PATH", help="export the lineage as JSON")
    parser.add_argument("--png", type=Path, metavar="PATH", help="draw the lineage tree as PNG")
    parser.add_argument("--curves", type=Path, metavar="PATH", help="plot accuracy curves (PNG)")
    parser.add_argument("--width", type=int, default=None, help="terminal width for the tree")
    args = parser.parse_args(argv)

    url = storage_url(args.storage)
    storage = _open(url)
    if args.study is None:
        if args.json or args.png or args.curves:
            _fail("--json/--png/--curves need --study NAME")
        _list_studies(storage, url)
        return

    import optuna

    from nas.search.lineage import lineage_rows

    names = [s.study_name for s in optuna.get_all_study_summaries(storage, False)]
    if args.study not in names:
        known = ", ".join(sorted(names)) or "none"
        _fail(f"study '{args.study}' not found in {url} (studies: {known})")
    rows = lineage_rows(optuna.load_study(study_name=args.study, storage=storage))

    from rich.console import Console

    from nas.tracking.tree import lineage_tree

    Console(width=args.width).print(lineage_tree(rows, args.study))
    try:
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(export(rows, args.study, url), indent=2, default=str))
            print(f"lineage JSON: {args.json}")
        if args.png or args.curves:
            from nas.tracking.plots import plot_curves, plot_lineage_tree

            if args.png:
                plot_lineage_tree(rows, args.png, title=args.study)
                print(f"lineage tree: {args.png}")
            if args.curves:
                plot_curves(rows, args.curves, title=f"{args.study}: val accuracy")
                print(f"accuracy curves: {args.curves}")
    except OSError as exc:
        _fail(f"cannot write {exc.filename}: {exc.strerror}")


if __name__ == "__main__":
    main()
