"""JEPA world model: online encoder, EMA target encoder, action-conditioned latent predictor.

Embedding space. Every embedding (online, target, predicted) goes through a parameter-free
LayerNorm over D. We prefer it to l2-normalisation because it fixes the scale (the loss cannot
fall by shrinking embeddings) while keeping each coordinate O(1) whatever D is, so smooth-L1/L2
distances, their thresholds, and planning costs mean the same thing for any embed_dim.

Training. With window T = history (k) + rollout_steps (R):
- teacher forcing: each window of k *online* embeddings of true frames predicts the next *target*
  embedding (this is where the online encoder gets its gradient);
- open-loop rollout: from k context embeddings, R steps feeding predictions back, compared with
  the target embeddings of the true frames;
- regularisers on the online embeddings (both on in configs/loss/default.yaml): inverse dynamics
  (predict a_t from z_t, z_{t+1}) and a weak VCReg. Without them the EMA/predictor pair alone left
  the embeddings nearly constant across frames on a moving-dot video (per-dim std ~0.005), where
  the prediction loss is trivially ~0; with them rollouts beat copy-last-frame by >10x there.

Planning (`encode` and `rollout`). The predictor is trained to output target-encoder embeddings,
and in a rollout every step after the first is fed its own (target-space) predictions. So planning
uses the TARGET encoder for both the context frames and the goal: predictions, context and goal
then all live in one space. By default (`loss.rollout_context: target`) the rollout term also starts
from target-encoder context, so training runs exactly the computation planning runs; the online
and target encoders differ only by the EMA lag, which `monitoring.online_target_distance` tracks.

`model.objective=reconstruction` builds the subclass in worldjepa/models/reconstruction.py instead: the
same encoder and predictor trained through a pixel decoder, a generative baseline for this objective.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import torch
from torch import nn

from worldjepa.checkpoint import CheckpointError, check_weights, save_checkpoint
from worldjepa.data.batch import Batch
from worldjepa.models.losses import DISTANCES, InverseDynamicsHead, LossConfig, vcreg_loss
from worldjepa.models.meta import ModelMeta
from worldjepa.models.predictors import Predictor, normalize_embedding


class JEPAWorldModel(nn.Module):
    """See the module docstring; implements the `WorldModel` protocol. Build with
    `worldjepa.models.build_world_model`, load with `worldjepa.models.load_world_model`."""

    def __init__(
        self,
        encoder: nn.Module,
        predictor: Predictor,
        *,
        image_size: int,
        action_dim: int,
        frameskip: int,
        history: int,
        embed_dim: int,
        loss: LossConfig,
        config: dict[str, Any],
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.target_encoder = copy.deepcopy(encoder).requires_grad_(False).eval()
        self.predictor = predictor
        self.loss_cfg = loss
        self.history, self.frameskip, self.embed_dim = history, frameskip, embed_dim
        self.image_size, self.action_dim = image_size, action_dim
        self.inverse_dynamics = (
            InverseDynamicsHead(embed_dim, frameskip * action_dim, loss.inverse_dynamics.hidden)
            if loss.inverse_dynamics.enabled
            else None
        )
        # Everything needed to rebuild this model; the trainer fills in the provenance fields.
        self.meta = ModelMeta(
            image_size=image_size, action_dim=action_dim, frameskip=frameskip, history=history, config=config
        )

    def train(self, mode: bool = True) -> JEPAWorldModel:
        """As nn.Module.train, but the target encoder always stays in eval mode."""
        super().train(mode)
        self.target_encoder.eval()
        return self

    # ----- planning API -----

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 [..., S, S, 3] -> [..., D] with the TARGET encoder (the space rollouts predict into)."""
        return self._embed(self.target_encoder, pixels)

    def rollout(self, z_hist: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Open loop: z_hist [B, k, D], actions [B, H, frameskip*A] -> predicted embeddings [B, H, D]."""
        k, d, a = self.history, self.embed_dim, self.frameskip * self.action_dim
        if z_hist.ndim != 3 or z_hist.shape[1:] != (k, d):
            raise ValueError(
                f"z_hist has shape {tuple(z_hist.shape)}, expected [B, {k}, {d}]: pass the encoded "
                f"last history={k} frames, e.g. model.encode(pixels[-{k}:])[None]"
            )
        if actions.ndim != 3 or actions.shape[0] != z_hist.shape[0] or actions.shape[2] != a:
            raise ValueError(
                f"actions have shape {tuple(actions.shape)}, expected [{z_hist.shape[0]}, H, {a}]: "
                f"one chunk of frameskip={self.frameskip} x action_dim={self.action_dim} per latent step"
            )
        return self.predictor.rollout(z_hist, actions)

    # ----- training API -----

    def training_loss(self, batch: Batch, rollout_steps: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Latent JEPA loss on a Batch (pixels [B, T, S, S, 3] uint8, actions [B, T-1, A']).

        Uses the first history + rollout_steps frames. Returns (scalar loss, python-float metrics).
        """
        k, cfg = self.history, self.loss_cfg
        pixels, actions = self._window(batch, rollout_steps)
        z_online = self._embed(self.encoder, pixels)  # [B, T, D]
        with torch.no_grad():
            z_target = self._embed(self.target_encoder, pixels)
        context = z_target if cfg.rollout_context == "target" else z_online
        loss, metrics = self._prediction_terms(z_online, context, z_target[:, k:], actions)
        if cfg.vcreg.enabled:
            vc = vcreg_loss(z_online, cfg.vcreg)
            loss = loss + vc
            metrics["vcreg_loss"] = vc.item()
        if self.inverse_dynamics is not None:
            idm = self.inverse_dynamics.loss(z_online, actions)
            loss = loss + cfg.inverse_dynamics.weight * idm
            metrics["inverse_dynamics_loss"] = idm.item()
        metrics["loss"] = loss.item()
        metrics["z_std"] = embedding_spread(z_online)
        return loss, metrics

    def prediction_loss(self, z: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The predictor's terms alone on target embeddings z [B, T, D] and actions [B, T-1, A'] (encoders frozen).

        Teacher forcing and the rollout both start from `z` itself: the computation planning runs.
        """
        loss, metrics = self._prediction_terms(z, z, z[:, self.history :], actions)
        metrics["loss"] = loss.item()
        return loss, metrics

    def _prediction_terms(self, z_forced: torch.Tensor, z_context: torch.Tensor, targets: torch.Tensor,
                          actions: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The weighted teacher-forcing and rollout distances to `targets` [B, R, D], and each as a metric."""
        distance, cfg = DISTANCES[self.loss_cfg.distance], self.loss_cfg
        ro_loss = distance(self._rollout(z_context, actions).float(), targets.float())
        metrics = {"rollout_loss": ro_loss.item()}
        loss = cfg.rollout * ro_loss
        if cfg.teacher_forcing:  # skipped at weight 0: it costs as much compute as the rollout
            tf_loss = distance(self._teacher_forced(z_forced, actions).float(), targets.float())
            loss = loss + cfg.teacher_forcing * tf_loss
            metrics["tf_loss"] = tf_loss.item()
        return loss, metrics

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """EMA step on the target encoder: W_t <- m W_t + (1 - m) W_s."""
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum={momentum} must be in [0, 1] (typical: 0.99-0.999)")
        for target, online in zip(self.target_encoder.parameters(), self.encoder.parameters()):
            target.lerp_(online, 1.0 - momentum)
        for target, online in zip(self.target_encoder.buffers(), self.encoder.buffers()):
            target.copy_(online)

    # ----- persistence -----

    def save(self, path: str | os.PathLike, training_state: dict[str, Any] | None = None) -> None:
        """Atomically write this model as a "world_model" checkpoint (see worldjepa.checkpoint)."""
        save_checkpoint(path, kind="world_model", meta=self.meta.to_dict(), state_dict=self.state_dict(),
                        training_state=training_state)

    def load_weights(self, checkpoint: dict[str, Any], source: str | os.PathLike = "checkpoint") -> None:
        """Load a `load_checkpoint` dict into this already-built model (e.g. to resume training).

        If the checkpoint's model config or weights do not fit this model (keys, shapes, dtypes), raises
        CheckpointError naming the differing config keys and weights, instead of torch's raw state_dict
        message (which would also cast, e.g., int64 weights to float silently); likewise for weights
        holding NaN or inf. Messages start with `source`: the file the dict was read from.
        """
        structural = ("image_size", "action_dim", "frameskip", "history")
        ours = {k: getattr(self.meta, k) for k in structural} | {"model": self.meta.config["model"]}
        meta = checkpoint["meta"]  # a plain dict: it may come from a damaged or foreign file
        # A key the checkpoint lacks was added to the code after it was written (model.objective,
        # model.encoder.stem_stride, ...): the rebuild gave it the default that reproduces the old model.
        theirs_model = _with_missing_keys(meta.get("config", {}).get("model"), ours["model"])
        theirs = {k: meta.get(k) for k in structural} | {"model": theirs_model}
        config_diff = _dict_diff(theirs, ours)

        state, own = checkpoint["state_dict"], self.state_dict()
        weight_diff = sorted(own.keys() ^ state.keys()) + sorted(
            k for k in own.keys() & state.keys() if own[k].shape != state[k].shape
        )
        if config_diff or weight_diff:
            raise CheckpointError(
                f"{source} was trained with a different model config "
                f"(differing keys, checkpoint vs this model: {config_diff or 'none'}; "
                f"differing weights: {weight_diff[:8] or 'none'}): build the model from the "
                "checkpoint's meta['config'] (load_world_model does this) or retrain"
            )
        check_weights(state, own, source)
        self.load_state_dict(state)

    # ----- helpers -----

    def _window(self, batch: Batch, rollout_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first history + rollout_steps frames of `batch` and the actions between them, checked."""
        k, r = self.history, rollout_steps
        window = k + r
        if rollout_steps < 1 or batch.pixels.shape[1] < window:
            raise ValueError(
                f"batch has {batch.pixels.shape[1]} frames, but history={k} + rollout_steps={r} "
                f"needs {window} (rollout_steps >= 1): set the dataset window to {window}"
            )
        if batch.actions.shape[-1] != self.frameskip * self.action_dim:
            raise ValueError(
                f"batch actions have {batch.actions.shape[-1]} values per step, expected frameskip="
                f"{self.frameskip} x action_dim={self.action_dim}: build the WindowDataset with the "
                "model's frameskip"
            )
        return batch.pixels[:, :window], batch.actions[:, : window - 1]

    def _teacher_forced(self, z_forced: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """All R windows of k embeddings of `z_forced` [B, T, D] in one batched predictor call -> [B, R, D]."""
        k, d = self.history, self.embed_dim
        b, r = z_forced.shape[0], z_forced.shape[1] - k
        step_actions = actions[:, k - 1 :]  # [B, R, A']: the action after each context window
        windows = z_forced.unfold(1, k, 1)[:, :r].transpose(2, 3).reshape(b * r, k, d)
        return self.predictor.step(windows, step_actions.reshape(b * r, -1)).view(b, r, d)

    def _rollout(self, z_context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Open loop from the first k embeddings of `z_context`, feeding predictions back -> [B, R, D]."""
        return self.predictor.rollout(z_context[:, : self.history], actions[:, self.history - 1 :])

    def _embed(self, encoder: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
        lead = pixels.shape[:-3]
        z = encoder(pixels.reshape(-1, *pixels.shape[-3:]))
        return normalize_embedding(z).reshape(*lead, self.embed_dim)


def embedding_spread(z: torch.Tensor) -> float:
    """Cheap per-step collapse signal: mean over dims of the across-batch std of embeddings [..., D]."""
    return z.detach().float().reshape(-1, z.shape[-1]).std(dim=0).mean().item()


def _with_missing_keys(stored: Any, built: Any) -> Any:
    """`stored` (a checkpoint's config) with the keys only `built` has added, recursively."""
    if not (isinstance(stored, dict) and isinstance(built, dict)):
        return stored
    return {**built, **{k: _with_missing_keys(v, built.get(k)) for k, v in stored.items()}}


def _dict_diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys where nested dicts a and b differ, as 'key: a_value vs b_value'."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for key in sorted(a.keys() | b.keys(), key=str)
                for d in _dict_diff(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if a == b else [f"{prefix.rstrip('.')}: {a!r} vs {b!r}"]
