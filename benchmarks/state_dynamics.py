"""State-dynamics baseline -> JSON: is a world model's error the pixels' fault or the dynamics'?

    .venv/bin/python benchmarks/state_dynamics.py --data D [--dims 0 1] [--out benchmarks/out/state_dynamics.json]

Trains a residual MLP on the simulator's *true* state (``[qpos, qvel]``, standardised) of the
dataset's training episodes, with the world model's frameskip, horizon and open-loop rollout loss,
but no encoder. It is then scored exactly like `action_shift.py` scores a world model: the same
held-out windows, the same action sequences (same seed), the simulator's outcome as the truth.
If this model, which sees the exact state, is as wrong as the world model on a kind of action,
the pixels are not what limits the world model there: the data do not pin the dynamics down.

`--plan-episodes N` also plans with it: the latent CEM's settings (configs/planner/cem.yaml),
replanning every chunk, on the first N env-goal tasks of protocol seed 0 (those `worldjepa plan
protocol.goal_source=env` runs), scoring each sample by the task distance of the model's predicted
states (reduced like the latent cost): the success a model with perfect perception reaches on these data.
`--execute 10 5 1` plans once per value, running that many env actions per replan (default: a whole chunk).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from action_shift import SOURCES, action_sequences, window_times
from planner_data import dataset_env, plan_defaults, plan_env_goals
from torch import nn
from tqdm import trange

from worldjepa.atomic import write_json_atomic
from worldjepa.planning.costs import reduce_distances
from worldjepa.data import open_dataset, split_episodes
from worldjepa.data.collector import make_env
from worldjepa.training.validation import position_dims
from worldjepa.evaluation.setup import resolve
from worldjepa.planning.agent import MPCAgent, PlanProblem


class StateDynamics(nn.Module):
    """x_{h+1} = x_h + f(x_h, a_h) on standardised states, one step per action chunk."""

    def __init__(self, state_dim: int, chunk_dim: int, hidden: int, mean: np.ndarray, std: np.ndarray,
                 hide: list[int] = ()) -> None:
        super().__init__()
        self.f = nn.Sequential(
            nn.Linear(state_dim + chunk_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, state_dim),
        )
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        # Hidden dims are zeroed (their mean) in f's input, as for an encoder that does not see them.
        visible = torch.ones(state_dim).index_fill_(0, torch.as_tensor(list(hide), dtype=torch.long), 0)
        self.register_buffer("visible", visible)

    def rollout(self, x0: torch.Tensor, chunks: torch.Tensor) -> torch.Tensor:
        """Standardised states [B, D] and chunks [B, H, frameskip*A] -> the next H states [B, H, D]."""
        x, out = x0, []
        for h in range(chunks.shape[1]):
            x = x + self.f(torch.cat([x * self.visible, chunks[:, h]], -1))
            out.append(x)
        return torch.stack(out, 1)

    def predict(self, state: np.ndarray, actions: np.ndarray, frameskip: int) -> np.ndarray:
        """Raw state (D,) and env actions [H*frameskip, A] -> the raw state after the last chunk."""
        x0 = (torch.tensor(state, dtype=torch.float32) - self.mean) / self.std
        chunks = torch.tensor(actions, dtype=torch.float32).reshape(1, -1, frameskip * actions.shape[-1])
        return (self.rollout(x0[None], chunks)[0, -1] * self.std + self.mean).numpy()


def training_windows(store, episodes: list[int], horizon: int, frameskip: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of the episodes: states [N, horizon+1, D] a chunk apart, chunks [N, horizon, frameskip*A]."""
    states, chunks = [], []
    for e in episodes:
        s, a = store.load(e, "state"), store.load(e, "actions")
        for t in range(len(a) - horizon * frameskip + 1):
            states.append(s[t : t + horizon * frameskip + 1 : frameskip])
            chunks.append(a[t : t + horizon * frameskip].reshape(horizon, -1))
    return np.array(states), np.array(chunks)


