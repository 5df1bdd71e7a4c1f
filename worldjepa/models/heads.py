"""`SavedHead`: how a network fit on a world model's frozen embeddings (a policy, a value) is saved and loaded.

Heads use the one checkpoint format with their own `kind`; the meta records the world model they were
fit on (path and sha256) and their settings, and the architecture goes under meta["config"].
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from worldjepa.checkpoint import CheckpointError, check_weights, load_checkpoint, save_checkpoint

H = TypeVar("H", bound="SavedHead")


class SavedHead(nn.Module):
    """Save/load for a head with a `config` dict of constructor arguments.

    KIND is its checkpoint kind, OPTION the plan key that takes its file, COMMAND the command that writes it.
    """

    KIND: ClassVar[str]
    OPTION: ClassVar[str]
    COMMAND: ClassVar[str]
    config: dict[str, Any]

    def save(self, path: str | os.PathLike, meta: dict[str, Any]) -> None:
        """Write weights and `meta` (the world model it was fit on) with the architecture under meta["config"]."""
        save_checkpoint(path, kind=self.KIND, meta={**meta, "config": self.config}, state_dict=self.state_dict())

    @classmethod
    def load(cls: type[H], path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[H, dict[str, Any]]:
        """(head in eval mode without grads, its meta) from a file written by `save`."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"{cls.OPTION}={path} does not exist: write one with `{cls.COMMAND} checkpoint=...`")
        try:
            ckpt = load_checkpoint(path, kind=cls.KIND, map_location=map_location)
            head = cls(**ckpt["meta"]["config"])
            head.load_state_dict(ckpt["state_dict"])
        except Exception as err:  # a truncated, foreign or other-kind file, or weights unlike their config
            reason = str(err) if isinstance(err, CheckpointError) else repr(err)
            raise CheckpointError(
                f"{cls.OPTION}={path} is not a {cls.KIND}.pt of `{cls.COMMAND}` ({reason}): rerun `{cls.COMMAND}`"
            ) from err
        # load_state_dict kept the head's own dtypes, so this compares the file's with the architecture's.
        check_weights(ckpt["state_dict"], head.state_dict(), f"{cls.OPTION}={path}", fix=f"rerun `{cls.COMMAND}`")
        return head.to(map_location).eval().requires_grad_(False), ckpt["meta"]
