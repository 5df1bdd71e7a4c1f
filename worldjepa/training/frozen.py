"""What fitting a head on a world model's frozen embeddings needs: the model, its data split, encoded episodes,
and the check that lets a rerun skip a fit already done with the same settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from worldjepa.data import open_dataset, split_episodes
from worldjepa.data.format import EpisodeStore
from worldjepa.models import WorldModel
from worldjepa.models.heads import SavedHead
from worldjepa.planning.loading import load_model


@dataclass
class Frozen:
    """A frozen world model with the dataset it is fit on, split as its training split it."""

    model: WorldModel
    sha: str
    store: EpisodeStore
    train_episodes: list[int]
    val_episodes: list[int]


def load_frozen(checkpoint: str, data: str | None, device: torch.device) -> Frozen:
    """Load `checkpoint` and `data` (default: the checkpoint's training dataset), checked to be of one env."""
    model, sha = load_model(checkpoint, device)
    if not data:
        data = (model.meta.dataset or {}).get("path")
        if not data or not Path(data).is_dir():
            found = f"its training dataset {data} does not exist here" if data else "it records no dataset"
            raise ValueError(f"checkpoint {checkpoint}: {found}: pass data=PATH (a `worldjepa collect` directory of its env)")
    store = open_dataset(data)
    if store.meta["env_id"] != model.meta.env_id:
        raise ValueError(
            f"data={data} holds {store.meta['env_id']} but the checkpoint was trained on {model.meta.env_id}: "
            "pass a dataset of the checkpoint's env"
        )
    trained = model.meta.config
    train_eps, val_eps = split_episodes(store.root, trained.get("val_fraction", 0.1), seed=trained.get("seed", 0))
    return Frozen(model, sha, store, train_eps, val_eps)


@torch.no_grad()
def encode_episodes(model: WorldModel, store: EpisodeStore, episodes: list[int], device: torch.device,
                    batch: int = 256) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Target-encoder embeddings [T+1, D] and actions [T, A] of each episode (on the CPU)."""
    embeddings, actions = [], []
    for e in episodes:
        pixels = torch.from_numpy(store.load(e, "pixels"))
        embeddings.append(torch.cat([model.encode(pixels[i : i + batch].to(device)).float().cpu()
                                     for i in range(0, len(pixels), batch)]))
        actions.append(torch.from_numpy(np.asarray(store.load(e, "actions"))).float())
    return embeddings, actions


def fitted_summary(head: type[SavedHead], path: Path, summary: Path, checkpoint_sha: str, settings: dict) -> dict | None:
    """The summary of a finished fit at `path` for this checkpoint and settings, else None (so a rerun skips it)."""
    try:
        _, meta = head.load(path)
        done = json.loads(summary.read_text())
    except (OSError, ValueError):
        return None
    return done if meta.get("checkpoint_sha256") == checkpoint_sha and meta.get("settings") == settings else None
