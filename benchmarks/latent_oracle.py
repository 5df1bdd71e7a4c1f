"""Is it the world model or the goal cost? Score the same search on the true simulator with the model's latent cost -> JSON.

    .venv/bin/python benchmarks/latent_oracle.py --checkpoint R/last.pt --env push [--episodes 50] [--samples 100 --iterations 5 --elites 10] [--out F]

Three agents plan the same tasks with one CEM (held actions at the model's frameskip, no subgoals):
- `latent_cost_true_dynamics`: the oracle's rollouts through the env's own simulator, with the states at its plan
  steps and the goal rendered and encoded by the model's target encoder and scored by the latent L2 cost of
  `worldjepa plan` (the oracle's `distance`): a perfect predictor under the model's own cost;
- `task_distance_true_dynamics`: the oracle of `worldjepa plan planner=oracle` (true simulator, task distance);
- `latent_cost_predictor`: the model as `worldjepa plan` runs it.
If the first plans as well as the second, the cost is not what limits the third: its predictor is. Rendering every
candidate costs about 2 s per replan and task at the default size, so the search is kept small.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from planner_data import dataset_envs, diagnosis_parser, plan_env_goals, write_result

import worldjepa
from worldjepa.checkpoint import file_sha256
from worldjepa.planning.oracle import OracleAgent, StateDistance


def rendered_latent_distance(encode: Callable[[np.ndarray], torch.Tensor]) -> StateDistance:
    """The oracle's StateDistance as the latent L2 cost sees it: states and goal rendered, then `encode`d."""

    def distance(sim, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        n, h = states.shape[:2]
        z = encode(np.stack([sim.render_state(state) for state in states.reshape(n * h, -1)])).float()
        z_goal = encode(sim.render_goal(goal_state)[None]).float()
        return (z.reshape(n, h, -1) - z_goal).pow(2).mean(-1).cpu().numpy()

    return distance


def measure(checkpoint: Path, env: str, episodes: int, budget: int, search: dict) -> dict:
    """Successes of the three agents (module docstring) on the first `episodes` env-goal `dev` tasks."""
    planner = {"name": "cem", **search}
    latent = worldjepa.make_agent(checkpoint=str(checkpoint), env=env, planner=planner, **{"subgoals.enabled": False})
    frameskip = latent.model.frameskip
    agents = {
        "latent_cost_true_dynamics": lambda envs: OracleAgent(envs, latent.planner, frameskip,
                                                              distance=rendered_latent_distance(latent.encode)),
        "task_distance_true_dynamics": lambda envs: OracleAgent(envs, latent.planner, frameskip),
        "latent_cost_predictor": lambda envs: latent,
    }
    rows = {}
    for name, make in agents.items():
        envs = dataset_envs(latent, episodes)
        rows[name] = plan_env_goals(make(envs), envs, budget)
        print(name, rows[name], flush=True)
    return {"checkpoint_sha256": file_sha256(checkpoint), "env": env, "planner": planner, "rows": rows}


def main() -> None:
    parser = diagnosis_parser(__doc__, episodes=50)
    parser.add_argument("--samples", type=int, default=100, help="CEM samples per iteration")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--elites", type=int, default=10)
    args = parser.parse_args()
    search = {"samples": args.samples, "iterations": args.iterations, "elites": args.elites}
    result = measure(args.checkpoint, args.env, args.episodes, args.budget, search)
    write_result(result, args.out, args.checkpoint, "latent_oracle.json")


if __name__ == "__main__":
    main()
