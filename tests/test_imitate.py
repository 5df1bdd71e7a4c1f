"""Tests for the goal-conditioned policy prior: hindsight pairs, learning, `worldjepa imitate`, planning with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from worldjepa.data import DatasetError
from worldjepa.evaluation.plan import evaluate
from worldjepa.training.imitate import HindsightPairs, fit_policy, imitate
from worldjepa.models import load_world_model
from worldjepa.models.goal_policy import GoalPolicy, propose
from worldjepa.planners import MPCController, ProposalPlanner

from conftest import FAULT_ENV, assert_results_match_episodes

IMITATE = {"steps": 30, "batch_size": 16, "lr": 1e-3, "hidden": 16, "depth": 1, "goal_offset": (2, 6),
           "seed": 0, "device": "cpu", "progress": False}
PLAN = {"env": FAULT_ENV, "episodes": 2, "batch": 2, "horizon": 2, "videos": 0, "device": "cpu", "progress": False,
        "protocol": {"version": 2, "split": "test", "goal_source": "env", "dataset": None, "dataset_offset": 25, "budget": 6, "seed": 0},
        "cost": {"metric": "l2", "reduction": "final", "intermediate_weight": 0.1}}


def indexed_episodes(lengths: list[int]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Embeddings [T+1, 2] holding (episode, frame) and actions [T, 1] holding the frame index."""
    z = [torch.stack([torch.full((n + 1,), float(e)), torch.arange(n + 1.0)], 1) for e, n in enumerate(lengths)]
    a = [torch.arange(float(n))[:, None] for n in lengths]
    return z, a


def test_hindsight_pairs_stay_in_their_episode_with_goals_in_range_and_the_data_chunk():
    z, a = indexed_episodes([12, 9])
    pairs = HindsightPairs(z, a, history=3, frameskip=2, offsets=(2, 5))
    z_hist, z_goal, chunk = pairs.sample(4000, torch.Generator().manual_seed(0))
    assert z_hist.shape == (4000, 3, 2) and z_goal.shape == (4000, 2) and chunk.shape == (4000, 2)
    t = z_hist[:, -1, 1]
    assert torch.equal(z_hist[:, :, 0], z_goal[:, :1].expand(-1, 3))  # context and goal from one episode
    gap = z_goal[:, 1] - t
    assert gap.min() == 2 and gap.max() == 5
    length = torch.where(z_goal[:, 0] == 0, 12.0, 9.0)
    assert (z_goal[:, 1] <= length).all() and (t + 2 <= length).all()  # the chunk's actions exist
    assert torch.equal(chunk, torch.stack([t, t + 1], 1))  # the actions the data took at t
    # Context frames frameskip apart, clamped to the episode's first frame.
    assert torch.equal(z_hist[:, :, 1], torch.stack([(t - 4).clamp_min(0), (t - 2).clamp_min(0), t], 1))
    # Every start whose chunk (2 actions) and nearest goal (2 steps on) fit: 9 actions -> t = 0..7.
    assert set(t[z_hist[:, 0, 0] == 1].tolist()) == set(range(8))


def test_hindsight_pairs_reject_bad_offsets_and_too_short_episodes():
    z, a = indexed_episodes([4])
    with pytest.raises(ValueError, match="goal_offset"):
        HindsightPairs(z, a, history=2, frameskip=2, offsets=(3, 2))
    with pytest.raises(ValueError, match="lower goal_offset"):
        HindsightPairs(z, a, history=2, frameskip=2, offsets=(6, 8))


def test_fit_policy_learns_to_head_for_the_goal():
    """On a 1-D line the data's action is the sign of (goal - position): the policy must learn it."""
    torch.manual_seed(0)
    x = [torch.cumsum(torch.cat([torch.zeros(1), a]), 0) for a in (torch.randint(0, 2, (40, 30)).float() * 2 - 1).unbind()]
    z = [torch.stack([p, torch.zeros_like(p)], 1) / 5 for p in x]  # a second, constant dim
    actions = [(p[1:] - p[:-1])[:, None] for p in x]
    train = HindsightPairs(z, actions, history=1, frameskip=1, offsets=(1, 1))
    policy = GoalPolicy(embed_dim=2, history=1, chunk_dim=1, hidden=32, depth=2)
    losses = fit_policy(train, train, policy, steps=300, batch_size=64, lr=3e-3, seed=0, device=torch.device("cpu"))
    assert losses["val_loss"] < 0.05  # predicting the mean action (0) would score 1.0
    with torch.no_grad():
        step = policy(torch.tensor([[[0.0, 0.0]]]), torch.tensor([[0.2, 0.0]]))
    assert step.item() > 0.8


