"""The docs' result tables match benchmarks/results/*.json, a changed figure is caught, and the docs stay short."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "render_results.py"
_spec = importlib.util.spec_from_file_location("render_results", SCRIPT)
render_results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render_results)


def check(root: Path = ROOT, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root), *flags], capture_output=True, text=True)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The documents and the results data, copied so a test may change them."""
    for doc in render_results.DOCS:
        (tmp_path / doc).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / doc, tmp_path / doc)
    shutil.copytree(ROOT / render_results.RESULTS, tmp_path / render_results.RESULTS)
    return tmp_path


def edit_row(root: Path, table: str, row_id: str, **changes) -> None:
    path = root / render_results.RESULTS / f"{table}.json"
    data = json.loads(path.read_text())
    next(row for row in data["rows"] if row["id"] == row_id).update(changes)
    path.write_text(json.dumps(data))


def test_committed_tables_match_their_data():
    result = check()
    assert result.returncode == 0, result.stderr


def test_every_table_has_data_and_every_data_file_a_table():
    """No orphan data and no marker without data: each JSON file is rendered somewhere."""
    marked = {m.group("name") for doc in render_results.DOCS
              for m in render_results.TABLE.finditer((ROOT / doc).read_text())}
    assert marked == set(render_results.load_tables(ROOT / render_results.RESULTS))


def test_a_changed_count_fails_the_check(copy: Path):
    edit_row(copy, "two_room", "mppi_1000", successes=145)  # rate and CI no longer follow from it
    result = check(copy, "--check")
    assert result.returncode == 1
    assert "two_room/mppi_1000: success_rate" in result.stderr


def test_a_consistently_changed_figure_is_stale_prose_until_rendered(copy: Path):
    """The drift check proper: self-consistent data that the docs do not show yet."""
    hits, n = 140, 150
    edit_row(copy, "default_recipe", "reacher_test_l2", successes=hits, success_rate=hits / n, per_seed_successes=[47, 47, 46],
             ci95=render_results.rounded_ci(hits, n))
    result = check(copy, "--check")
    assert result.returncode == 1
    assert "stale tables in README.md, benchmarks/results.md" in result.stderr
    assert check(copy).returncode == 0  # rendering rewrites both documents ...
    assert check(copy, "--check").returncode == 0
    assert "93.3% (140/150)" in (copy / "benchmarks/results.md").read_text()
    assert "MPPI 93.3%" in (copy / "README.md").read_text()  # ... the README's summary included


def test_a_changed_display_figure_fails_the_check(copy: Path):
    edit_row(copy, "two_room", "mppi_1000", other_room="88/93")
    assert check(copy, "--check").returncode == 1


def test_record_run_replaces_its_rows_and_keeps_the_others(tmp_path: Path):
    summary = {"episodes": 100, "successes": 90, "success_rate": 0.9, "success_ci95": [0.0, 1.0],
               "per_seed": {"0": {"successes": 44}, "1": {"successes": 46}},
               "room_split": {"same_room": {"successes": 40, "episodes": 40}, "other_room": {"successes": 50, "episodes": 60}}}
    (tmp_path / "two_room.json").write_text(json.dumps({
        "title": "t", "provenance": "p", "columns": render_results.DEFAULT_COLUMNS,
        "rows": [{"id": "mppi", "planner": "old"}, {"id": "kept", "planner": "other run"}]}))
    render_results.record_run("two_room", {"planners": {"mppi": summary}}, "cmd", {"seeds": [0, 1]}, tmp_path)
    tables = render_results.load_tables(tmp_path)
    assert [row["id"] for row in tables["two_room"]["rows"]] == ["kept", "mppi"]
    assert render_results.validate(tables) == []
    assert "| mppi | 50 × 2 | 90.0% (90/100) |" in render_results.render_table(tables, "two_room")
    assert tables["two_room"]["rows"][1]["other_room"] == "50/60"


def test_the_docs_stay_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
    for doc in render_results.DOCS[1:]:
        assert len((ROOT / doc).read_text().splitlines()) <= 300, doc
