"""Tests for worldjepa.envs: the env contract on all three tasks, simulation, waypoints, the gym wrapper."""

from __future__ import annotations

import pickle
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

import worldjepa.envs as envs
from worldjepa.envs import GymGoalWrapper, MujocoGoalEnv, TwoRoomEnv

TASKS = ["two_room", "reacher", "push"]


@pytest.fixture(scope="module", params=TASKS)
def env(request: pytest.FixtureRequest) -> gymnasium.Env:
    env = envs.make(request.param)
    yield env
    env.close()


def make_unwrapped(name: str, **kwargs) -> MujocoGoalEnv:
    return envs.make(name, **kwargs).unwrapped


def random_actions(rng: np.random.Generator, n: int, t: int, a: int) -> np.ndarray:
    return rng.uniform(-1, 1, (n, t, a))


def test_check_env_passes(env: gymnasium.Env) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity.*")  # proprio is unbounded by contract
        check_env(env.unwrapped, skip_render_check=True)


def test_obs_info_contract(env: gymnasium.Env) -> None:
    u = env.unwrapped
    obs, info = env.reset(seed=0)
    assert set(obs) == {"pixels", "proprio"}
    assert obs["pixels"].dtype == np.uint8 and obs["pixels"].shape == (64, 64, 3)
    assert obs["proprio"].dtype == np.float32 and obs["proprio"].shape == (u.proprio_dim,)
    assert obs in env.observation_space
    assert info["goal_pixels"].dtype == np.uint8 and info["goal_pixels"].shape == (64, 64, 3)
    assert info["goal_state"].dtype == np.float64 and info["goal_state"].shape == (u.state_dim,)
    assert info["state"].shape == (u.state_dim,) and info["success"] is False and info["distance"] > 0
    assert env.action_space == gymnasium.spaces.Box(-1, 1, (u.action_dim,), np.float32)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert {"success", "distance", "state"} <= set(info)
    assert reward == -info["distance"] and terminated is False and truncated is False
    np.testing.assert_array_equal(info["state"], u.get_state())
    assert env.spec.max_episode_steps == 100 and u.action_repeat == u.default_action_repeat


def test_image_size_and_action_repeat_are_configurable() -> None:
    env = envs.make("two_room", image_size=48, action_repeat=2)
    obs, info = env.reset(seed=1)
    assert obs["pixels"].shape == (48, 48, 3) and info["goal_pixels"].shape == (48, 48, 3)
    assert env.unwrapped.action_repeat == 2
    env.close()


def test_goal_image_matches_goal_state(env: gymnasium.Env) -> None:
    u = env.unwrapped
    obs, info = env.reset(seed=2)
    start = u.get_state()
    np.testing.assert_array_equal(info["goal_pixels"], u.render_state(info["goal_state"]))
    np.testing.assert_array_equal(u.get_state(), start)  # render_state leaves the state alone
    assert not np.array_equal(info["goal_pixels"], obs["pixels"])
    u.set_state(info["goal_state"])
    np.testing.assert_array_equal(u.render(), info["goal_pixels"])


def test_step_pixels_match_render_state(env: gymnasium.Env) -> None:
    env.reset(seed=3)
    obs, *_, info = env.step(np.ones(env.action_space.shape))
    np.testing.assert_array_equal(obs["pixels"], env.unwrapped.render_state(info["state"]))


@pytest.mark.parametrize("name", TASKS)
def test_set_state_round_trip_gives_identical_futures(name: str) -> None:
    a, b = make_unwrapped(name), make_unwrapped(name)
    a.reset(seed=4)
    b.reset(seed=5)
    a.step(np.full(a.action_dim, 0.7))  # moving, so velocities matter too
    b.set_state(a.get_state())
    b.set_goal(a.goal_state)
    np.testing.assert_array_equal(a.get_state(), b.get_state())
    for action in random_actions(np.random.default_rng(0), 1, 15, a.action_dim)[0]:
        a.step(action)
        b.step(action)
    np.testing.assert_array_equal(a.get_state(), b.get_state())


def test_success_at_goal_not_at_start(env: gymnasium.Env) -> None:
    _, info = env.reset(seed=6)
    assert not info["success"] and info["distance"] >= env.unwrapped.success_threshold
    goal = info["goal_state"]
    _, info = env.reset(seed=6, options={"start_state": goal, "goal_state": goal})
    assert info["success"] and info["distance"] == 0.0


