"""Goal-conditioned policy on frozen world-model embeddings: a proposal for the planner.

`GoalPolicy` maps the context embeddings and a goal embedding to the next action chunk. It is fit
by hindsight imitation of the dataset (`worldjepa imitate`): any frame a few steps later is a goal
the recorded actions reached. `propose` rolls it through the world model's predictor to a whole
plan, which CEM/MPPI then start from (TD-MPC2 instead mixes such policy rollouts into MPPI's
samples), or which `planner=policy` executes as is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from worldjepa.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from worldjepa.models.protocol import WorldModel


class GoalPolicy(nn.Module):
    """MLP over ``[z_{t-k+1..t}, z_goal, z_goal - z_t]`` -> one action chunk in [-1, 1] (tanh)."""

    def __init__(self, embed_dim: int, history: int, chunk_dim: int, hidden: int = 512, depth: int = 3) -> None:
        super().__init__()
        self.embed_dim, self.history, self.chunk_dim = embed_dim, history, chunk_dim
        self.config = {"embed_dim": embed_dim, "history": history, "chunk_dim": chunk_dim, "hidden": hidden, "depth": depth}
        layers: list[nn.Module] = []
        width = (history + 2) * embed_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, chunk_dim))

    def forward(self, z_hist: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
        """z_hist [B, k, D], z_goal [B, D] -> action chunk [B, chunk_dim]."""
        inputs = torch.cat([z_hist.flatten(1), z_goal, z_goal - z_hist[:, -1]], dim=1)
        return torch.tanh(self.net(inputs))

    def save(self, path: str | os.PathLike, meta: dict[str, Any]) -> None:
        """Write a "policy" checkpoint: weights, and `meta` (the world model it was fit on) with the
        architecture added under meta["config"]."""
        save_checkpoint(path, kind="policy", meta={**meta, "config": self.config}, state_dict=self.state_dict())

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[GoalPolicy, dict[str, Any]]:
        """(policy in eval mode without grads, its meta) from a file written by `save`."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"prior={path} does not exist: write one with `worldjepa imitate checkpoint=...`")
        try:
            ckpt = load_checkpoint(path, kind="policy", map_location=map_location)
            policy = cls(**ckpt["meta"]["config"])
            policy.load_state_dict(ckpt["state_dict"])
        except Exception as err:  # a truncated, foreign or world-model file, or weights unlike their config
            reason = str(err) if isinstance(err, CheckpointError) else repr(err)
            raise CheckpointError(
                f"prior={path} is not a policy.pt of `worldjepa imitate` ({reason}): rerun `worldjepa imitate`"
            ) from err
        return policy.to(map_location).eval().requires_grad_(False), ckpt["meta"]


@torch.no_grad()
def propose(model: WorldModel, policy: GoalPolicy, z_hist: torch.Tensor, z_goal: torch.Tensor, horizon: int) -> torch.Tensor:
    """A whole plan [B, horizon, chunk_dim]: act, predict the next embedding with `model`, repeat."""
    chunks = []
    for _ in range(horizon):
        chunk = policy(z_hist, z_goal)
        chunks.append(chunk)
        z_next = model.rollout(z_hist, chunk[:, None])[:, 0]
        z_hist = torch.cat([z_hist[:, 1:], z_next[:, None]], dim=1)
    return torch.stack(chunks, dim=1)
