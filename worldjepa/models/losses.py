"""Loss configuration and the latent-space loss terms (distance, VCReg, inverse dynamics)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

DISTANCES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l1": F.l1_loss,
    "l2": F.mse_loss,
    "smooth_l1": F.smooth_l1_loss,
}
ROLLOUT_CONTEXTS = ("target", "online")


@dataclass
class VCRegConfig:
    """Variance/covariance regulariser on online embeddings (VICReg without the invariance term)."""

    enabled: bool = True
    variance: float = 0.1
    covariance: float = 0.004
    std_target: float = 1.0


@dataclass
class InverseDynamicsConfig:
    """Predict a_t from (z_t, z_{t+1}): forces embeddings to keep what the actions change."""

    enabled: bool = True
    weight: float = 1.0
    hidden: int = 256


@dataclass
class ReconstructionConfig:
    """Weights of the generative objective's extra terms (`model.objective=reconstruction` only)."""

    frames: float = 1.0  # decode the encoded frames themselves (an autoencoder term)
    latent: float = 1.0  # pull predictions onto the stop-gradient encodings of the true frames


@dataclass
class LossConfig:
    """Mirrors configs/loss/default.yaml (documented there)."""

    distance: str = "smooth_l1"
    teacher_forcing: float = 1.0
    rollout: float = 1.0
    rollout_context: str = "target"
    vcreg: VCRegConfig = field(default_factory=VCRegConfig)
    inverse_dynamics: InverseDynamicsConfig = field(default_factory=InverseDynamicsConfig)
    reconstruction: ReconstructionConfig = field(default_factory=ReconstructionConfig)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> "LossConfig":
        """Build from a plain (possibly partial) dict; unknown keys or names -> ValueError."""
        cfg = dict(cfg or {})
        nested = {"vcreg": VCRegConfig, "inverse_dynamics": InverseDynamicsConfig, "reconstruction": ReconstructionConfig}
        for key, sub_cls in nested.items():
            if key in cfg:
                cfg[key] = sub_cls(**_known_keys(sub_cls, cfg[key], f"loss.{key}"))
        out = cls(**_known_keys(cls, cfg, "loss"))
        if out.distance not in DISTANCES:
            raise ValueError(
                f"loss.distance={out.distance!r} is unknown: use one of {sorted(DISTANCES)}"
            )
        if out.rollout_context not in ROLLOUT_CONTEXTS:
            raise ValueError(
                f"loss.rollout_context={out.rollout_context!r} is unknown: use one of {ROLLOUT_CONTEXTS}"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """A plain nested dict (what checkpoints store)."""
        return asdict(self)


def _known_keys(cls: type, cfg: dict[str, Any], where: str) -> dict[str, Any]:
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(cfg) - valid)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}: valid keys are {sorted(valid)}")
    return dict(cfg)


def vcreg_loss(z: torch.Tensor, cfg: VCRegConfig) -> torch.Tensor:
    """Hinge on per-dim std (keeps every dim alive) + off-diagonal covariance (decorrelates dims)."""
    with torch.autocast(z.device.type, enabled=False):  # a bf16 covariance would be mostly rounding
        z = z.reshape(-1, z.shape[-1]).float()
        n, d = z.shape
        z = z - z.mean(dim=0)
        std = torch.sqrt(z.var(dim=0) + 1e-4)
        cov = (z.T @ z) / (n - 1)
        off_diag = cov - torch.diag(torch.diagonal(cov))
        return cfg.variance * F.relu(cfg.std_target - std).mean() + cfg.covariance * off_diag.pow(2).sum() / d


class InverseDynamicsHead(nn.Module):
    """MLP (z_t, z_{t+1}) -> a_t, trained with MSE on the online embeddings."""

    def __init__(self, embed_dim: int, action_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * embed_dim, hidden), nn.SiLU(), nn.Linear(hidden, action_dim)
        )

    def loss(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """z [B, T, D], actions [B, T-1, A'] -> scalar MSE."""
        pred = self.net(torch.cat([z[:, :-1], z[:, 1:]], dim=-1))
        return F.mse_loss(pred.float(), actions.float())
