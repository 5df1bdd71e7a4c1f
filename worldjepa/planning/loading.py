"""Load what an agent plans with: a world-model checkpoint (with its short sha256) and the heads fit on it."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import torch

from worldjepa.checkpoint import file_sha256
from worldjepa.models.heads import SavedHead
from worldjepa.models.build import load_world_model
from worldjepa.models.world_model import JEPAWorldModel

H = TypeVar("H", bound=SavedHead)


def load_model(checkpoint: str | Path, device: torch.device) -> tuple[JEPAWorldModel, str]:
    """(world model in eval mode without grads, short sha256 of the file) from a `worldjepa train` checkpoint."""
    path = Path(checkpoint)
    if path.is_dir():
        raise FileNotFoundError(f"checkpoint={path} is a directory: pass the file in it, e.g. {path / 'last.pt'}")
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {path} does not exist: pass the last.pt written by `worldjepa train out=...`"
        )
    model = load_world_model(path, map_location=device).eval().requires_grad_(False)
    return model, file_sha256(path)


def load_head(head: type[H], path: str | Path, checkpoint_sha: str | None, device: torch.device) -> H:
    """The head (GoalPolicy, GoalValue) at `path`, refused unless it was fit on the checkpoint with `checkpoint_sha`."""
    loaded, meta = head.load(path, map_location=device)
    if meta.get("checkpoint_sha256") != checkpoint_sha:
        raise ValueError(
            f"{head.OPTION}={path} was fit on the embeddings of {meta.get('checkpoint')} (sha256 "
            f"{meta.get('checkpoint_sha256')}), not on this checkpoint (sha256 {checkpoint_sha}): rerun "
            f"`{head.COMMAND}` with this checkpoint"
        )
    return loaded
