"""Held action chunks: search one action per plan step and repeat it across the step's env actions.

A plan step covers `frameskip` env actions, so a full chunk has `frameskip * A` values and a
horizon-H search has `H * frameskip * A` dimensions. Holding one action per chunk shrinks that to
`H * A`, which is what lets a sampling planner find long routes (TwoRoom's door) at a coarse
frameskip. The adapter wraps any solver and keeps its interface: callers and cost functions still
see full `frameskip * A` chunks.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import CostFn, PlanResult, Planner


def hold_chunks(actions: Tensor, frameskip: int) -> Tensor:
    """[..., H, A] one action per plan step -> [..., H, frameskip*A] chunks repeating it."""
    return actions.repeat(*([1] * (actions.dim() - 1)), frameskip)


class HeldChunkPlanner:
    """Wraps `inner` (built with `action_dim = A`) so it solves for held chunks of `frameskip * A`."""

    def __init__(self, inner: Planner, frameskip: int) -> None:
        if frameskip < 1:
            raise ValueError(f"frameskip={frameskip}: pass the env actions per plan step (>= 1)")
        self.inner, self.frameskip = inner, frameskip
        self.horizon, self.action_dim = inner.horizon, inner.action_dim * frameskip
        self.device, self.differentiable = inner.device, inner.differentiable

    @property
    def name(self) -> str:
        return f"held {self.inner.name}"

    def manual_seed(self, seed: int) -> None:
        self.inner.manual_seed(seed)

    @property
    def samples_proposals(self) -> bool:
        return self.inner.samples_proposals

    def solve(self, cost_fn: CostFn, batch_size: int, init_mean: Tensor | None = None,
              proposal: Tensor | None = None) -> PlanResult:
        """Like `Planner.solve`; `init_mean` and `proposal` [B, H, frameskip*A] are reduced to each chunk's first action."""
        init_mean, proposal = (self._first_actions(plan, name) for plan, name in ((init_mean, "init_mean"), (proposal, "proposal")))
        result = self.inner.solve(lambda a: cost_fn(hold_chunks(a, self.frameskip)), batch_size, init_mean, proposal)
        return PlanResult(hold_chunks(result.actions, self.frameskip), result.cost, result.cost_history)


    def _first_actions(self, plan: Tensor | None, name: str) -> Tensor | None:
        if plan is None:
            return None
        if plan.dim() != 3 or plan.shape[-1] != self.action_dim:
            raise ValueError(
                f"{name} has shape {tuple(plan.shape)}, expected (batch_size, {self.horizon}, "
                f"{self.action_dim}): pass full frameskip x action chunks, or None"
            )
        return plan[..., : self.inner.action_dim]


__all__ = ["HeldChunkPlanner", "hold_chunks"]