def test_imitate_writes_a_policy_that_loads_and_proposes_plans(fault_checkpoint, tmp_path):
    summary = imitate(checkpoint=str(fault_checkpoint), data=None, out=tmp_path, **IMITATE)
    assert (tmp_path / "policy.pt").is_file()
    written = json.loads((tmp_path / "imitate.json").read_text())
    assert written["train_pairs"] == summary["train_pairs"] > 0 and written["settings"]["steps"] == 30
    assert all(torch.isfinite(torch.tensor([written["train_loss"], written["val_loss"]])))
    policy, meta = GoalPolicy.load(tmp_path / "policy.pt")
    assert meta["checkpoint"] == str(fault_checkpoint) and len(meta["checkpoint_sha256"]) == 16
    assert meta["config"] == policy.config  # the architecture travels in the policy checkpoint's meta
    model = load_world_model(fault_checkpoint)
    z = model.encode(torch.zeros(3, model.history + 1, 32, 32, 3, dtype=torch.uint8))
    plan = propose(model, policy, z[:, :-1], z[:, -1], horizon=4)
    assert plan.shape == (3, 4, model.frameskip * model.action_dim) and plan.abs().max() <= 1


def test_imitate_rerun_skips_a_finished_fit_and_refits_when_a_setting_changes(fault_checkpoint, tmp_path, capsys):
    first = imitate(checkpoint=str(fault_checkpoint), data=None, out=tmp_path, **IMITATE)
    stamp = (tmp_path / "policy.pt").stat().st_mtime_ns
    again = imitate(checkpoint=str(fault_checkpoint), data=None, out=tmp_path, **IMITATE)
    assert again == first and (tmp_path / "policy.pt").stat().st_mtime_ns == stamp
    assert "already fit" in capsys.readouterr().out
    changed = imitate(checkpoint=str(fault_checkpoint), data=None, out=tmp_path, **{**IMITATE, "steps": 31})
    assert changed["settings"]["steps"] == 31 and (tmp_path / "policy.pt").stat().st_mtime_ns != stamp


def test_planning_with_the_policy_alone_and_as_cem_prior(fault_checkpoint, tmp_path):
    imitate(checkpoint=str(fault_checkpoint), data=None, out=tmp_path / "pol", **IMITATE)
    prior = str(tmp_path / "pol" / "policy.pt")
    alone = evaluate(planner={"name": "policy", "horizon": 2}, checkpoint=str(fault_checkpoint), prior=prior,
                     out=tmp_path / "alone", **PLAN)
    searched = evaluate(planner={"name": "cem", "horizon": 2, "samples": 8, "iterations": 2, "elites": 2},
                        checkpoint=str(fault_checkpoint), prior=prior, out=tmp_path / "cem", **PLAN)
    for results, out in ((alone, "alone"), (searched, "cem")):
        assert_results_match_episodes(tmp_path / out, episodes=2)
        assert results.config["prior_sha256"]
    assert alone.config["execute"] == 1  # configs/planner/policy.yaml closes the loop every env step
    assert alone.replans == alone.env_steps
    chunks = evaluate(planner={"name": "policy", "horizon": 2, "execute": None}, checkpoint=str(fault_checkpoint),
                      prior=prior, out=tmp_path / "chunks", **PLAN)
    assert chunks.config["execute"] == 2 and chunks.replans < chunks.env_steps  # one replan per chunk of frameskip 2
    overridden = evaluate(planner={"name": "policy", "horizon": 2}, checkpoint=str(fault_checkpoint),
                          prior=prior, out=tmp_path / "overridden", **{**PLAN, "execute": 2})
    assert overridden.config["execute"] == 2 and overridden.replans < overridden.env_steps


