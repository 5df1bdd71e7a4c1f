"""`GymGoalWrapper`: turns any gymnasium MuJoCo env into the worldjepa goal-conditioned pixel contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import mujoco
import numpy as np
from gymnasium import spaces

from worldjepa.envs.goal_api import GoalStateMixin
from worldjepa.envs.gym_distance import DistanceFn, make_distance
from worldjepa.envs.rendering import hide_geoms
from worldjepa.envs.validation import check_actions

#: Where a goal rollout begins: the episode's start, or a fresh draw of the inner env's reset distribution.
GOAL_ORIGINS = ("start", "reset")
# Goal rollouts drive the env with the AR(1) noise of `policy=correlated`'s defaults: persistent
# actions travel far, where white noise mostly jitters in place (a goal rollout should get somewhere).
_GOAL_NOISE_CORRELATION = 0.9
_GOAL_NOISE_SCALE = 0.6


class GymGoalWrapper(GoalStateMixin, gymnasium.Env):
    """Goal-conditioned pixel view of a gymnasium MuJoCo env (same API as `MujocoGoalEnv`).

    Usage::

        inner = gymnasium.make("Reacher-v5", render_mode="rgb_array", width=64, height=64)
        env = GymGoalWrapper(inner, success_threshold=0.02, site="fingertip", hide=["target"])
        obs, info = env.reset(seed=0, options={"goal_state": some_state})  # goal optional
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

    ``worldjepa.envs.make_gym_goal_env`` builds the inner env and this wrapper from keyword
    options; ``gymnasium.make("worldjepa/GymGoal-v0", gym_id="Pusher-v5", ...)`` and
    ``configs/env/gym_*.yaml`` go through it.

    - Observations are ``{"pixels": env.render(), "proprio": the inner observation (float32)}``.
    - Actions lie in ``[-1, 1]`` like every worldjepa task (planners search that box); they are
      mapped linearly onto the inner env's action box.
    - States are ``[qpos, qvel]`` of the inner ``data`` (``get_state``/``set_state``).
    - ``task_distance`` is ``distance_fn(states, goal_state)`` if given; else the distance between
      where the named ``site`` or ``body`` is and where it is in the goal; else the Euclidean
      distance over ``qpos[qpos_indices]`` (all of qpos by default). Success is
      ``distance < success_threshold``; ``reward = -distance`` (the inner reward is kept as
      ``info["env_reward"]``); inner termination and truncation pass through.
    - ``hide`` names geoms (or bodies, for all their geoms) left out of the pixels, such as the
      inner task's own goal marker, which says nothing about this wrapper's goals.
    - Goals are states: pass ``options["goal_state"]`` to ``reset`` or call ``set_goal``. Otherwise
      the goal is where ``goal_steps`` env steps of exploration lead: persistent random actions
      (AR(1) noise, the ``policy=correlated`` defaults) from the episode's start
      (``goal_from="start"``), or from a fresh draw of the inner env's reset distribution
      (``goal_from="reset"``, for envs whose reset randomises what exploration rarely moves, such
      as Pusher's cylinder). Exploration goals are physically reachable, where the reset
      distribution alone often is not spread out (Reacher-v5 starts within 0.1 rad of one pose).
      As for the built-in tasks, a goal closer than two success thresholds to the start is
      redrawn, so no episode starts solved. Goals are seeded by ``reset(seed=...)``.
    - ``env_id`` is the id the env was made under (``gymnasium.make``'s), else the inner env's.
    - ``action_repeat`` is the inner ``frame_skip``; ``simulate`` uses ``mujoco.rollout``. It is
      exact for envs without contacts and close otherwise, because gymnasium's assets keep the
      solver warm start, which ``[qpos, qvel]`` does not capture.

    Multisampling and light shadows are switched off in the inner model for fast software
    rendering. The inner env must be a ``gymnasium.envs.mujoco.MujocoEnv`` made with
    ``render_mode="rgb_array"``, square ``width == height`` and a bounded Box action space. The
    wrapper registers nothing.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"]}
    goal_advice = ("raise goal_steps, pass goal_from='reset' when exploration rarely moves what the distance "
                   "measures (e.g. Pusher's cylinder), or lower success_threshold")

    def __init__(
        self,
        env: gymnasium.Env,
        *,
        success_threshold: float = 0.05,
        qpos_indices: Sequence[int] | None = None,
        site: str | None = None,
        body: str | None = None,
        distance_fn: DistanceFn | None = None,
        hide: Sequence[str] = (),
        goal_steps: int = 50,
        goal_from: str = "start",
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
        inner_space = env.action_space
        if not isinstance(inner_space, spaces.Box) or not np.all(np.isfinite([inner_space.low, inner_space.high])):
            raise ValueError(f"inner env's action space {inner_space} is not a bounded Box: wrap an env with torque limits")
        if goal_from not in GOAL_ORIGINS or isinstance(goal_steps, bool) or int(goal_steps) != goal_steps or goal_steps < 1:
            raise ValueError(
                f"goal_steps={goal_steps!r}, goal_from={goal_from!r}: pass a positive number of exploration steps "
                f"and goal_from one of {list(GOAL_ORIGINS)}"
            )
        self.env = env
        self.model: mujoco.MjModel = base.model
        self.data: mujoco.MjData = base.data
        self._env_id: str | None = None
        self.image_size = int(base.width)
        self.action_repeat = int(base.frame_skip)
        self.state_dim = self.model.nq + self.model.nv
        self.success_threshold = float(success_threshold)
        self._distance = distance_fn if distance_fn is not None else make_distance(self.model, qpos_indices, site, body)
        self.goal_steps, self.goal_from = int(goal_steps), goal_from
        hide_geoms(self.model, hide)
        # Software rendering is 3x slower with multisampling and far slower with shadows.
        self.model.vis.quality.offsamples = 0
        self.model.light_castshadow[:] = 0
        self.render_mode = "rgb_array"
        self.metadata = {**self.metadata, "render_fps": env.metadata.get("render_fps")}
        self.observation_space = spaces.Dict(
            {
                "pixels": spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8),
                "proprio": spaces.Box(-np.inf, np.inf, env.observation_space.shape, np.float32),
            }
        )
        self.action_space = spaces.Box(-1.0, 1.0, inner_space.shape, np.float32)
        self._action_mid = (inner_space.high.astype(np.float64) + inner_space.low) / 2
        self._action_half = (inner_space.high.astype(np.float64) - inner_space.low) / 2
        self.goal_state: np.ndarray | None = None
        self.goal_pixels: np.ndarray | None = None
        self._rollout_data: mujoco.MjData | None = None

    @property
    def env_id(self) -> str:
        """The id this env was made under: set by whoever made it, else gymnasium's spec, else the inner env's."""
        if self._env_id is not None:
            return self._env_id
        spec = self.spec if self.spec is not None else self.env.spec
        return spec.id if spec is not None else type(self.env.unwrapped).__name__

    @env_id.setter
    def env_id(self, value: str) -> None:
        self._env_id = value

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

    def sample_goal(self, rng: np.random.Generator, start_state: np.ndarray) -> np.ndarray:
        """The state after `goal_steps` env steps of AR(1) exploration noise from the start (or a reset draw)."""
        origin = start_state if self.goal_from == "start" else self.sample_state()
        shape = (self.goal_steps, *self.action_space.shape)
        noise = np.empty(shape)
        action = rng.normal(0.0, _GOAL_NOISE_SCALE, shape[1:])  # start in the stationary law
        innovation_scale = np.sqrt(1.0 - _GOAL_NOISE_CORRELATION**2) * _GOAL_NOISE_SCALE
        for t in range(self.goal_steps):
            action = _GOAL_NOISE_CORRELATION * action + rng.normal(0.0, innovation_scale, shape[1:])
            noise[t] = action
        return self.simulate(origin, np.clip(noise, -1.0, 1.0)[None])[0, -1]

    def task_distance(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        """`distance_fn`, the site's or body's distance to its goal position, or the qpos distance."""
        return np.asarray(self._distance(np.asarray(states), np.asarray(goal_state)))

    def simulate(self, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """`GoalStateMixin.simulate` for actions in [-1, 1], mapped onto the inner action box as `step` does."""
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape[-1:] == self._action_mid.shape:  # any other shape: the mixin names the right one
            actions = self._inner_action(actions)
        return super().simulate(state, actions)

    # ----------------------------------------------------------------- gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset the inner env, set the start and goal (from `options` or sampled), return obs, info."""
        super().reset(seed=seed)
        options = self._check_reset_options(options)
        self.env.reset(seed=seed)
        if options.get("start_state") is not None:
            self.set_state(options["start_state"])
        goal = options.get("goal_state")
        if goal is None:
            goal = self._sample_far_goal(self.get_state())
        self.set_goal(goal)
        return self._obs(self.env.unwrapped._get_obs()), self._reset_info()

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Step the inner env; reward is minus the goal distance."""
        self._require_goal()
        action = self._inner_action(check_actions(action, self.action_space.shape, self.env_id))
        inner_obs, env_reward, terminated, truncated, inner_info = self.env.step(action.astype(self.env.action_space.dtype))
        # gymnasium renders right after mj_step, when body positions are one physics step stale;
        # refresh them so pixels match the returned state (and render_state of it) exactly.
        mujoco.mj_forward(self.model, self.data)
        info = {**inner_info, **self._info(), "env_reward": float(env_reward)}
        return self._obs(inner_obs), -info["distance"], bool(terminated), bool(truncated), info

    def close(self) -> None:
        """Close the inner env (and its renderer)."""
        self.env.close()

    # ----------------------------------------------------------------- helpers
    def _inner_action(self, actions: np.ndarray) -> np.ndarray:
        """[-1, 1] actions mapped linearly onto the inner env's action box (out-of-range values stay out)."""
        return self._action_mid + self._action_half * actions

    def _obs(self, inner_obs: np.ndarray) -> dict[str, np.ndarray]:
        return {"pixels": self.render(), "proprio": np.asarray(inner_obs, dtype=np.float32)}
