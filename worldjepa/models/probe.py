"""Closed-form ridge linear probe: how linearly decodable a quantity (e.g. the state) is from embeddings."""

from __future__ import annotations

import numpy as np
import torch

Array = np.ndarray | torch.Tensor


def fit_linear_probe(
    z_train: Array, y_train: Array, z_test: Array, y_test: Array, ridge: float = 1e-3
) -> np.ndarray:
    """Fit y ~ W z + b on the train split, return R² per target dim on the test split.

    Features are standardised with train statistics so `ridge` means the same for any embedding
    scale. A target dim that is constant on the test split has undefined R² and gets NaN.
    """
    zt, yt, ze, ye = (_as_2d(a, name) for a, name in
                      ((z_train, "z_train"), (y_train, "y_train"), (z_test, "z_test"), (y_test, "y_test")))
    if len(zt) != len(yt) or len(ze) != len(ye):
        raise ValueError(
            f"z/y row counts differ (train {len(zt)} vs {len(yt)}, test {len(ze)} vs {len(ye)}): "
            "pass one target row per embedding"
        )
    mean, std = zt.mean(axis=0), zt.std(axis=0) + 1e-8
    x_train = np.hstack([(zt - mean) / std, np.ones((len(zt), 1))])
    x_test = np.hstack([(ze - mean) / std, np.ones((len(ze), 1))])
    reg = ridge * len(zt) * np.eye(x_train.shape[1])
    reg[-1, -1] = 0.0  # do not shrink the bias
    weights = np.linalg.solve(x_train.T @ x_train + reg, x_train.T @ yt)
    ss_res = ((ye - x_test @ weights) ** 2).sum(axis=0)
    ss_tot = ((ye - ye.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 1e-12, 1.0 - ss_res / ss_tot, np.nan)


def _as_2d(a: Array, name: str) -> np.ndarray:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    a = a.astype(np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} has shape {a.shape}, expected [N, dim]: flatten batch/time dims first")
    return a