def test_policy_errors_name_the_fix(fault_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="pass prior=PATH"):
        evaluate(planner={"name": "policy", "horizon": 2}, checkpoint=str(fault_checkpoint), prior=None,
                 out=tmp_path / "a", **PLAN)
    with pytest.raises(FileNotFoundError, match="worldjepa imitate"):
        evaluate(planner={"name": "policy", "horizon": 2}, checkpoint=str(fault_checkpoint),
                 prior=str(tmp_path / "none.pt"), out=tmp_path / "b", **PLAN)
    (tmp_path / "bad.pt").write_bytes(b"not a policy")
    with pytest.raises(ValueError, match="rerun `worldjepa imitate`"):
        evaluate(planner={"name": "policy", "horizon": 2}, checkpoint=str(fault_checkpoint),
                 prior=str(tmp_path / "bad.pt"), out=tmp_path / "c", **PLAN)
    GoalPolicy(8, 2, 4, hidden=8, depth=1).save(tmp_path / "other.pt", {"checkpoint": "x.pt", "checkpoint_sha256": "0" * 16})
    with pytest.raises(ValueError, match="not on this checkpoint"):
        evaluate(planner={"name": "policy", "horizon": 2}, checkpoint=str(fault_checkpoint),
                 prior=str(tmp_path / "other.pt"), out=tmp_path / "d", **PLAN)
    with pytest.raises(ValueError, match="through a world model"):
        evaluate(planner={"name": "oracle", "solver": "cem", "horizon": 2, "frameskip": 2}, checkpoint=None,
                 prior=str(tmp_path / "other.pt"), out=tmp_path / "e", **PLAN)


def test_proposal_planner_executes_its_proposal_and_mpc_prefers_it_to_the_warm_start():
    planner = ProposalPlanner(horizon=3, action_dim=2)
    proposal = torch.tensor([[[0.5, -0.5], [0.2, 0.1], [2.0, 0.0]]])
    result = planner.solve(lambda a: a.sum((2, 3)), 1, proposal)
    assert torch.equal(result.actions, proposal.clamp(-1, 1)) and result.cost.item() == pytest.approx(1.3)
    with pytest.raises(ValueError, match="no proposal"):
        planner.solve(lambda a: a.sum((2, 3)), 1)
    ctrl = MPCController(planner, frameskip=1)
    ctrl.reset(1)
    ctrl.plan(lambda a: a.sum((2, 3)), [0], proposal)
    assert torch.equal(ctrl.next_actions([0]), proposal[:, 0])


def test_imitate_checks_its_settings_before_encoding(fault_checkpoint, tmp_path):
    with pytest.raises(ValueError, match=r"goal_offset=\[6, 2\].*1 <= low <= high"):
        imitate(checkpoint=str(fault_checkpoint), data=None, out=tmp_path, **{**IMITATE, "goal_offset": (6, 2)})
    with pytest.raises(ValueError, match="batch_size=0 must be a positive integer"):
        imitate(checkpoint=str(fault_checkpoint), data=None, out=tmp_path, **{**IMITATE, "batch_size": 0})
    with pytest.raises(ValueError, match="missing does not exist"):
        imitate(checkpoint=str(fault_checkpoint), data=str(tmp_path / "missing"), out=tmp_path, **IMITATE)
    assert not (tmp_path / "policy.pt").exists()


def test_nan_actions_are_refused_by_file_and_row_before_a_policy_is_fit(fault_checkpoint, fault_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(fault_dataset, data)
    path = data / "episodes" / "000001" / "actions.npy"
    actions = np.load(path)
    actions[3, 1] = np.nan
    np.save(path, actions)
    with pytest.raises(DatasetError, match=r"000001/actions\.npy holds NaN or inf \(rows \[3\]\)"):
        imitate(checkpoint=str(fault_checkpoint), data=str(data), out=tmp_path / "pol", **IMITATE)
    assert not (tmp_path / "pol" / "policy.pt").exists()
