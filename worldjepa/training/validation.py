"""World-model evaluation on held-out episodes, shared by training and `benchmarks/train.py`.

Latent prediction error on held-out windows against the copy-last-embedding baseline, a linear
position probe, embedding health.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from worldjepa.data import Batch, WindowDataset
from worldjepa.data.format import EpisodeStore
from worldjepa.models import JEPAWorldModel, WorldModel, embedding_stats, fit_linear_probe, online_target_distance
from worldjepa.models.predictors import normalize_embedding


def position_dims(meta: dict) -> list[int]:
    """Indices of the positions (qpos) in the dataset's flat ``[qpos, qvel]`` state vectors.

    The split point (MuJoCo's ``nq``) is read from the dataset's env, which is built but never rendered.
    """
    from worldjepa.data.collector import make_env  # deferred: only the probe needs mujoco

    env = make_env(meta["env_id"], meta["env_kwargs"])
    try:
        return list(range(env.unwrapped.model.nq))
    finally:
        env.close()


@torch.no_grad()
def collapse_metrics(model: JEPAWorldModel, pixels: torch.Tensor) -> dict[str, float]:
    """Embedding health on a batch of frames (uint8 [..., S, S, 3]): spread of the online embeddings
    (``embedding_stats``: std_min, std_mean, effective_rank) and their distance to the target's."""
    frames = pixels.reshape(-1, *pixels.shape[-3:])
    z_online = normalize_embedding(model.encoder(frames))  # the same normalisation `encode` applies
    z_target = model.encode(frames)
    return {**embedding_stats(z_online), "online_target_dist": online_target_distance(z_online, z_target)}


def eval_horizon(store: EpisodeStore, episodes: Sequence[int], history: int, frameskip: int, horizon: int) -> int:
    """``horizon`` clamped so that the longest held-out episode still holds one full window."""
    frames = max(len(store.load(e, "pixels", mmap=True)) for e in episodes)
    fits = (frames - 1) // frameskip + 1 - history
    if fits < 1:
        raise ValueError(
            f"held-out episodes have at most {frames} frames, too short for history={history} plus one "
            f"predicted step at frameskip={frameskip}: collect longer episodes, or lower history/frameskip"
        )
    return min(horizon, fits)


def spread(n: int, k: int) -> np.ndarray:
    """Up to ``k`` evenly spaced indices in ``range(n)``: a deterministic subsample drawing no RNG."""
    return np.unique(np.linspace(0, n - 1, num=min(n, k)).round().astype(np.int64))


@torch.no_grad()
def prediction_errors(model: WorldModel, windows: WindowDataset, horizon: int, *,
                      max_windows: int, batch_size: int, device: torch.device) -> dict[str, float]:
    """Open-loop latent prediction MSE at steps 1 and ``horizon``, and relative to copying z_{t}.

    From the embeddings of ``history`` true frames, the model rolls ``horizon`` steps with the true
    actions; its error is compared with the baseline that predicts the last context embedding
    forever. ``rel_err_h`` < 1 means the model beats that baseline. Embeddings come from
    ``model.encode``, the space planning uses.
    """
    k = model.history
    chosen = spread(len(windows), max_windows)
    pred_sq = torch.zeros(horizon, dtype=torch.float64)
    copy_sq = torch.zeros(horizon, dtype=torch.float64)
    for start in range(0, len(chosen), batch_size):
        batch = Batch.collate([windows[int(i)] for i in chosen[start:start + batch_size]]).to(device)
        z = model.encode(batch.pixels[:, :k + horizon]).float()  # [B, k+H, D]
        targets = z[:, k:]
        pred = model.rollout(z[:, :k], batch.actions[:, k - 1:k - 1 + horizon]).float()
        pred_sq += (pred - targets).pow(2).mean(dim=-1).sum(dim=0).double().cpu()
        copy_sq += (z[:, k - 1:k] - targets).pow(2).mean(dim=-1).sum(dim=0).double().cpu()
    pred_mse, copy_mse = pred_sq / len(chosen), copy_sq / len(chosen)
    out = {"horizon": horizon, "windows": len(chosen)}
    for h in sorted({1, horizon}):
        out[f"pred_mse_{h}"] = pred_mse[h - 1].item()
        out[f"copy_mse_{h}"] = copy_mse[h - 1].item()
        out[f"rel_err_{h}"] = (pred_mse[h - 1] / copy_mse[h - 1].clamp_min(1e-12)).item()
    return out


@torch.no_grad()
def embed_frames(model: WorldModel, store: EpisodeStore, episodes: Sequence[int], max_frames: int,
                 dims: Sequence[int], *, batch_size: int, device: torch.device) -> tuple[torch.Tensor, np.ndarray]:
    """Embeddings [N, D] of up to ``max_frames`` frames spread over ``episodes``, and their states[:, dims]."""
    per_episode = max(1, max_frames // len(episodes))
    pixels, targets = [], []
    for e in episodes:
        frames = store.load(e, "pixels", mmap=True)
        index = spread(len(frames), per_episode)
        pixels.append(torch.from_numpy(np.ascontiguousarray(frames[index])))
        targets.append(store.load(e, "state")[index][:, list(dims)])
    pixels_all = torch.cat(pixels)
    z = torch.cat([model.encode(pixels_all[i:i + batch_size].to(device)).float().cpu()
                   for i in range(0, len(pixels_all), batch_size)])
    return z, np.concatenate(targets)


def probe_and_stats(model: WorldModel, store: EpisodeStore, train_episodes: Sequence[int],
                    val_episodes: Sequence[int], dims: Sequence[int], *, max_frames: int,
                    batch_size: int, device: torch.device) -> dict[str, float | list[float]]:
    """Linear-probe R² of state[dims] (fit on train-episode frames, scored on held-out ones), and the
    spread (std, effective rank) of the held-out embeddings."""
    n_val = max(2, round(max_frames * len(val_episodes) / (len(train_episodes) + len(val_episodes))))
    kwargs = {"dims": dims, "batch_size": batch_size, "device": device}
    z_train, y_train = embed_frames(model, store, train_episodes, max_frames - n_val, **kwargs)
    z_val, y_val = embed_frames(model, store, val_episodes, n_val, **kwargs)
    r2 = fit_linear_probe(z_train, y_train, z_val, y_val)
    stats = embedding_stats(z_val)
    return {
        "probe_r2": float(np.nanmean(r2)) if np.isfinite(r2).any() else float("nan"),
        "probe_r2_per_dim": [float(v) for v in r2],
        "embed_std_min": stats["std_min"],
        "embed_std_mean": stats["std_mean"],
        "embed_effective_rank": stats["effective_rank"],
    }


def validate_model(model: JEPAWorldModel, store: EpisodeStore, train_episodes: Sequence[int], val_episodes: Sequence[int],
             *, horizon: int, max_windows: int, probe_frames: int, probe_dims: Sequence[int] | None,
             batch_size: int, device: torch.device) -> dict[str, float | list[float]]:
    """Every held-out figure: prediction errors (``prediction_errors``) and probe/embedding spread
    (``probe_and_stats``). ``probe_dims=None`` probes the positions (``position_dims``).

    Runs in eval mode without gradients and draws no global RNG, so evaluating mid-run leaves
    training (and a resumed run) unchanged.
    """
    was_training = model.training
    model.eval()
    try:
        horizon = eval_horizon(store, val_episodes, model.history, model.frameskip, horizon)
        windows = WindowDataset(store.root, window=model.history + horizon, frameskip=model.frameskip,
                                episodes=val_episodes)
        dims = position_dims(store.meta) if probe_dims is None else list(probe_dims)
        return {
            **prediction_errors(model, windows, horizon, max_windows=max_windows, batch_size=batch_size,
                                device=device),
            **probe_and_stats(model, store, train_episodes, val_episodes, dims, max_frames=probe_frames,
                              batch_size=batch_size, device=device),
        }
    finally:
        model.train(was_training)
