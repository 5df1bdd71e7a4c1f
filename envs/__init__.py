"""worldjepa.envs: goal-conditioned pixel MuJoCo tasks (and any gymnasium MuJoCo env, wrapped) registered with gymnasium."""

from __future__ import annotations

import logging
import os

# Must happen before mujoco is imported: EGL renders headless, on GPUs and on Mesa llvmpipe.
os.environ.setdefault("MUJOCO_GL", "egl")
# PyOpenGL logs at INFO that its optional C accelerator is absent; under Hydra's INFO logging that
# line lands in every command's output although nothing is wrong.
logging.getLogger("OpenGL.acceleratesupport").setLevel(logging.WARNING)

from typing import Any  # noqa: E402

import gymnasium  # noqa: E402

from worldjepa.envs.base import MujocoGoalEnv  # noqa: E402
from worldjepa.envs.gym_factory import GYM_GOAL_ID, make_gym_goal_env  # noqa: E402
from worldjepa.envs.gym_wrapper import GymGoalWrapper  # noqa: E402
from worldjepa.envs.push import PushEnv  # noqa: E402
from worldjepa.envs.reacher import ReacherEnv  # noqa: E402
from worldjepa.envs.two_room import TwoRoomEnv  # noqa: E402

DEFAULT_MAX_EPISODE_STEPS = 100

#: short name -> (gymnasium id, env class)
TASKS: dict[str, tuple[str, type[MujocoGoalEnv]]] = {
    "two_room": (TwoRoomEnv.env_id, TwoRoomEnv),
    "reacher": (ReacherEnv.env_id, ReacherEnv),
    "push": (PushEnv.env_id, PushEnv),
}


def _register() -> None:
    entry_points = {env_id: f"{cls.__module__}:{cls.__name__}" for env_id, cls in TASKS.values()}
    # Any gymnasium MuJoCo env as a task: gymnasium.make(GYM_GOAL_ID, gym_id="Pusher-v5", ...).
    entry_points[GYM_GOAL_ID] = f"{make_gym_goal_env.__module__}:{make_gym_goal_env.__name__}"
    for env_id, entry_point in entry_points.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point, max_episode_steps=DEFAULT_MAX_EPISODE_STEPS)


def resolve_id(name_or_id: str) -> str:
    """Map a short name (`two_room`) or gymnasium id (`worldjepa/TwoRoom-v0`) to the id."""
    if name_or_id in TASKS:
        return TASKS[name_or_id][0]
    if name_or_id in {env_id for env_id, _ in TASKS.values()}:
        return name_or_id
    valid = sorted(TASKS) + sorted(env_id for env_id, _ in TASKS.values())
    raise ValueError(f"unknown env {name_or_id!r}: pass one of {', '.join(valid)}")


def make(name_or_id: str, **kwargs: Any) -> gymnasium.Env:
    """`gymnasium.make` for worldjepa tasks that also accepts the short names.

    Keyword arguments (`image_size`, `action_repeat`, `max_episode_steps`, task options) are
    passed to `gymnasium.make`. Unknown names raise ValueError listing the valid ones.
    """
    return gymnasium.make(resolve_id(name_or_id), **kwargs)


_register()

__all__ = [
    "DEFAULT_MAX_EPISODE_STEPS",
    "GYM_GOAL_ID",
    "TASKS",
    "GymGoalWrapper",
    "MujocoGoalEnv",
    "PushEnv",
    "ReacherEnv",
    "TwoRoomEnv",
    "make",
    "make_gym_goal_env",
    "resolve_id",
]