def train(states: np.ndarray, chunks: np.ndarray, steps: int, batch: int, hidden: int, lr: float,
          progress: bool, hide: list[int] = ()) -> tuple[StateDynamics, float]:
    """Fit the rollout of every window open loop from its first state; return the model and the last loss."""
    mean, std = states.reshape(-1, states.shape[-1]).mean(0), states.reshape(-1, states.shape[-1]).std(0) + 1e-6
    x = torch.as_tensor((states - mean) / std, dtype=torch.float32)
    a = torch.as_tensor(chunks, dtype=torch.float32)
    model = StateDynamics(x.shape[-1], a.shape[-1], hidden, mean, std, hide)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    loss = torch.tensor(float("nan"))
    for _ in trange(steps, desc="state dynamics", disable=not progress):
        idx = torch.randint(len(x), (batch,))
        loss = (model.rollout(x[idx, 0], a[idx]) - x[idx, 1:]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval().requires_grad_(False), loss.item()


class StateModelAgent(MPCAgent):
    """MPC on the learned state model: candidates start from each env's true state, scored by task distance."""

    def __init__(self, model: StateDynamics, envs: list, planner, frameskip: int, cost: dict,
                 execute: int | None = None) -> None:
        super().__init__(planner, frameskip, execute=execute)
        self.model, self.sims, self.cost = model, [env.unwrapped for env in envs], cost

    def set_goals(self, goals: np.ndarray, goal_states: np.ndarray | None) -> None:
        self.goal_states = goal_states

    def plan_problem(self, rows: list[int]) -> PlanProblem:
        sims, goals, model = [self.sims[r] for r in rows], [self.goal_states[r] for r in rows], self.model
        starts = (torch.tensor(np.stack([sim.get_state() for sim in sims]), dtype=torch.float32) - model.mean) / model.std

        def cost_fn(actions: torch.Tensor) -> torch.Tensor:
            b, n, h, d = actions.shape
            with torch.no_grad():
                x = model.rollout(starts[:, None].expand(b, n, -1).reshape(b * n, -1), actions.reshape(b * n, h, d))
            states = (x * model.std + model.mean).reshape(b, n, h, -1).double().numpy()
            dist = np.stack([sim.task_distance(st, goal) for sim, st, goal in zip(sims, states, goals)])
            return reduce_distances(torch.from_numpy(dist), self.cost["reduction"], self.cost["intermediate_weight"]).float()

        return PlanProblem(cost_fn)


def plan_success(model: StateDynamics, meta: dict, episodes: int, frameskip: int, horizon: int, budget: int,
                 execute: int | None = None) -> dict:
    """CEM on the learned state model toward env-sampled goals, running `execute` env actions per replan (None: a
    chunk); success rate and mean distances."""
    cem, cost = plan_defaults()  # cost: the latent cost's reduction, applied to task distances
    planner = {**cem, "name": "oracle", "solver": "cem", "frameskip": frameskip}  # the sampler, without a checkpoint
    s = resolve(dataset_env(meta), planner, None, horizon, frameskip, budget, "cpu", seed=0)
    envs = [make_env(s.env_cfg["id"], s.env_cfg["kwargs"]) for _ in range(episodes)]
    return {"execute": execute or frameskip,
            **plan_env_goals(StateModelAgent(model, envs, s.planner, frameskip, cost, execute), envs, budget)}


def measure(data: Path, dims: list[int] | None, horizon: int, frameskip: int, history: int, steps: int,
            batch: int, hidden: int, lr: float, stride: int, seed: int, progress: bool, plan_episodes: int = 0,
            budget: int = 100, hide: list[int] = (), executes: list[int | None] = (None,)) -> dict:
    torch.manual_seed(seed)
    store = open_dataset(data)
    dims = dims or position_dims(store.meta)
    train_eps, val_eps = split_episodes(store.root, 0.1, seed=0)  # the split `worldjepa train` uses
    t0 = time.perf_counter()
    model, loss = train(*training_windows(store, train_eps, horizon, frameskip), steps, batch, hidden, lr, progress, hide)
    train_s = time.perf_counter() - t0
    env = make_env(store.meta["env_id"], store.meta["env_kwargs"])
    sim, rng = env.unwrapped, np.random.default_rng(seed)
    errors = {name: [] for name in SOURCES}
    moved = {name: [] for name in SOURCES}
    for e in val_eps:
        actions, states = store.load(e, "actions"), store.load(e, "state")
        for t in window_times(len(states), horizon, frameskip, history, stride):
            for name, seq in action_sequences(rng, actions[t : t + horizon * frameskip], horizon, frameskip).items():
                truth = sim.simulate(states[t], seq[None].astype(np.float64))[0, -1, dims]
                errors[name].append(np.linalg.norm(model.predict(states[t], seq, frameskip)[dims] - truth))
                moved[name].append(np.linalg.norm(truth - states[t, dims]))
    env.close()
    planning = [plan_success(model, store.meta, plan_episodes, frameskip, horizon, budget, execute)
                for execute in executes] if plan_episodes else None
    return {
        "dataset": str(store.root), "dims": dims, "horizon": horizon, "frameskip": frameskip,
        "env_steps": horizon * frameskip, "windows": len(errors["data"]), "train_steps": steps,
        "final_train_loss": loss, "hidden_dims": list(hide), "train_seconds": round(train_s, 1),
        "mean_position_error": {name: float(np.mean(v)) for name, v in errors.items()},
        "mean_true_displacement": {name: float(np.mean(v)) for name, v in moved.items()},
        "planning": planning,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="dataset from `worldjepa collect`")
    parser.add_argument("--dims", type=int, nargs="+", default=None, help="state dims to score (default: qpos)")
    parser.add_argument("--horizon", type=int, default=8, help="chunks rolled out (the train default)")
    parser.add_argument("--frameskip", type=int, default=5, help="env steps per chunk (the train default)")
    parser.add_argument("--history", type=int, default=2, help="world model's context frames (aligns the windows)")
    parser.add_argument("--steps", type=int, default=4000, help="optimiser steps")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--stride", type=int, default=10, help="env steps between window starts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/state_dynamics.json"))
    parser.add_argument("--plan-episodes", type=int, default=0, help="also plan N env-goal tasks with the model")
    parser.add_argument("--budget", type=int, default=100, help="env steps per planned episode")
    parser.add_argument("--hide-dims", type=int, nargs="+", default=[],
                        help="state dims the model does not see (zeroed in its input), e.g. Push's block yaw 2 7")
    parser.add_argument("--execute", type=int, nargs="+", default=[None],
                        help="env actions run per replan, one planning run per value (default: a whole chunk)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    result = measure(args.data, args.dims, args.horizon, args.frameskip, args.history, args.steps, args.batch,
                     args.hidden, args.lr, args.stride, args.seed, not args.no_progress, args.plan_episodes, args.budget,
                     args.hide_dims, args.execute)
    write_json_atomic(args.out, result)
    for key in ("mean_position_error", "mean_true_displacement"):
        print(key, {k: round(v, 3) for k, v in result[key].items()})
    for planning in result["planning"] or []:
        print("planning", planning)
    print("->", args.out)


if __name__ == "__main__":
    main()
