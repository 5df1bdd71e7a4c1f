"""LatentAgent: observation -> action by model-predictive search through a world model toward a goal image.

One object holds the world model, the goal cost, the planner, an optional policy proposal, optional
subgoals and the MPC warm start. Each `act` records the newest frame; when the current plan is used
up it encodes the context and replans, warm-started from the previous plan shifted by the executed
actions (TD-MPC2's `plan`, without its value head). Several episodes can run in lockstep: `reset`
with B goal images, then `act` with the frames of the still-running episodes and their indices.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from worldjepa.models.goal_policy import GoalPolicy, propose
from worldjepa.models.protocol import WorldModel
from worldjepa.planners import CostFn, HeldChunkPlanner, MPCController, PlanResult, Planner
from worldjepa.planning.costs import LatentCost
from worldjepa.planning.subgoals import SubgoalGraph


@dataclass
class PlanProblem:
    """What one replan searches: a cost over action sequences, an optional start replacing the warm
    start, and an optional proposal that a sampling planner scores and samples around."""

    cost: CostFn
    init: Tensor | None = None
    proposal: Tensor | None = None


class MPCAgent:
    """Receding-horizon control of B lockstep episodes; subclasses say what a plan costs.

    Without a subclass every plan costs zero, which is what the random-actions baseline runs.
    `execute` env actions run from each plan before the next replan (default `replan_every x frameskip`).
    """

    def __init__(self, planner: Planner | HeldChunkPlanner, frameskip: int, *, replan_every: int = 1,
                 execute: int | None = None, warm_start: bool = True) -> None:
        self.planner, self.frameskip = planner, frameskip
        self.controller = MPCController(planner, frameskip, replan_every, warm_start=warm_start, execute=execute)
        self.frames: list[deque[np.ndarray]] = []  # per episode, the newest frames the context can reach
        self.last_plan: PlanResult | None = None  # the solve of the latest `act`, None if it did not replan
        self.last_plan_seconds = 0.0
        self._single = False

    def reset(self, goal_pixels: np.ndarray, goal_states: np.ndarray | None = None) -> None:
        """Start episodes toward `goal_pixels`: [H, W, 3] for one episode, [B, H, W, 3] for B in lockstep.

        `goal_states` [B, state_dim] are used only by agents that plan on a simulator (the oracle).
        """
        goals = np.asarray(goal_pixels)
        if goals.ndim not in (3, 4) or goals.shape[-1] != 3:
            raise ValueError(f"goal_pixels has shape {goals.shape}: pass one [H, W, 3] image or a [B, H, W, 3] batch")
        self._single = goals.ndim == 3
        goals = goals[None] if self._single else goals
        self.frames = [deque(maxlen=self.context_frames) for _ in goals]
        self.controller.reset(len(goals))
        self.last_plan = None
        self.set_goals(goals, goal_states)

    def act(self, pixels: np.ndarray, rows: Sequence[int] | None = None) -> np.ndarray:
        """The next env action of each running episode, replanning when the current plan is used up.

        `pixels` is the current frame ([H, W, 3] after a single-goal reset) or the frames [len(rows), H, W, 3]
        of the episodes `rows` (default: all) that are still running.
        """
        if not self.frames:
            raise RuntimeError("act() before reset(): call agent.reset(goal_pixels) at the start of each episode")
        rows = list(range(len(self.frames))) if rows is None else [int(r) for r in rows]
        batch = np.asarray(pixels)[None] if self._single else np.asarray(pixels)
        if len(batch) != len(rows):
            raise ValueError(f"got {len(batch)} frames for {len(rows)} running episodes: pass one frame per row")
        for row, frame in zip(rows, batch):
            self.frames[row].append(frame.copy())
        self.last_plan = None
        if self.controller.needs_plan:
            _sync(self.planner.device)
            start = time.perf_counter()
            problem = self.plan_problem(rows)
            self.last_plan = self.controller.plan(problem.cost, rows, problem.init, problem.proposal)
            _sync(self.planner.device)
            self.last_plan_seconds = time.perf_counter() - start
        actions = self.controller.next_actions(rows).numpy()
        return actions[0] if self._single else actions

    # -- what subclasses supply --------------------------------------------------------
    context_frames = 1  # frames each episode keeps: the blind and simulator agents need none before the newest

    def set_goals(self, goals: np.ndarray, goal_states: np.ndarray | None) -> None:
        """Remember the goals of a reset (the blind agent needs nothing)."""

    def plan_problem(self, rows: list[int]) -> PlanProblem:
        """What the next solve for the episodes `rows` searches."""
        return PlanProblem(lambda actions: torch.zeros(actions.shape[:2], device=actions.device))


class LatentAgent(MPCAgent):
    """World model + goal cost + planner (+ policy proposal, subgoals): see the module docstring.

    The planner searches `frameskip x action_dim` values per latent step. `cost` compares predicted
    embeddings with the goal's (default: L2 at the final step). `policy` (a GoalPolicy fit by
    `worldjepa imitate` on this model) proposes the starting plan of every solve. `subgoals` (a graph of
    dataset frames) replaces far goals by the node `lookahead` latent steps down the shortest path.
    """

    def __init__(self, model: WorldModel, planner: Planner | HeldChunkPlanner, *, cost: LatentCost | None = None,
                 policy: GoalPolicy | None = None, subgoals: SubgoalGraph | None = None, lookahead: float = 1,
                 replan_every: int = 1, execute: int | None = None, warm_start: bool = True) -> None:
        chunk = model.frameskip * model.action_dim
        if planner.action_dim != chunk:
            raise ValueError(
                f"planner.action_dim={planner.action_dim} but the model takes chunks of frameskip={model.frameskip} "
                f"x action_dim={model.action_dim}: build the planner with action_dim={chunk}"
            )
        if lookahead <= 0:
            raise ValueError(f"lookahead={lookahead}: pass the latent steps to the next subgoal (> 0)")
        super().__init__(planner, model.frameskip, replan_every=replan_every, execute=execute, warm_start=warm_start)
        self.model, self.cost, self.policy = model, cost or LatentCost(), policy
        self.subgoals, self.lookahead = subgoals, lookahead
        self.device = planner.device
        self.context_frames = (model.history - 1) * model.frameskip + 1

    @torch.no_grad()
    def encode(self, pixels: np.ndarray) -> Tensor:
        """Target-encoder embeddings of uint8 frames [..., H, W, 3] on the planner's device."""
        return self.model.encode(torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device))

    def set_goals(self, goals: np.ndarray, goal_states: np.ndarray | None) -> None:
        self.z_goal = self.encode(goals)
        self.goal_steps = ([self.subgoals.steps_to(int(node)) for node in self.subgoals.nearest(self.z_goal)]
                           if self.subgoals is not None else [])

    def context(self, rows: list[int]) -> Tensor:
        """z_hist [len(rows), history, D]: frames `frameskip` env steps apart like the training windows; an
        episode younger than the context repeats its first frame."""
        # Lockstep: every running episode holds as many frames; until the window fills, frame 0 is the first.
        t = len(self.frames[rows[0]]) - 1
        idx = [max(0, t - j * self.frameskip) for j in reversed(range(self.model.history))]
        return self.encode(np.stack([np.stack([self.frames[r][i] for i in idx]) for r in rows]))

    def plan_problem(self, rows: list[int]) -> PlanProblem:
        z_hist, z_goal = self.context(rows), self.z_goal[rows]
        plan = propose(self.model, self.policy, z_hist, z_goal, self.planner.horizon) if self.policy else None
        if self.subgoals is not None:  # the proposal still heads for the real goal
            z_goal = self.subgoals.subgoal(z_hist[:, -1], z_goal, [self.goal_steps[r] for r in rows], self.lookahead)
        cost = self.cost(self.model, z_hist, z_goal, grad=self.planner.differentiable)
        # Sampling planners mix the policy's plan into their samples; the others start from it.
        if self.planner.samples_proposals:
            return PlanProblem(cost, proposal=plan)
        return PlanProblem(cost, init=plan)


def _sync(device: torch.device) -> None:
    """Wait for queued GPU work, so plan times measure the solve and not its launch."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
