"""Tests for the envs' visual distractors: they change the pixels (and the goal image's), never the dynamics."""

from __future__ import annotations

import numpy as np
import pytest

import worldjepa.envs as envs
from worldjepa.envs.distractors import KINDS, Distractors

STEPS = 12


def episode(task: str, distractors: str, seed: int = 3) -> dict[str, np.ndarray]:
    """One seeded episode of fixed random actions: its frames, states, goal state and goal image."""
    env = envs.make(task, image_size=32, distractors=distractors)
    try:
        obs, info = env.reset(seed=seed)
        frames, states = [obs["pixels"]], [info["state"]]
        for action in np.random.default_rng(0).uniform(-1, 1, (STEPS, env.action_space.shape[0])):
            obs, _, _, _, info = env.step(action)
            frames.append(obs["pixels"])
            states.append(info["state"])
        return {"frames": np.stack(frames), "states": np.stack(states), "goal_state": env.unwrapped.goal_state,
                "goal": env.unwrapped.goal_pixels.copy()}
    finally:
        env.close()


@pytest.mark.parametrize("task", ["two_room", "reacher"])
def test_distractors_change_pixels_and_goal_image_but_not_states(task):
    clean = episode(task, "none")
    for kind in ("color", "shapes", "both"):
        noisy = episode(task, kind)
        np.testing.assert_array_equal(noisy["states"], clean["states"])  # same start, goal and dynamics
        np.testing.assert_array_equal(noisy["goal_state"], clean["goal_state"])
        assert (noisy["frames"] != clean["frames"]).any(axis=-1).mean() > 0.01, kind
        assert (noisy["goal"] != clean["goal"]).any(axis=-1).mean() > 0.01, kind
        # The goal's distractors are drawn apart from the episode's: its image is not the start frame's
        # scene with the agent moved, so it differs from the frame rendered in the goal state.
        env = envs.make(task, image_size=32, distractors=kind).unwrapped
        env.reset(seed=3)
        assert not np.array_equal(env.render_state(clean["goal_state"]), noisy["goal"]), kind
        env.close()


def test_shapes_move_while_the_floor_colour_stays_and_seeds_reproduce():
    shapes = episode("reacher", "shapes")
    clean = episode("reacher", "none")
    moved = (shapes["frames"][0] != shapes["frames"][-1]).any(axis=-1) & (clean["frames"][0] == clean["frames"][-1]).all(-1)
    assert moved.mean() > 0.005  # pixels the arm never touched changed: the shapes moved
    colour = episode("two_room", "color")
    corner = colour["frames"][:, 4, 4]  # a floor pixel the ball never reaches
    assert (corner == corner[0]).all() and (corner[0] != clean["frames"][0, 4, 4]).any()
    np.testing.assert_array_equal(episode("two_room", "both")["frames"], episode("two_room", "both")["frames"])
    assert not np.array_equal(episode("two_room", "both", seed=4)["goal"], episode("two_room", "both", seed=3)["goal"])


def test_shape_paths_stay_on_the_floor_and_bounce():
    draw = Distractors.sample(np.random.default_rng(0), "shapes", half_width=1.0)
    path = np.stack([draw.positions(t) for t in range(400)])  # [T, n, 2]
    limit = (1.0 - draw.radius)[None, :, None]
    assert np.all(np.abs(path) <= limit + 1e-9)
    step = np.linalg.norm(np.diff(path, axis=0), axis=-1)
    np.testing.assert_allclose(step.max(axis=0), np.linalg.norm(draw.velocity, axis=-1), rtol=1e-6)  # constant speed
    assert (np.sign(np.diff(path[:, :, 0], axis=0)) > 0).any() and (np.sign(np.diff(path[:, :, 0], axis=0)) < 0).any()


def test_unknown_distractors_name_the_choices():
    with pytest.raises(ValueError, match="distractors='noise'.*" + ", ".join(KINDS)):
        envs.make("two_room", distractors="noise")
