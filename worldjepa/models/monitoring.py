"""Embedding health monitoring: per-dim spread, effective rank, online/target drift, collapse check."""

from __future__ import annotations

import torch

from worldjepa.errors import WorldJepaError
from worldjepa.models.meta import DEFAULT_OBJECTIVE


class CollapseError(WorldJepaError, RuntimeError):
    """Raised by a trainer that chooses to stop when embeddings have collapsed."""


@torch.no_grad()
def embedding_stats(z: torch.Tensor) -> dict[str, float]:
    """Statistics of embeddings z [N, D] (N >= 2) over the batch.

    std_min / std_mean: smallest and mean per-dim std across samples (both ~0 when collapsed).
    effective_rank: exp(entropy of the normalised singular values of centred z), in [1, min(N, D)];
    ~1 means all samples lie on a line (dimensional collapse).
    """
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"z has shape {tuple(z.shape)}, expected [N, D] with N >= 2: flatten batch/time dims first")
    z = z.detach().float()
    std = z.std(dim=0)
    sv = torch.linalg.svdvals(z - z.mean(dim=0))
    total = sv.sum()
    if total <= 1e-12:  # all samples identical: no spread in any direction
        effective_rank = 0.0
    else:
        p = sv / total
        p = p[p > 0]
        effective_rank = torch.exp(-(p * p.log()).sum()).item()
    return {
        "std_min": std.min().item(),
        "std_mean": std.mean().item(),
        "effective_rank": effective_rank,
    }


@torch.no_grad()
def online_target_distance(z_online: torch.Tensor, z_target: torch.Tensor) -> float:
    """Mean over samples of the RMS per-dim difference between online and target embeddings [N, D].

    Grows if the online encoder runs away from its EMA (planning uses the target encoder).
    """
    diff = (z_online.detach().float() - z_target.detach().float()).pow(2).mean(dim=-1).sqrt()
    return diff.mean().item()


# What to change when embeddings collapse, by training objective: JEPA has regularisers that spread them;
# the reconstruction objective has none, its decoder reads small differences that an L2 planning cost does not.
COLLAPSE_FIXES = {
    "jepa": "enable loss.vcreg.enabled=true or loss.inverse_dynamics.enabled=true, raise the EMA momentum, "
            "or lower the learning rate",
    "reconstruction": "this objective has no term that spreads embeddings, so L2 planning costs on them are "
                      "nearly flat; plan with model.objective=jepa",
}


def check_collapse(stats: dict[str, float], threshold: float, objective: str = DEFAULT_OBJECTIVE) -> str | None:
    """Loud warning text if std_mean (from `embedding_stats`) < threshold, else None.

    std_mean, not std_min, is the trigger: a few near-constant dims are normal (e.g. background)
    and only show up in std_min / effective_rank, which the message reports. The fix it names
    depends on the model's training `objective`.
    """
    if stats["std_mean"] >= threshold:
        return None
    return (
        f"EMBEDDING COLLAPSE: per-dim std mean {stats['std_mean']:.2e} < {threshold:g} "
        f"(std_min {stats['std_min']:.2e}, effective rank {stats['effective_rank']:.2f}); "
        f"the encoder maps different frames to (nearly) the same embedding. Fix: {COLLAPSE_FIXES[objective]}"
    )
