"""Does averaging over predictors stop the planner exploiting one model's errors? Plan with the mean cost -> JSON.

    .venv/bin/python benchmarks/ensemble_cost.py --checkpoints A/last.pt B/last.pt ... --env push [--episodes 50] [--out F]

The checkpoints must share one encoder (predictor phases run from one JEPA checkpoint, benchmarks/push_recipe.md):
the first one's agent encodes frames and goals, and each candidate's cost is the mean over the members of
the latent L2 cost of its rollout through each member's predictor. Same tasks and planner as
`readout_cost.py` (the first N env-goal `dev` tasks, CEM, no subgoals), so the member rows of `worldjepa plan`
on those tasks compare with it. A diagnosis: K members cost K predictor phases of training.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from planner_data import dataset_envs, plan_env_goals

import worldjepa
from worldjepa.atomic import write_json_atomic
from worldjepa.checkpoint import file_sha256
from worldjepa.planning.costs import latent_cost
from worldjepa.planning.loading import load_model


def member_model(model: torch.nn.Module, checkpoint: Path) -> torch.nn.Module:
    """`checkpoint`'s world model, on `model`'s device; refuses one whose target encoder is not `model`'s."""
    member, _ = load_model(checkpoint, next(model.parameters()).device)
    ours, theirs = model.target_encoder.state_dict(), member.target_encoder.state_dict()
    if ours.keys() != theirs.keys() or not all(torch.equal(ours[name], theirs[name]) for name in ours):
        raise ValueError(f"{checkpoint} has another encoder than the first checkpoint: pass predictor phases "
                         "that ran from one JEPA checkpoint")
    return member


def measure(checkpoints: list[Path], env: str, episodes: int, budget: int) -> dict:
    """Success of CEM with the members' mean L2 cost on the first `episodes` dev tasks."""
    agent = worldjepa.make_agent(checkpoint=str(checkpoints[0]), env=env, planner="cem", **{"subgoals.enabled": False})
    members = [member_model(agent.model, path) for path in checkpoints]

    def mean_cost(model, z_hist, z_goal, grad=False):
        costs = [latent_cost(member, z_hist, z_goal) for member in members]
        return lambda actions: torch.stack([cost(actions) for cost in costs]).mean(0)

    agent.cost = mean_cost
    return {"checkpoint_sha256": [file_sha256(path) for path in checkpoints], "env": env,
            **plan_env_goals(agent, dataset_envs(agent, episodes), budget)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, nargs="+", required=True, help="predictors on one encoder")
    parser.add_argument("--env", default="push", help="env config of the checkpoints (configs/env)")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default: next to the first checkpoint)")
    args = parser.parse_args()
    result = measure(args.checkpoints, args.env, args.episodes, args.budget)
    out = args.out or args.checkpoints[0].parent / "ensemble_cost.json"
    write_json_atomic(out, result)
    print(result, "->", out)


if __name__ == "__main__":
    main()
