"""Success-rate benchmark: collect -> train [-> imitate] -> evaluate random / oracle / CEM / MPPI [/ policy] on one task.

Writes ``<out>/<task>/results.json`` with every planner's success rate, CI and timing, and its rows into
``benchmarks/results/<task>.json``, which the docs' tables are rendered from (render_results.py). Each
stage resumes, so an interrupted run continues. Example (the figures in benchmarks/results.md)::

    python benchmarks/results.py --task two_room --episodes 50 --seeds 0 1 2

Extra ``key=value`` overrides for the training and the latent planners make ablations reproducible,
e.g. ``--train frameskip=10 --plan hold=true subgoals.enabled=true``. With ``policy`` among
``--planners`` (or ``--prior``) a goal-conditioned policy is fit on the checkpoint (`worldjepa
imitate`); ``policy`` executes it and ``--prior`` starts CEM/MPPI from its proposals. For TwoRoom
the report also splits success by whether the goal lies in the start's room.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from hydra import initialize_config_dir
from omegaconf import OmegaConf

from worldjepa.cli import CONFIG_DIR
from worldjepa.atomic import write_json_atomic
from worldjepa.checkpoint import load_checkpoint
from worldjepa.data.collector import make_env, resolve_env_config
from worldjepa.data.collector import run as collect
from worldjepa.evaluation.tasks import make_tasks
from worldjepa.evaluation.plan import run as plan
from worldjepa.training.imitate import POLICY
from worldjepa.training.imitate import run as imitate
from worldjepa.quickstart import stage_config
from worldjepa.training.train import run as train

from render_results import record_run  # a sibling script: benchmarks/ is on sys.path when this one runs

PLANNERS = ("random", "oracle", "cem", "mppi")
LATENT = ("cem", "mppi", "policy")  # the planners that need the checkpoint


def room_split(task: str, eval_dir: Path, protocol: dict) -> dict | None:
    """Successes among tasks whose goal is in the start's room vs the other room (TwoRoom only)."""
    env_cfg = resolve_env_config(task)
    env = make_env(env_cfg["id"], {**env_cfg["kwargs"], "image_size": 16})
    sim = env.unwrapped
    if not hasattr(sim, "room_of"):
        return None
    with open(eval_dir / "episodes.csv") as f:
        rows = list(csv.DictReader(f))
    tasks = {t.episode: t for t in make_tasks(protocol, 1 + max(int(r["episode"]) for r in rows), sim)}
    split = {"same_room": [0, 0], "other_room": [0, 0]}
    for r in rows:
        _, info = env.reset(**tasks[int(r["episode"])].reset_kwargs())
        key = "other_room" if np.any(sim.room_of(sim.get_state()[:2]) != sim.room_of(info["goal_state"][:2])) else "same_room"
        split[key][0] += r["success"] == "True"
        split[key][1] += 1
    env.close()
    return {key: {"successes": hit, "episodes": n} for key, (hit, n) in split.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="two_room", help="env config name: two_room | reacher | push")
    parser.add_argument("--out", default="benchmarks/out", help="root of datasets, runs and evals")
    parser.add_argument("--collect-episodes", type=int, default=200)
    parser.add_argument("--train-steps", type=int, default=1000)
    parser.add_argument("--episodes", type=int, default=50, help="evaluation episodes per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=100, help="env steps per episode")
    parser.add_argument("--planners", nargs="+", default=list(PLANNERS), choices=[*PLANNERS, "policy"])
    parser.add_argument("--oracle-episodes", type=int, default=None, help="fewer episodes for the slow oracle")
    parser.add_argument("--train", nargs="*", default=[], metavar="KEY=VALUE", help="extra `worldjepa train` overrides")
    parser.add_argument("--plan", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra `worldjepa plan` overrides for every planner (subgoals only affect cem and mppi)")
    parser.add_argument("--imitate", nargs="*", default=[], metavar="KEY=VALUE", help="extra `worldjepa imitate` overrides")
    parser.add_argument("--prior", action="store_true", help="start cem and mppi from the imitated policy's proposals")
    args = parser.parse_args()

    root = Path(args.out) / args.task
    data, run_dir = root / "data", root / "run"
    env = f"env={args.task}"
    no_settings = OmegaConf.create({})
    report: dict = {"task": args.task, "args": vars(args), "planners": {}}
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        started = time.perf_counter()
        collect(stage_config("collect", no_settings, env, f"out={data}", f"episodes={args.collect_episodes}", "progress=false"))
        train(stage_config("train", no_settings, f"data={data}", f"out={run_dir}", f"steps={args.train_steps}", "logger=none",
                           *args.train))
        report["train_seconds"] = time.perf_counter() - started
        report["train_metrics"] = json.loads((run_dir / "metrics.json").read_text())
        frameskip = load_checkpoint(run_dir / "last.pt")["meta"]["frameskip"]
        prior = []
        if args.prior or "policy" in args.planners:
            started = time.perf_counter()
            report["imitate"] = imitate(stage_config("imitate", no_settings, f"checkpoint={run_dir / 'last.pt'}",
                                                     f"out={run_dir / 'policy'}", "progress=false", *args.imitate))
            report["imitate_seconds"] = time.perf_counter() - started
            prior = [f"prior={run_dir / 'policy' / POLICY}"]
        for name in args.planners:
            episodes = args.oracle_episodes if name == "oracle" and args.oracle_episodes else args.episodes
            overrides = [
                env, f"planner={name}", f"out={root / ('eval_' + name)}", f"episodes={episodes}",
                f"batch={episodes}", f"budget={args.budget}", f"seeds=[{','.join(map(str, args.seeds))}]",
                "protocol.goal_source=env", "videos=2", "progress=false",
            ]
            # Every planner searches the same action chunks; the oracle and random take the model's frameskip.
            overrides += [f"checkpoint={run_dir / 'last.pt'}" if name in LATENT else f"frameskip={frameskip}", *args.plan]
            if name == "policy" or (args.prior and name in LATENT):
                overrides += prior
            results = plan(stage_config("plan", no_settings, *overrides))
            report["planners"][name] = {k: v for k, v in results.to_dict().items() if k != "config"}
            split = room_split(args.task, root / f"eval_{name}", results.config["protocol"])
            if split:
                report["planners"][name]["room_split"] = split
            write_json_atomic(root / "results.json", report)
    record_run(args.task, report, shlex.join([".venv/bin/python", "benchmarks/results.py", *sys.argv[1:]]), vars(args))
    print(json.dumps({k: v["success_rate"] for k, v in report["planners"].items()}, indent=2))


if __name__ == "__main__":
    main()
