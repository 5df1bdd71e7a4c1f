"""Is it the world model or the goal cost? Score the same search on the true simulator with the model's latent cost -> JSON.

    .venv/bin/python benchmarks/latent_oracle.py --checkpoint R/last.pt --env push [--episodes 50] [--samples 100 --iterations 5 --elites 10] [--out F]

Three agents plan the same tasks with one CEM (held actions at the model's frameskip, no subgoals):
- `latent_cost_true_dynamics`: each candidate is rolled through the env's own simulator, the frames at its plan
  steps are rendered and encoded by the model's target encoder, and the latent L2 cost of `worldjepa plan` scores
  them: a perfect predictor under the model's own cost;
- `task_distance_true_dynamics`: the oracle of `worldjepa plan planner=oracle` (true simulator, task distance);
- `latent_cost_predictor`: the model as `worldjepa plan` runs it.
If the first plans as well as the second, the cost is not what limits the third: its predictor is. Rendering every
candidate costs about 2 s per replan and task at the default size, so the search is kept small.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from planner_data import dataset_envs, plan_env_goals

import worldjepa
from worldjepa.atomic import write_json_atomic
from worldjepa.checkpoint import file_sha256
from worldjepa.planners import HeldChunkPlanner
from worldjepa.planning.agent import PlanProblem
from worldjepa.planning.costs import reduce_distances
from worldjepa.planning.oracle import OracleAgent


class LatentCostOracle(OracleAgent):
    """The oracle's simulator rollouts, scored by `model`'s latent L2 between rendered plan-step frames and the goal."""

    def __init__(self, model: torch.nn.Module, envs: list, planner: HeldChunkPlanner, frameskip: int) -> None:
        super().__init__(envs, planner, frameskip)
        self.model = model

    @torch.no_grad()
    def _encode(self, pixels: np.ndarray) -> torch.Tensor:
        return self.model.encode(torch.from_numpy(np.ascontiguousarray(pixels))).float()

    def plan_problem(self, rows: list[int]) -> PlanProblem:
        sims = [self.envs[r].unwrapped for r in rows]
        starts = [sim.get_state() for sim in sims]
        z_goal = self._encode(np.stack([sim.render_goal(self.goal_states[r]) for sim, r in zip(sims, rows)]))

        def cost(actions: torch.Tensor) -> torch.Tensor:
            b, n, h, d = actions.shape
            env_actions = actions.detach().cpu().double().numpy().reshape(b, n, h * self.frameskip, d // self.frameskip)
            distances = []
            for sim, start, acts, goal in zip(sims, starts, env_actions, z_goal):
                states = sim.simulate(start, acts)[:, self.frameskip - 1 :: self.frameskip]  # [n, h, state_dim]
                frames = np.stack([sim.render_state(state) for state in states.reshape(n * h, -1)])
                distances.append((self._encode(frames).reshape(n, h, -1) - goal).pow(2).mean(-1))
            return reduce_distances(torch.stack(distances), "final", 0.1).to(actions.device)

        return PlanProblem(cost)


def measure(checkpoint: Path, env: str, episodes: int, budget: int, search: dict) -> dict:
    """Successes of the three agents (module docstring) on the first `episodes` env-goal `dev` tasks."""
    planner = {"name": "cem", **search}
    latent = worldjepa.make_agent(checkpoint=str(checkpoint), env=env, planner=planner, **{"subgoals.enabled": False})
    frameskip = latent.model.frameskip
    agents = {
        "latent_cost_true_dynamics": lambda envs: LatentCostOracle(latent.model, envs, latent.planner, frameskip),
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--env", default="push", help="env config of the checkpoint (configs/env)")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--samples", type=int, default=100, help="CEM samples per iteration")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--elites", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default: next to the checkpoint)")
    args = parser.parse_args()
    search = {"samples": args.samples, "iterations": args.iterations, "elites": args.elites}
    result = measure(args.checkpoint, args.env, args.episodes, args.budget, search)
    out = args.out or args.checkpoint.parent / "latent_oracle.json"
    write_json_atomic(out, result)
    print(result, "->", out)


if __name__ == "__main__":
    main()
