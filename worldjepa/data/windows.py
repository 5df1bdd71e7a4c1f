"""``WindowDataset``: fixed-length, frame-skipped windows over a collected dataset, for training.

Pixels are memory-mapped lazily in each process (DataLoader workers included), so RAM stays
small; the small per-step arrays are loaded eagerly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from worldjepa.data.format import EpisodeStore, open_dataset


def split_episodes(root: str | os.PathLike, val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Shuffle the episodes of ``root`` with ``seed`` and split them into (train, val) index lists.

    Splitting by episode (not by window) keeps near-identical overlapping windows out of both
    sides. With ``val_fraction > 0`` val holds at least one episode and train keeps at least one.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction} must be in [0, 1), e.g. 0.1")
    episodes = np.array(open_dataset(root).episodes)
    np.random.default_rng(seed).shuffle(episodes)
    n_val = 0
    if val_fraction > 0:
        if len(episodes) < 2:
            raise ValueError(f"{root} has 1 episode, too few to split: collect more or set val_fraction=0")
        n_val = min(max(1, round(val_fraction * len(episodes))), len(episodes) - 1)
    return sorted(episodes[n_val:].tolist()), sorted(episodes[:n_val].tolist())


class WindowDataset(Dataset):
    """Every window of ``window`` frames, taken every ``frameskip`` env steps, inside one episode.

    Item (dict of tensors): ``pixels [window,S,S,3]`` uint8, ``actions [window-1, frameskip*A]``
    (the env actions between consecutive sampled frames, concatenated in time order),
    ``proprio [window,P]``, ``state [window,D]``, ``episode``, ``step`` (the start frame).
    Windows start at every env step, and never cross an episode boundary.
    ``episodes`` restricts the dataset to those episode indices (see ``split_episodes``).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        window: int,
        frameskip: int = 1,
        episodes: Sequence[int] | None = None,
    ) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window={window!r} must be a positive integer number of frames")
        if isinstance(frameskip, bool) or not isinstance(frameskip, int) or frameskip < 1:
            raise ValueError(f"frameskip={frameskip!r} must be a positive integer number of env steps")
        self.store: EpisodeStore = open_dataset(root)
        self.meta = self.store.meta
        self.window, self.frameskip = window, frameskip
        self.span = (window - 1) * frameskip + 1  # env frames one window covers
        chosen = self._choose(episodes)

        self.episodes: list[int] = []
        self._actions: list[np.ndarray] = []
        self._proprio: list[np.ndarray] = []
        self._state: list[np.ndarray] = []
        counts, longest = [], 0
        for index in chosen:
            frames, small = self.store.load_episode(index)
            longest = max(longest, frames)
            if frames < self.span:
                continue
            self.episodes.append(index)
            self._actions.append(small["actions"])
            self._proprio.append(small["proprio"])
            self._state.append(small["state"])
            counts.append(frames - self.span + 1)
        if not counts:
            raise ValueError(
                f"window={window} with frameskip={frameskip} spans {self.span} frames, but the longest "
                f"episode in {root} has {longest}: use window <= {(longest - 1) // frameskip + 1} "
                "(or a smaller frameskip), or collect longer episodes (episode_steps=N)"
            )
        # Window i lives in episode k where offsets[k] <= i < offsets[k + 1].
        self._offsets = np.concatenate([[0], np.cumsum(counts)])
        self._pixels: dict[int, np.ndarray] = {}  # episode position -> memmap, opened on first use

    def _choose(self, episodes: Sequence[int] | None) -> list[int]:
        if episodes is None:
            return list(self.store.episodes)
        available = set(self.store.episodes)
        missing = sorted(set(episodes) - available)
        if missing:
            raise ValueError(
                f"episodes {missing[:10]} are not in {self.store.root} (it has {len(available)} episodes, "
                f"indices {min(available)}..{max(available)}): pick from split_episodes()"
            )
        return sorted(set(episodes))

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(position in ``self.episodes``, start frame) of window ``index``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"window index {index} out of range for {len(self)} windows")
        index %= len(self)
        k = int(np.searchsorted(self._offsets, index, side="right")) - 1
        return k, index - int(self._offsets[k])

    def _pixels_of(self, k: int) -> np.ndarray:
        if k not in self._pixels:
            self._pixels[k] = self.store.load(self.episodes[k], "pixels", mmap=True)
        return self._pixels[k]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        k, start = self.locate(index)
        frames = slice(start, start + self.span, self.frameskip)
        steps = self.span - 1
        chunk = self.frameskip * self.meta["action_dim"]
        actions = self._actions[k][start : start + steps].reshape(self.window - 1, chunk)
        # np.array copies: items must never alias the read-only memmaps or the cached arrays.
        return {
            "pixels": torch.from_numpy(np.array(self._pixels_of(k)[frames])),
            "actions": torch.from_numpy(np.array(actions)),
            "proprio": torch.from_numpy(np.array(self._proprio[k][frames])),
            "state": torch.from_numpy(np.array(self._state[k][frames])),
            "episode": torch.tensor(self.episodes[k], dtype=torch.int64),
            "step": torch.tensor(start, dtype=torch.int64),
        }

    def __getstate__(self) -> dict:
        # Drop open memmaps so spawn-started DataLoader workers do not receive copies of the pixels.
        return {**self.__dict__, "_pixels": {}}
