"""Receding-horizon (MPC) helpers: warm-start shifting, action-chunk splitting and a batched controller.

One latent (plan) step = `frameskip` env actions, so a plan has action dim `frameskip * A`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .base import CostFn, PlanResult, Planner


def shift_warm_start(prev_actions: Tensor, steps: int, pad: str = "zero") -> Tensor:
    """Drop the first `steps` plan steps of `prev_actions` [B, H, A] and pad the tail back to H.

    pad="zero" fills with zeros (the centre of [-1, 1], i.e. the uninformed prior mean);
    pad="last" repeats the last planned step (useful when the plan ends mid-motion).
    """
    if prev_actions.dim() != 3:
        raise ValueError(f"prev_actions has shape {tuple(prev_actions.shape)}, expected (B, H, A)")
    if steps < 0:
        raise ValueError(f"steps={steps}: pass how many executed plan steps to drop (>= 0)")
    if pad not in ("zero", "last"):
        raise ValueError(f"pad={pad!r}: pass 'zero' or 'last'")
    horizon = prev_actions.shape[1]
    kept = prev_actions[:, min(steps, horizon) :]
    missing = horizon - kept.shape[1]
    if missing == 0:
        return kept.clone()
    if pad == "zero" or kept.shape[1] == 0:
        tail = torch.zeros_like(prev_actions[:, :missing])
    else:
        tail = kept[:, -1:].expand(-1, missing, -1)
    return torch.cat([kept, tail], dim=1)


def split_chunks(actions: Tensor, frameskip: int) -> Tensor:
    """[B, H, frameskip*A] plan -> [B, H*frameskip, A] env actions, in execution order."""
    b, h, d = actions.shape
    if d % frameskip:
        raise ValueError(f"plan action dim {d} is not a multiple of frameskip={frameskip}")
    return actions.reshape(b, h * frameskip, d // frameskip)


class MPCController:
    """Replan every `replan_every` plan steps for B lockstep episodes and hand out env actions.

    Usage per env step: `if ctrl.needs_plan: ctrl.plan(cost_fn, rows)`; then `ctrl.next_actions(rows)`.
    `rows` are the still-running episodes; the controller keeps every row's previous plan so the
    next solve is warm-started from it, shifted by the executed env actions. `execute` (env actions
    per replan) overrides `replan_every * frameskip`; fewer than a chunk closes the loop faster.
    """

    def __init__(self, planner: Planner, frameskip: int, replan_every: int = 1, warm_start: bool = True,
                 execute: int | None = None):
        if not 1 <= replan_every <= planner.horizon:
            raise ValueError(
                f"replan_every={replan_every} must be in [1, horizon={planner.horizon}]: "
                "a plan cannot be executed past its own horizon"
            )
        if frameskip < 1 or planner.action_dim % frameskip:
            raise ValueError(
                f"planner action_dim={planner.action_dim} is not frameskip={frameskip} x env action dim"
            )
        execute = replan_every * frameskip if execute is None else execute
        if not 1 <= execute <= planner.horizon * frameskip:
            raise ValueError(
                f"execute={execute} env actions per replan must be in [1, horizon x frameskip = "
                f"{planner.horizon * frameskip}]: a plan cannot be executed past its own horizon"
            )
        self.planner, self.frameskip, self.execute, self.warm_start = planner, frameskip, execute, warm_start
        self.reset(1)

    def reset(self, batch_size: int) -> None:
        """Forget all plans (call at the start of a batch of episodes)."""
        self._prev: Tensor | None = None
        self._queue = torch.zeros(batch_size, self.execute, self.planner.action_dim // self.frameskip)
        self._cursor = self._queue.shape[1]  # empty queue -> needs_plan

    @property
    def needs_plan(self) -> bool:
        return self._cursor >= self._queue.shape[1]

    def plan(self, cost_fn: CostFn, rows: Sequence[int], init: Tensor | None = None,
             proposal: Tensor | None = None) -> PlanResult:
        """One batched solve for `rows`; cost_fn sees [len(rows), N, H, frameskip*A].

        `init` [len(rows), H, frameskip*A] replaces the warm start; `proposal` (a learned policy's plan)
        joins a sampling planner's candidates beside the warm-started search.
        """
        rows_t = torch.as_tensor(list(rows), dtype=torch.long)
        if init is None and self.warm_start and self._prev is not None:
            prev = self._prev[rows_t]  # shifted per env action, then back into chunks
            init = shift_warm_start(split_chunks(prev, self.frameskip), self.execute).reshape(prev.shape)
        result = self.planner.solve(cost_fn, len(rows_t), None if init is None else init.to(self.planner.device), proposal)
        actions = result.actions.detach().cpu()
        if self._prev is None:
            self._prev = torch.zeros(self._queue.shape[0], *actions.shape[1:])
        self._prev[rows_t] = actions
        self._queue[rows_t] = split_chunks(actions, self.frameskip)[:, : self.execute]
        self._cursor = 0
        return result

    def next_actions(self, rows: Sequence[int]) -> Tensor:
        """Env actions [len(rows), A] for this step (CPU float32); advances the lockstep cursor."""
        if self.needs_plan:
            raise RuntimeError("the plan is used up: call plan() when needs_plan is True")
        out = self._queue[torch.as_tensor(list(rows), dtype=torch.long), self._cursor]
        self._cursor += 1
        return out
