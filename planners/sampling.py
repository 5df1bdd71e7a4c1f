"""Shared base of the Gaussian sampling planners (CEM, MPPI): hyperparameters and candidate sampling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from .base import BestSoFar, CostFn, PlanResult, Planner


@dataclass
class GaussianPlanner(Planner):
    """Samples candidates around a per-problem Gaussian (mean [B, H, A], std [B, H, A]) each iteration.

    `solve` runs the shared loop (sample, one batched cost call, track the best); subclasses only
    say how the Gaussian is refit to the scored candidates (`refit`). `min_std` floors the refit
    std so the search keeps exploring instead of collapsing early.
    """

    samples: int = 300
    iterations: int = 10
    init_std: float = 1.0
    min_std: float = 0.05
    proposal_share: float = 0.1  # share of the samples drawn around a proposal, when solve() gets one
    proposal_std: float = 0.1  # their std around it, in action units
    # best: the lowest-cost sample seen; mean: the final Gaussian mean, an average over many samples that a
    # single sample's model error cannot capture (the guard against exploiting model error, benchmarks/planners.md)
    result: str = "best"
    samples_proposals: ClassVar[bool] = True

    def check_sampling(self, extra: dict[str, bool]) -> None:
        """Validate the shared hyperparameters plus the subclass's own `extra` rules."""
        self.require({
            "samples >= 2": self.samples >= 2, "iterations >= 1": self.iterations >= 1,
            "init_std > 0": self.init_std > 0, "min_std >= 0": self.min_std >= 0,
            "0 <= proposal_share < 1": 0 <= self.proposal_share < 1, "proposal_std >= 0": self.proposal_std >= 0,
            "result in (best, mean)": self.result in ("best", "mean"), **extra,
        })

    def sample_around(self, mean: Tensor, std: Tensor, proposal: Tensor | None = None) -> Tensor:
        """[B, N, H, A] candidates: the current mean itself first, then clipped Gaussian perturbations.

        Keeping the mean as a candidate means an iteration can never lose the current best guess. With a
        `proposal` [B, H, A], `proposal_share` of the samples are it and perturbations of it at
        `proposal_std` (TD-MPC2 mixes its policy's trajectories into MPPI's samples the same way).
        """
        around = max(1, round(self.proposal_share * self.samples)) if proposal is not None else 0
        noise = self.normal((mean.shape[0], self.samples - 1 - around, *mean.shape[1:]))
        parts = [mean[:, None], self.clip(mean[:, None] + std[:, None] * noise)]
        if around:
            jitter = self.normal((mean.shape[0], around - 1, *mean.shape[1:]))
            parts += [proposal[:, None], self.clip(proposal[:, None] + self.proposal_std * jitter)]
        return torch.cat(parts, dim=1)

    def refit(self, candidates: Tensor, cost: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
        """New (mean, std) from candidates [B, N, H, A] and their cost [B, N] (non-finite = +inf)."""
        raise NotImplementedError

    def solve(self, cost_fn: CostFn, batch_size: int, init_mean: Tensor | None = None,
              proposal: Tensor | None = None) -> PlanResult:
        mean = self.initial_mean(batch_size, init_mean)
        if proposal is not None:
            proposal = self.check_plan(proposal, tuple(mean.shape), "proposal")
        std = torch.full_like(mean, self.init_std)
        best = BestSoFar(mean)
        for _ in range(self.iterations):
            candidates = self.sample_around(mean, std, proposal)
            cost = self.score(cost_fn, candidates)
            best.update(candidates, cost)
            mean, std = self.refit(candidates, cost, mean, std)
        if self.result == "mean":
            return best.result_at(mean, self.score(cost_fn, mean[:, None])[:, 0])
        return best.result()
