"""Goal-conditioned value on frozen world-model embeddings: a planning cost that counts steps, not L2.

`GoalValue(z, z_goal)` estimates the discounted return of reaching `z_goal` from `z` with reward -1 per
latent step, so `steps(z, z_goal)` (minus the value, in units of latent steps once discounting is
undone) orders states by how far the goal is along the shortest route the data shows. L2 between
embeddings is a bowl that is flat beyond the nearest room or does not reward approaching the block;
a Bellman backup learns the detour (`training/value.py` fits it by expectile TD, IQL/HIQL style).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from worldjepa.models.heads import SavedHead


class GoalValue(SavedHead):
    """MLP over ``[z, z_goal, z_goal - z]`` -> V(z, z_goal) <= 0 (about -(1 - gamma^d) / (1 - gamma) for d steps)."""

    KIND, OPTION, COMMAND = "value", "cost.value", "worldjepa value"

    def __init__(self, embed_dim: int, hidden: int = 256, depth: int = 2, gamma: float = 0.97) -> None:
        super().__init__()
        if not 0.0 < gamma < 1.0:
            raise ValueError(f"gamma={gamma} must be in (0, 1): it sets how far the value sees (typical 0.97)")
        self.embed_dim, self.gamma = embed_dim, gamma
        self.config = {"embed_dim": embed_dim, "hidden": hidden, "depth": depth, "gamma": gamma}
        layers: list[nn.Module] = []
        width = 3 * embed_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, z: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
        """z [..., D], z_goal [..., D] (broadcast) -> value [...]."""
        z, z_goal = torch.broadcast_tensors(z, z_goal)
        return self.net(torch.cat([z, z_goal, z_goal - z], dim=-1)).squeeze(-1)

    def steps(self, z: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
        """Estimated latent steps from z to z_goal: the value with the discounting undone (>= 0)."""
        horizon = 1.0 / (1.0 - self.gamma)
        fraction = (-self.forward(z, z_goal) / horizon).clamp(0.0, 1.0 - 1e-6)  # 1 - gamma^d
        return torch.log1p(-fraction) / math.log(self.gamma)
