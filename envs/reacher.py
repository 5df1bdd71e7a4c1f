"""`worldjepa/Reacher-v0`: a 2-link planar arm that must reach a goal arm configuration."""

from __future__ import annotations

import numpy as np

from worldjepa.envs.base import MujocoGoalEnv

# Geometry mirrored from assets/reacher.xml (keep in sync).
LINK_LENGTHS = (0.12, 0.12)
# Sampled elbow angles stay inside the joint1 limit (+-2.8 rad) so starts never press on it.
_ELBOW_SAMPLE_RANGE = 2.6
# PD gains on joint-angle error (rad) and joint velocity (rad/s); outputs are clipped to [-1, 1].
_STEER_KP = 3.0
_STEER_KD = 0.3
_WAYPOINT_TOLERANCE = 0.1  # rad, norm over both joints


def fingertip(qpos: np.ndarray) -> np.ndarray:
    """Fingertip xy of joint angles `[..., 2]` (vectorised forward kinematics)."""
    q0 = np.asarray(qpos)[..., 0]
    q01 = q0 + np.asarray(qpos)[..., 1]
    l0, l1 = LINK_LENGTHS
    return np.stack([l0 * np.cos(q0) + l1 * np.cos(q01), l0 * np.sin(q0) + l1 * np.sin(q01)], axis=-1)


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Wrap angles into [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


class ReacherEnv(MujocoGoalEnv):
    """Move a 2-link arm (two 0.12 m links, shoulder unlimited, elbow limited to +-2.8 rad).

    State ``[q0, q1, dq0, dq1]``; proprio ``[cos q0, sin q0, cos q1, sin q1, dq0, dq1]``. Actions
    are joint torques (gear 0.4, damping 0.1, physics step 0.01 s, default ``action_repeat=4``:
    one env step is 0.04 s and a half-turn of the shoulder takes about 15-20 steps).

    The goal is a random arm configuration (zero velocity); the goal image shows the arm there.
    Success: the fingertip is within ``success_threshold = 0.05`` m of the goal fingertip
    (the arm reaches 0.24 m). Shoulder angles equal modulo 2*pi count as the same pose.

    Exploration: waypoints are random joint configurations; ``steer`` is a PD controller on the
    (shoulder-wrapped) joint error, clipped to [-1, 1].
    """

    env_id = "worldjepa/Reacher-v0"
    asset = "reacher.xml"
    default_action_repeat = 4
    success_threshold = 0.05
    grid_axes = ((0, -np.pi, np.pi), (1, -np.pi, np.pi))  # shoulder and elbow angles
    proprio_dim = 6

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        return np.concatenate([self.sample_waypoint(rng), np.zeros(2)])

    def task_distance(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        return np.linalg.norm(fingertip(np.asarray(states)[..., :2]) - fingertip(np.asarray(goal_state)[:2]), axis=-1)

    def proprio(self) -> np.ndarray:
        q, dq = self.data.qpos, self.data.qvel
        return np.concatenate([np.cos(q[:1]), np.sin(q[:1]), np.cos(q[1:]), np.sin(q[1:]), dq]).astype(np.float32)

    def sample_waypoint(self, rng: np.random.Generator) -> np.ndarray:
        """Random joint configuration `(q0, q1)` within the sampling ranges."""
        return np.array([rng.uniform(-np.pi, np.pi), rng.uniform(-_ELBOW_SAMPLE_RANGE, _ELBOW_SAMPLE_RANGE)])

    def steer(self, waypoint: np.ndarray) -> np.ndarray:
        action = _STEER_KP * self._joint_error(waypoint) - _STEER_KD * self.data.qvel
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def waypoint_reached(self, waypoint: np.ndarray) -> bool:
        return bool(np.linalg.norm(self._joint_error(waypoint)) < _WAYPOINT_TOLERANCE)

    def _joint_error(self, waypoint: np.ndarray) -> np.ndarray:
        error = np.asarray(waypoint, dtype=np.float64) - self.data.qpos
        # The shoulder turns freely, so take the short way round; the elbow is limited, so not.
        error[0] = _wrap(error[0])
        return error
