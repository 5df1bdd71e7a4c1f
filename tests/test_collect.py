"""Tests for exploration policies and dataset collection on TwoRoom (tiny episodes, 32 px)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

from worldjepa.data import DatasetError, collect, open_dataset
from worldjepa.data.collector import make_env, rollout_episode
from worldjepa.data.format import ARRAYS, list_episodes
from worldjepa.data.inspect import door_crossing_fraction
from worldjepa.data.policies import make_policy

ENV = {"name": "two_room", "id": "worldjepa/TwoRoom-v0", "kwargs": {"image_size": 32}}
STEPS = 20
WORKER = Path(sys.executable).with_name("worldjepa")


def tiny_collect(out: Path, episodes: int = 5, **kwargs) -> dict:
    args = {"env": ENV, "policy": "waypoint", "episodes": episodes, "out": out, "workers": 2,
            "episode_steps": STEPS, "progress": False} | kwargs
    return collect(**args)


def assert_same_episodes(a: Path, b: Path) -> None:
    store_a, store_b = open_dataset(a), open_dataset(b)
    assert store_a.episodes == store_b.episodes
    for index in store_a.episodes:
        for name in ARRAYS:
            a_array, b_array = store_a.load(index, name), store_b.load(index, name)
            np.testing.assert_array_equal(a_array, b_array, err_msg=f"episode {index} {name}")


def fake_env(action_dim: int = 2) -> SimpleNamespace:
    space = gym.spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
    return SimpleNamespace(action_space=space, unwrapped=SimpleNamespace())


def test_collect_writes_counts_meta_and_shapes(tmp_path):
    summary = tiny_collect(tmp_path / "d")
    assert summary["episodes"] == summary["written"] == 5 and summary["skipped"] == 0
    assert summary["frames"] == 5 * (STEPS + 1) and summary["frames_per_s"] > 0
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["env_id"] == ENV["id"] and meta["image_size"] == 32 and meta["action_repeat"] == 5
    assert meta["env_kwargs"] == {"image_size": 32, "max_episode_steps": STEPS}
    assert meta["policy"] == {"name": "waypoint", "noise": 0.1, "timeout": 60}
    assert (meta["action_dim"], meta["proprio_dim"], meta["state_dim"], meta["seed"]) == (2, 4, 4, 0)
    store = open_dataset(tmp_path / "d")
    pixels, actions = store.load(3, "pixels"), store.load(3, "actions")
    assert pixels.shape == (STEPS + 1, 32, 32, 3) and pixels.dtype == np.uint8 and pixels.std() > 0
    assert actions.shape == (STEPS, 2) and np.all(np.abs(actions) <= 1)
    np.testing.assert_allclose(store.load(3, "proprio"), store.load(3, "state"), atol=1e-6)  # TwoRoom: proprio == state
    # rerunning the finished command writes nothing and changes nothing
    again = tiny_collect(tmp_path / "d")
    assert again["written"] == 0 and again["skipped"] == 5 and again["episodes"] == 5


def test_killed_collection_resumes_without_duplicates_or_loss(tmp_path):
    episodes, steps = 40, 40
    clean = tmp_path / "clean"
    tiny_collect(clean, episodes, workers=1, episode_steps=steps)

    killed = tmp_path / "killed"
    code = (
        "from worldjepa.data import collect\n"
        f"collect({ENV!r}, 'waypoint', {episodes}, {str(killed)!r}, workers=2, episode_steps={steps}, progress=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(list_episodes(killed)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "collect ended before it could be killed"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):  # orphaned pool workers of the process we started
            os.killpg(proc.pid, signal.SIGKILL)
    done = len(list_episodes(killed))
    assert 2 <= done < episodes, "kill came too late to test resuming"

    summary = tiny_collect(killed, episodes, episode_steps=steps)
    assert summary["skipped"] == done and summary["written"] == episodes - done
    assert list_episodes(killed) == list(range(episodes))
    assert not [p for p in (killed / "episodes").iterdir() if p.name.startswith(".tmp")]
    assert_same_episodes(clean, killed)  # same seeds -> identical data, whichever worker ran what


def test_bad_arguments_fail_before_any_work(tmp_path):
    out = tmp_path / "d"
    with pytest.raises(ValueError, match="episodes=0 must be a positive integer"):
        tiny_collect(out, episodes=0)
    with pytest.raises(ValueError, match="workers=0 must be a positive integer"):
        tiny_collect(out, workers=0)
    with pytest.raises(ValueError, match=r"unknown env 'worldjepa/Nope-v0'.*worldjepa/TwoRoom-v0"):
        tiny_collect(out, env={"name": "nope", "id": "worldjepa/Nope-v0", "kwargs": {}})
    with pytest.raises(ValueError, match=r"unknown policy 'brownian'; valid policies: random, correlated, waypoint"):
        tiny_collect(out, policy={"name": "brownian"})
    with pytest.raises(ValueError, match=r"policy 'correlated' has no parameters \['sigma'\]"):
        tiny_collect(out, policy={"name": "correlated", "sigma": 1.0})
    assert not out.exists()


def test_rerun_with_a_different_env_config_is_refused(tmp_path):
    tiny_collect(tmp_path / "d", episodes=1)
    with pytest.raises(DatasetError, match=r"image_size: dataset has 32, this run asks for 40.*out=PATH"):
        tiny_collect(tmp_path / "d", env={**ENV, "kwargs": {"image_size": 40}})
    with pytest.raises(DatasetError, match=r"seed: dataset has 0, this run asks for 1"):
        tiny_collect(tmp_path / "d", seed=1)


def test_random_policy_is_uniform_in_the_box():
    policy = make_policy({"name": "random"})
    policy.reset(fake_env(3), np.random.default_rng(0))
    actions = np.stack([policy.act({}) for _ in range(2000)])
    assert actions.shape == (2000, 3) and actions.dtype == np.float32
    assert actions.min() >= -1 and actions.max() <= 1 and abs(actions.mean()) < 0.05


def test_correlated_policy_has_the_configured_autocorrelation():
    policy = make_policy({"name": "correlated", "correlation": 0.8, "scale": 0.3})
    policy.reset(fake_env(1), np.random.default_rng(0))
    a = np.stack([policy.act({}) for _ in range(20000)])[:, 0]
    lag1 = np.corrcoef(a[:-1], a[1:])[0, 1]
    assert abs(lag1 - 0.8) < 0.03 and abs(a.std() - 0.3) < 0.03
    with pytest.raises(ValueError, match=r"correlation=1.0 must be in \[0, 1\)"):
        make_policy({"name": "correlated", "correlation": 1.0})


def test_held_policy_repeats_each_action_for_hold_steps():
    held = make_policy({"name": "random", "hold": 4})
    held.reset(fake_env(2), np.random.default_rng(0))
    a = np.stack([held.act({}) for _ in range(12)])
    blocks = a.reshape(3, 4, 2)
    assert np.array_equal(blocks, np.repeat(blocks[:, :1], 4, axis=1))  # constant within each block of 4
    assert not np.array_equal(blocks[0, 0], blocks[1, 0])  # and a fresh draw at each block start
    # the draws are the plain policy's, one per block: holding changes when, not what
    plain = make_policy({"name": "random"})
    plain.reset(fake_env(2), np.random.default_rng(0))
    np.testing.assert_array_equal(blocks[:, 0], np.stack([plain.act({}) for _ in range(3)]))
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=rf"policy.hold={bad!r} must be a positive integer, e.g. policy.hold=10"):
            make_policy({"name": "correlated", "hold": bad})


def test_mixture_policy_draws_one_component_per_episode_by_weight():
    mixture = {"name": "mixture", "components": [{"name": "random"}, {"name": "correlated", "correlation": 0.9}],
               "weights": [1, 3]}
    policy, env, rng = make_policy(mixture), fake_env(1), np.random.default_rng(0)
    lag1 = []
    for _ in range(200):
        policy.reset(env, rng)
        a = np.stack([policy.act({}) for _ in range(200)])[:, 0]
        lag1.append(np.corrcoef(a[:-1], a[1:])[0, 1])
    lag1 = np.asarray(lag1)
    # each episode is wholly one policy: white noise (lag-1 ~ 0) or AR(1) noise (~ 0.9), never between
    assert np.all((np.abs(lag1) < 0.3) | (lag1 > 0.75))
    assert abs(np.mean(lag1 > 0.75) - 0.75) < 0.08


def test_collect_with_the_mixture_config_records_its_components(tmp_path):
    tiny_collect(tmp_path / "d", episodes=2, policy="mixture")
    policy = json.loads((tmp_path / "d" / "meta.json").read_text())["policy"]
    assert policy["name"] == "mixture" and policy["weights"] == [0.5, 0.5]
    assert [c["name"] for c in policy["components"]] == ["waypoint", "correlated"]
    assert list_episodes(tmp_path / "d") == [0, 1]


def test_collect_with_the_held_mixture_config_holds_some_episodes_actions(tmp_path):
    tiny_collect(tmp_path / "d", episodes=12, policy="held_mixture")
    policy = json.loads((tmp_path / "d" / "meta.json").read_text())["policy"]
    assert [c.get("hold", 1) for c in policy["components"]] == [1, 1, 10, 10]
    store = open_dataset(tmp_path / "d")
    blocks = [store.load(i, "actions").reshape(STEPS // 10, 10, -1) for i in store.episodes]
    held = [bool(np.all(b == b[:, :1])) for b in blocks]
    assert any(held) and not all(held)  # held and free-running episodes, one component per episode


def test_mixture_policy_rejects_bad_components_and_weights():
    with pytest.raises(ValueError, match="policy.components is empty"):
        make_policy({"name": "mixture", "components": []})
    with pytest.raises(ValueError, match=r"weights=\[1.0\] for 2 components: pass one weight >= 0 per component"):
        make_policy({"name": "mixture", "components": [{"name": "random"}, {"name": "correlated"}], "weights": [1]})
    with pytest.raises(ValueError, match="cannot contain another mixture"):
        make_policy({"name": "mixture", "components": [{"name": "mixture", "components": [{"name": "random"}]}]})
    with pytest.raises(ValueError, match=r"policy 'correlated' has no parameters \['sigma'\]"):
        make_policy({"name": "mixture", "components": [{"name": "correlated", "sigma": 1.0}]})


def test_policies_are_reproducible_from_the_seed():
    def actions(seed: int) -> np.ndarray:
        policy = make_policy({"name": "correlated"})
        policy.reset(fake_env(), np.random.default_rng(seed))
        return np.stack([policy.act({}) for _ in range(50)])

    np.testing.assert_array_equal(actions(3), actions(3))
    assert not np.array_equal(actions(3), actions(4))


def test_waypoint_policy_explores_both_rooms():
    env = make_env(ENV["id"], {"image_size": 16, "max_episode_steps": 100})
    try:
        proprio = {
            name: [rollout_episode(env, make_policy({"name": name}), seed)["proprio"] for seed in range(8)]
            for name in ("random", "waypoint")
        }
    finally:
        env.close()
    # the reason it exists: uniform noise jitters in place, waypoints thread the door
    assert door_crossing_fraction(proprio["waypoint"]) >= 0.5 > door_crossing_fraction(proprio["random"])


def test_waypoint_policy_needs_a_steerable_env():
    policy = make_policy({"name": "waypoint"})
    with pytest.raises(ValueError, match=r"needs env.unwrapped.sample_waypoint\(\).*policy=correlated"):
        policy.reset(fake_env(), np.random.default_rng(0))


@pytest.mark.skipif(not WORKER.exists(), reason="console script not installed")
def test_cli_collect_then_inspect(tmp_path):
    out = tmp_path / "cli"
    common = [f"out={out}", "episodes=3", f"episode_steps={STEPS}", "env.kwargs.image_size=32", "progress=false"]
    result = subprocess.run([str(WORKER), "collect", *common], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "3 episodes" in result.stdout and list_episodes(out) == [0, 1, 2]
    result = subprocess.run([str(WORKER), "inspect", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "3 episodes" in result.stdout and (out / "inspect" / "contact_sheet.png").exists()
    bad = subprocess.run([str(WORKER), "collect", *common, "episodes=0"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "episodes=0 must be a positive integer" in bad.stderr
