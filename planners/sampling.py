"""Shared base of the Gaussian sampling planners (CEM, MPPI): hyperparameters and candidate sampling."""

from __future__ import annotations

from dataclasses import dataclass

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

    def check_sampling(self, extra: dict[str, bool]) -> None:
        """Validate the shared hyperparameters plus the subclass's own `extra` rules."""
        self.require({
            "samples >= 2": self.samples >= 2, "iterations >= 1": self.iterations >= 1,
            "init_std > 0": self.init_std > 0, "min_std >= 0": self.min_std >= 0, **extra,
        })

    def sample_around(self, mean: Tensor, std: Tensor) -> Tensor:
        """[B, N, H, A] candidates: the current mean itself first, then N-1 clipped Gaussian perturbations.

        Keeping the mean as a candidate means an iteration can never lose the current best guess.
        """
        noise = self.normal((mean.shape[0], self.samples - 1, *mean.shape[1:]))
        perturbed = self.clip(mean[:, None] + std[:, None] * noise)
        return torch.cat([mean[:, None], perturbed], dim=1)

    def refit(self, candidates: Tensor, cost: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
        """New (mean, std) from candidates [B, N, H, A] and their cost [B, N] (non-finite = +inf)."""
        raise NotImplementedError

    def solve(self, cost_fn: CostFn, batch_size: int, init_mean: Tensor | None = None) -> PlanResult:
        mean = self.initial_mean(batch_size, init_mean)
        std = torch.full_like(mean, self.init_std)
        best = BestSoFar(mean)
        for _ in range(self.iterations):
            candidates = self.sample_around(mean, std)
            cost = self.score(cost_fn, candidates)
            best.update(candidates, cost)
            mean, std = self.refit(candidates, cost, mean, std)
        return best.result()
