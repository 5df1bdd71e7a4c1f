"""JEPA against a generative world model and an EMA-only JEPA, on clean pixels and with visual distractors.

Runs the grid {jepa, reconstruction, ema_only} x {clean, distractors} x {two_room, reacher}: every model of
a task trains on the same episodes (the clean and distractor datasets hold the very same states, see
envs/distractors.py) for the same steps, with the task's recipe (configs/recipe/TASK.yaml) for collection,
training and planning, and plans on the protocol's test split. Each cell reports the success rate with its
95% Wilson interval, the linear position-probe R² and effective rank of held-out embeddings, the collapse
flag, training seconds per step and planning seconds per replan. A cell's figures go to
``OUT/CELL/cell.json`` and become a row of ``benchmarks/results/compare.json`` (rendered by
render_results.py wherever a document holds ``<!-- table:compare -->``), its per-episode file to
``benchmarks/results/runs/compare/CELL.csv``. Every stage resumes and finished cells are skipped, so an
interrupted grid continues where it stopped. The full grid and a quick check::

    python benchmarks/compare.py --out benchmarks/out/compare
    python benchmarks/compare.py --out /tmp/compare --tasks two_room --cells 'two_room-*-clean' \\
        --collect-episodes 20 --steps 50 --episodes 4 --seeds 0
"""

from __future__ import annotations

import argparse
import fnmatch
import itertools
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from worldjepa.atomic import write_json_atomic, write_text_atomic
from worldjepa.config import compose_command
from worldjepa.data.collector import run as collect
from worldjepa.evaluation.plan import run as plan
from worldjepa.quickstart import stage_config
from worldjepa.training.train import run as train

from render_results import COMPARE_COLUMNS, DECIMALS, ROOT, RESULTS, run_row, upsert_rows  # a sibling script

TASKS = ("two_room", "reacher")
# World model -> its `worldjepa train` overrides: the same encoder, predictor, data and steps for each.
MODELS = {"jepa": [], "reconstruction": ["model.objective=reconstruction"], "ema_only": ["loss=ema_only"]}
PIXELS = ("clean", "distractors")
TITLE = "JEPA vs a generative world model vs EMA-only JEPA, clean and with visual distractors"
PROVENANCE = "written by benchmarks/compare.py"


def cell_id(task: str, model: str, pixels: str) -> str:
    """The id of a grid cell (its row in compare.json and its folder under --out): TASK-MODEL-PIXELS."""
    return f"{task}-{model}-{pixels}"


def with_keys(block: DictConfig, **values: Any) -> DictConfig:
    """A recipe block with `values` set on it (None values are left as the recipe has them)."""
    return OmegaConf.merge(OmegaConf.to_container(block), {k: v for k, v in values.items() if v is not None})


def env_overrides(task: str, pixels: str, distractors: str) -> list[str]:
    """The env of a cell: the task's config, with distractors in its pixels for the `distractors` column."""
    return [f"env={task}", *([f"+env.kwargs.distractors={distractors}"] if pixels == "distractors" else [])]


def run_cell(task: str, model: str, pixels: str, recipe: DictConfig, args: argparse.Namespace) -> dict[str, Any]:
    """Collect (shared by a task's cells of one pixel setting), train and plan one cell; return its figures."""
    root = Path(args.out) / task
    data, run_dir, eval_dir = root / f"data_{pixels}", root / cell_id(task, model, pixels), root / cell_id(task, model, pixels) / "eval"
    env = env_overrides(task, pixels, args.distractors)
    collect_cfg = stage_config("collect", with_keys(recipe.collect, episodes=args.collect_episodes), *env, f"out={data}",
                               "progress=false")
    collect(collect_cfg)
    metrics = train(stage_config("train", with_keys(recipe.train, steps=args.steps), f"data={data}", f"out={run_dir}",
                                 "logger=none", "progress=false", f"threads={args.threads}", *MODELS[model]))
    seeds = f"[{','.join(map(str, args.seeds))}]"
    plan_settings = with_keys(recipe.plan, episodes=args.episodes, batch=args.episodes, videos=args.videos)
    results = plan(stage_config("plan", plan_settings, *env, f"checkpoint={run_dir / 'last.pt'}", f"out={eval_dir}",
                                f"seeds={seeds}", "progress=false", f"threads={args.threads}"))
    summary = results.to_dict()
    steps_per_s = metrics["throughput"]["steps_per_s"]
    return {
        "summary": {k: v for k, v in summary.items() if k != "config"},
        "probe_r2": metrics["val"]["probe_r2"],
        "effective_rank": metrics["val"]["embed_effective_rank"],
        "embed_std_mean": metrics["val"]["embed_std_mean"],
        "collapsed": bool(metrics["train"].get("collapse/collapsed", 0.0)),
        "train_s_per_step": 1.0 / steps_per_s if steps_per_s else None,
        "train_cpu_s_per_step": metrics["throughput"]["cpu_seconds_per_step"],
        "plan_s_per_replan": summary["plan_time_per_replan_s"]["mean"],
        "settings": {
            "collect_episodes": collect_cfg.episodes,
            "train_steps": metrics["step"], "train_overrides": MODELS[model],
            "distractors": args.distractors if pixels == "distractors" else "none",
            **{key: summary["config"][key] for key in ("planner", "horizon", "frameskip", "execute", "hold", "subgoals",
                                                         "protocol", "seeds")},
        },
        "episodes_csv": str(eval_dir / "episodes.csv"),
    }


