"""Planning costs as CostFns (actions [B, N, H, A] -> cost [B, N]): world-model latent cost and oracle cost.

Default cost (both builders): distance at the FINAL plan step plus `intermediate_weight` (0.1) times
the mean distance over the earlier steps. The final term asks "does the plan end at the goal?",
which is what a goal image specifies; the small intermediate term breaks ties in favour of plans
that get close early and stay there (shorter paths, less drift), and gives the receding-horizon
controller a useful gradient of preference when the goal lies beyond the horizon. For the latent
cost the distance is the mean squared error between predicted and goal embeddings ("l2"): the
same quantity the JEPA predictor is trained to minimise, so cost units match training units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

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
    if metric not in METRICS:
        raise ValueError(f"unknown cost metric {metric!r}: choose one of {sorted(METRICS)} (cost.metric=l2)")
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
    model: Any,
    z_hist: Tensor,
    z_goal: Tensor,
    metric: str = "l2",
    reduction: str = "final",
    intermediate_weight: float = 0.1,
    grad: bool = False,
) -> CostFn:
    """CostFn comparing `model.rollout` predictions with goal embeddings.

    z_hist [B, k, D] (context embeddings, newest last), z_goal [B, D]. All B x N candidates are
    flattened into ONE rollout call. `grad=False` runs under torch.no_grad (sampling planners);
    pass `grad=True` for the gradient planner.
    """
    check_cost_options(reduction, metric)
    if z_hist.dim() != 3 or z_goal.dim() != 2 or z_hist.shape[0] != z_goal.shape[0]:
        raise ValueError(
            f"z_hist {tuple(z_hist.shape)} / z_goal {tuple(z_goal.shape)}: expected [B, k, D] and [B, D] "
            "with the same B (one context and one goal per problem)"
        )
    distance = METRICS[metric]

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


def oracle_cost(
    envs: Sequence[Any],
    goal_states: Sequence[np.ndarray],
    frameskip: int,
    reduction: str = "final",
    intermediate_weight: float = 0.1,
) -> CostFn:
    """CostFn that rolls candidates through each env's true simulator (`env.unwrapped.simulate`).

    Problem b starts from `envs[b]`'s state at build time and is scored with `task_distance` to
    `goal_states[b]`, read at plan-step boundaries (every `frameskip` env steps) and reduced like
    the latent cost. This is the upper-bound baseline: the same planner with a perfect model.
    """
    check_cost_options(reduction)
    if len(envs) != len(goal_states):
        raise ValueError(f"got {len(envs)} envs but {len(goal_states)} goal states: pass one goal per env")
    sims = [env.unwrapped for env in envs]
    starts = [sim.get_state() for sim in sims]

    def cost_fn(actions: Tensor) -> Tensor:
        b, n, h, d = actions.shape
        if b != len(sims):
            raise ValueError(f"actions carry {b} problems but the oracle cost was built for {len(sims)} envs")
        env_actions = actions.detach().cpu().double().numpy().reshape(b, n, h * frameskip, d // frameskip)
        dist = np.stack(
            [
                sim.task_distance(sim.simulate(start, acts), goal)[:, frameskip - 1 :: frameskip]
                for sim, start, acts, goal in zip(sims, starts, env_actions, goal_states)
            ]
        )
        cost = reduce_distances(torch.from_numpy(dist), reduction, intermediate_weight)
        return cost.to(actions.device, torch.float32)

    return cost_fn
