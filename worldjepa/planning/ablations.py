"""Ablations of the agent's parts, to show what each one buys (`worldjepa plan predictor=copy_last`)."""

from __future__ import annotations

from typing import Any

import torch

from worldjepa.models.protocol import WorldModel


class CopyLast:
    """A world model whose predictor is replaced by copy-last: every plan step predicts the newest context
    embedding. Planning with it shows how much success comes from the predictor rather than the cost,
    the encoder or the planner alone; everything but `rollout` is the wrapped model's."""

    def __init__(self, model: WorldModel) -> None:
        self.model = model

    def rollout(self, z_hist: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """z_hist [B, k, D], actions [B, H, A'] -> [B, H, D], the last context embedding H times."""
        return z_hist[:, -1:].expand(-1, actions.shape[1], -1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


PREDICTORS = ("model", "copy_last")


def ablate_predictor(model: WorldModel, predictor: str) -> WorldModel:
    """`model` itself, or its copy-last ablation; a clear error for any other name."""
    if predictor not in PREDICTORS:
        raise ValueError(f"predictor={predictor!r}: choose model (the trained predictor) or copy_last (the ablation)")
    return CopyLast(model) if predictor == "copy_last" else model
