"""Resumable batch sampling: the indices of step ``s`` depend only on (seed, s, rank).

An opaque DataLoader iterator cannot be checkpointed; a sampler that derives each batch from the
step number makes a resumed run draw exactly the batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


def step_batch(step: int, *, num_items: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> list[int]:
    """Dataset indices for ``rank``'s share of the global batch at ``step``.

    The global batch (``batch_size * world_size`` items, without replacement when the dataset is big
    enough) is drawn once from a generator seeded by ``(seed, step)`` and split by rank, so ranks
    never overlap and the union does not depend on how many processes share it out.
    """
    total = batch_size * world_size
    rng = np.random.default_rng([seed, step])
    indices = rng.choice(num_items, size=total, replace=num_items < total)
    return indices[rank * batch_size:(rank + 1) * batch_size].tolist()


class StepBatchSampler(Sampler[list[int]]):
    """Batch sampler yielding ``step_batch(step)`` for ``step`` in ``[start_step, end_step)``."""

    def __init__(
        self, num_items: int, batch_size: int, *, seed: int, start_step: int, end_step: int,
        rank: int = 0, world_size: int = 1,
    ) -> None:
        if num_items < 1:
            raise ValueError("the training split has no windows: collect longer or more episodes, or lower history/rollout_steps/frameskip")
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.start_step, self.end_step = start_step, end_step
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return max(self.end_step - self.start_step, 0)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.end_step):
            yield step_batch(
                step, num_items=self.num_items, batch_size=self.batch_size, seed=self.seed,
                rank=self.rank, world_size=self.world_size,
            )
