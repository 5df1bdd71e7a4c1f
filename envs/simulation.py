"""Fast batched open-loop simulation of `[qpos, qvel]` states with `mujoco.rollout` (no rendering)."""

from __future__ import annotations

import mujoco
import numpy as np
from mujoco import rollout

from worldjepa.envs.validation import check_actions, check_state


def simulate_states(
    model: mujoco.MjModel,
    scratch: mujoco.MjData,
    state: np.ndarray,
    actions: np.ndarray,
    action_repeat: int,
    env_name: str,
) -> np.ndarray:
    """Roll `N` action sequences `actions[N, T, A]` from `state` and return `[N, T, nq + nv]`.

    `state` is one `[qpos, qvel]` vector or one per sequence `(N, nq + nv)`. Each action is held
    for `action_repeat` physics steps (written straight to `ctrl`); the returned states are those
    after every env step. `scratch` is overwritten. Exact when warm-starting is disabled or the
    model has no constraints; otherwise the solver's warm start differs from a live env slightly.
    """
    state_dim = model.nq + model.nv
    actions = np.asarray(actions, dtype=np.float64)
    if actions.ndim != 3:
        raise ValueError(
            f"actions has shape {actions.shape} for {env_name}.simulate: pass [N, T, {model.nu}] "
            "(N sequences of T env actions)"
        )
    n = actions.shape[0]
    actions = check_actions(actions, (n, actions.shape[1], model.nu), env_name, "actions")
    states = np.atleast_2d(np.asarray(state, dtype=np.float64))
    if states.ndim != 2 or states.shape[0] not in (1, n):
        raise ValueError(
            f"state has shape {np.shape(state)} for {env_name}.simulate: pass ({state_dim},) or ({n}, {state_dim})"
        )
    initial = np.stack([_full_physics_state(model, scratch, check_state(s, state_dim, env_name)) for s in states])
    control = np.repeat(actions, action_repeat, axis=1)
    full, _ = rollout.rollout(model, scratch, initial, control)
    # FULLPHYSICS layout is [time, qpos, qvel, ...]; keep the state after each env step.
    return full[:, action_repeat - 1 :: action_repeat, 1 : 1 + state_dim].copy()


def _full_physics_state(model: mujoco.MjModel, scratch: mujoco.MjData, state: np.ndarray) -> np.ndarray:
    """The mjSTATE_FULLPHYSICS vector that rollout expects for a `[qpos, qvel]` state."""
    mujoco.mj_resetData(model, scratch)
    scratch.qpos[:] = state[: model.nq]
    scratch.qvel[:] = state[model.nq :]
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    full = np.empty(mujoco.mj_stateSize(model, spec))
    mujoco.mj_getState(model, scratch, full, spec)
    return full
