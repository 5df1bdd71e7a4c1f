"""Goal costs as CostFns (actions [B, N, H, A] -> cost [B, N]) over a world model's predicted embeddings.

Default cost (here and in the oracle's `planning/oracle.py`): distance at the FINAL plan step plus `intermediate_weight` (0.1) times
the mean distance over the earlier steps. The final term asks "does the plan end at the goal?",
which is what a goal image specifies; the small intermediate term breaks ties in favour of plans
that get close early and stay there (shorter paths, less drift), and gives the receding-horizon
controller a useful gradient of preference when the goal lies beyond the horizon. For the latent
cost the distance is the mean squared error between predicted and goal embeddings ("l2"): the
same quantity the JEPA predictor is trained to minimise, so cost units match training units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from worldjepa.models.goal_value import GoalValue
from worldjepa.models.protocol import WorldModel
from worldjepa.planners import CostFn

REDUCTIONS = ("final", "mean", "sum", "min")


def _l2(pred: Tensor, goal: Tensor) -> Tensor:
    return (pred - goal).pow(2).mean(-1)


def _l1(pred: Tensor, goal: Tensor) -> Tensor:
    return (pred - goal).abs().mean(-1)


def _cosine(pred: Tensor, goal: Tensor) -> Tensor:
    return 1 - torch.nn.functional.cosine_similarity(pred, goal.expand_as(pred), dim=-1)


METRICS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"l2": _l2, "l1": _l1, "cosine": _cosine}


def check_cost_options(reduction: str, metric: str = "l2") -> None:
    """Raise ValueError for an unknown reduction or metric, listing the valid ones."""
    if metric not in (*METRICS, "value"):
        raise ValueError(f"unknown cost metric {metric!r}: choose one of {[*sorted(METRICS), 'value']} (cost.metric=l2)")
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown cost reduction {reduction!r}: choose one of {list(REDUCTIONS)} (cost.reduction=final)")


def reduce_distances(d: Tensor, reduction: str = "final", intermediate_weight: float = 0.1) -> Tensor:
    """Per-step distances [..., H] -> cost [...].

    "final": d_H + intermediate_weight * mean(d_1..d_{H-1}); "mean"/"sum"/"min" over all H steps.
    """
    if reduction == "final":
        cost = d[..., -1]
        if d.shape[-1] > 1 and intermediate_weight:
            cost = cost + intermediate_weight * d[..., :-1].mean(-1)
        return cost
    if reduction == "mean":
        return d.mean(-1)
    if reduction == "sum":
        return d.sum(-1)
    if reduction == "min":
        return d.min(-1).values
    raise ValueError(f"unknown cost reduction {reduction!r}: choose one of {list(REDUCTIONS)}")


def latent_cost(
    model: WorldModel,
    z_hist: Tensor,
    z_goal: Tensor,
    metric: str = "l2",
    reduction: str = "final",
    intermediate_weight: float = 0.1,
    grad: bool = False,
    distance: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> CostFn:
    """CostFn comparing `model.rollout` predictions with goal embeddings.

    z_hist [B, k, D] (context embeddings, newest last), z_goal [B, D]. All B x N candidates are
    flattened into ONE rollout call. `grad=False` runs under torch.no_grad (sampling planners);
    pass `grad=True` for the gradient planner. `distance` (pred [..., D], goal [..., D] -> [...])
    replaces the metric, e.g. a learned GoalValue's `steps`.
    """
    check_cost_options(reduction, "l2" if distance is not None else metric)
    if z_hist.dim() != 3 or z_goal.dim() != 2 or z_hist.shape[0] != z_goal.shape[0]:
        raise ValueError(
            f"z_hist {tuple(z_hist.shape)} / z_goal {tuple(z_goal.shape)}: expected [B, k, D] and [B, D] "
            "with the same B (one context and one goal per problem)"
        )
    distance = distance or METRICS[metric]

    def cost_fn(actions: Tensor) -> Tensor:
        b, n, h, a = actions.shape
        if b != z_hist.shape[0]:
            raise ValueError(f"actions carry {b} problems but the cost was built for {z_hist.shape[0]}")
        with torch.set_grad_enabled(grad):
            context = z_hist[:, None].expand(b, n, *z_hist.shape[1:]).reshape(b * n, *z_hist.shape[1:])
            pred = model.rollout(context, actions.reshape(b * n, h, a).to(z_hist.dtype))
            d = distance(pred.reshape(b, n, h, -1), z_goal[:, None, None])
            return reduce_distances(d.float(), reduction, intermediate_weight)

    return cost_fn


@dataclass(frozen=True)
class LatentCost:
    """The goal cost a LatentAgent plans with: `metric` between predicted and goal embeddings, reduced over
    the plan by `reduction` (see `reduce_distances`). metric="value" counts the latent steps to the goal
    that `value` (a GoalValue fit on this model's embeddings, `worldjepa value`) estimates."""

    metric: str = "l2"
    reduction: str = "final"
    intermediate_weight: float = 0.1
    value: GoalValue | None = None

    def __post_init__(self) -> None:
        if self.metric == "value" and self.value is None:
            raise ValueError("cost.metric=value needs a GoalValue: pass cost.value=PATH (the value.pt of `worldjepa value`)")
        check_cost_options(self.reduction, self.metric)

    @property
    def distance(self) -> Callable[[Tensor, Tensor], Tensor]:
        """The per-step distance between embeddings [..., D] and goals [..., D] (broadcast) -> [...]."""
        return self.value.steps if self.metric == "value" else METRICS[self.metric]

    def __call__(self, model: WorldModel, z_hist: Tensor, z_goal: Tensor, grad: bool = False) -> CostFn:
        """The CostFn of B problems: context z_hist [B, k, D], goals z_goal [B, D]."""
        return latent_cost(model, z_hist, z_goal, self.metric, self.reduction, self.intermediate_weight, grad,
                           self.distance)
