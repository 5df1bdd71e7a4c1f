"""Gradient-based planner: Adam on the action sequence through a differentiable cost, with random restarts."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .base import BestSoFar, CostFn, PlanResult, Planner


@dataclass
class GradientPlanner(Planner):
    """Optimise R = `restarts` action sequences per problem by gradient descent on the summed cost.

    Bounds are enforced by a tanh parametrisation (`actions = low + (high-low) * (tanh(u)+1)/2`), so
    every iterate is feasible and gradients stay defined. Restart 0 starts from `init_mean` (or the
    bounds' centre); the others start uniformly at random. The cost_fn must be differentiable.
    """

    iterations: int = 30
    restarts: int = 4
    lr: float = 0.1
    differentiable = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require({"iterations >= 1": self.iterations >= 1, "restarts >= 1": self.restarts >= 1, "lr > 0": self.lr > 0})

    def _to_actions(self, u: Tensor) -> Tensor:
        return self.low + (self.high - self.low) * (torch.tanh(u) + 1) / 2

    def _to_params(self, actions: Tensor) -> Tensor:
        # Pull strictly inside the bounds so atanh stays finite (and gradients are not fully saturated).
        unit = (2 * (actions - self.low) / (self.high - self.low) - 1).clamp(-0.995, 0.995)
        return torch.atanh(unit)

    def solve(self, cost_fn: CostFn, batch_size: int, init_mean: Tensor | None = None,
              proposal: Tensor | None = None) -> PlanResult:
        self.refuse_proposal(proposal)
        mean = self.initial_mean(batch_size, init_mean)
        starts = self.uniform((batch_size, self.restarts, self.horizon, self.action_dim))
        starts[:, 0] = mean
        u = self._to_params(starts).requires_grad_(True)
        optim = torch.optim.Adam([u], lr=self.lr)
        best = BestSoFar(mean)
        with torch.enable_grad():  # callers often plan inside no_grad
            for _ in range(self.iterations):
                actions = self._to_actions(u)
                raw = cost_fn(actions)
                cost = self.score(lambda _: raw, actions)  # shape check + non-finite -> +inf
                best.update(actions.detach(), cost.detach())
                loss = torch.where(torch.isfinite(cost), cost, torch.zeros_like(cost)).sum()
                optim.zero_grad()
                if loss.requires_grad:
                    loss.backward()
                    u.grad.nan_to_num_(0.0, 0.0, 0.0)  # a diverged candidate must not poison the others
                optim.step()
        return best.result()
