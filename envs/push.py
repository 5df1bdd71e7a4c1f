"""`worldjepa/Push-v0`: a point pusher must push a square block to a goal position on a table."""

from __future__ import annotations

import numpy as np

from worldjepa.envs.base import MujocoGoalEnv

# Geometry mirrored from assets/push.xml (keep in sync).
TABLE_HALF = 0.5  # table interior is [-0.5, 0.5]^2
BLOCK_HALF = 0.05
PUSHER_RADIUS = 0.04
# Pusher centre to block centre distance that clears the block at any yaw (half-diagonal
# 0.071 + pusher radius 0.04 + 0.02 margin).
STANDOFF = 0.13
# Block centres for starts and push targets stay this far inside, so a pusher fits behind.
_BLOCK_LIMIT = 0.35
_GOAL_BLOCK_LIMIT = 0.38
_PUSHER_LIMIT = TABLE_HALF - PUSHER_RADIUS - 0.01
# Steering, in coordinates along / across the push line through the block centre: the pusher
# pushes while within _LINED_UP of the line and at least _PUSHING back (in contact is ~0.09);
# otherwise it orbits the block, turning at most _ORBIT_STEP rad per step toward the line.
_PUSHING = 0.05
_LINED_UP = 0.03
_ORBIT_STEP = 0.6
_STEER_GAIN = 8.0
_WAYPOINT_TOLERANCE = 0.03
_MAX_TARGET_TRIES = 1000
# Waypoint encoding: [mode, x, y].
MOVE_PUSHER, PUSH_BLOCK = 0.0, 1.0


