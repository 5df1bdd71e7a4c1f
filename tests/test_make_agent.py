"""worldjepa.make_agent: the agent `worldjepa plan` runs, built for a control loop of one's own."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import worldjepa.envs  # noqa: F401  (registers the tasks)
from conftest import FAULT_ENV
from worldjepa import LatentAgent, make_agent
from worldjepa.planners import MPPI, HeldChunkPlanner

SMALL = {"env": FAULT_ENV, "horizon": 2, "device": "cpu", "planner": {"name": "mppi", "samples": 16, "iterations": 2}}


def test_make_agent_plans_with_the_plan_defaults_and_acts(fault_checkpoint):
    agent = make_agent(checkpoint=str(fault_checkpoint), **SMALL)
    assert isinstance(agent, LatentAgent) and agent.model.frameskip == 2
    # The defaults of `worldjepa plan`: MPPI searching held actions, subgoals from the checkpoint's dataset.
    assert isinstance(agent.planner, HeldChunkPlanner) and isinstance(agent.planner.inner, MPPI)
    assert agent.planner.inner.samples == 16 and agent.subgoals is not None
    env = gym.make("worldjepa/TwoRoom-v0", image_size=32)
    obs, info = env.reset(seed=0)
    agent.reset(info["goal_pixels"])
    first = agent.act(obs["pixels"])
    obs, *_ = env.step(first)
    second = agent.act(obs["pixels"])
    assert agent.last_plan is None  # the second action comes from the same plan: one replan per held chunk
    assert first.shape == (2,) and np.array_equal(first, second)  # held for the chunk's frameskip env steps
    assert np.all(np.abs(first) <= 1)


def test_make_agent_settings_and_errors(fault_checkpoint):
    plain = make_agent(checkpoint=str(fault_checkpoint), hold=False, subgoals={"enabled": False}, **SMALL)
    assert isinstance(plain.planner, MPPI) and plain.subgoals is None
    with pytest.raises(ValueError, match=r"planner=oracle .*use worldjepa.evaluate"):
        make_agent(planner={"name": "oracle"}, env=FAULT_ENV)
    with pytest.raises(ValueError, match="pass checkpoint=PATH"):
        make_agent(env=FAULT_ENV)
