"""Offscreen MuJoCo rendering helpers: renderer creation with an actionable error on failure, hiding geoms."""

from __future__ import annotations

import os
from collections.abc import Sequence

import mujoco
import numpy as np

_GL_FIX = (
    "MuJoCo could not create an offscreen OpenGL context (MUJOCO_GL={backend!r}). "
    "For EGL (the default, works on CPU-only machines via Mesa llvmpipe) install the system "
    "libraries: `apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libopengl0 "
    "libglvnd0`. Alternatively install `libosmesa6` and run with `MUJOCO_GL=osmesa` set before "
    "Python starts. The variable only takes effect if set before mujoco is first imported: "
    "import worldjepa.envs before mujoco, or export MUJOCO_GL=egl in the shell. "
    "Original error: {error}"
)


def make_renderer(model: mujoco.MjModel, image_size: int) -> mujoco.Renderer:
    """Create a square `mujoco.Renderer` of `image_size` pixels for `model`.

    Enlarges the model's offscreen framebuffer when `image_size` exceeds it. Raises
    RuntimeError explaining which system packages to install when no GL context can be made.
    """
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, image_size)
    model.vis.global_.offheight = max(model.vis.global_.offheight, image_size)
    try:
        return mujoco.Renderer(model, height=image_size, width=image_size)
    except Exception as error:  # the GL backends raise assorted exception types
        backend = os.environ.get("MUJOCO_GL", "<unset>")
        raise RuntimeError(_GL_FIX.format(backend=backend, error=error)) from error


def hide_geoms(model: mujoco.MjModel, names: Sequence[str]) -> None:
    """Leave the named geoms, or every geom of the named bodies, out of the pixels (fully transparent).

    Physics is unchanged: only the colour is touched. A geom's material would override its colour,
    so hidden geoms drop theirs. Raises ValueError naming the model's geoms and bodies for an unknown name.
    """
    for name in [names] if isinstance(names, str) else names:
        geom = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)
        body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
        if geom < 0 and body < 0:
            geoms = [n for i in range(model.ngeom) if (n := mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, i))]
            bodies = [n for i in range(model.nbody) if (n := mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, i))]
            raise ValueError(f"hide: {name!r} names no geom or body of the model: geoms {geoms}, bodies {bodies}")
        selected = np.arange(model.ngeom) == geom if geom >= 0 else model.geom_bodyid == body
        model.geom_matid[selected] = -1
        model.geom_rgba[selected, 3] = 0.0
