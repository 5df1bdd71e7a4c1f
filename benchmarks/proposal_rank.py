"""Where does a policy's plan rank among random action sequences under a planning cost, predicted and true?

For each `dev` task at its start, the policy's plan (rolled through the predictor) and N random
sequences (N(0, 1) per action, clipped) are scored by the latent cost of their *predicted* end
embeddings, and by the same cost on the *true* end states (simulated, rendered and encoded: a perfect
predictor), beside the true task distance. The share of random sequences preferred to the policy's plan
separates model error (predicted vs true) from the cost's own shape (true end states vs true distance).

    python benchmarks/proposal_rank.py --checkpoint R/last.pt --policy P/policy.pt [--value V/value.pt] --env push
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from worldjepa.atomic import write_json_atomic
from worldjepa.data.collector import make_env
from worldjepa.evaluation.setup import resolve
from worldjepa.evaluation.tasks import PROTOCOL_VERSION, make_tasks
from worldjepa.models.goal_value import GoalValue
from worldjepa.planning.agent import LatentAgent
from worldjepa.planning.costs import LatentCost
from worldjepa.planning.loading import load_head


def preferred_shares(agent: LatentAgent, env, tasks, samples: int, gen: torch.Generator) -> dict[str, float]:
    """Mean share of random sequences that the cost (predicted, true end states) and the true distance prefer."""
    sim, model, fs = env.unwrapped, agent.model, agent.frameskip
    shares: dict[str, list[float]] = {"predicted": [], "true_end_states": [], "true_distance": []}
    for task in tasks:
        obs, info = env.reset(**task.reset_kwargs())
        agent.reset(info["goal_pixels"])
        agent.frames = [[obs["pixels"]]]
        problem = agent.plan_problem([0])
        h, d = problem.proposal.shape[1:]
        cands = torch.cat([problem.proposal[:, None], torch.randn(1, samples, h, d, generator=gen).clamp(-1, 1)], 1)
        predicted = problem.cost(cands)[0]
        ends = sim.simulate(sim.get_state(), cands[0].reshape(samples + 1, h * fs, d // fs).double().numpy())[:, -1]
        with torch.no_grad():
            z = model.encode(torch.from_numpy(np.stack([sim.render_state(e) for e in ends])))
            on_true = agent.cost.distance(z, agent.z_goal[0])
        true = torch.from_numpy(sim.task_distance(ends, np.asarray(info["goal_state"])))
        for key, c in (("predicted", predicted), ("true_end_states", on_true), ("true_distance", true)):
            shares[key].append(float((c[1:] < c[0]).double().mean()))
    return {key: float(np.mean(v)) for key, v in shares.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--policy", required=True, help="policy.pt of `worldjepa imitate` on the checkpoint")
    parser.add_argument("--value", default=None, help="value.pt of `worldjepa value` (adds the learned cost)")
    parser.add_argument("--env", default="push")
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--samples", type=int, default=99)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/runs/proposal_rank.json"))
    args = parser.parse_args()
    planner = {"name": "cem", "horizon": 8, "samples": 300, "iterations": 10, "elites": 30}
    s = resolve(args.env, planner, args.checkpoint, None, None, 100, "cpu", 0, prior=args.policy)
    costs = {"l2": LatentCost()}
    if args.value:
        costs["value"] = LatentCost("value", value=load_head(GoalValue, args.value, s.checkpoint_sha, s.device))
    env = make_env(s.env_cfg["id"], s.env_cfg["kwargs"])
    protocol = {"version": PROTOCOL_VERSION, "split": "dev", "goal_source": "env", "budget": 100, "dataset": None,
                "dataset_offset": 25, "seed": 0}
    tasks = make_tasks(protocol, args.tasks, env.unwrapped)
    report = {"checkpoint": args.checkpoint, "policy": args.policy, "tasks": args.tasks, "samples": args.samples,
              "protocol": protocol, "shares_preferred_to_the_policy_plan": {}}
    for name, cost in costs.items():
        agent = LatentAgent(s.model, s.planner, cost=cost, policy=s.policy)
        shares = preferred_shares(agent, env, tasks, args.samples, torch.Generator().manual_seed(0))
        report["shares_preferred_to_the_policy_plan"][name] = shares
        print(name, shares, flush=True)
    write_json_atomic(args.out, report)


if __name__ == "__main__":
    main()
