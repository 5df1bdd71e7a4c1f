"""Model predictive path integral (MPPI) control: exponentially cost-weighted averaging of noisy samples."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .sampling import GaussianPlanner


@dataclass
class MPPI(GaussianPlanner):
    """Perturb the mean with Gaussian noise and move it to the softmax(-cost / temperature) average.

    Costs are shifted by the per-problem minimum before exponentiating, so `temperature` is in the
    units of cost differences; lower values behave more like picking the single best sample.
    As in TD-MPC2, the noise std (starting at `init_std`) is refit to the weighted spread of the
    samples, floored at `min_std`: fixed noise stalls once the mean is within one std of the optimum.
    """

    init_std: float = 0.5
    temperature: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_sampling({"temperature > 0": self.temperature > 0})

    def refit(self, candidates: Tensor, cost: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
        finite = torch.isfinite(cost)
        lowest = torch.where(finite, cost, torch.full_like(cost, math.inf)).min(1, keepdim=True).values
        logits = torch.where(finite, -(cost - lowest) / self.temperature, torch.full_like(cost, -math.inf))
        w = torch.softmax(logits, dim=1).nan_to_num(0.0)[:, :, None, None]  # all -inf rows -> zero weights
        new_mean = (w * candidates).sum(1)
        new_std = (w * (candidates - new_mean[:, None]) ** 2).sum(1).sqrt().clamp_min(self.min_std)
        has_finite = finite.any(1)[:, None, None]  # a problem with no finite cost keeps its distribution
        return torch.where(has_finite, new_mean, mean), torch.where(has_finite, new_std, std)
