"""Goal-conditioned policy on frozen world-model embeddings: a proposal for the planner.

`GoalPolicy` maps the context embeddings and a goal embedding to the next action chunk. It is fit
by hindsight imitation of the dataset (`worldjepa imitate`): any frame a few steps later is a goal
the recorded actions reached. `propose` rolls it through the world model's predictor to a whole
plan, which CEM/MPPI then start from (TD-MPC2 instead mixes such policy rollouts into MPPI's
samples), or which `planner=policy` executes as is.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from worldjepa.atomic import atomic_path


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
        """Write weights, architecture and `meta` (the checkpoint it belongs to) atomically."""
        with atomic_path(path) as tmp:
            torch.save({"config": self.config, "state_dict": self.state_dict(), "meta": meta}, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple["GoalPolicy", dict]:
        """(policy in eval mode without grads, its meta) from a file written by `save`."""
        try:
            blob = torch.load(path, map_location=map_location, weights_only=True)
            policy = cls(**blob["config"])
            policy.load_state_dict(blob["state_dict"])
        except FileNotFoundError:
            raise FileNotFoundError(f"prior={path} does not exist: write one with `worldjepa imitate checkpoint=...`") from None
        except Exception as err:  # a truncated or foreign file: say which and how to fix
            raise ValueError(f"prior={path} is not a policy.pt of `worldjepa imitate` ({err!r}): rerun `worldjepa imitate`") from err
        return policy.to(map_location).eval().requires_grad_(False), blob["meta"]


@torch.no_grad()
def propose(model: Any, policy: GoalPolicy, z_hist: torch.Tensor, z_goal: torch.Tensor, horizon: int) -> torch.Tensor:
    """A whole plan [B, horizon, chunk_dim]: act, predict the next embedding with `model`, repeat."""
    chunks = []
    for _ in range(horizon):
        chunk = policy(z_hist, z_goal)
        chunks.append(chunk)
        z_next = model.rollout(z_hist, chunk[:, None])[:, 0]
        z_hist = torch.cat([z_hist[:, 1:], z_next[:, None]], dim=1)
    return torch.stack(chunks, dim=1)
