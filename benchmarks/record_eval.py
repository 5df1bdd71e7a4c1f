"""Record a `worldjepa plan` output directory as one row of a results table, with its per-episode file.

    python benchmarks/record_eval.py TABLE ROW_ID EVAL_DIR --command "worldjepa plan ..." --set setting="..." --set model=A

The row's counts come from EVAL_DIR/results.json, its settings are the resolved plan config, and
EVAL_DIR/episodes.csv is copied to benchmarks/results/runs/TABLE/ROW_ID.csv, so every figure the
table shows can be recomputed from committed files. Then run `python benchmarks/render_results.py`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from render_results import ROOT, RESULTS, run_row, upsert_rows

from worldjepa.atomic import write_text_atomic
from worldjepa.evaluation.results import EvalResults


PROVENANCE = "written by benchmarks/record_eval.py"


def record(table: str, row_id: str, eval_dir: Path, command: str, cells: dict[str, str], title: str | None = None,
           results_dir: Path = ROOT / RESULTS) -> Path:
    """Add (or replace) row `row_id` of `results_dir/table.json` from the evaluation in `eval_dir`."""
    results = EvalResults.read(eval_dir / "results.json")
    if not results.complete:
        raise ValueError(f"{eval_dir} holds an unfinished evaluation: rerun its command to finish it, then record it")
    summary = results.to_dict()
    settings = {key: summary["config"][key] for key in ("env", "planner", "checkpoint_sha256", "horizon", "frameskip",
                                                        "execute", "hold", "protocol", "cost", "subgoals", "seeds")}
    row = {**run_row(row_id, summary, command, settings), **cells,
           "episodes_csv": f"runs/{table}/{row_id}.csv", "provenance": PROVENANCE}
    write_text_atomic(results_dir / row["episodes_csv"], (eval_dir / "episodes.csv").read_text())
    return upsert_rows(results_dir / f"{table}.json", [row], title or table, PROVENANCE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", help="results file stem, e.g. learned_cost")
    parser.add_argument("row_id", help="the row's id (replaced if present)")
    parser.add_argument("eval_dir", type=Path, help="out directory of a finished `worldjepa plan`")
    parser.add_argument("--command", required=True, help="the command that produced eval_dir")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra cells of the row")
    parser.add_argument("--title", default=None, help="the table's title, when the file is new")
    args = parser.parse_args()
    cells = dict(item.split("=", 1) for item in args.set)
    print(record(args.table, args.row_id, args.eval_dir, args.command, cells, args.title))


if __name__ == "__main__":
    main()
