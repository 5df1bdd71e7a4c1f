"""Action-conditioned latent predictors: z_{t+1} = g(z_{t-k+1..t}, a_t).

All predictors share `step(z_hist [B, k, D], a [B, A']) -> z_next [B, D]` and open-loop `rollout`.
They predict a residual delta on z_t and re-normalise, so outputs live in the embedding space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def normalize_embedding(z: torch.Tensor) -> torch.Tensor:
    """Parameter-free LayerNorm over the embedding dim: the one normalisation every embedding gets."""
    return F.layer_norm(z, z.shape[-1:])


class Predictor(nn.Module):
    """Base class: subclasses implement `delta(z_hist, a)`; `step` adds it to z_t and normalises."""

    def __init__(self, embed_dim: int, action_dim: int, history: int) -> None:
        super().__init__()
        self.embed_dim, self.action_dim, self.history = embed_dim, action_dim, history

    def delta(self, z_hist: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """[B, k, D], [B, A'] -> [B, D]: the change from z_t (before re-normalisation)."""
        raise NotImplementedError

    def step(self, z_hist: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """[B, k, D], [B, A'] -> [B, D]: the next embedding."""
        return normalize_embedding(z_hist[:, -1] + self.delta(z_hist, action))

    def rollout(self, z_hist: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Open loop: [B, k, D], [B, H, A'] -> [B, H, D], feeding predictions back as history."""
        preds = []
        for h in range(actions.shape[1]):
            z_next = self.step(z_hist, actions[:, h])
            preds.append(z_next)
            z_hist = torch.cat([z_hist[:, 1:], z_next[:, None]], dim=1)
        return torch.stack(preds, dim=1)


def zero_init(layer: nn.Linear) -> nn.Linear:
    """Zero the output layer so an untrained predictor is the identity (z_{t+1} = z_t): a stable start."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class ResidualBlock(nn.Module):
    """Pre-norm residual MLP block. SiLU rather than exact GELU: cheaper on CPU, where CEM runs."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.SiLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class MLPPredictor(Predictor):
    """Residual MLP over the concatenated history and action. Cheapest; the CEM default."""

    def __init__(
        self, embed_dim: int, action_dim: int, history: int, hidden: int = 192, depth: int = 2
    ) -> None:
        super().__init__(embed_dim, action_dim, history)
        self.net = nn.Sequential(
            nn.Linear(history * embed_dim + action_dim, hidden),
            nn.SiLU(),
            *[ResidualBlock(hidden) for _ in range(depth)],
            nn.LayerNorm(hidden),
            zero_init(nn.Linear(hidden, embed_dim)),
        )

    def delta(self, z_hist: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z_hist.flatten(1), action], dim=1))


class GRUPredictor(Predictor):
    """GRU summarises the history window; an MLP fuses its state with the action."""

    def __init__(
        self, embed_dim: int, action_dim: int, history: int, hidden: int = 128
    ) -> None:
        super().__init__(embed_dim, action_dim, history)
        self.gru = nn.GRU(embed_dim, hidden, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(hidden + embed_dim + action_dim, hidden),
            nn.SiLU(),
            nn.LayerNorm(hidden),
            zero_init(nn.Linear(hidden, embed_dim)),
        )

    def delta(self, z_hist: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(z_hist)
        # z_t goes in directly too: the GRU state alone would have to re-learn the identity path.
        return self.head(torch.cat([h[-1], z_hist[:, -1], action], dim=1))


class TransformerPredictor(Predictor):
    """Small causal transformer over [z_{t-k+1}, ..., z_t, a_t] tokens; reads out the action token."""

    def __init__(
        self,
        embed_dim: int,
        action_dim: int,
        history: int,
        width: int = 128,
        depth: int = 2,
        heads: int = 4,
    ) -> None:
        super().__init__(embed_dim, action_dim, history)
        self.z_in = nn.Linear(embed_dim, width)
        self.a_in = nn.Linear(action_dim, width)
        self.pos = nn.Parameter(torch.randn(1, history + 1, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=4 * width, dropout=0.0, activation="gelu",
            batch_first=True, norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.register_buffer(
            "causal_mask", nn.Transformer.generate_square_subsequent_mask(history + 1), persistent=False
        )
        self.out = nn.Sequential(nn.LayerNorm(width), zero_init(nn.Linear(width, embed_dim)))

    def delta(self, z_hist: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        tokens = torch.cat([self.z_in(z_hist), self.a_in(action)[:, None]], dim=1) + self.pos
        tokens = self.blocks(tokens, mask=self.causal_mask, is_causal=True)
        return self.out(tokens[:, -1])
