"""`GymGoalWrapper`: turns any gymnasium MuJoCo env into the worldjepa goal-conditioned pixel contract."""

from __future__ import annotations

from typing import Any, Callable

import gymnasium
import mujoco
import numpy as np
from gymnasium import spaces

from worldjepa.envs.goal_api import GoalStateMixin
from worldjepa.envs.validation import check_actions

DistanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class GymGoalWrapper(GoalStateMixin, gymnasium.Env):
    """Goal-conditioned pixel view of a gymnasium MuJoCo env (same API as `MujocoGoalEnv`).

    Usage::

        inner = gymnasium.make("Reacher-v5", render_mode="rgb_array", width=64, height=64)
        env = GymGoalWrapper(inner, success_threshold=0.05, qpos_indices=[0, 1])
        obs, info = env.reset(seed=0, options={"goal_state": some_state})  # goal optional
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

    - Observations are ``{"pixels": env.render(), "proprio": the inner observation (float32)}``.
    - States are ``[qpos, qvel]`` of the inner ``data`` (``get_state``/``set_state``).
    - Goals are states: pass ``options["goal_state"]`` to ``reset`` or call ``set_goal``;
      otherwise the goal is the state after an extra inner ``reset`` (the env's own
      initial-state distribution). ``info["goal_pixels"]`` renders the scene in the goal state.
    - ``task_distance`` is ``distance_fn(states, goal_state)`` if given, else the Euclidean
      distance over ``qpos[qpos_indices]`` (all of qpos by default); success is
      ``distance < success_threshold`` (default 0.05). ``reward = -distance`` (the inner reward
      is kept as ``info["env_reward"]``); inner termination and truncation pass through.
    - ``action_repeat`` is the inner ``frame_skip``; ``simulate`` uses ``mujoco.rollout``. It is
      exact for envs without contacts (e.g. Reacher) and close otherwise, because gymnasium's
      assets keep the solver warm start, which ``[qpos, qvel]`` does not capture.

    Multisampling and light shadows are switched off in the inner model for fast software
    rendering. The inner env must be a ``gymnasium.envs.mujoco.MujocoEnv`` made with
    ``render_mode="rgb_array"`` and square ``width == height``. The wrapper registers nothing.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        env: gymnasium.Env,
        *,
        success_threshold: float = 0.05,
        qpos_indices: list[int] | None = None,
        distance_fn: DistanceFn | None = None,
    ) -> None:
        base = env.unwrapped
        if not (hasattr(base, "model") and hasattr(base, "data") and hasattr(base, "_get_obs")):
            raise ValueError(
                f"{base} is not a gymnasium MuJoCo env (needs model, data and _get_obs): wrap an env such "
                'as gymnasium.make("Reacher-v5", render_mode="rgb_array", width=64, height=64)'
            )
        if env.render_mode != "rgb_array" or base.width != base.height:
            raise ValueError(
                f"inner env has render_mode={env.render_mode!r}, size {base.width}x{base.height}: make it with "
                'render_mode="rgb_array" and width == height (e.g. width=64, height=64)'
            )
        self.env = env
        self.model: mujoco.MjModel = base.model
        self.data: mujoco.MjData = base.data
        self.env_id = env.spec.id if env.spec is not None else type(base).__name__
        self.image_size = int(base.width)
        self.action_repeat = int(base.frame_skip)
        self.state_dim = self.model.nq + self.model.nv
        self.success_threshold = float(success_threshold)
        self.qpos_indices = np.arange(self.model.nq) if qpos_indices is None else np.asarray(qpos_indices)
        self._distance_fn = distance_fn
        # Software rendering is 3x slower with multisampling and far slower with shadows.
        self.model.vis.quality.offsamples = 0
        self.model.light_castshadow[:] = 0
        self.render_mode = "rgb_array"
        self.metadata = {**self.metadata, "render_fps": env.metadata.get("render_fps")}
        inner_space = env.observation_space
        self.observation_space = spaces.Dict(
            {
                "pixels": spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8),
                "proprio": spaces.Box(-np.inf, np.inf, inner_space.shape, np.float32),
            }
        )
        self.action_space = env.action_space
        self.goal_state: np.ndarray | None = None
        self.goal_pixels: np.ndarray | None = None
        self._rollout_data: mujoco.MjData | None = None

    # ----------------------------------------------------------------- state access
    def set_state(self, state: np.ndarray) -> None:
        """Restore `[qpos, qvel]` (mj_forward after)."""
        state = self._check_state(state)
        self.env.unwrapped.set_state(state[: self.model.nq], state[self.model.nq :])

    def render(self) -> np.ndarray:
        """Current pixels from the inner env's camera, uint8 (S, S, 3)."""
        return np.asarray(self.env.render(), dtype=np.uint8)

    def sample_state(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """A state from the inner env's initial-state distribution (its own RNG; `rng` unused).

        The inner env's model is reset to draw it (its time limit is not) and then restored.
        """
        saved = self.get_state()
        self.env.unwrapped.reset()
        state = self.get_state()
        self.set_state(saved)
        return state

    def task_distance(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        """`distance_fn(states, goal_state)`, or Euclidean distance over `qpos[qpos_indices]`."""
        if self._distance_fn is not None:
            return np.asarray(self._distance_fn(np.asarray(states), np.asarray(goal_state)))
        selected = np.asarray(states)[..., self.qpos_indices]
        return np.linalg.norm(selected - np.asarray(goal_state)[self.qpos_indices], axis=-1)

    # ----------------------------------------------------------------- gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset the inner env, set the start and goal (from `options` or sampled), return obs, info."""
        super().reset(seed=seed)
        options = self._check_reset_options(options)
        self.env.reset(seed=seed)
        goal = options.get("goal_state")
        if goal is None:
            goal = self.get_state()
            self.env.reset()
        if options.get("start_state") is not None:
            self.set_state(options["start_state"])
        self.set_goal(goal)
        return self._obs(self.env.unwrapped._get_obs()), self._reset_info()

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Step the inner env; reward is minus the goal distance."""
        self._require_goal()
        action = check_actions(action, self.action_space.shape, self.env_id).astype(self.action_space.dtype)
        inner_obs, env_reward, terminated, truncated, inner_info = self.env.step(action)
        # gymnasium renders right after mj_step, when body positions are one physics step stale;
        # refresh them so pixels match the returned state (and render_state of it) exactly.
        mujoco.mj_forward(self.model, self.data)
        info = {**inner_info, **self._info(), "env_reward": float(env_reward)}
        return self._obs(inner_obs), -info["distance"], bool(terminated), bool(truncated), info

    def close(self) -> None:
        """Close the inner env (and its renderer)."""
        self.env.close()

    # ----------------------------------------------------------------- helpers
    def _obs(self, inner_obs: np.ndarray) -> dict[str, np.ndarray]:
        return {"pixels": self.render(), "proprio": np.asarray(inner_obs, dtype=np.float32)}
