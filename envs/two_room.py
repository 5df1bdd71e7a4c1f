"""`worldjepa/TwoRoom-v0`: a point mass navigating between two rooms joined by one door."""

from __future__ import annotations

import numpy as np

from worldjepa.envs.base import MujocoGoalEnv

# Geometry mirrored from assets/two_room.xml (keep in sync).
ARENA_HALF = 1.0  # arena interior is [-1, 1]^2
CENTRE_WALL_HALF = 0.04  # centre wall occupies |x| < 0.04 outside the door
DOOR_HALF = 0.2  # the door spans |y| < 0.2
BALL_RADIUS = 0.08
# Sampled positions keep this clearance from every wall so starts never touch one.
_CLEARANCE = 0.02
# Within this |y| of the door centre the ball passes the door without touching its jambs
# (door half-width 0.2 minus ball radius 0.08 leaves 0.12).
_DOOR_ALIGNED = 0.08
# Routes through the door aim this far beyond the centre line, on the door axis.
_DOOR_WAYPOINT_X = 0.3
_STEER_GAIN = 5.0  # P-controller gain: saturates when the target is > 0.2 m away
_WAYPOINT_TOLERANCE = 0.05


class TwoRoomEnv(MujocoGoalEnv):
    """Navigate a ball (radius 0.08 m) in a 2x2 m arena split by a wall with one 0.4 m door.

    State ``[x, y, vx, vy]``; proprio is the same four numbers. Actions are x/y forces
    (gear 2.5, joint damping 5, physics step 0.02 s, default ``action_repeat=5``: one env step
    is 0.1 s and a free ball tops out at about 0.05 m per step).

    Success: the ball centre is within ``success_threshold = 0.15`` m of the goal position.
    Goals: with probability ``other_room_prob`` (default 0.5) the goal lies in the other room
    from the start, so a straight line to it hits the wall; starts and goals have zero velocity.

    Exploration: ``sample_waypoint`` draws a position, in the other room with probability
    ``door_route_prob`` (default 0.5); ``steer`` is a P-controller clipped to [-1, 1] that first
    lines up with the door and crosses it when the waypoint lies in the other room.
    """

    env_id = "worldjepa/TwoRoom-v0"
    asset = "two_room.xml"
    default_action_repeat = 5
    success_threshold = 0.15
    grid_axes = ((0, -0.86, 0.86), (1, -0.86, 0.86))  # ball x, y inside the arena
    proprio_dim = 4

    def __init__(
        self,
        image_size: int = 64,
        action_repeat: int | None = None,
        other_room_prob: float = 0.5,
        door_route_prob: float = 0.5,
        render_mode: str | None = "rgb_array",
        distractors: str = "none",
    ) -> None:
        for name, value in (("other_room_prob", other_room_prob), ("door_route_prob", door_route_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value} for {self.env_id}: pass a probability in [0, 1]")
        super().__init__(
            image_size=image_size, action_repeat=action_repeat, render_mode=render_mode, distractors=distractors
        )
        self.other_room_prob = float(other_room_prob)
        self.door_route_prob = float(door_route_prob)

    @staticmethod
    def room_of(xy: np.ndarray) -> np.ndarray:
        """Room index of positions `[..., 2]`: 0 for the west room (x < 0), 1 for the east room."""
        return (np.asarray(xy)[..., 0] >= 0).astype(int)

    def sample_position(self, rng: np.random.Generator, room: int) -> np.ndarray:
        """Uniform ball position inside `room` (0 west, 1 east) that touches no wall."""
        low = CENTRE_WALL_HALF + BALL_RADIUS + _CLEARANCE
        high = ARENA_HALF - BALL_RADIUS - _CLEARANCE
        x = rng.uniform(low, high) * (1 if room == 1 else -1)
        return np.array([x, rng.uniform(-high, high)])

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        position = self.sample_position(rng, int(rng.integers(2)))
        return np.concatenate([position, np.zeros(2)])

    def sample_goal(self, rng: np.random.Generator, start_state: np.ndarray) -> np.ndarray:
        room = self._pick_room(rng, start_state[:2], self.other_room_prob)
        return np.concatenate([self.sample_position(rng, room), np.zeros(2)])

    def task_distance(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        return np.linalg.norm(np.asarray(states)[..., :2] - np.asarray(goal_state)[:2], axis=-1)

    def proprio(self) -> np.ndarray:
        return self.get_state().astype(np.float32)

    def sample_waypoint(self, rng: np.random.Generator) -> np.ndarray:
        """A target position `(x, y)`; in the other room with probability `door_route_prob`."""
        return self.sample_position(rng, self._pick_room(rng, self.data.qpos, self.door_route_prob))

    def steer(self, waypoint: np.ndarray) -> np.ndarray:
        position = self.data.qpos.copy()
        target = self._route_target(position, np.asarray(waypoint, dtype=np.float64))
        return np.clip(_STEER_GAIN * (target - position), -1.0, 1.0).astype(np.float32)

    def waypoint_reached(self, waypoint: np.ndarray) -> bool:
        return bool(np.linalg.norm(self.data.qpos - waypoint) < _WAYPOINT_TOLERANCE)

    def _pick_room(self, rng: np.random.Generator, xy: np.ndarray, other_prob: float) -> int:
        room = int(self.room_of(xy))
        return 1 - room if rng.random() < other_prob else room

    def _route_target(self, position: np.ndarray, waypoint: np.ndarray) -> np.ndarray:
        """Next point to head for: the waypoint itself, or the door when it is in the other room."""
        if self.room_of(position) == self.room_of(waypoint):
            return waypoint
        side = 1.0 if self.room_of(position) == 1 else -1.0
        if abs(position[1]) < _DOOR_ALIGNED:  # lined up with the door: cross it
            return np.array([-side * _DOOR_WAYPOINT_X, 0.0])
        return np.array([side * _DOOR_WAYPOINT_X, 0.0])  # line up in front of the door first
