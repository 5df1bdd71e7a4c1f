"""Input checks shared by the envs: states and actions, with errors that name the fix."""

from __future__ import annotations

import numpy as np


def check_state(state: np.ndarray, state_dim: int, env_name: str, name: str = "state") -> np.ndarray:
    """Return `state` as a finite float64 `(state_dim,)` array or raise ValueError."""
    state = np.asarray(state, dtype=np.float64)
    if state.shape != (state_dim,):
        raise ValueError(
            f"{name} has shape {state.shape}, expected ({state_dim},) for {env_name}: "
            "pass a flat [qpos, qvel] vector as returned by get_state()"
        )
    if not np.all(np.isfinite(state)):
        raise ValueError(f"{name} contains NaN or inf for {env_name}: pass a finite state from get_state()")
    return state


def check_actions(
    actions: np.ndarray, shape: tuple[int, ...], env_name: str, name: str = "action"
) -> np.ndarray:
    """Return `actions` as finite float64 of `shape` or raise ValueError.

    Out-of-range values are not clipped here: every actuator's `ctrlrange` clamps them inside
    MuJoCo, identically for `step` and `simulate`.
    """
    actions = np.asarray(actions, dtype=np.float64)
    if actions.shape != shape:
        raise ValueError(
            f"{name} has shape {actions.shape}, expected {shape} for {env_name}: "
            f"pass one value per actuator ({shape[-1]})"
        )
    if not np.all(np.isfinite(actions)):
        raise ValueError(
            f"{name} contains NaN or inf for {env_name}: check the policy/planner output "
            "(e.g. a diverged model); pass finite values"
        )
    return actions
