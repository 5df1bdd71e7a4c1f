"""Render the result tables of README.md and benchmarks/results.md from benchmarks/results/*.json.

Each table in a document sits between ``<!-- table:NAME -->`` and ``<!-- /table -->`` and is rendered
from ``benchmarks/results/NAME.json``: ``title``, ``provenance``, ``columns`` (``[key, header]`` pairs)
and ``rows``. A row with ``successes`` also carries ``episodes``, ``success_rate``, ``ci95`` (95% Wilson),
``command`` and ``settings``; they are checked against each other, so the data cannot contradict itself.
A row ``{"ref": "FILE/ID", ...}`` reuses another file's row (local keys win); a cell ``{"ref": "FILE/ID",
"label": "MPPI"}`` (or a list of them) shows that row's rate and CI. Computed columns: ``success``,
``ci95``, ``per_seed``, ``tasks``, ``result``; any other key is the row's own value.

``python benchmarks/render_results.py`` rewrites the documents atomically; ``--check`` only compares
and exits 1 when a table differs from its data (or the data are inconsistent), so prose and data
cannot drift apart. ``benchmarks/results.py`` records new runs through ``record_run``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worldjepa.atomic import write_json_atomic, write_text_atomic
from worldjepa.evaluation.records import wilson_interval

ROOT = Path(__file__).resolve().parents[1]
RESULTS = "benchmarks/results"
DOCS = ("README.md", "benchmarks/results.md", "benchmarks/throughput.md", "benchmarks/push.md",
        "benchmarks/push_recipe.md", "benchmarks/gym_envs.md", "benchmarks/planners.md")
TABLE = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.DOTALL)
# Stored rates and CI bounds keep 6 decimals (4 would round twice: 0.873463 -> 0.8735 -> 87.4%, not 87.3%);
# anything further off is a transcription error.
DECIMALS = 6
TOLERANCE = 1e-6
PROVENANCE_RUN = "written by benchmarks/results.py"
DEFAULT_COLUMNS = [["planner", "planner"], ["tasks", "tasks"], ["success", "success"], ["ci95", "95% CI"],
                   ["per_seed", "per seed"]]
# benchmarks/compare.py's grid: one row per task x world model x pixels, with its representation figures.
COMPARE_COLUMNS = [["task", "task"], ["model", "world model"], ["pixels", "pixels"], ["tasks", "tasks"],
                   ["success", "success"], ["ci95", "95% CI"], ["probe_r2", "position probe R²"],
                   ["effective_rank", "effective rank"], ["collapsed", "collapse flagged"],
                   ["train_s_per_step", "train s/step"], ["plan_s_per_replan", "plan s/replan"]]

COMPUTED = ("success", "ci95", "per_seed", "tasks", "result")  # cells made from successes/episodes
Row = dict[str, Any]
Tables = dict[str, dict[str, Any]]


class DataError(ValueError):
    """A results file is missing, inconsistent or refers to a row that does not exist."""


def rounded_ci(successes: int, episodes: int) -> list[float]:
    """The 95% Wilson interval as stored in the results files."""
    return [round(bound, DECIMALS) for bound in wilson_interval(successes, episodes)]


def load_tables(results_dir: Path) -> Tables:
    """Every ``*.json`` under ``results_dir``, keyed by file stem."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(results_dir.glob("*.json"))}


def check_row(where: str, row: Row) -> list[str]:
    """What is inconsistent in one (resolved) row; empty when nothing is."""
    if "successes" not in row:
        return []
    problems = [f"{where}: missing {key}" for key in ("episodes", "success_rate", "ci95", "command", "settings")
                if key not in row]
    if problems:
        return problems
    hits, n = row["successes"], row["episodes"]
    if not 0 <= hits <= n or n <= 0:
        return [f"{where}: successes={hits} out of episodes={n}"]
    if abs(row["success_rate"] - hits / n) > TOLERANCE:
        problems.append(f"{where}: success_rate {row['success_rate']} is not {hits}/{n}")
    if any(abs(a - b) > TOLERANCE for a, b in zip(row["ci95"], rounded_ci(hits, n))):
        problems.append(f"{where}: ci95 {row['ci95']} is not the Wilson interval {rounded_ci(hits, n)}")
    per_seed = row.get("per_seed_successes")
    if per_seed and (sum(per_seed) != hits or n % len(per_seed)):
        problems.append(f"{where}: per_seed_successes {per_seed} do not add up to {hits}/{n}")
    return problems


