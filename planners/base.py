"""Shared planner machinery: the cost-function type, PlanResult, the Planner base class and input checks.

Planners only ever see a cost callable; they know nothing about world models or environments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Callable, ClassVar

import torch
from torch import Tensor

CostFn = Callable[[Tensor], Tensor]
"""actions [B, N, H, A] inside the planner's bounds -> cost [B, N]; lower is better."""


@dataclass
class PlanResult:
    """Output of `Planner.solve` for B independent problems."""

    actions: Tensor  # [B, H, A] the chosen action sequence per problem (the best sample, or the mean: `result`)
    cost: Tensor  # [B] its cost (+inf when no candidate had a finite cost)
    cost_history: Tensor  # [B, iterations] best cost found within each iteration


@dataclass
class Planner:
    """Base class: bounds, device, seeded randomness and the checks every solver shares.

    Subclasses implement `solve(cost_fn, batch_size, init_mean=None) -> PlanResult` and call
    `cost_fn` once per iteration with all B x N candidates.
    """

    horizon: int
    action_dim: int
    low: float = -1.0
    high: float = 1.0
    device: str | torch.device = "cpu"
    seed: int = 0
    generator: torch.Generator = field(init=False, repr=False)
    differentiable: ClassVar[bool] = False  # True if solve() backpropagates through cost_fn
    samples_proposals: ClassVar[bool] = False  # True if solve() scores a `proposal` among its own candidates

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.action_dim < 1:
            raise ValueError(
                f"horizon={self.horizon}, action_dim={self.action_dim}: both must be >= 1 "
                "(horizon counts plan steps, action_dim the values per step)"
            )
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"action bounds [{self.low}, {self.high}] are invalid: pass finite low < high")
        self.device = torch.device(self.device)
        self.manual_seed(self.seed)

    def require(self, rules: dict[str, bool]) -> None:
        """Raise one ValueError listing every violated hyperparameter rule (`{"samples >= 2": ok, ...}`)."""
        failed = [rule for rule, ok in rules.items() if not ok]
        if failed:
            values = ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self) if f.init)
            raise ValueError(f"{self.name} needs {'; '.join(failed)} (got {values}): fix the planner config")

    def manual_seed(self, seed: int) -> None:
        """Reseed the planner's private generator (solves are reproducible given the seed)."""
        self.seed = int(seed)
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)

    @property
    def name(self) -> str:
        return type(self).__name__

    def solve(self, cost_fn: CostFn, batch_size: int, init_mean: Tensor | None = None,
              proposal: Tensor | None = None) -> PlanResult:
        """Search B problems; `init_mean` [B, H, A] starts the search (e.g. the warm start), and a sampling
        planner also scores `proposal` [B, H, A] (e.g. a policy's plan) and samples around it."""
        raise NotImplementedError

    def refuse_proposal(self, proposal: Tensor | None) -> None:
        """Planners that cannot sample around a proposal say so (pass it as init_mean instead)."""
        if proposal is not None:
            raise ValueError(f"{self.name} does not sample around a proposal: pass it as init_mean")

    # -- helpers shared by the solvers -------------------------------------------------
    def _shape(self, batch_size: int) -> tuple[int, int, int]:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: pass the number of problems to solve (>= 1)")
        return (batch_size, self.horizon, self.action_dim)

    def initial_mean(self, batch_size: int, init_mean: Tensor | None) -> Tensor:
        """Validated starting mean [B, H, A]: `init_mean` clipped to bounds, or the bounds' centre."""
        shape = self._shape(batch_size)
        if init_mean is None:
            return torch.full(shape, (self.low + self.high) / 2, device=self.device)
        return self.check_plan(init_mean, shape, "init_mean")

    def check_plan(self, plan: Tensor, shape: tuple[int, int, int], name: str) -> Tensor:
        """`plan` [B, H, A] on the planner's device, clipped to bounds; a clear error for a wrong shape or NaN."""
        if tuple(plan.shape) != shape:
            raise ValueError(
                f"{name} has shape {tuple(plan.shape)}, expected {shape} "
                "(batch_size, horizon, action_dim): pass one action sequence per problem, or None"
            )
        if not torch.isfinite(plan).all():
            raise ValueError(f"{name} contains NaN or inf: pass finite actions, or None for the default")
        return plan.to(self.device, torch.float32).clamp(self.low, self.high)

    def normal(self, shape: tuple[int, ...]) -> Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)

    def uniform(self, shape: tuple[int, ...]) -> Tensor:
        u = torch.rand(shape, generator=self.generator, device=self.device)
        return self.low + (self.high - self.low) * u

    def clip(self, actions: Tensor) -> Tensor:
        return actions.clamp(self.low, self.high)

    def score(self, cost_fn: CostFn, candidates: Tensor) -> Tensor:
        """Call cost_fn once on [B, N, H, A]; check the shape; map NaN/-inf/+inf to +inf (never chosen)."""
        cost = cost_fn(candidates)
        expected = tuple(candidates.shape[:2])
        if not isinstance(cost, Tensor) or tuple(cost.shape) != expected:
            got = tuple(cost.shape) if isinstance(cost, Tensor) else type(cost).__name__
            raise ValueError(
                f"cost_fn returned {got}, expected a tensor of shape {expected} (B, N): "
                "return one cost per candidate action sequence"
            )
        cost = cost.to(self.device, torch.float32)
        return torch.where(torch.isfinite(cost), cost, torch.full_like(cost, math.inf))


class BestSoFar:
    """Tracks, per problem, the lowest-cost candidate seen across iterations."""

    def __init__(self, start: Tensor) -> None:
        self.actions = start.clone()  # [B, H, A]
        self.cost = torch.full(start.shape[:1], math.inf, device=start.device)
        self.history: list[Tensor] = []

    def update(self, candidates: Tensor, cost: Tensor) -> None:
        """candidates [B, N, H, A], cost [B, N] with non-finite already mapped to +inf."""
        it_cost, idx = cost.min(dim=1)
        self.history.append(it_cost)
        better = it_cost < self.cost  # +inf never beats +inf, so non-finite entries are never chosen
        chosen = candidates[torch.arange(len(idx), device=idx.device), idx]
        self.actions = torch.where(better[:, None, None], chosen.detach(), self.actions)
        self.cost = torch.where(better, it_cost, self.cost)

    def result(self) -> PlanResult:
        return PlanResult(self.actions, self.cost, torch.stack(self.history, dim=1))

    def result_at(self, actions: Tensor, cost: Tensor) -> PlanResult:
        """The result for other chosen `actions` [B, H, A] with their `cost` [B], beside this search's history."""
        return PlanResult(actions, cost, torch.stack(self.history, dim=1))