def test_reset_options_and_seed_determinism(env: gymnasium.Env) -> None:
    _, first = env.reset(seed=7)
    _, again = env.reset(seed=7)
    np.testing.assert_array_equal(first["goal_state"], again["goal_state"])
    with pytest.raises(ValueError, match="valid options"):
        env.reset(options={"goal": first["goal_state"]})
    with pytest.raises(ValueError, match="goal_state has shape"):
        env.reset(options={"goal_state": first["goal_state"][:-1]})


def test_simulate_matches_stepping(env: gymnasium.Env) -> None:
    u = env.unwrapped
    env.reset(seed=8)
    start = u.get_state()
    actions = random_actions(np.random.default_rng(1), 4, 12, u.action_dim)
    predicted = u.simulate(start, actions)
    assert predicted.shape == (4, 12, u.state_dim)
    np.testing.assert_array_equal(u.get_state(), start)  # simulate leaves the env alone
    for i in (0, 3):
        u.set_state(start)
        for t, action in enumerate(actions[i]):
            u.step(action)
            np.testing.assert_allclose(u.get_state(), predicted[i, t], atol=1e-6)
    per_sequence = u.simulate(np.stack([start] * 4), actions)
    np.testing.assert_array_equal(per_sequence, predicted)
    # Out-of-range actions saturate at the actuator limits, exactly like clipped ones.
    np.testing.assert_array_equal(u.simulate(start, 3 * actions), u.simulate(start, np.clip(3 * actions, -1, 1)))


def test_task_distance_is_vectorised(env: gymnasium.Env) -> None:
    u = env.unwrapped
    _, info = env.reset(seed=9)
    states = u.simulate(u.get_state(), random_actions(np.random.default_rng(2), 3, 5, u.action_dim))
    distances = u.task_distance(states, info["goal_state"])
    assert distances.shape == (3, 5)
    assert distances[1, 2] == pytest.approx(float(u.task_distance(states[1, 2], info["goal_state"])))


@pytest.mark.parametrize("bad", [np.array([np.nan, 0.0]), np.array([0.0, np.inf])])
def test_non_finite_action_raises(env: gymnasium.Env, bad: np.ndarray) -> None:
    env.reset(seed=10)
    action = np.zeros(env.action_space.shape)
    action[: len(bad)] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(action)
    with pytest.raises(ValueError, match="NaN or inf"):
        env.unwrapped.simulate(env.unwrapped.get_state(), action[None, None])


def test_wrong_action_shape_raises(env: gymnasium.Env) -> None:
    env.reset(seed=11)
    with pytest.raises(ValueError, match=r"action has shape \(3,\), expected \(2,\)"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="pass \\[N, T, 2\\]"):
        env.unwrapped.simulate(env.unwrapped.get_state(), np.zeros((4, 2)))


def test_step_before_reset_raises() -> None:
    with pytest.raises(RuntimeError, match="reset"):
        TwoRoomEnv().step(np.zeros(2))


def test_make_accepts_names_and_ids_and_rejects_unknown() -> None:
    assert envs.make("worldjepa/Push-v0").unwrapped.env_id == "worldjepa/Push-v0"
    with pytest.raises(ValueError, match="two_room.*worldjepa/TwoRoom-v0") as error:
        envs.make("three_room")
    assert "reacher" in str(error.value) and "push" in str(error.value)


def test_env_pickles_without_renderer(env: gymnasium.Env) -> None:
    env.reset(seed=12)
    clone = pickle.loads(pickle.dumps(env.unwrapped))
    np.testing.assert_array_equal(clone.get_state(), env.unwrapped.get_state())
    np.testing.assert_array_equal(clone.render(), env.unwrapped.render())
    clone.close()


def test_two_room_goals_in_other_room() -> None:
    u = make_unwrapped("two_room")
    other = []
    for seed in range(40):
        _, info = u.reset(seed=seed)
        other.append(u.room_of(info["state"][:2]) != u.room_of(info["goal_state"][:2]))
    assert 0.25 < np.mean(other) < 0.75
    same_room = make_unwrapped("two_room", other_room_prob=0.0)
    for seed in range(10):
        _, info = same_room.reset(seed=seed)
        assert same_room.room_of(info["state"][:2]) == same_room.room_of(info["goal_state"][:2])


