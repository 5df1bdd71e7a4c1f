"""Task distances for wrapped gymnasium envs: over chosen qpos entries, or between a site or body and its goal position."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import mujoco
import numpy as np

DistanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class QposDistance:
    """Euclidean distance over `qpos[indices]` (all of qpos when `indices` is None)."""

    def __init__(self, model: mujoco.MjModel, indices: Sequence[int] | None = None) -> None:
        self.indices = np.arange(model.nq) if indices is None else np.asarray(indices, dtype=np.int64)
        if self.indices.ndim != 1 or not len(self.indices) or self.indices.min() < 0 or self.indices.max() >= model.nq:
            raise ValueError(
                f"qpos_indices={np.atleast_1d(indices).tolist()} must be a non-empty list of qpos entries 0..{model.nq - 1}"
            )

    def __call__(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        selected = np.asarray(states)[..., self.indices]
        return np.linalg.norm(selected - np.asarray(goal_state)[self.indices], axis=-1)


class PointDistance:
    """Euclidean distance between where a named site or body is in each state and where it is in the goal.

    Positions come from forward kinematics of qpos on a scratch `MjData`, so any model works; the
    env's own `data` is never touched.
    """

    def __init__(self, model: mujoco.MjModel, kind: str, name: str) -> None:
        obj = {"site": mujoco.mjtObj.mjOBJ_SITE, "body": mujoco.mjtObj.mjOBJ_BODY}[kind]
        self.id = mujoco.mj_name2id(model, obj, name)
        if self.id < 0:
            count = model.nsite if kind == "site" else model.nbody
            names = [mujoco.mj_id2name(model, obj, i) for i in range(count)]
            raise ValueError(f"{kind}={name!r} is not in the model: its {kind}s are {[n for n in names if n]}")
        self.model, self.kind = model, kind
        self._data = mujoco.MjData(model)

    def positions(self, qpos: np.ndarray) -> np.ndarray:
        """World positions `[..., 3]` of the site or body for `qpos[..., nq]`."""
        qpos = np.asarray(qpos, dtype=np.float64)
        flat = qpos.reshape(-1, self.model.nq)
        out = np.empty((len(flat), 3))
        for i, q in enumerate(flat):
            self._data.qpos[:] = q
            mujoco.mj_kinematics(self.model, self._data)
            out[i] = self._data.site_xpos[self.id] if self.kind == "site" else self._data.xpos[self.id]
        return out.reshape(*qpos.shape[:-1], 3)

    def __call__(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        nq = self.model.nq
        goal = self.positions(np.asarray(goal_state)[:nq])
        return np.linalg.norm(self.positions(np.asarray(states)[..., :nq]) - goal, axis=-1)


def make_distance(
    model: mujoco.MjModel,
    qpos_indices: Sequence[int] | None = None,
    site: str | None = None,
    body: str | None = None,
) -> DistanceFn:
    """The distance one of `qpos_indices`, `site` or `body` asks for (all of qpos when none is given)."""
    given = [key for key, value in (("qpos_indices", qpos_indices), ("site", site), ("body", body)) if value is not None]
    if len(given) > 1:
        raise ValueError(f"{' and '.join(given)} both define the task distance: pass only one of qpos_indices, site, body")
    if site is not None:
        return PointDistance(model, "site", site)
    if body is not None:
        return PointDistance(model, "body", body)
    return QposDistance(model, qpos_indices)
