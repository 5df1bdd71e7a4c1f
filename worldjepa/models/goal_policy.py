"""Goal-conditioned policy on frozen world-model embeddings: a proposal for the planner.

`GoalPolicy` maps the context embeddings and a goal embedding to the next action chunk. It is fit
by hindsight imitation of the dataset (`worldjepa imitate`): any frame a few steps later is a goal
the recorded actions reached. `propose` rolls it through the world model's predictor to a whole
plan, which CEM/MPPI then start from (TD-MPC2 instead mixes such policy rollouts into MPPI's
samples), or which `planner=policy` executes as is.
"""

from __future__ import annotations

import torch
from torch import nn

from worldjepa.models.heads import SavedHead
from worldjepa.models.protocol import WorldModel


class GoalPolicy(SavedHead):
    """MLP over ``[z_{t-k+1..t}, z_goal, z_goal - z_t]`` -> one action chunk in [-1, 1] (tanh)."""

    KIND, OPTION, COMMAND = "policy", "prior", "worldjepa imitate"

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
