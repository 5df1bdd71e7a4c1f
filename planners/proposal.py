"""The "planner" that executes the plan it is given: `planner=policy` runs a learned policy's proposals."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from .base import BestSoFar, CostFn, PlanResult, Planner


@dataclass
class ProposalPlanner(Planner):
    """Returns `init_mean` unchanged, scored once by `cost_fn` (so cost traces stay comparable).

    It makes a proposal source (a goal-conditioned policy rolled through a world model) an MPC
    controller in its own right: the baseline that CEM/MPPI started from the same proposal must beat.
    """

    def solve(self, cost_fn: CostFn, batch_size: int, init_mean: Tensor | None = None,
              proposal: Tensor | None = None) -> PlanResult:
        self.refuse_proposal(proposal)
        if init_mean is None:
            raise ValueError("ProposalPlanner got no proposal (init_mean=None): pass one plan per problem, "
                             "e.g. `worldjepa plan planner=policy prior=PATH`")
        start = self.initial_mean(batch_size, init_mean)
        best = BestSoFar(start)
        best.update(start[:, None], self.score(cost_fn, start[:, None]))
        return best.result()
