"""Cross-entropy method (CEM) over action sequences, batched over B independent problems."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .sampling import GaussianPlanner


@dataclass
class CEM(GaussianPlanner):
    """Sample around a Gaussian, refit it to the `elites` lowest-cost samples, repeat.

    `momentum` blends the previous mean/std into the refit (smoother, less greedy updates).
    """

    elites: int = 30
    momentum: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_sampling({
            "1 <= elites <= samples": 1 <= self.elites <= self.samples, "0 <= momentum < 1": 0.0 <= self.momentum < 1.0,
        })

    def refit(self, candidates: Tensor, cost: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
        elite_cost, idx = cost.topk(self.elites, dim=1, largest=False)
        elites = candidates.gather(1, idx[:, :, None, None].expand(-1, -1, *mean.shape[1:]))
        # Non-finite elites get zero weight; a problem with no finite elite keeps its distribution.
        w = torch.isfinite(elite_cost).float()[:, :, None, None]
        n = w.sum(1)
        new_mean = (w * elites).sum(1) / n.clamp_min(1)
        new_std = ((w * (elites - new_mean[:, None]) ** 2).sum(1) / n.clamp_min(1)).sqrt().clamp_min(self.min_std)
        has_elites = n > 0
        mean = torch.where(has_elites, self.momentum * mean + (1 - self.momentum) * new_mean, mean)
        std = torch.where(has_elites, self.momentum * std + (1 - self.momentum) * new_std, std)
        return mean, std
