"""Visual distractors: a per-episode floor colour and moving shapes, drawn into the pixels only, never the physics."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

KINDS = ("none", "color", "shapes", "both")
NUM_SHAPES = 3
# Floor colours keep every channel in this range, so the agent's saturated colours (channels near 0.1
# and 0.95) never vanish into the floor.
_FLOOR_RGB = (0.35, 0.9)
# Shape radii and speeds as fractions of the floor's half-width; the fastest shape crosses the floor in
# about 40 env steps, as fast as the agents move.
_RADIUS = (0.08, 0.16)
_SPEED = (0.02, 0.05)
# Shapes lie flat just above the floor (z = 0), under every body of every task, so they hide nothing.
_HEIGHT = 0.002


def check_kind(kind: str, env_name: str) -> str:
    """Return `kind` if it names a distractor setting, else raise ValueError listing them."""
    if kind not in KINDS:
        raise ValueError(f"distractors={kind!r} for {env_name}: pass one of {', '.join(KINDS)}")
    return kind


@dataclass(frozen=True)
class Distractors:
    """One draw of distractors: the floor colour (None keeps the asset's) and shapes moving at constant
    velocity, bouncing off the floor's edges. `draw(scene, step)` adds them to a frame's scene."""

    floor_rgba: np.ndarray | None  # (4,)
    start: np.ndarray  # (n, 2) shape centres at step 0
    velocity: np.ndarray  # (n, 2) metres per env step
    radius: np.ndarray  # (n,)
    square: np.ndarray  # (n,) bool: a square of half-width `radius` instead of a disc
    yaw: np.ndarray  # (n,)
    rgba: np.ndarray  # (n, 4)
    half_width: float  # the floor's: shapes bounce inside [-half_width, half_width]^2

    @classmethod
    def sample(cls, rng: np.random.Generator, kind: str, half_width: float) -> Distractors:
        """A random draw of `kind` (see KINDS) on a floor of `half_width` metres, from `rng` alone."""
        n = NUM_SHAPES if kind in ("shapes", "both") else 0
        floor = np.append(rng.uniform(*_FLOOR_RGB, size=3), 1.0) if kind in ("color", "both") else None
        radius = rng.uniform(*_RADIUS, size=n) * half_width
        angle = rng.uniform(0, 2 * np.pi, size=n)
        speed = rng.uniform(*_SPEED, size=n) * half_width
        return cls(
            floor_rgba=floor,
            start=rng.uniform(-1, 1, size=(n, 2)) * (half_width - radius[:, None]),
            velocity=np.stack([np.cos(angle), np.sin(angle)], axis=-1) * speed[:, None],
            radius=radius,
            square=rng.random(n) < 0.5,
            yaw=rng.uniform(0, np.pi, size=n),
            rgba=np.concatenate([rng.uniform(0, 1, size=(n, 3)), np.ones((n, 1))], axis=1),
            half_width=half_width,
        )

    def positions(self, step: int) -> np.ndarray:
        """Shape centres (n, 2) after `step` env steps: straight lines folded back at the floor's edges."""
        limit = (self.half_width - self.radius)[:, None]
        phase = np.mod(self.start + self.velocity * step + limit, 4 * limit)
        return np.where(phase <= 2 * limit, phase - limit, 3 * limit - phase)

    def draw(self, scene: mujoco.MjvScene, floor_geom: int, step: int) -> None:
        """Recolour the floor geom and append the shapes to `scene` (after `update_scene`, before `render`)."""
        if self.floor_rgba is not None:
            for i in range(scene.ngeom):
                geom = scene.geoms[i]
                if geom.objtype == mujoco.mjtObj.mjOBJ_GEOM and geom.objid == floor_geom:
                    geom.rgba[:] = self.floor_rgba
        for (x, y), radius, square, yaw, rgba in zip(self.positions(step), self.radius, self.square, self.yaw, self.rgba):
            if scene.ngeom >= scene.maxgeom:
                raise RuntimeError(f"the scene holds at most {scene.maxgeom} geoms: no room for the distractors")
            c, s = np.cos(yaw), np.sin(yaw)
            kind, size = ((mujoco.mjtGeom.mjGEOM_BOX, [radius, radius, _HEIGHT / 2]) if square
                          else (mujoco.mjtGeom.mjGEOM_CYLINDER, [radius, _HEIGHT / 2, 0.0]))
            mujoco.mjv_initGeom(scene.geoms[scene.ngeom], kind, np.array(size), np.array([x, y, _HEIGHT / 2]),
                                np.array([c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0]), rgba.astype(np.float32))
            scene.ngeom += 1
