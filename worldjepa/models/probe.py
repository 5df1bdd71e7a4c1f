"""Closed-form ridge linear probe: how linearly decodable a quantity (e.g. the state) is from embeddings."""

from __future__ import annotations

import numpy as np
import torch

Array = np.ndarray | torch.Tensor


def fit_ridge(z: Array, y: Array, ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression y ~ z @ weight + bias; returns (weight [D, k], bias [k]) in the inputs' units.

    Features are standardised before the fit so `ridge` means the same for any embedding scale;
    the bias is not shrunk.
    """
    z, y = _as_2d(z, "z"), _as_2d(y, "y")
    if len(z) != len(y):
        raise ValueError(f"{len(z)} embeddings but {len(y)} target rows: pass one target row per embedding")
    mean, std = z.mean(axis=0), z.std(axis=0) + 1e-8
    x = np.hstack([(z - mean) / std, np.ones((len(z), 1))])
    reg = ridge * len(z) * np.eye(x.shape[1])
    reg[-1, -1] = 0.0
    solution = np.linalg.solve(x.T @ x + reg, x.T @ y)
    weight = solution[:-1] / std[:, None]
    return weight, solution[-1] - mean @ weight


def fit_linear_probe(
    z_train: Array, y_train: Array, z_test: Array, y_test: Array, ridge: float = 1e-3
) -> np.ndarray:
    """Fit y ~ W z + b on the train split (`fit_ridge`), return R² per target dim on the test split.

    A target dim that is constant on the test split has undefined R² and gets NaN.
    """
    weight, bias = fit_ridge(z_train, y_train, ridge)
    ze, ye = _as_2d(z_test, "z_test"), _as_2d(y_test, "y_test")
    if len(ze) != len(ye):
        raise ValueError(f"z/y row counts differ on the test split ({len(ze)} vs {len(ye)}): pass one target row per embedding")
    ss_res = ((ye - (ze @ weight + bias)) ** 2).sum(axis=0)
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
