"""Load what an agent plans with: a world-model checkpoint (with its short sha256) and a policy fit on it."""

from __future__ import annotations

from pathlib import Path

import torch

from worldjepa.checkpoint import file_sha256
from worldjepa.models.goal_policy import GoalPolicy
from worldjepa.models.build import load_world_model
from worldjepa.models.world_model import JEPAWorldModel


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


def load_policy(path: str | Path, checkpoint_sha: str | None, device: torch.device) -> GoalPolicy:
    """The GoalPolicy at `path`, refused unless it was fit on the checkpoint with sha256 `checkpoint_sha`."""
    policy, meta = GoalPolicy.load(path, map_location=device)
    if meta.get("checkpoint_sha256") != checkpoint_sha:
        raise ValueError(
            f"prior={path} was fit on the embeddings of {meta.get('checkpoint')} (sha256 {meta.get('checkpoint_sha256')}), "
            f"not on this checkpoint (sha256 {checkpoint_sha}): rerun `worldjepa imitate` with this checkpoint"
        )
    return policy
