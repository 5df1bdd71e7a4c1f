"""The oracle baseline: the same MPC search, scored by rolling candidates through the true simulator.

Its cost reads the env state at each replan and reduces task distances like the latent cost
(`planning/costs.py`), so it bounds what a perfect world model could reach with the same planner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from worldjepa.planners import CostFn, HeldChunkPlanner, Planner
from worldjepa.planning.agent import MPCAgent, PlanProblem
from worldjepa.planning.costs import check_cost_options, reduce_distances

# (simulator, states [N, H, state_dim] at the plan steps, goal state) -> distances [N, H]
StateDistance = Callable[[Any, np.ndarray, np.ndarray], np.ndarray]


def task_distance(sim: Any, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
    """The env's own task distance: the oracle's default StateDistance."""
    return sim.task_distance(states, goal_state)


def oracle_cost(
    envs: Sequence[Any],
    goal_states: Sequence[np.ndarray],
    frameskip: int,
    reduction: str = "final",
    intermediate_weight: float = 0.1,
    distance: StateDistance = task_distance,
) -> CostFn:
    """CostFn that rolls candidates through each env's true simulator (`env.unwrapped.simulate`).

    Problem b starts from `envs[b]`'s state at build time and is scored with `distance` (default: the
    env's task distance) to `goal_states[b]`, read at plan-step boundaries (every `frameskip` env steps)
    and reduced like the latent cost. This is the upper-bound baseline: the same planner with a perfect model.
    """
    check_cost_options(reduction)
    if len(envs) != len(goal_states):
        raise ValueError(f"got {len(envs)} envs but {len(goal_states)} goal states: pass one goal per env")
    sims = [env.unwrapped for env in envs]
    starts = [sim.get_state() for sim in sims]

    def cost_fn(actions: Tensor) -> Tensor:
        b, n, h, d = actions.shape
        if b != len(sims):
            raise ValueError(f"actions carry {b} problems but the oracle cost was built for {len(sims)} envs")
        env_actions = actions.detach().cpu().double().numpy().reshape(b, n, h * frameskip, d // frameskip)
        dist = np.stack(
            [
                distance(sim, sim.simulate(start, acts)[:, frameskip - 1 :: frameskip], goal)
                for sim, start, acts, goal in zip(sims, starts, env_actions, goal_states)
            ]
        )
        cost = reduce_distances(torch.from_numpy(dist), reduction, intermediate_weight)
        return cost.to(actions.device, torch.float32)

    return cost_fn


class OracleAgent(MPCAgent):
    """MPC on the simulators of `envs` (one per lockstep episode); `reset` needs the goal states.
    `distance` scores the simulated states against the goal (default: the env's task distance)."""

    def __init__(self, envs: Sequence[Any], planner: Planner | HeldChunkPlanner, frameskip: int, *,
                 reduction: str = "final", intermediate_weight: float = 0.1, distance: StateDistance = task_distance,
                 **mpc: Any) -> None:
        check_cost_options(reduction)
        super().__init__(planner, frameskip, **mpc)
        self.envs, self.reduction, self.intermediate_weight = list(envs), reduction, intermediate_weight
        self.distance = distance

    def set_goals(self, goals: np.ndarray, goal_states: np.ndarray | None) -> None:
        if goal_states is None or len(goal_states) != len(goals) or len(goals) > len(self.envs):
            raise ValueError(
                f"the oracle needs one goal state per goal image and an env per episode (got {len(goals)} goals, "
                f"{'no' if goal_states is None else len(goal_states)} goal states, {len(self.envs)} envs)"
            )
        self.goal_states = [np.asarray(g) for g in goal_states]

    def plan_problem(self, rows: list[int]) -> PlanProblem:
        return PlanProblem(oracle_cost([self.envs[r] for r in rows], [self.goal_states[r] for r in rows], self.frameskip,
                           self.reduction, self.intermediate_weight, self.distance))