def resolve(tables: Tables, ref: str, seen: tuple[str, ...] = ()) -> Row:
    """The row ``FILE/ID`` with its own ``ref`` (if any) merged under it."""
    name, _, row_id = ref.partition("/")
    rows = [row for row in tables.get(name, {}).get("rows", []) if row.get("id") == row_id]
    if len(rows) != 1 or ref in seen:
        raise DataError(f"reference {ref!r}: no single row {row_id!r} in {RESULTS}/{name}.json (or a cycle)")
    row = rows[0]
    return {**resolve(tables, row["ref"], (*seen, ref)), **row} if "ref" in row else row


def validate(tables: Tables) -> list[str]:
    """Every inconsistency across all results files."""
    problems = []
    for name, table in tables.items():
        problems += [f"{name}.json: missing {key}" for key in ("title", "provenance", "columns", "rows")
                     if key not in table]
        ids = [row.get("id") for row in table.get("rows", [])]
        problems += [f"{name}.json: row ids must be unique and present: {ids}"] if None in ids or len(set(ids)) < len(ids) else []
        for row_id in ids:
            try:
                problems += check_row(f"{name}/{row_id}", resolve(tables, f"{name}/{row_id}"))
            except DataError as err:
                problems.append(str(err))
    return problems


def percent(rate: float) -> str:
    """0.9733 -> '97.3%'."""
    return f"{rate * 100:.1f}%"


def ci_text(row: Row) -> str:
    """[0.933, 0.990] -> '93.3–99.0%'."""
    low, high = row["ci95"]
    return f"{low * 100:.1f}–{high * 100:.1f}%"


def seed_percents(row: Row) -> str:
    """Per-seed rates, whole ones without the '.0': '96, 96, 100%'."""
    per_seed = row["per_seed_successes"]
    per = row["episodes"] // len(per_seed)
    return ", ".join(f"{100 * hits / per:.1f}".removesuffix(".0") for hits in per_seed) + "%"


def result(row: Row) -> str:
    """Rate and CI in one cell: '97.3% (93.3–99.0%)'."""
    return f"{percent(row['success_rate'])} ({ci_text(row)})"


def cell(tables: Tables, row: Row, key: str) -> str:
    """One table cell: a computed column, a reference to other rows, or the row's own value."""
    value = row.get(key)
    if isinstance(value, dict) or (isinstance(value, list) and value and isinstance(value[0], dict)):
        refs = value if isinstance(value, list) else [value]
        return "; ".join(f"{ref.get('label', '')} {result(resolve(tables, ref['ref']))}".strip() for ref in refs)
    if key not in COMPUTED or "successes" not in row or (key == "tasks" and row.get(key)):
        return "" if value is None else str(value)
    if key == "success":
        text = f"{percent(row['success_rate'])} ({row['successes']}/{row['episodes']})"
        return f"**{text}**" if row.get("bold") else text
    if key == "ci95":
        return ci_text(row)
    if key == "per_seed":
        return seed_percents(row) if row.get("per_seed_successes") else ""
    if key == "tasks":
        seeds = len(row.get("per_seed_successes") or [1])
        return f"{row['episodes'] // seeds} × {seeds}" if seeds > 1 else str(row["episodes"])
    return result(row)  # key == "result"