def compare_row(task: str, model: str, pixels: str, cell: dict[str, Any]) -> dict[str, Any]:
    """The compare.json row of a cell: the results row of its evaluation plus the grid's own columns."""
    digits = {"probe_r2": 3, "effective_rank": 1, "train_s_per_step": 3, "plan_s_per_replan": 3}
    rounded = {key: None if cell[key] is None else round(cell[key], n) for key, n in digits.items()}
    row = run_row(cell_id(task, model, pixels), cell["summary"], cell["command"], cell["settings"])
    row["planner"] = cell["summary"]["planner"]
    return {**row, "task": task, "model": model, "pixels": pixels, **rounded,
            "collapsed": "yes" if cell["collapsed"] else "no", "embed_std_mean": round(cell["embed_std_mean"], DECIMALS),
            "episodes_csv": f"runs/compare/{row['id']}.csv", "provenance": PROVENANCE}


def record(row: dict[str, Any], episodes_csv: Path, results_dir: Path) -> None:
    """Copy the cell's per-episode file beside the results and upsert its row into compare.json."""
    write_text_atomic(results_dir / row["episodes_csv"], episodes_csv.read_text())
    # Rows in grid order (task, then model, then pixels), however the cells were run or resumed.
    grid = [cell_id(*cell) for cell in itertools.product(TASKS, MODELS, PIXELS)]
    upsert_rows(results_dir / "compare.json", [row], TITLE, PROVENANCE, columns=COMPARE_COLUMNS,
                order=lambda r: grid.index(r["id"]) if r["id"] in grid else len(grid))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/out/compare", help="root of the datasets, runs and evaluations")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), help="recipes (configs/recipe/) to run")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--pixels", nargs="+", default=list(PIXELS), choices=list(PIXELS))
    parser.add_argument("--cells", nargs="+", default=["*"], help="glob patterns over cell ids TASK-MODEL-PIXELS")
    parser.add_argument("--distractors", default="both", choices=("color", "shapes", "both"),
                        help="what the distractors column draws (envs/distractors.py)")
    parser.add_argument("--collect-episodes", type=int, default=None, help="episodes per dataset (default: the recipe's)")
    parser.add_argument("--steps", type=int, default=None, help="training steps of every model (default: the recipe's)")
    parser.add_argument("--episodes", type=int, default=50, help="evaluation tasks per planner seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="planner seeds (each faces the same tasks)")
    parser.add_argument("--threads", default="null", help="torch threads of training and planning (null: all cores; "
                        "1 when other processes share the cores)")
    parser.add_argument("--videos", type=int, default=2, help="videos saved per evaluation")
    parser.add_argument("--results", type=Path, default=ROOT / RESULTS, help="where compare.json is written")
    args = parser.parse_args(argv)
    command = shlex.join([".venv/bin/python", "benchmarks/compare.py", *(sys.argv[1:] if argv is None else argv)])
    for task in args.tasks:
        recipe = compose_command("quickstart", None, f"recipe={task}")
        for model, pixels in itertools.product(args.models, args.pixels):
            name = cell_id(task, model, pixels)
            if not any(fnmatch.fnmatchcase(name, pattern) for pattern in args.cells):
                continue
            done = Path(args.out) / task / name / "cell.json"
            if done.exists():
                print(f"== {name}: done, {done}", flush=True)
                cell = json.loads(done.read_text())
            else:
                print(f"== {name}", flush=True)
                cell = {**run_cell(task, model, pixels, recipe, args), "command": command}
                write_json_atomic(done, cell)
            record(compare_row(task, model, pixels, cell), Path(cell["episodes_csv"]), args.results)
            print(f"{name}: success {cell['summary']['success_rate']:.1%}, probe R2 {cell['probe_r2']:.3f}, "
                  f"effective rank {cell['effective_rank']:.1f}{', COLLAPSED' if cell['collapsed'] else ''}", flush=True)


if __name__ == "__main__":
    main()
