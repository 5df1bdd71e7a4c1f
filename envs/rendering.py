"""Offscreen MuJoCo rendering helpers: renderer creation with an actionable error on failure."""

from __future__ import annotations

import os

import mujoco

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
