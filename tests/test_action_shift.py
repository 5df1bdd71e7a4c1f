"""benchmarks/action_shift.py's ensemble figures: the numbers behind "an ensemble guard would not help" (push.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "action_shift", Path(__file__).resolve().parents[1] / "benchmarks" / "action_shift.py")
action_shift = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(action_shift)


def test_auc_is_the_share_of_positive_negative_pairs_ranked_right():
    positive = np.array([True, True, False, False])
    assert action_shift.auc(np.array([0.9, 0.8, 0.1, 0.2]), positive) == 1.0
    assert action_shift.auc(np.array([0.1, 0.2, 0.9, 0.8]), positive) == 0.0
    assert action_shift.auc(np.array([0.5, 0.5, 0.5, 0.5]), positive) == 0.5
    assert action_shift.auc(np.array([0.5, 0.5]), np.array([False, False])) is None


def test_members_that_disagree_exactly_where_the_first_errs_flag_its_hallucinated_pushes():
    start = np.zeros((4, 2))
    truth = np.array([[0.0, 0.0], [0.0, 0.0], [0.2, 0.0], [0.2, 0.0]])  # windows 2, 3 truly push 0.2 m
    first = np.array([[0.2, 0.0], [0.3, 0.0], [0.2, 0.0], [0.2, 0.0]])  # 0, 1: pushes that did not happen
    honest = truth + [[0.01, 0], [0.02, 0], [0.01, 0], [0.02, 0]]  # nearly right: disagrees on the hallucinations
    s = action_shift.ensemble_summary([first, honest], truth, start, move=0.08)
    assert (s["members"], s["false_movers"], s["true_movers"]) == (2, 2, 2)
    assert s["auc_disagreement_false_vs_true_movers"] == 1.0
    assert np.isclose(s["mean_error"], 0.125) and np.isclose(s["mean_disagreement"], 0.0625)
    same = action_shift.ensemble_summary([first, first.copy()], truth, start, move=0.08)
    assert same["mean_disagreement"] == 0.0 and same["auc_disagreement_false_vs_true_movers"] == 0.5
    assert np.isclose(same["error_correlation_between_members"], 1.0)
    assert action_shift.ensemble_summary([truth, first], truth, start, 0.08)["error_correlation_between_members"] is None
