"""Generative world model: the JEPA model's encoder and predictor, trained to reconstruct pixels.

The deterministic core of PlaNet/Dreamer's recurrent state-space model, at the JEPA model's size: the
same encoder and predictor plus a small `ConvDecoder`. Its loss (with window T = history k + R steps):
- predicted frames: decode the teacher-forced and the open-loop predictions of embeddings k..T-1 and
  compare them with the true frames (pixel MSE; weights `loss.teacher_forcing` and `loss.rollout`);
- current frames: decode the encodings of all T frames (`loss.reconstruction.frames`);
- latent: pull the predictions onto the stop-gradient encodings of the true frames
  (`loss.reconstruction.latent`), the deterministic stand-in for Dreamer's KL(posterior || prior).
  Without it a prediction only has to decode to the right frame, and may differ from the frame's
  encoding along every direction the decoder ignores, where the planner's L2 latent cost would look.

There is no EMA target: pixels cannot collapse, so the gradient reaches the encoder through the
decoder alone. `update_target` copies the online encoder exactly, so `encode` (the target encoder,
for planning) returns the embeddings the loss trained and everything downstream works unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worldjepa.data.batch import Batch
from worldjepa.models.decoder import ConvDecoder, pixel_loss
from worldjepa.models.world_model import JEPAWorldModel, embedding_spread


class ReconstructionWorldModel(JEPAWorldModel):
    """See the module docstring; built by `build_world_model` for `model.objective=reconstruction`."""

    def __init__(self, encoder: nn.Module, predictor: nn.Module, decoder: ConvDecoder, **kwargs: Any) -> None:
        super().__init__(encoder, predictor, **kwargs)
        self.decoder = decoder

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Embeddings [..., D] -> frames [..., S, S, 3], float in [0, 255]."""
        lead = z.shape[:-1]
        return self.decoder(z.reshape(-1, self.embed_dim)).reshape(*lead, self.image_size, self.image_size, 3)

    def training_loss(self, batch: Batch, rollout_steps: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Pixel reconstruction loss of predicted and encoded frames, plus the latent term (module docstring)."""
        k, cfg = self.history, self.loss_cfg
        pixels, actions = self._window(batch, rollout_steps)
        z = self._embed(self.encoder, pixels)  # [B, T, D]
        tf_pred, ro_pred = self._teacher_forced(z, actions), self._rollout(z, actions)
        future = pixels[:, k:]
        tf_loss = pixel_loss(self.decode(tf_pred), future)
        ro_loss = pixel_loss(self.decode(ro_pred), future)
        frames_loss = pixel_loss(self.decode(z), pixels)
        encoded = z[:, k:].detach().float()
        latent_loss = F.mse_loss(tf_pred.float(), encoded) + F.mse_loss(ro_pred.float(), encoded)
        loss = (cfg.teacher_forcing * tf_loss + cfg.rollout * ro_loss + cfg.reconstruction.frames * frames_loss
                + cfg.reconstruction.latent * latent_loss)
        metrics = {"tf_loss": tf_loss.item(), "rollout_loss": ro_loss.item(), "frames_loss": frames_loss.item(),
                   "latent_loss": latent_loss.item(), "loss": loss.item(), "z_std": embedding_spread(z)}
        return loss, metrics

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """Copy the online encoder into the target one (no EMA, see the module docstring); `momentum` is ignored."""
        super().update_target(0.0)
