"""On-disk dataset format: ``meta.json`` plus one directory of ``.npy`` arrays per episode.

Writers create each episode in a temp dir and rename it into place, so readers never see half an
episode; readers validate everything they open and say how to repair what is broken.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldjepa.atomic import fsync_dir, is_temp_file, write_json_atomic

FORMAT = "worldjepa-dataset"
FORMAT_VERSION = 1
META_FILE = "meta.json"
EPISODES_DIR = "episodes"
TEMP_PREFIX = ".tmp-"
# name -> (dtype, frames offset): `actions` has one row fewer than the frame count.
ARRAYS: dict[str, tuple[np.dtype, int]] = {
    "pixels": (np.dtype(np.uint8), 0),
    "actions": (np.dtype(np.float32), -1),
    "proprio": (np.dtype(np.float32), 0),
    "state": (np.dtype(np.float64), 0),
}
# Meta keys that must agree before a rerun may add episodes to an existing dataset.
IDENTITY_KEYS = (
    "format", "format_version", "env_id", "env_kwargs", "action_repeat", "image_size",
    "action_dim", "proprio_dim", "state_dim", "policy", "seed",
)
_EPISODE_NAME = re.compile(r"^\d{6}$")
# How to repair a damaged episode (after "delete <its dir> and "): collection skips the episodes it finds.
REFILL = "rerun the same `worldjepa collect` command, which refills it"


class DatasetError(ValueError):
    """A dataset directory is missing, foreign, incompatible or damaged; the message says the fix."""


def episode_name(index: int) -> str:
    """Directory name of episode ``index`` (zero-padded so listings sort naturally)."""
    if not 0 <= index < 1_000_000:
        raise ValueError(f"episode index {index} out of range: the format holds episodes 0..999999")
    return f"{index:06d}"


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def check_episode_arrays(arrays: Mapping[str, np.ndarray]) -> int:
    """Validate names, dtypes and lengths of one episode's arrays; return its frame count."""
    missing = sorted(set(ARRAYS) - set(arrays))
    extra = sorted(set(arrays) - set(ARRAYS))
    if missing or extra:
        raise ValueError(f"episode arrays must be exactly {sorted(ARRAYS)}; missing {missing}, unexpected {extra}")
    frames = len(arrays["pixels"])
    for name, (dtype, offset) in ARRAYS.items():
        array = arrays[name]
        if array.dtype != dtype:
            raise ValueError(
                f"episode array {name!r} has dtype {array.dtype}, expected {dtype}: cast it before writing"
            )
        if len(array) != frames + offset:
            raise ValueError(
                f"episode array {name!r} has {len(array)} rows, expected {frames + offset} "
                f"for {frames} frames (actions has one row fewer than the frames)"
            )
    if frames < 2:
        raise ValueError(f"an episode needs at least 2 frames, got {frames}")
    return frames


def write_episode(root: str | os.PathLike, index: int, arrays: Mapping[str, np.ndarray]) -> bool:
    """Atomically write episode ``index`` under ``root``; return False if it already existed.

    The arrays go into ``episodes/.tmp-...`` (fsynced) which is then renamed to ``episodes/NNNNNN``;
    an episode written concurrently by someone else wins and ours is discarded (episodes are
    deterministic in their seed, so both are identical).
    """
    check_episode_arrays(arrays)
    episodes = Path(root) / EPISODES_DIR
    episodes.mkdir(parents=True, exist_ok=True)
    final = episodes / episode_name(index)
    if final.exists():
        return False
    tmp = episodes / f"{TEMP_PREFIX}{episode_name(index)}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for name in ARRAYS:
            _save_npy(tmp / f"{name}.npy", np.ascontiguousarray(arrays[name]))
        fsync_dir(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if final.exists():  # lost a race against an identical episode
                shutil.rmtree(tmp)
                return False
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(episodes)
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists but belongs to someone else
        return True
    return True


def clean_temp_dirs(root: str | os.PathLike) -> int:
    """Remove temp episode dirs left by killed writers (those whose writer pid is gone)."""
    episodes = Path(root) / EPISODES_DIR
    removed = 0
    if not episodes.is_dir():
        return removed
    for path in episodes.glob(f"{TEMP_PREFIX}*"):
        parts = path.name[len(TEMP_PREFIX):].split("-")
        pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
        if pid is None or not _pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def list_episodes(root: str | os.PathLike) -> list[int]:
    """Sorted indices of the complete episodes under ``root`` (temp dirs are ignored)."""
    episodes = Path(root) / EPISODES_DIR
    if not episodes.is_dir():
        return []
    return sorted(int(p.name) for p in episodes.iterdir() if _EPISODE_NAME.match(p.name) and p.is_dir())


def _describe(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _only_hydra_outputs(root: Path) -> bool:
    """True if ``root`` holds no files but Hydra's (``.hydra/``, ``*.log``), which the CLI writes into
    its ``out`` dir before a command runs (``worldjepa inspect`` on a missing path leaves some too),
    and temp files of a killed ``meta.json`` write."""
    return not any(
        path.is_file() and ".hydra" not in path.parts and path.suffix != ".log" and not is_temp_file(path)
        for path in root.rglob("*")
    )


def create_or_check_meta(root: str | os.PathLike, meta: Mapping[str, Any]) -> dict:
    """Write ``meta.json`` for a new dataset, or check an existing one describes the same collection.

    Raises ``DatasetError`` naming every mismatching key, so a rerun never mixes episodes of
    different envs, image sizes, policies or seeds in one directory.
    """
    root = Path(root)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    path = root / META_FILE
    if not path.exists():
        if root.is_dir() and not _only_hydra_outputs(root):
            raise DatasetError(
                f"{root} exists and is not a worldjepa dataset (no {META_FILE}): "
                "pass a new out=PATH, or empty that directory"
            )
        root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, meta)
        return dict(meta)
    existing = read_meta(root)
    mismatches = [
        f"{key}: dataset has {_describe(existing.get(key))}, this run asks for {_describe(meta.get(key))}"
        for key in IDENTITY_KEYS
        if _describe(existing.get(key)) != _describe(meta.get(key))
    ]
    if mismatches:
        raise DatasetError(
            f"{root} holds a different collection ({'; '.join(mismatches)}): "
            f"pass a new out=PATH, or delete {root} to start over"
        )
    return existing


def read_meta(root: str | os.PathLike) -> dict:
    """Read and validate ``ROOT/meta.json``; raise ``DatasetError`` saying what is wrong and the fix."""
    root = Path(root)
    fix = f"run `worldjepa collect env=... out={root}` first"
    if not root.exists():
        raise DatasetError(f"dataset {root} does not exist: {fix}")
    if not root.is_dir():
        raise DatasetError(f"dataset path {root} is a file, expected a directory made by `worldjepa collect`")
    path = root / META_FILE
    if not path.exists():
        raise DatasetError(f"{root} has no {META_FILE}, so it is not a worldjepa dataset: {fix}")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path} is not valid JSON ({err}): delete {root}, then {fix}") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise DatasetError(
            f"{path} has format {found!r}, expected {FORMAT!r}: point at a dataset made by `worldjepa collect`"
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DatasetError(
            f"{root} uses dataset format_version {version!r}, this worldjepa reads up to {FORMAT_VERSION}: "
            "upgrade worldjepa, or recollect the data with this version"
        )
    missing = [key for key in IDENTITY_KEYS if key not in meta]
    if missing:
        raise DatasetError(f"{path} lacks keys {missing}: delete {root} and recollect it")
    return meta


