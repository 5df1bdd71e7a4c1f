"""The learned goal cost: expectile TD on hindsight goals learns how many steps separate states, where L2 cannot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldjepa.models.goal_value import GoalValue
from worldjepa.planning.costs import LatentCost
from worldjepa.evaluation.plan import evaluate
from worldjepa.evaluation.records import rank_correlation
from worldjepa.training.value import HindsightTransitions, ValueSettings, fit_goal_value, fit_value

from conftest import FAULT_ENV, assert_results_match_episodes

POSITIONS = 12


@pytest.fixture(scope="module")
def chain():
    """Random walks on a line of 12 places whose embeddings are random vectors: L2 between them says nothing
    about how far apart the places are, so only the transitions can teach the order."""
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(POSITIONS, 8, generator=gen)
    rng = np.random.default_rng(0)
    walks = []
    for _ in range(60):
        pos = [int(rng.integers(POSITIONS))]
        for _ in range(40):
            pos.append(int(np.clip(pos[-1] + rng.choice([-1, 1]), 0, POSITIONS - 1)))
        walks.append(table[pos])
    settings = ValueSettings(steps=1500, batch_size=256, lr=1e-3, hidden=64, gamma=0.9)
    pairs = HindsightTransitions(walks, frameskip=1, gamma=settings.gamma, future_share=settings.future_share,
                                 self_share=settings.self_share)
    value, losses = fit_value(pairs, settings, seed=0, device=torch.device("cpu"), progress=False)
    return table, value, losses


def test_the_value_orders_places_by_steps_to_the_goal_where_l2_does_not(chain):
    table, value, losses = chain
    assert np.isfinite(losses["train_loss"])
    steps_rho, l2_rho = [], []
    for goal in (0, POSITIONS // 2, POSITIONS - 1):
        true = np.abs(np.arange(POSITIONS) - goal)
        steps = value.steps(table, table[goal]).numpy()
        l2 = (table - table[goal]).pow(2).mean(-1).numpy()
        assert steps[goal] == steps.min() and steps[goal] < 1.0  # at the goal: no step left
        steps_rho.append(rank_correlation(steps, true))
        l2_rho.append(rank_correlation(l2, true))
    assert min(steps_rho) > 0.9, steps_rho
    assert np.mean(l2_rho) < 0.6, l2_rho  # random embeddings: L2 does not know the order


def test_value_cost_scores_predicted_embeddings_in_steps(chain):
    table, value, _ = chain

    class Identity:  # a "world model" whose rollout returns the actions as the predicted embeddings
        def rollout(self, z_hist, actions):
            return actions

    cost = LatentCost("value", reduction="final", intermediate_weight=0.0, value=value)
    near, far = table[[POSITIONS - 2]], table[[0]]  # predicted end states one and eleven steps from the goal
    candidates = torch.stack([near, far])[None]  # [B=1, N=2, H=1, D]
    scores = cost(Identity(), table[None, :2], table[[POSITIONS - 1]])(candidates)
    assert scores.shape == (1, 2) and scores[0, 0] < scores[0, 1]
    with pytest.raises(ValueError, match="cost.value=PATH"):
        LatentCost("value")


def test_goal_value_rejects_a_discount_outside_0_1():
    with pytest.raises(ValueError, match="gamma=1.0"):
        GoalValue(8, gamma=1.0)


def test_value_command_fits_skips_a_refit_and_plans_through_the_cli_config(fault_checkpoint, tmp_path, capsys):
    tiny = {"steps": 40, "batch_size": 64, "hidden": 16, "depth": 1}
    summary = fit_goal_value(checkpoint=str(fault_checkpoint), data=None, out=tmp_path / "value", seed=0, device="cpu",
                             progress=False, **tiny)
    assert (tmp_path / "value" / "value.pt").is_file() and summary["settings"]["steps"] == 40
    assert set(summary) >= {"spearman_value", "spearman_l2", "train_loss", "checkpoint_sha256"}
    again = fit_goal_value(checkpoint=str(fault_checkpoint), data=None, out=tmp_path / "value", seed=0, device="cpu",
                           progress=False, **tiny)
    assert again == summary and "already fit" in capsys.readouterr().out
    cem = {"name": "cem", "horizon": 2, "samples": 8, "iterations": 2, "elites": 2}
    plan = {"env": FAULT_ENV, "planner": cem, "checkpoint": str(fault_checkpoint), "episodes": 2, "batch": 2, "videos": 0,
            "budget": 4, "device": "cpu", "progress": False}
    results = evaluate(**plan, cost={"metric": "value", "value": str(tmp_path / "value" / "value.pt")}, out=tmp_path / "eval")
    assert_results_match_episodes(tmp_path / "eval", episodes=2)
    assert results.config["value_sha256"] and results.config["cost"]["metric"] == "value"
    with pytest.raises(ValueError, match="pass cost.value=PATH"):
        evaluate(**plan, cost={"metric": "value"}, out=tmp_path / "e2")
