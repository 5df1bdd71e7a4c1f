"""`MujocoGoalEnv`: the goal-conditioned, pixel-observation MuJoCo env base shared by all tasks."""

from __future__ import annotations

import os
from importlib import resources
from typing import Any, ClassVar

import gymnasium
import mujoco
import numpy as np
from gymnasium import spaces

from worldjepa.envs.distractors import Distractors, check_kind
from worldjepa.envs.goal_api import GoalStateMixin
from worldjepa.envs.rendering import make_renderer
from worldjepa.envs.validation import check_actions


class MujocoGoalEnv(GoalStateMixin, gymnasium.Env):
    """Goal-reaching MuJoCo task seen through a fixed top-down camera.

    Observations are ``{"pixels": uint8 (S, S, 3), "proprio": float32 (P,)}``; actions lie in
    ``[-1, 1]^A`` and map one-to-one onto the model's actuators (``ctrlrange`` -1..1; MuJoCo
    clamps values outside), each held for ``action_repeat`` physics steps. The state is the flat
    float64 vector ``[qpos, qvel]``; warm-starting is disabled in every asset, so this vector
    determines the future exactly.

    ``reset`` samples a start and a goal (or takes ``options["start_state"]`` /
    ``options["goal_state"]``) and returns ``info["goal_pixels"]``: the scene rendered in the goal
    state (no goal marker is drawn, so the goal image looks exactly like an observation).
    ``reward = -distance``; ``terminated`` is always False; truncation comes from TimeLimit.

    ``distractors`` (``none``, ``color``, ``shapes`` or ``both``; see envs/distractors.py) draws a
    random floor colour and/or shapes moving on the floor into every frame, new ones each episode
    and another independent draw for the goal image. They touch the pixels only: the same seed and
    actions give the same states, starts and goals for every setting, since the draws come from a
    stream spawned off the env's generator, which leaves that generator's own draws unchanged.

    Subclasses provide the asset and the task: ``sample_state``, ``sample_goal``,
    ``task_distance``, ``proprio``, ``sample_waypoint``, ``steer`` and ``waypoint_reached``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    env_id: ClassVar[str]
    asset: ClassVar[str]  # XML file name under worldjepa/envs/assets
    default_action_repeat: ClassVar[int]
    success_threshold: ClassVar[float]
    proprio_dim: ClassVar[int]
    camera: ClassVar[str] = "top"
    floor_geom: ClassVar[str] = "floor"  # the plane that distractors recolour and on which their shapes move
    # Two (state dim, low, high) axes spanning where the agent can be: diagnostics (cost landscapes)
    # sweep a grid over them.
    grid_axes: ClassVar[tuple[tuple[int, float, float], tuple[int, float, float]]]

    def __init__(
        self,
        image_size: int = 64,
        action_repeat: int | None = None,
        render_mode: str | None = "rgb_array",
        distractors: str = "none",
    ) -> None:
        if int(image_size) < 8:
            raise ValueError(f"image_size={image_size} is too small for {self.env_id}: pass 8 or more (64 is standard)")
        action_repeat = self.default_action_repeat if action_repeat is None else int(action_repeat)
        if action_repeat < 1:
            raise ValueError(f"action_repeat={action_repeat} for {self.env_id}: pass a positive integer")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r} for {self.env_id}: only 'rgb_array' (or None) is supported")
        self.image_size = int(image_size)
        self.action_repeat = action_repeat
        self.render_mode = render_mode
        self.model = mujoco.MjModel.from_xml_path(_asset_path(self.asset))
        self.data = mujoco.MjData(self.model)
        mujoco.mj_forward(self.model, self.data)  # frames rendered before a forward pass can be black
        self.metadata = {**self.metadata, "render_fps": round(1.0 / (self.model.opt.timestep * action_repeat))}
        self.state_dim = self.model.nq + self.model.nv
        self.action_dim = self.model.nu
        self.observation_space = spaces.Dict(
            {
                "pixels": spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8),
                "proprio": spaces.Box(-np.inf, np.inf, (self.proprio_dim,), np.float32),
            }
        )
        self.action_space = spaces.Box(-1.0, 1.0, (self.action_dim,), np.float32)
        self.goal_state: np.ndarray | None = None
        self.goal_pixels: np.ndarray | None = None
        self.distractors = check_kind(distractors, self.env_id)
        self._floor = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, self.floor_geom)
        self._distractor_rng: np.random.Generator | None = None
        self._scene_distractors: Distractors | None = None  # what `render` draws: this episode's
        self._goal_distractors: Distractors | None = None
        self._steps = 0  # env steps since reset: where the distractor shapes are
        # Created lazily so that constructing or pickling an env (e.g. for subprocess workers)
        # needs no GL context and no scratch simulation memory.
        self._renderer: mujoco.Renderer | None = None
        self._rollout_data: mujoco.MjData | None = None

    # ----------------------------------------------------------------- task interface
    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        """Return a valid random state (no interpenetration, zero velocity)."""
        raise NotImplementedError

    def sample_goal(self, rng: np.random.Generator, start_state: np.ndarray) -> np.ndarray:
        """Return a goal state for an episode starting at `start_state` (default: any state)."""
        return self.sample_state(rng)

    def proprio(self) -> np.ndarray:
        """Proprioceptive observation of the current state, float32 (proprio_dim,)."""
        raise NotImplementedError

    def sample_waypoint(self, rng: np.random.Generator) -> np.ndarray:
        """Return a waypoint for the scripted exploration policy (task-specific encoding)."""
        raise NotImplementedError

    def steer(self, waypoint: np.ndarray) -> np.ndarray:
        """Return the float32 action that moves the current state toward `waypoint`."""
        raise NotImplementedError

    def waypoint_reached(self, waypoint: np.ndarray) -> bool:
        """Whether the current state has reached `waypoint` (time to sample a new one)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- state access
    def set_state(self, state: np.ndarray) -> None:
        """Restore `state` exactly (as returned by `get_state`) and recompute derived quantities."""
        state = self._check_state(state, "state")
        nq = self.model.nq
        self.data.qpos[:] = state[:nq]
        self.data.qvel[:] = state[nq:]
        mujoco.mj_forward(self.model, self.data)

    def render(self) -> np.ndarray:
        """Current pixels from the top-down camera, uint8 (S, S, 3)."""
        if self._renderer is None:
            self._renderer = make_renderer(self.model, self.image_size)
        self._renderer.update_scene(self.data, camera=self.camera)
        if self._scene_distractors is not None:
            self._scene_distractors.draw(self._renderer.scene, self._floor, self._steps)
        return self._renderer.render()

    def render_goal(self, state: np.ndarray) -> np.ndarray:
        """The goal image of `state`: as `render_state`, with the goal's own distractors (frozen at step 0)."""
        episode, steps = self._scene_distractors, self._steps
        self._scene_distractors, self._steps = self._goal_distractors, 0
        try:
            return self.render_state(state)
        finally:
            self._scene_distractors, self._steps = episode, steps

    # ----------------------------------------------------------------- gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Sample (or take from `options`) a start and a goal; return obs and info with goal pixels."""
        super().reset(seed=seed)
        options = self._check_reset_options(options)
        start = options.get("start_state")
        start = self.sample_state(self.np_random) if start is None else self._check_state(start, "start_state")
        goal = options.get("goal_state")
        goal = self._sample_far_goal(start) if goal is None else goal
        self._draw_distractors(new_stream=seed is not None)
        self.set_state(start)
        self.set_goal(goal)
        return self._obs(), self._reset_info()

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply `action` for `action_repeat` physics steps; reward is minus the goal distance."""
        self._require_goal()
        self.data.ctrl[:] = check_actions(action, (self.action_dim,), self.env_id)
        mujoco.mj_step(self.model, self.data, nstep=self.action_repeat)
        # mj_step leaves positions of bodies one physics step stale; refresh them so the
        # rendered frame matches the returned state exactly (as render_state would show it).
        mujoco.mj_forward(self.model, self.data)
        self._steps += 1
        info = self._info()
        return self._obs(), -info["distance"], False, False, info

    def close(self) -> None:
        """Free the renderer's GL resources."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __getstate__(self) -> dict[str, Any]:
        # GL contexts cannot be pickled; the renderer is recreated on first use.
        state = self.__dict__.copy()
        state["_renderer"] = None
        return state

    # ----------------------------------------------------------------- helpers
    def _draw_distractors(self, new_stream: bool) -> None:
        """Draw this episode's and its goal's distractors; restart their stream when the env was reseeded."""
        self._steps = 0
        if self.distractors == "none":
            return
        if new_stream or self._distractor_rng is None:
            self._distractor_rng = self.np_random.spawn(1)[0]
        if self._floor < 0:
            raise ValueError(f"{self.env_id} has no geom {self.floor_geom!r} to draw distractors on: set floor_geom")
        half_width = float(self.model.geom_size[self._floor][:2].min())
        self._scene_distractors = Distractors.sample(self._distractor_rng, self.distractors, half_width)
        self._goal_distractors = Distractors.sample(self._distractor_rng, self.distractors, half_width)

    def _obs(self) -> dict[str, np.ndarray]:
        return {"pixels": self.render(), "proprio": self.proprio()}


def _asset_path(name: str) -> str:
    """Filesystem path of an XML asset shipped in worldjepa/envs/assets."""
    return os.fspath(resources.files("worldjepa.envs") / "assets" / name)
