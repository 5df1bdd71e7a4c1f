"""Random-shooting baseline: uniform random action sequences, best of N by cost."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from .base import BestSoFar, CostFn, PlanResult, Planner


@dataclass
class RandomPlanner(Planner):
    """Draw `samples` uniform sequences per iteration and keep the cheapest.

    With `samples=1` and a constant cost this is the pure random-action baseline.
    If `init_mean` is given it is kept as candidate 0, like the other sampling planners.
    """

    samples: int = 300
    iterations: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require({"samples >= 1": self.samples >= 1, "iterations >= 1": self.iterations >= 1})

    def solve(self, cost_fn: CostFn, batch_size: int, init_mean: Tensor | None = None,
              proposal: Tensor | None = None) -> PlanResult:
        self.refuse_proposal(proposal)
        start = self.initial_mean(batch_size, init_mean)
        best = BestSoFar(start)
        for _ in range(self.iterations):
            candidates = self.uniform((*start.shape[:1], self.samples, *start.shape[1:]))
            if init_mean is not None:
                candidates[:, 0] = start
            best.update(candidates, self.score(cost_fn, candidates))
        return best.result()
