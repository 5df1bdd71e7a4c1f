"""`GoalStateMixin`: goal, state and simulation methods shared by `MujocoGoalEnv` and `GymGoalWrapper`."""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from worldjepa.envs.simulation import simulate_states
from worldjepa.envs.validation import check_state

RESET_OPTION_KEYS = frozenset({"start_state", "goal_state"})
# Goals closer than this many success thresholds to the start are resampled, so that an episode
# never starts already solved (worldjepa's evaluation applies the same rule to dataset goals).
MIN_GOAL_DISTANCE_IN_THRESHOLDS = 2.0
MAX_GOAL_TRIES = 1000


class GoalStateMixin:
    """Goal handling on top of `model`, `data`, `set_state`, `render` and `task_distance`.

    The host class provides those plus `env_id`, `state_dim`, `action_repeat`,
    `success_threshold`, `np_random` (gymnasium.Env's) and `sample_goal`, and sets `goal_state`,
    `goal_pixels` and `_rollout_data` to None.
    """

    #: Said when no sampled goal lies far enough from the start: how to make goals move further.
    goal_advice: str = "the goal sampler never moves the task far enough from the start"

    model: mujoco.MjModel
    data: mujoco.MjData
    env_id: str
    state_dim: int
    action_repeat: int
    success_threshold: float
    goal_state: np.ndarray | None
    goal_pixels: np.ndarray | None
    _rollout_data: mujoco.MjData | None

    def set_state(self, state: np.ndarray) -> None:  # provided by the host class
        raise NotImplementedError

    def render(self) -> np.ndarray:  # provided by the host class
        raise NotImplementedError

    def task_distance(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        """Vectorised task metric: `states[..., state_dim]` -> distances `[...]` to `goal_state`."""
        raise NotImplementedError

    def sample_goal(self, rng: np.random.Generator, start_state: np.ndarray) -> np.ndarray:
        """A candidate goal state for an episode starting at `start_state` (provided by the host class)."""
        raise NotImplementedError

    def get_state(self) -> np.ndarray:
        """Flat float64 copy of the current state `[qpos, qvel]`."""
        return np.concatenate([self.data.qpos, self.data.qvel])

    def set_goal(self, goal_state: np.ndarray) -> np.ndarray:
        """Make `goal_state` the goal and return its pixels (also stored as `goal_pixels`)."""
        goal_state = self._check_state(goal_state, "goal_state")
        self.goal_pixels = self.render_goal(goal_state)
        self.goal_state = goal_state.copy()
        return self.goal_pixels

    def render_goal(self, state: np.ndarray) -> np.ndarray:
        """The goal image of `state`; a host that draws goals differently (e.g. distractors) overrides it."""
        return self.render_state(state)

    def render_state(self, state: np.ndarray) -> np.ndarray:
        """Pixels of an arbitrary `state`; the current state is left untouched."""
        saved = self.get_state()
        self.set_state(state)
        try:
            return self.render()
        finally:
            self.set_state(saved)

    def simulate(self, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Roll `N` action sequences `actions[N, T, A]` from `state` without rendering.

        `state` is one state `(state_dim,)` or one per sequence `(N, state_dim)`. Returns the
        state after every env step, `[N, T, state_dim]` (`mujoco.rollout`, action repeat
        applied). The env's own state is not changed.
        """
        if self._rollout_data is None:
            self._rollout_data = mujoco.MjData(self.model)
        return simulate_states(self.model, self._rollout_data, state, actions, self.action_repeat, self.env_id)

    def _sample_far_goal(self, start: np.ndarray) -> np.ndarray:
        """A `sample_goal` draw at least MIN_GOAL_DISTANCE_IN_THRESHOLDS success thresholds from `start`."""
        min_distance = MIN_GOAL_DISTANCE_IN_THRESHOLDS * self.success_threshold
        for _ in range(MAX_GOAL_TRIES):
            goal = self.sample_goal(self.np_random, start)
            if self.task_distance(start, goal) >= min_distance:
                return goal
        raise ValueError(
            f"{self.env_id}: no goal at least {min_distance} from the start in {MAX_GOAL_TRIES} tries: {self.goal_advice}"
        )

    def _check_state(self, state: np.ndarray, name: str = "state") -> np.ndarray:
        return check_state(state, self.state_dim, self.env_id, name)

    def _check_reset_options(self, options: dict[str, Any] | None) -> dict[str, Any]:
        options = dict(options or {})
        unknown = set(options) - RESET_OPTION_KEYS
        if unknown:
            raise ValueError(
                f"unknown reset option(s) {sorted(unknown)} for {self.env_id}: "
                f"valid options are {sorted(RESET_OPTION_KEYS)}"
            )
        return options

    def _require_goal(self) -> None:
        if self.goal_state is None:
            raise RuntimeError(f"{self.env_id}: call reset() before step()")

    def _info(self) -> dict[str, Any]:
        """Per-step info: current state, distance to the goal and success."""
        state = self.get_state()
        distance = float(self.task_distance(state, self.goal_state))
        return {"state": state, "distance": distance, "success": distance < self.success_threshold}

    def _reset_info(self) -> dict[str, Any]:
        """Reset info: the per-step keys plus the goal pixels and state."""
        return {**self._info(), "goal_pixels": self.goal_pixels, "goal_state": self.goal_state.copy()}
