"""Divergence guards: stop a run whose loss, embeddings or gradients blew up, naming the step, batch and fix."""

from __future__ import annotations

import numpy as np

from worldjepa.data.batch import Batch
from worldjepa.errors import WorldJepaError
from worldjepa.training.checkpointing import RunCheckpoint
from worldjepa.training.distributed import DistInfo, all_ranks_agree


class TrainingDivergedError(WorldJepaError, RuntimeError):
    """The loss, gradients or embeddings became non-finite or exploded; nothing was checkpointed after."""


def describe_batch(batch: Batch) -> str:
    """The (episode, start step) pairs of a batch, for error messages that let one find the data."""
    pairs = ", ".join(f"({e}, {s})" for e, s in zip(batch.episode.tolist(), batch.step.tolist()))
    return f"[(episode, start step): {pairs}]"


def divergence(loss: float, raw_norm: float, max_norm: float) -> str | None:
    """What went wrong in this step's forward pass, or None when the loss and embeddings are healthy."""
    if not np.isfinite(loss):
        return f"non-finite loss ({loss})"
    if not np.isfinite(raw_norm) or raw_norm > max_norm:
        return f"exploding embeddings (raw encoder output norm {raw_norm:.3g} > guard.max_embed_norm={max_norm:g})"
    return None


class DivergenceGuard:
    """Raises TrainingDivergedError before a bad step can reach the optimiser or a checkpoint."""

    def __init__(self, max_embed_norm: float, checkpoint: RunCheckpoint, data: str, info: DistInfo) -> None:
        self.max_embed_norm, self.checkpoint, self.data, self.info = max_embed_norm, checkpoint, data, info

    def check_forward(self, loss: float, raw_norm: float, step: int, batch: Batch) -> None:
        """The loss and the raw embedding norm, checked before backward."""
        # On every rank together: a rank that stopped alone would hang the others.
        problem = all_ranks_agree(divergence(loss, raw_norm, self.max_embed_norm), self.info)
        self._stop_if(problem, step, batch)

    def check_gradients(self, grad_norm: float, step: int, batch: Batch) -> None:
        """The gradient norm, checked before the optimiser step."""
        # Gradients are all-reduced, so every rank sees the same norm and stops together.
        self._stop_if(None if np.isfinite(grad_norm) else f"non-finite gradient norm ({grad_norm})", step, batch)

    def _stop_if(self, problem: str | None, step: int, batch: Batch) -> None:
        if problem is None:
            return
        raise TrainingDivergedError(
            f"training diverged at step {step}: {problem} on batch {describe_batch(batch)}. "
            f"{self.checkpoint.describe()}. Fix: lower optim.lr, keep optim.grad_clip on, or check these "
            f"episodes with `worldjepa inspect {self.data}`"
        )
