"""The one worldjepa checkpoint format: atomic save, safe (weights_only) load, compatibility checks.

A checkpoint is a dict {format, format_version, meta, model, training_state} written by torch.save.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from worldjepa.atomic import atomic_path

FORMAT = "worldjepa-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file is not a readable worldjepa checkpoint, or does not fit the model/env it is used with."""


def save_checkpoint(
    path: str | os.PathLike, *, model: Any, training_state: dict | None = None
) -> None:
    """Atomically write `model` (a WorldModel: its state_dict and meta) plus optional training state.

    The file is read back with weights_only=True before it replaces `path`, so a checkpoint that
    load_checkpoint could not read (e.g. arbitrary objects in training_state) is never written.
    """
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "meta": model.meta,
        "model": model.state_dict(),
        "training_state": training_state,
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        try:
            torch.load(tmp, map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(
                f"refusing to write {path}: it would not load with weights_only=True ({e}); "
                "keep meta and training_state to tensors, numbers, strings, lists and dicts"
            ) from e


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint safely (weights_only=True: no code in the file runs) and validate its format.

    Returns the dict with keys format, format_version, meta, model, training_state.
    Missing file, unreadable/foreign file or wrong format version -> CheckpointError.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist: pass the .pt file written by `worldjepa train` "
            "(e.g. runs/<name>/last.pt)"
        )
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols; the error says enough
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # any decoding failure means the same thing to the caller
        raise CheckpointError(
            f"{path} is not a readable worldjepa checkpoint ({_load_failure(e)}): it may be truncated or a "
            "different kind of file (nothing in it was run); pass a .pt written by `worldjepa train`"
        ) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a worldjepa checkpoint (no format={FORMAT!r} marker): "
            "pass a .pt written by `worldjepa train`"
        )
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format_version {ckpt.get('format_version')!r}, this worldjepa "
            f"reads version {FORMAT_VERSION}: use the worldjepa version that wrote it, or retrain"
        )
    missing = {"meta", "model", "training_state"} - ckpt.keys()
    if missing:
        raise CheckpointError(f"{path} lacks {sorted(missing)}: the file is damaged; retrain or re-save")
    return ckpt


def _load_failure(error: Exception) -> str:
    """torch's load error in one short line, without its advice to retry with weights_only=False
    (which would run whatever code a hostile file holds)."""
    text = str(error).split("WeightsUnpickler error: ")[-1]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first.split('. ')[0][:200]}"


def check_compatible(
    meta: dict,
    *,
    env_id: str | None = None,
    image_size: int | None = None,
    action_dim: int | None = None,
) -> None:
    """Raise CheckpointError if a checkpoint's meta does not fit the env it is about to be used on.

    Only the given arguments are checked; a meta without env_id (never trained on a dataset) skips that check.
    """
    trained_env = meta.get("env_id")
    if env_id is not None and trained_env is not None and trained_env != env_id:
        raise CheckpointError(
            f"checkpoint was trained on {trained_env} but env is {env_id}: "
            "pass a checkpoint trained on that env"
        )
    if image_size is not None and meta.get("image_size") != image_size:
        raise CheckpointError(
            f"checkpoint was trained on {meta.get('image_size')}px frames but env renders "
            f"{image_size}px: make the env with image_size={meta.get('image_size')}"
        )
    if action_dim is not None and meta.get("action_dim") != action_dim:
        raise CheckpointError(
            f"checkpoint was trained with action_dim={meta.get('action_dim')} but env has "
            f"action_dim={action_dim}: pass a checkpoint trained on that env"
        )
