"""LatentAgent in a user's own gymnasium loop: valid actions, the MPC warm start, context frames and clear errors."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import worldjepa.envs  # noqa: F401  (registers the tasks)
from conftest import FAULT_ENV
from worldjepa import LatentAgent, LatentCost, WorldModel
from worldjepa.models import build_world_model
from worldjepa.planning.ablations import ablate_predictor
from worldjepa.planners import CEM, shift_warm_start, split_chunks

from conftest import record_inits

FRAMESKIP = 2


@pytest.fixture(scope="module")
def model():
    """A small random TwoRoom model (32 px, frameskip 2, history 2) whose predictor depends on the actions."""
    torch.manual_seed(0)
    model = build_world_model(
        {"encoder": {"name": "cnn", "embed_dim": 16, "channels": [4, 4, 4]}, "predictor": {"name": "mlp", "hidden": 32, "depth": 1}},
        {}, image_size=32, action_dim=2, frameskip=FRAMESKIP, history=2,
    )
    with torch.no_grad():  # the zero-initialised output layer would make every plan cost the same
        for param in model.predictor.parameters():
            param.normal_(0.0, 0.2)
    return model.eval().requires_grad_(False)


def cem(seed: int = 0) -> CEM:
    return CEM(horizon=3, action_dim=FRAMESKIP * 2, samples=16, iterations=2, elites=4, seed=seed)


def test_the_model_satisfies_the_world_model_protocol(model):
    assert isinstance(model, WorldModel)
    z = model.encode(torch.zeros(2, 32, 32, 3, dtype=torch.uint8))
    assert z.shape == (2, model.embed_dim)
    assert model.rollout(z[None].expand(1, 2, -1), torch.zeros(1, 3, FRAMESKIP * 2)).shape == (1, 3, model.embed_dim)


def test_latent_agent_steps_a_gym_env_with_valid_actions_and_warm_starts(model):
    planner = cem()
    inits = record_inits(planner)
    agent = LatentAgent(model, planner)
    env = gym.make("worldjepa/TwoRoom-v0", image_size=32)
    obs, info = env.reset(seed=0)
    agent.reset(info["goal_pixels"])
    plans = []
    for step in range(6):
        action = agent.act(obs["pixels"])
        assert action.shape == env.action_space.shape and env.action_space.contains(action.astype(np.float32))
        assert (agent.last_plan is not None) == (step % FRAMESKIP == 0)  # one solve per chunk of frameskip actions
        if agent.last_plan is not None:
            plans.append(agent.last_plan.actions)
            np.testing.assert_allclose(action, plans[-1][0, 0, :2].numpy(), atol=1e-6)  # executes the plan's first action
        obs, _, _, _, info = env.step(action)
    env.close()
    assert len(agent.frames[0]) == (model.history - 1) * FRAMESKIP + 1  # only the frames the context can reach
    assert len(inits) == 3 and inits[0] is None
    for prev, init in zip(plans, inits[1:]):  # each solve starts from the last plan, shifted by one chunk
        expected = shift_warm_start(split_chunks(prev, FRAMESKIP), FRAMESKIP).reshape(prev.shape)
        torch.testing.assert_close(init, expected)


def test_context_frames_are_frameskip_apart_and_the_first_frame_repeats(model):
    agent = LatentAgent(model, cem())
    frames = np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    agent.reset(frames[0])
    agent.frames = [list(frames[:1])]
    np.testing.assert_allclose(agent.context([0]), agent.encode(frames[[0, 0]])[None], atol=1e-6)
    agent.frames = [list(frames)]
    np.testing.assert_allclose(agent.context([0]), agent.encode(frames[[2, 4]])[None], atol=1e-6)


def test_batched_agent_plans_for_the_running_rows_only(model):
    agent = LatentAgent(model, cem())
    goals = np.zeros((3, 32, 32, 3), np.uint8)
    agent.reset(goals)
    actions = agent.act(goals[[0, 2]], rows=[0, 2])
    assert actions.shape == (2, 2) and agent.last_plan.actions.shape == (2, 3, FRAMESKIP * 2)
    assert len(agent.frames[1]) == 0 and len(agent.frames[0]) == len(agent.frames[2]) == 1


def test_agent_errors_name_the_fix(model):
    with pytest.raises(ValueError, match="action_dim=4"):
        LatentAgent(model, CEM(horizon=3, action_dim=2))
    agent = LatentAgent(model, cem())
    with pytest.raises(RuntimeError, match="call agent.reset"):
        agent.act(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="goal_pixels has shape"):
        agent.reset(np.zeros((32, 32), np.uint8))
    agent.reset(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="one frame per row"):
        agent.act(np.zeros((1, 32, 32, 3), np.uint8))


def test_the_readme_agent_loop_runs_as_written(fault_checkpoint):
    """README's Python API block, pointed at a small trained model (32 px frames, so its env config says so)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert "quickstart/run/last.pt" in code and 'env="two_room"' in code
    scope: dict = {"FAULT_ENV": FAULT_ENV}
    exec(code.replace("quickstart/run/last.pt", str(fault_checkpoint)).replace('env="two_room"', "env=FAULT_ENV"), scope)  # noqa: S102
    assert scope["info"]["success"] or scope["truncated"]
    assert isinstance(scope["agent"], LatentAgent) and isinstance(scope["agent"].model, WorldModel)
    assert scope["agent"].subgoals is not None  # `worldjepa plan`'s defaults, subgoals included


def test_the_copy_last_ablation_gives_every_plan_the_same_cost(model):
    z_hist, z_goal = torch.randn(2, 2, 16), torch.randn(2, 16)
    actions = torch.rand(2, 5, 3, FRAMESKIP * 2) * 2 - 1
    ablated = LatentCost()(ablate_predictor(model, "copy_last"), z_hist, z_goal)(actions)
    trained = LatentCost()(ablate_predictor(model, "model"), z_hist, z_goal)(actions)
    torch.testing.assert_close(ablated, ablated[:, :1].expand_as(ablated))  # the actions no longer matter
    assert (trained.max(1).values - trained.min(1).values > 1e-4).all()
    with pytest.raises(ValueError, match="copy_last"):
        ablate_predictor(model, "zero")
