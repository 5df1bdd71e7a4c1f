"""``Batch``: a batch of dataset windows as tensors, with a DataLoader collate and a device move."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import torch


@dataclass
class Batch:
    """Windows stacked along a leading batch dim (see ``WindowDataset`` for one item).

    pixels ``[B,T,S,S,3]`` uint8 (models normalise), actions ``[B,T-1,frameskip*A]`` float32,
    proprio ``[B,T,P]`` float32, state ``[B,T,D]`` float64, episode ``[B]`` and step ``[B]`` int64.
    """

    pixels: torch.Tensor
    actions: torch.Tensor
    proprio: torch.Tensor
    state: torch.Tensor
    episode: torch.Tensor
    step: torch.Tensor

    @classmethod
    def collate(cls, items: Sequence[Mapping[str, torch.Tensor]]) -> Batch:
        """Stack ``WindowDataset`` items; pass as ``DataLoader(collate_fn=Batch.collate)``."""
        if not items:
            raise ValueError("cannot collate an empty list of windows")
        return cls(**{f.name: torch.stack([torch.as_tensor(item[f.name]) for item in items]) for f in fields(cls)})

    def to(self, device: torch.device | str, non_blocking: bool = True) -> Batch:
        """The same batch on ``device`` (uint8 pixels stay uint8, so the copy stays small)."""
        return Batch(**{f.name: getattr(self, f.name).to(device, non_blocking=non_blocking) for f in fields(self)})

    def pin_memory(self) -> Batch:
        """Page-locked copy; DataLoader(pin_memory=True) calls this for custom batch types."""
        return Batch(**{f.name: getattr(self, f.name).pin_memory() for f in fields(self)})

    def __len__(self) -> int:
        return self.pixels.shape[0]