def load_array(path: Path, mmap: bool = False) -> np.ndarray:
    """``np.load`` one episode array without pickle; a damaged file raises ``DatasetError`` naming it."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError as err:
        raise DatasetError(f"{path} is missing: delete {path.parent} and {REFILL}") from err
    except (ValueError, OSError, EOFError) as err:
        raise DatasetError(f"{path} is truncated or corrupt ({err}): delete {path.parent} and {REFILL}") from err


@dataclass(frozen=True)
class EpisodeStore:
    """A validated dataset directory: its meta and the indices of its complete episodes."""

    root: Path
    meta: dict
    episodes: tuple[int, ...]

    def episode_dir(self, index: int) -> Path:
        """Directory holding episode ``index``."""
        return self.root / EPISODES_DIR / episode_name(index)

    def load(self, index: int, name: str, mmap: bool = False) -> np.ndarray:
        """Array ``name`` (pixels/actions/proprio/state) of episode ``index``, checked against the meta (and,
        unless memory-mapped, for NaN or inf)."""
        if name not in ARRAYS:
            raise ValueError(f"unknown episode array {name!r}; valid names: {sorted(ARRAYS)}")
        path = self.episode_dir(index) / f"{name}.npy"
        array = load_array(path, mmap=mmap)
        expected = self._trailing_shape(name)
        if array.dtype != ARRAYS[name][0] or array.shape[1:] != expected:
            raise DatasetError(
                f"{path} has dtype {array.dtype} and shape {array.shape}, expected {ARRAYS[name][0]} "
                f"and (T, {', '.join(map(str, expected))}) from meta.json: delete {path.parent} and {REFILL}"
            )
        if array.dtype.kind == "f" and not mmap:  # one guard for every reader: one NaN poisons a fit
            bad = np.flatnonzero(~np.isfinite(array).reshape(len(array), -1).all(axis=1))
            if len(bad):
                raise DatasetError(f"{path} holds NaN or inf (rows {bad[:5].tolist()}): "
                                   f"delete {path.parent} and {REFILL}")
        return array

    def load_episode(self, index: int) -> tuple[int, dict[str, np.ndarray]]:
        """Episode ``index``'s frame count (from the pixel memmap: its header and file size, not its frames)
        and its small arrays (actions, proprio, state), every one checked as by `load`, their lengths too."""
        frames = len(self.load(index, "pixels", mmap=True))
        small = {name: self.load(index, name) for name in ("actions", "proprio", "state")}
        for name, array in small.items():
            expected = frames + ARRAYS[name][1]  # actions: one row fewer than the frames
            if len(array) != expected:
                path = self.episode_dir(index) / f"{name}.npy"
                raise DatasetError(f"{path} has {len(array)} rows, expected {expected} for {frames} frames: "
                                   f"delete {path.parent} and {REFILL}")
        return frames, small

    def _trailing_shape(self, name: str) -> tuple[int, ...]:
        m = self.meta
        return {"pixels": (m["image_size"], m["image_size"], 3), "actions": (m["action_dim"],),
                "proprio": (m["proprio_dim"],), "state": (m["state_dim"],)}[name]


def open_dataset(root: str | os.PathLike) -> EpisodeStore:
    """Open the dataset at ``root``: validate its meta and list its episodes (arrays load lazily)."""
    root = Path(root)
    meta = read_meta(root)
    episodes = tuple(list_episodes(root))
    if not episodes:
        raise DatasetError(f"{root} has no complete episodes: run `worldjepa collect env=... out={root}` to fill it")
    return EpisodeStore(root=root, meta=meta, episodes=episodes)
