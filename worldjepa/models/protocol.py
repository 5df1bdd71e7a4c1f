"""The `WorldModel` protocol: what planning, evaluation and imitation need from a world model."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

from worldjepa.models.meta import ModelMeta


@runtime_checkable
class WorldModel(Protocol):
    """Encode frames into latents and roll latents forward under actions.

    `JEPAWorldModel` implements it; so can any model (or a stub in a test) with these members.
    """

    history: int  # k: context embeddings one prediction step reads
    frameskip: int  # env steps per latent step
    action_dim: int  # the env's action size A (a latent step takes frameskip * A values)
    embed_dim: int  # D
    image_size: int  # S: frames are S x S RGB
    meta: ModelMeta

    def encode(self, pixels: Tensor) -> Tensor:
        """uint8 frames [..., S, S, 3] -> embeddings [..., D]."""
        ...

    def rollout(self, z_hist: Tensor, actions: Tensor) -> Tensor:
        """Open loop: z_hist [B, k, D], actions [B, H, frameskip*A] -> predicted embeddings [B, H, D]."""
        ...