def run_waypoint_policy(u: MujocoGoalEnv, seed: int, steps: int) -> np.ndarray:
    """States visited by the scripted waypoint policy (as the data collector runs it)."""
    rng = np.random.default_rng(seed)
    u.reset(seed=seed)
    waypoint, states = u.sample_waypoint(rng), []
    for _ in range(steps):
        states.append(u.step(u.steer(waypoint))[-1]["state"])
        if u.waypoint_reached(waypoint):
            waypoint = u.sample_waypoint(rng)
    return np.array(states)


def test_two_room_waypoint_policy_crosses_door() -> None:
    u = make_unwrapped("two_room", image_size=16)
    crossed = [len(set(u.room_of(run_waypoint_policy(u, seed, 60)[:, :2]))) == 2 for seed in range(8)]
    assert 2 <= sum(crossed) <= 8


def test_push_waypoint_policy_moves_block() -> None:
    u = make_unwrapped("push", image_size=16)
    moved = [np.linalg.norm(np.ptp(run_waypoint_policy(u, seed, 60)[:, :2], axis=0)) > 0.05 for seed in range(6)]
    assert sum(moved) >= 3


def test_reacher_steer_reaches_waypoint() -> None:
    u = make_unwrapped("reacher", image_size=16)
    u.reset(seed=13)
    waypoint = u.sample_waypoint(np.random.default_rng(3))
    for _ in range(60):
        u.step(u.steer(waypoint))
    assert u.waypoint_reached(waypoint)


# Built once: hypothesis calls the test many times and set_state needs no renderer.
_property_envs = {name: cls(image_size=16) for name, (_, cls) in envs.TASKS.items()}


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(TASKS),
    seed=st.integers(0, 2**32 - 1),
    velocity_scale=st.floats(0.0, 5.0, allow_nan=False),
)
def test_random_states_round_trip_exactly(name: str, seed: int, velocity_scale: float) -> None:
    u = _property_envs[name]
    rng = np.random.default_rng(seed)
    state = u.sample_state(rng)
    nq = u.model.nq
    state[nq:] = velocity_scale * rng.standard_normal(u.model.nv)
    u.set_state(state)
    np.testing.assert_array_equal(u.get_state(), state)


def test_gym_wrapper_on_gymnasium_reacher() -> None:
    inner = gymnasium.make("Reacher-v5", render_mode="rgb_array", width=48, height=48)
    env = GymGoalWrapper(inner, success_threshold=0.02, qpos_indices=[0, 1])
    assert env.unwrapped is env and env.image_size == 48 and env.action_repeat == 2
    obs, info = env.reset(seed=0)
    assert obs in env.observation_space and obs["proprio"].dtype == np.float32
    assert info["goal_pixels"].shape == (48, 48, 3) and info["goal_pixels"].dtype == np.uint8
    assert info["state"].shape == (env.state_dim,) and not info["success"]
    np.testing.assert_array_equal(info["goal_pixels"], env.render_state(info["goal_state"]))
    start = env.get_state()
    assert env.sample_state().shape == start.shape
    np.testing.assert_array_equal(env.get_state(), start)
    actions = random_actions(np.random.default_rng(4), 2, 5, 2)
    predicted = env.simulate(start, actions)
    for action in actions[1]:
        obs, reward, terminated, truncated, info = env.step(action)
    np.testing.assert_allclose(info["state"], predicted[1, -1], atol=1e-6)
    assert reward == -info["distance"] and "env_reward" in info and obs["pixels"].shape == (48, 48, 3)
    np.testing.assert_array_equal(obs["pixels"], env.render_state(info["state"]))
    _, info = env.reset(options={"start_state": env.goal_state, "goal_state": env.goal_state})
    assert info["success"]
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(np.array([np.nan, 0.0]))
    env.close()


def test_gym_wrapper_rejects_non_rgb_env() -> None:
    with pytest.raises(ValueError, match="render_mode"):
        GymGoalWrapper(gymnasium.make("Reacher-v5"))
