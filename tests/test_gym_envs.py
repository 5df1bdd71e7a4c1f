"""Tests for wrapped gymnasium envs: the ready configs (gym_pusher, gym_swimmer), goals, distances, hiding, ids, actions."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

from worldjepa.data.collector import make_env, resolve_env_config
from worldjepa.envs import GYM_GOAL_ID, GymGoalWrapper, make_gym_goal_env

SIZE = 32


def config_env(name: str, **overrides) -> gymnasium.Env:
    cfg = resolve_env_config(name)
    return make_env(cfg["id"], {**cfg["kwargs"], "image_size": SIZE, **overrides})


def red_pixels(pixels: np.ndarray) -> int:
    """Pixels of Pusher's red goal disc (rgba 1 0 0, lit: about 255 62 62); the rest of the scene is grey or white."""
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return int(np.sum(r - np.maximum(g, b) > 100))


@pytest.mark.parametrize("name", ["gym_pusher", "gym_swimmer"])
def test_config_goals_are_two_thresholds_away_seeded_and_drawn(name):
    env = config_env(name)
    u = env.unwrapped
    assert u.env_id == GYM_GOAL_ID and env.spec.max_episode_steps == 100 and u.image_size == SIZE
    goals, distances = [], []
    for seed in range(8):
        obs, info = env.reset(seed=seed)
        goals.append(info["goal_state"])
        distances.append(info["distance"])
        assert not info["success"] and info["goal_pixels"].shape == (SIZE, SIZE, 3)
        np.testing.assert_array_equal(info["goal_pixels"], u.render_state(info["goal_state"]))
        np.testing.assert_array_equal(obs["pixels"], u.render_state(info["state"]))
    # No task starts solved (the built-in tasks' rule); Swimmer-v5's own resets lie within 0.1 rad of one pose.
    assert min(distances) >= 2 * u.success_threshold
    assert len({g.tobytes() for g in goals}) == 8
    _, again = env.reset(seed=3)
    np.testing.assert_array_equal(again["goal_state"], goals[3])


def test_pusher_goal_moves_the_cylinder_and_its_own_goal_disc_is_hidden():
    env = config_env("gym_pusher")
    u = env.unwrapped
    obs, info = env.reset(seed=0)
    cylinder = u.model.body("object").id
    start_xy = u.data.xpos[cylinder, :2].copy()
    u.set_state(info["goal_state"])
    goal_xy = u.data.xpos[cylinder, :2].copy()
    assert np.linalg.norm(goal_xy - start_xy) == pytest.approx(info["distance"])
    assert red_pixels(obs["pixels"]) == 0 and red_pixels(info["goal_pixels"]) == 0
    shown = config_env("gym_pusher", hide=[])
    obs, _ = shown.reset(seed=0)
    assert red_pixels(obs["pixels"]) > 0


def test_rollouts_from_the_start_never_move_pushers_cylinder():
    # Why gym_pusher takes goal_from=reset: exploration from the start leaves the cylinder where it is.
    env = config_env("gym_pusher", goal_from="start")
    advice = r"no goal at least 0\.1 from the start in 1000 tries: raise goal_steps, pass goal_from='reset'"
    with pytest.raises(ValueError, match=advice):
        env.reset(seed=0)


def test_actions_in_unit_box_map_onto_the_inner_box_for_step_and_simulate():
    env = config_env("gym_pusher")
    u = env.unwrapped
    assert env.action_space == gymnasium.spaces.Box(-1, 1, (7,), np.float32)
    assert np.all(u.env.action_space.high == 2.0)
    env.reset(seed=0)
    env.step(np.full(7, 0.5))
    np.testing.assert_array_equal(u.data.ctrl, np.full(7, 1.0))
    swimmer = config_env("gym_swimmer").unwrapped  # no contacts: simulate is exact
    swimmer.reset(seed=1)
    start = swimmer.get_state()
    actions = np.random.default_rng(0).uniform(-1, 1, (1, 6, 2))
    predicted = swimmer.simulate(start, actions)
    for action in actions[0]:
        _, _, _, _, info = swimmer.step(action)
    np.testing.assert_allclose(info["state"], predicted[0, -1], atol=1e-8)


def test_site_body_and_qpos_distances():
    inner = gymnasium.make("Pusher-v5", render_mode="rgb_array", width=SIZE, height=SIZE)
    body = GymGoalWrapper(inner, body="tips_arm")
    body.reset(seed=0)
    a, b = body.get_state(), body.goal_state
    tips = body.model.body("tips_arm").id
    body.set_state(a)
    tip_a = body.data.xpos[tips].copy()
    body.set_state(b)
    np.testing.assert_allclose(body.task_distance(np.stack([a, b]), b), [np.linalg.norm(tip_a - body.data.xpos[tips]), 0.0])
    qpos = GymGoalWrapper(gymnasium.make("Pusher-v5", render_mode="rgb_array", width=SIZE, height=SIZE), qpos_indices=[7, 8])
    assert qpos.task_distance(a, b) == pytest.approx(np.linalg.norm(a[7:9] - b[7:9]))
    with pytest.raises(ValueError, match=r"site='fingertip' is not in the model: its sites are \[\]"):
        GymGoalWrapper(gymnasium.make("Pusher-v5", render_mode="rgb_array", width=SIZE, height=SIZE), site="fingertip")
    with pytest.raises(ValueError, match="qpos_indices and body both define the task distance"):
        GymGoalWrapper(gymnasium.make("Pusher-v5", render_mode="rgb_array", width=SIZE, height=SIZE),
                       qpos_indices=[0], body="object")


def test_bad_wrapper_options_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"has no options \['goal_stepz'\]: valid options are gym_id, .*'goal_steps'"):
        make_gym_goal_env("Swimmer-v5", goal_stepz=3)
    with pytest.raises(ValueError, match=r"goal_from='end'.*one of \['start', 'reset'\]"):
        make_gym_goal_env("Swimmer-v5", goal_from="end")
    with pytest.raises(ValueError, match=r"hide: 'target' names no geom or body of the model"):
        make_gym_goal_env("Swimmer-v5", hide=["target"])
    with pytest.raises(ValueError, match=r"qpos_indices=\[5\] must be a non-empty list of qpos entries 0\.\.4"):
        make_gym_goal_env("Swimmer-v5", qpos_indices=[5])


def test_env_id_is_the_id_it_was_made_under():
    env = gymnasium.make(GYM_GOAL_ID, gym_id="Swimmer-v5", image_size=SIZE)
    assert env.unwrapped.env_id == GYM_GOAL_ID  # gymnasium's spec, not the inner Swimmer-v5
    inner = gymnasium.make("Swimmer-v5", render_mode="rgb_array", width=SIZE, height=SIZE)
    assert GymGoalWrapper(inner).env_id == "Swimmer-v5"  # wrapped by hand: the inner id is all there is
    assert make_env(GYM_GOAL_ID, {"gym_id": "Swimmer-v5"}).unwrapped.env_id == GYM_GOAL_ID


def test_replacing_a_configs_id_keeps_only_the_keys_the_user_changed():
    # `worldjepa collect env.id=...` composes over the default env block, whose kwargs describe TwoRoom.
    two_room = resolve_env_config("two_room")
    kwargs = {**two_room["kwargs"], "image_size": 32, "gym_id": "Swimmer-v5"}
    cfg = resolve_env_config({**two_room, "id": GYM_GOAL_ID, "kwargs": kwargs})
    assert cfg == {"name": "GymGoal-v0", "id": GYM_GOAL_ID, "kwargs": {"image_size": 32, "gym_id": "Swimmer-v5"}}
