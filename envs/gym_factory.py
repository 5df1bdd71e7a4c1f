"""`make_gym_goal_env`: any gymnasium MuJoCo id wrapped by `GymGoalWrapper`, from the keyword options an env YAML holds."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import gymnasium
import numpy as np

from worldjepa.envs.gym_wrapper import GymGoalWrapper

#: The gymnasium id this factory is registered under (`worldjepa.envs` registers it on import).
GYM_GOAL_ID = "worldjepa/GymGoal-v0"


def make_gym_goal_env(
    gym_id: str,
    *,
    image_size: int = 64,
    action_repeat: int | None = None,
    camera: Mapping[str, Any] | None = None,
    gym_kwargs: Mapping[str, Any] | None = None,
    render_mode: str | None = "rgb_array",
    **wrapper_options: Any,
) -> GymGoalWrapper:
    """Make gymnasium's `gym_id` (any MuJoCo env, `module:id` included) and wrap it as a worldjepa task.

    - `image_size`: square pixels (the inner env's `width` and `height`).
    - `action_repeat`: physics steps per env step (the inner env's `frame_skip`; None keeps its own).
    - `camera`: the inner env's free-camera settings (gymnasium's `default_camera_config`:
      `distance`, `elevation`, `azimuth`, `lookat`, ...); lists become arrays.
    - `gym_kwargs`: any other keyword arguments of the inner env.
    - `wrapper_options`: `GymGoalWrapper`'s (`success_threshold`, `qpos_indices`, `site`, `body`,
      `hide`, `goal_steps`, `goal_from`).

    The inner env has no time limit of its own: the id this factory is registered under sets the episode's.
    """
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode={render_mode!r} for {gym_id}: only 'rgb_array' (or None) is supported")
    if isinstance(image_size, bool) or int(image_size) != image_size or image_size < 8:
        raise ValueError(f"image_size={image_size} is too small for {gym_id}: pass 8 or more (64 is standard)")
    options = set(inspect.signature(GymGoalWrapper).parameters) - {"env"}
    unknown = sorted(set(wrapper_options) - options)
    if unknown:
        raise ValueError(
            f"{GYM_GOAL_ID} has no options {unknown}: valid options are gym_id, image_size, action_repeat, camera, "
            f"gym_kwargs and {sorted(options)} (other keyword arguments of {gym_id} go in gym_kwargs)"
        )
    kwargs = dict(gym_kwargs or {})
    if action_repeat is not None:
        kwargs["frame_skip"] = int(action_repeat)
    if camera is not None:
        # gymnasium copies array settings (lookat) into the camera element-wise and sets the others.
        kwargs["default_camera_config"] = {
            key: np.asarray(value, dtype=np.float64) if isinstance(value, (list, tuple)) else value
            for key, value in camera.items()
        }
    size = int(image_size)
    inner = gymnasium.make(gym_id, render_mode="rgb_array", width=size, height=size, max_episode_steps=-1, **kwargs)
    return GymGoalWrapper(inner, **wrapper_options)
