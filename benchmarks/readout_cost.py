"""Is it the world model or the goal cost? Plan with a privileged cost on the same model -> JSON.

    .venv/bin/python benchmarks/readout_cost.py --checkpoint R/last.pt --env push --dims 0 1 [--planner cem] [--plan execute=1 ...] [--out F]

The latent L2 cost compares whole embeddings, pusher included. This script replaces it with the squared
distance between ridge read-outs of the state `dims` (Push: 0 1, the block; fit on training-episode frames
as `action_shift.py` fits them) of the predicted and the goal embeddings: the task's own distance, seen
through the model. Same tasks, planner and reduction as `state_dynamics.py --plan-episodes` (the first N
env-goal `dev` tasks, no subgoals), so the three compare: exact-state model, pixel model with the task's
cost, pixel model with L2 (`worldjepa plan`). A baseline for diagnosis only: the cost needs state labels.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from action_shift import readout_weights
from planner_data import dataset_envs, diagnosis_parser, plan_env_goals, write_result

import worldjepa
from worldjepa.data import open_dataset, split_episodes
from worldjepa.planning.costs import latent_cost


def measure(checkpoint: Path, env: str, dims: list[int], planner: str, episodes: int, budget: int,
            plan: dict | None = None) -> dict:
    """Success of `planner` on the first `episodes` dev tasks with the read-out cost, and mean start/final distances.
    `plan` holds further `worldjepa plan` settings (``{"execute": 1, "hold": False}``)."""
    plan = {"subgoals.enabled": False, **(plan or {})}
    agent = worldjepa.make_agent(checkpoint=str(checkpoint), env=env, planner=planner, **plan)
    store = open_dataset(agent.model.meta.dataset["path"])
    train_eps, _ = split_episodes(store.root, 0.1, seed=0)
    weight, _ = readout_weights(agent.model, store, train_eps, dims)

    def distance(pred: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        return ((pred.float() - goal.float()) @ weight).pow(2).sum(-1)  # the bias cancels

    agent.cost = lambda model, z_hist, z_goal, grad=False: latent_cost(model, z_hist, z_goal, distance=distance)
    return {"checkpoint": str(checkpoint), "env": env, "dims": dims, "planner": planner, "plan": plan,
            **plan_env_goals(agent, dataset_envs(agent, episodes), budget)}


def main() -> None:
    parser = diagnosis_parser(__doc__, episodes=50)
    parser.add_argument("--dims", type=int, nargs="+", required=True, help="state dims the task distance reads")
    parser.add_argument("--planner", default="cem", help="planner config (cem, as state_dynamics.py plans)")
    parser.add_argument("--plan", nargs="+", default=[], metavar="KEY=VALUE",
                        help="further `worldjepa plan` settings, e.g. execute=1 hold=false")
    args = parser.parse_args()
    result = measure(args.checkpoint, args.env, args.dims, args.planner, args.episodes, args.budget,
                     {key: yaml.safe_load(value) for key, value in (kv.split("=", 1) for kv in args.plan)})
    write_result(result, args.out, args.checkpoint, "readout_cost.json")


if __name__ == "__main__":
    main()