class PushEnv(MujocoGoalEnv):
    """Push a 0.1 m square block (blue) with a round pusher (red, radius 0.04 m) on a 1x1 m table.

    State ``[block x, block y, block yaw, pusher x, pusher y]`` then their velocities (10 numbers);
    proprio is the pusher's ``[x, y, vx, vy]``. Actions are x/y pusher forces (gear 5, damping 10,
    physics step 0.02 s, default ``action_repeat=5``: a free pusher moves about 0.05 m per step,
    a pushed block about half that).

    Goals displace the block by ``goal_distance_range`` (default 0.1-0.3 m) in a random
    direction, keeping its yaw; the goal pusher sits just behind the block's goal position,
    where a straight push would leave it. Success: the block centre is within
    ``success_threshold = 0.08`` m of the goal block position (yaw and pusher are ignored).

    Exploration waypoints are ``[mode, x, y]``: with probability ``push_prob`` (default 0.8)
    mode 1, "push the block to (x, y)" (0.1-0.3 m away); ``steer`` then walks round the block,
    lines up behind it and pushes. Otherwise mode 0, "move the pusher to (x, y)".
    """

    env_id = "worldjepa/Push-v0"
    asset = "push.xml"
    default_action_repeat = 5
    success_threshold = 0.08
    grid_axes = ((0, -0.4, 0.4), (1, -0.4, 0.4))  # block x, y (the pusher stays at the goal's)
    proprio_dim = 4
    floor_geom = "table"

    def __init__(
        self,
        image_size: int = 64,
        action_repeat: int | None = None,
        goal_distance_range: tuple[float, float] = (0.1, 0.3),
        push_prob: float = 0.8,
        render_mode: str | None = "rgb_array",
        distractors: str = "none",
    ) -> None:
        low, high = (float(v) for v in goal_distance_range)
        if not 0.0 < low <= high <= 2 * _GOAL_BLOCK_LIMIT:
            raise ValueError(
                f"goal_distance_range={goal_distance_range} for {self.env_id}: pass (low, high) "
                f"with 0 < low <= high <= {2 * _GOAL_BLOCK_LIMIT}"
            )
        if not 0.0 <= push_prob <= 1.0:
            raise ValueError(f"push_prob={push_prob} for {self.env_id}: pass a probability in [0, 1]")
        super().__init__(
            image_size=image_size, action_repeat=action_repeat, render_mode=render_mode, distractors=distractors
        )
        self.goal_distance_range = (low, high)
        self.push_prob = float(push_prob)

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        block = rng.uniform(-_BLOCK_LIMIT, _BLOCK_LIMIT, 2)
        pusher = rng.uniform(-_PUSHER_LIMIT, _PUSHER_LIMIT, 2)
        while np.linalg.norm(pusher - block) < STANDOFF:
            pusher = rng.uniform(-_PUSHER_LIMIT, _PUSHER_LIMIT, 2)
        return self._state(block, rng.uniform(-np.pi, np.pi), pusher)

    def sample_goal(self, rng: np.random.Generator, start_state: np.ndarray) -> np.ndarray:
        block = start_state[:2]
        target, direction = self._push_target(rng, block, self.goal_distance_range, _GOAL_BLOCK_LIMIT)
        return self._state(target, start_state[2], _pusher_behind(target, direction))

    def task_distance(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        return np.linalg.norm(np.asarray(states)[..., :2] - np.asarray(goal_state)[:2], axis=-1)

    def proprio(self) -> np.ndarray:
        return np.concatenate([self.data.qpos[3:5], self.data.qvel[3:5]]).astype(np.float32)

    def sample_waypoint(self, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.push_prob:
            target, _ = self._push_target(rng, self.data.qpos[:2], self.goal_distance_range, _BLOCK_LIMIT)
            return np.array([PUSH_BLOCK, *target])
        return np.array([MOVE_PUSHER, *rng.uniform(-_PUSHER_LIMIT, _PUSHER_LIMIT, 2)])

    def steer(self, waypoint: np.ndarray) -> np.ndarray:
        waypoint = np.asarray(waypoint, dtype=np.float64)
        pusher = self.data.qpos[3:5].copy()
        target = waypoint[1:] if waypoint[0] == MOVE_PUSHER else self._push_route(waypoint[1:])
        target = np.clip(target, -_PUSHER_LIMIT, _PUSHER_LIMIT)
        return np.clip(_STEER_GAIN * (target - pusher), -1.0, 1.0).astype(np.float32)

    def waypoint_reached(self, waypoint: np.ndarray) -> bool:
        position = self.data.qpos[3:5] if waypoint[0] == MOVE_PUSHER else self.data.qpos[:2]
        return bool(np.linalg.norm(position - waypoint[1:]) < _WAYPOINT_TOLERANCE)

    def _state(self, block: np.ndarray, yaw: float, pusher: np.ndarray) -> np.ndarray:
        return np.concatenate([block, [yaw], pusher, np.zeros(5)])

    @staticmethod
    def _push_target(
        rng: np.random.Generator, block: np.ndarray, distance_range: tuple[float, float], limit: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """A block target `distance_range` away from `block` inside `limit`, and the unit direction.

        If random directions keep leaving the limit (block jammed in a corner and a narrow
        range), fall back to a target toward the table centre.
        """
        for _ in range(_MAX_TARGET_TRIES):
            angle = rng.uniform(-np.pi, np.pi)
            direction = np.array([np.cos(angle), np.sin(angle)])
            target = block + rng.uniform(*distance_range) * direction
            if np.all(np.abs(target) <= limit):
                return target, direction
        inward = -block / max(np.linalg.norm(block), 1e-9)
        target = np.clip(block + distance_range[0] * inward, -limit, limit)
        offset = target - block
        return target, offset / max(np.linalg.norm(offset), 1e-9)

    def _push_route(self, block_target: np.ndarray) -> np.ndarray:
        """Where the pusher should head to push the block toward `block_target`."""
        block, pusher = self.data.qpos[:2], self.data.qpos[3:5]
        offset = block_target - block
        if np.linalg.norm(offset) < 1e-9:
            return pusher
        along_dir = offset / np.linalg.norm(offset)
        relative = pusher - block
        along = relative @ along_dir
        lateral = relative @ np.array([-along_dir[1], along_dir[0]])
        if along < -_PUSHING and abs(lateral) < _LINED_UP:  # push until the block sits on target
            return block_target - (BLOCK_HALF + PUSHER_RADIUS) * along_dir
        # Otherwise orbit the block at a clear radius, turning toward the spot behind it; the
        # circle stays within STANDOFF of the block, so it fits between block and wall.
        angle = np.arctan2(relative[1], relative[0])
        turn = np.clip(_wrap(np.arctan2(-along_dir[1], -along_dir[0]) - angle), -_ORBIT_STEP, _ORBIT_STEP)
        return block + STANDOFF * np.array([np.cos(angle + turn), np.sin(angle + turn)])


def _pusher_behind(block: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """A pusher position STANDOFF from `block`: behind it w.r.t. `direction` if that fits on the
    table, else the nearest such position around the block that does."""
    behind = np.arctan2(-direction[1], -direction[0])
    for offset in np.pi / 8 * np.array([0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8]):
        pusher = block + STANDOFF * np.array([np.cos(behind + offset), np.sin(behind + offset)])
        if np.all(np.abs(pusher) <= _PUSHER_LIMIT):
            return pusher
    raise ValueError(f"block position {block} leaves no room for the pusher: keep it within {_GOAL_BLOCK_LIMIT}")


def _wrap(angle: float) -> float:
    """Wrap an angle into [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi
