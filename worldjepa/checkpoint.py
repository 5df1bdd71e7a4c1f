"""The one worldjepa checkpoint format (world models and policies): atomic save, safe load, file identity.

A checkpoint is a dict {format, format_version, kind, meta, state_dict, training_state} written by
torch.save. `kind` says what the weights are ("world_model" or "policy"), so a file passed where the
other kind belongs is refused by name. Version 1 files (world models only, weights under "model")
still load, as kind "world_model".
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch

from worldjepa.atomic import atomic_path

FORMAT = "worldjepa-checkpoint"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
Kind = Literal["world_model", "policy", "value"]
# Each kind's name in messages, the file it is usually saved as, and the command that writes it.
KINDS: dict[str, tuple[str, str, str]] = {
    "world_model": ("world model", "last.pt", "worldjepa train"),
    "policy": ("policy", "policy.pt", "worldjepa imitate"),
    "value": ("goal value", "value.pt", "worldjepa value"),
}


class CheckpointError(ValueError):
    """A file is not a readable worldjepa checkpoint, or does not fit the model/env it is used with."""


def save_checkpoint(
    path: str | os.PathLike, *, kind: Kind, meta: dict[str, Any], state_dict: Mapping[str, torch.Tensor],
    training_state: dict[str, Any] | None = None,
) -> None:
    """Atomically write weights of `kind` with their `meta` (a plain dict) and optional training state.

    The file is read back with weights_only=True before it replaces `path`, so a checkpoint that
    load_checkpoint could not read (e.g. arbitrary objects in training_state) is never written.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is unknown: use one of {sorted(KINDS)}")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "meta": meta,
        "state_dict": dict(state_dict),
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


def load_checkpoint(
    path: str | os.PathLike, *, kind: Kind = "world_model", map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint of `kind` safely (weights_only=True: no code in the file runs) and validate it.

    Returns the dict with keys format, format_version, kind, meta, state_dict, training_state.
    Missing file, unreadable/foreign file, unknown format version or another kind -> CheckpointError.
    """
    path = Path(path)
    name, file, command = KINDS[kind]
    written_by = f"the {file} written by `{command}`"
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory: pass the {file} in it, e.g. {path / file}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist: pass {written_by}")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols; the error says enough
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # any decoding failure means the same thing to the caller
        raise CheckpointError(
            f"{path} is not a readable worldjepa checkpoint ({_load_failure(e)}): it may be truncated or a "
            f"different kind of file (nothing in it was run); pass {written_by}"
        ) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a worldjepa checkpoint (no format={FORMAT!r} marker): pass {written_by}")
    version = ckpt.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path} has checkpoint format_version {version!r}, this worldjepa reads versions "
            f"{list(READABLE_VERSIONS)}: use the worldjepa version that wrote it, or retrain"
        )
    if version == 1:  # world models only, with their weights under "model"
        ckpt = dict(ckpt, kind="world_model")
        if "model" in ckpt:
            ckpt["state_dict"] = ckpt.pop("model")
    missing = {"kind", "meta", "state_dict", "training_state"} - ckpt.keys()
    if missing:
        raise CheckpointError(f"{path} lacks {sorted(missing)}: the file is damaged; retrain or re-save")
    if ckpt["kind"] not in KINDS or not isinstance(ckpt["meta"], dict) or not isinstance(ckpt["state_dict"], dict):
        raise CheckpointError(
            f"{path} has an unknown kind ({ckpt['kind']!r}) or a malformed meta or state_dict: "
            "the file is damaged; retrain or re-save"
        )
    if ckpt["kind"] != kind:
        found = KINDS[ckpt["kind"]][0]
        raise CheckpointError(f"{path} is a {found} checkpoint, not a {name}: pass {written_by}")
    return ckpt


def check_weights(state: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor], source: object,
                  fix: str = "use an earlier checkpoint or retrain") -> None:
    """Refuse loaded weights `state` that are float where the model's `own` are not (or the reverse), or that
    hold NaN or inf: a damaged file or a run that diverged, which load_state_dict would take silently.
    The message starts with `source` (the file, or the option that named it) and ends with `fix`."""
    # Float weights stored as integers (or the reverse) are damage, not a precision choice.
    wrong_dtype = sorted(k for k, v in state.items() if k in own and v.is_floating_point() != own[k].is_floating_point())
    if wrong_dtype:
        name = wrong_dtype[0]
        raise CheckpointError(
            f"{source}: weights {wrong_dtype[:8]} are stored as {state[name].dtype} where the model has "
            f"{own[name].dtype} (a damaged or hand-edited file): {fix}"
        )
    non_finite = sorted(k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all())
    if non_finite:
        raise CheckpointError(
            f"{source}: weights {non_finite[:8]} hold NaN or inf (a damaged file, or a run that diverged): {fix}"
        )


def file_sha256(path: str | os.PathLike) -> str:
    """Short (16 hex digits) sha256 of a file: ties results and policies to the exact checkpoint."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _load_failure(error: Exception) -> str:
    """torch's load error in one short line, without its advice to retry with weights_only=False
    (which would run whatever code a hostile file holds)."""
    text = str(error).split("WeightsUnpickler error: ")[-1]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first.split('. ')[0][:200]}"