def render_table(tables: Tables, name: str) -> str:
    """The markdown table of ``NAME.json`` (a trailing newline included)."""
    if name not in tables:
        raise DataError(f"a document has <!-- table:{name} --> but there is no {RESULTS}/{name}.json")
    columns = tables[name]["columns"]
    lines = ["| " + " | ".join(header for _, header in columns) + " |", "|" + "---|" * len(columns)]
    for row in tables[name]["rows"]:
        row = resolve(tables, f"{name}/{row['id']}")
        lines.append("| " + " | ".join(cell(tables, row, key).replace("|", "\\|") for key, _ in columns) + " |")
    return "\n".join(lines) + "\n"


def render_document(text: str, tables: Tables) -> str:
    """``text`` with every marked table re-rendered from its data."""
    return TABLE.sub(lambda m: m.group(1) + render_table(tables, m.group("name")) + m.group(4), text)


def run_row(name: str, summary: dict, command: str, settings: dict) -> Row:
    """A results file row from one planner's entry in a ``benchmarks/results.py`` report."""
    per_seed = summary.get("per_seed") or {}
    row = {
        "id": name, "planner": name, "command": command, "settings": settings, "provenance": PROVENANCE_RUN,
        "successes": summary["successes"], "episodes": summary["episodes"],
        "success_rate": round(summary["success_rate"], DECIMALS), "ci95": rounded_ci(summary["successes"], summary["episodes"]),
        "per_seed_successes": [per_seed[seed]["successes"] for seed in sorted(per_seed, key=int)] or None,
    }
    for where, split in (summary.get("room_split") or {}).items():
        row[where] = f"{split['successes']}/{split['episodes']}"
    return row


def record_run(task: str, report: dict, command: str, settings: dict, results_dir: Path = ROOT / RESULTS) -> Path:
    """Write (or update) ``results_dir/<task>.json`` with one row per planner of a results.py report.

    Rows of the same id are replaced and the others kept, since a table may gather several runs.
    """
    new = [run_row(name, summary, command, settings) for name, summary in report["planners"].items()]
    return upsert_rows(results_dir / f"{task}.json", new, f"{task} (benchmarks/results.py)", PROVENANCE_RUN)


def upsert_rows(path: Path, rows: list[Row], title: str, provenance: str, columns: list[list[str]] | None = None,
                order: Callable[[Row], Any] | None = None) -> Path:
    """Atomically replace the rows of the same id in the results file at `path` (made when new, with `columns`
    or DEFAULT_COLUMNS) and keep the others: new rows go last, or all are sorted by the key `order`."""
    table = json.loads(path.read_text()) if path.exists() else {
        "title": title, "provenance": provenance, "columns": columns or DEFAULT_COLUMNS, "rows": []}
    fresh = {row["id"] for row in rows}
    table["rows"] = [row for row in table["rows"] if row.get("id") not in fresh] + rows
    if order is not None:
        table["rows"].sort(key=order)
    write_json_atomic(path, table)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table differs from its data")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root holding the documents and the data")
    args = parser.parse_args(argv)
    tables = load_tables(args.root / RESULTS)
    problems = validate(tables)
    if problems:
        print("inconsistent results data:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    stale = []
    for doc in DOCS:
        path = args.root / doc
        text = path.read_text()
        try:
            rendered = render_document(text, tables)
        except DataError as err:
            print(f"{doc}: {err}", file=sys.stderr)
            return 1
        if rendered == text:
            continue
        stale.append(doc)
        if args.check:
            sys.stderr.writelines(difflib.unified_diff(text.splitlines(True), rendered.splitlines(True), doc, f"{doc} (rendered)"))
        else:
            write_text_atomic(path, rendered)
    if args.check and stale:
        print(f"stale tables in {', '.join(stale)}: run python benchmarks/render_results.py", file=sys.stderr)
        return 1
    print(f"{'checked' if args.check else 'rendered'} {len(DOCS)} documents from {len(tables)} results files"
          + (f"; rewrote {', '.join(stale)}" if stale and not args.check else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
