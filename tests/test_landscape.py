"""Tests for worldjepa.evaluation.landscape: the grid sweeps the right state dims, a position-reading encoder
gives a landscape that orders states like the true distance, and the CLI writes its plot and JSON."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from conftest import FAULT_ENV, run_cli

import worldjepa.envs
from worldjepa.evaluation.landscape import Landscape, cost_landscape, grid_states


def test_grid_states_sweep_only_the_two_axes():
    goal = np.array([0.1, 0.2, 0.3, 0.4])
    states = grid_states(goal, ((0, -1.0, 1.0), (2, 0.0, 0.5)), resolution=3)
    assert states.shape == (9, 4)
    assert np.allclose(states[:, [1, 3]], [0.2, 0.4])
    assert sorted(set(states[:, 0])) == [-1.0, 0.0, 1.0] and sorted(set(states[:, 2])) == [0.0, 0.25, 0.5]
    assert np.allclose(states[:3, 0], [-1.0, 0.0, 1.0]) and np.allclose(states[:3, 2], 0.0)  # x varies along a row


class BallCentroid:
    """Stands in for an encoder that learned the ball's position: the centroid of the red pixels."""

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        p = pixels.float()
        red = ((p[..., 0] > 180) & (p[..., 1] < 80)).float()  # [N, S, S]
        ys, xs = torch.meshgrid(torch.arange(p.shape[1]), torch.arange(p.shape[2]), indexing="ij")
        mass = red.sum((1, 2)).clamp_min(1)
        return torch.stack([(red * xs).sum((1, 2)) / mass, (red * ys).sum((1, 2)) / mass], -1)


def test_a_position_encoder_gives_a_landscape_ordered_like_the_true_distance():
    sim = worldjepa.envs.make("two_room", image_size=32).unwrapped
    goal = np.array([0.5, -0.4, 0.0, 0.0])
    ls = cost_landscape(BallCentroid(), sim, goal, resolution=9)
    assert ls.latent.shape == ls.true.shape == (9, 9)
    row, col = np.unravel_index(ls.latent.argmin(), ls.latent.shape)
    (d0, lo0, hi0), (d1, lo1, hi1) = sim.grid_axes
    xs, ys = np.linspace(lo0, hi0, 9), np.linspace(lo1, hi1, 9)
    assert abs(xs[col] - 0.5) < 0.25 and abs(ys[row] + 0.4) < 0.25  # the basin sits at the goal
    # Not 1: grid points inside the centre wall hide the ball, so their centroid is meaningless.
    assert ls.spearman > 0.8
    shuffled = Landscape(goal, ls.axes, np.random.default_rng(0).permutation(ls.latent.ravel()).reshape(9, 9), ls.true)
    assert abs(shuffled.spearman) < 0.3
    sim.close()


def test_spearman_of_reversed_orderings_is_minus_one():
    a = np.arange(16.0).reshape(4, 4)
    assert Landscape(np.zeros(4), ((0, 0, 1), (1, 0, 1)), a, -a).spearman == pytest.approx(-1.0)


def test_landscape_cli_writes_plot_and_summary(fault_checkpoint, tmp_path):
    out = tmp_path / "ls"
    proc = run_cli("landscape", f"checkpoint={fault_checkpoint}", f"env.kwargs.image_size={FAULT_ENV['kwargs']['image_size']}",
                   "goals=2", "resolution=6", f"out={out}", "device=cpu")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "landscape.json").read_text())
    assert len(summary["goals"]) == 2 and summary["resolution"] == 6
    assert all(-1.0 <= g["spearman"] <= 1.0 for g in summary["goals"])
    image = iio.imread(out / "landscape.png")
    assert image.ndim == 3 and image.shape[0] > image.shape[1] * 0.8  # two rows of two panels
    assert "mean Spearman" in proc.stdout


def test_landscape_cli_rejects_a_checkpoint_of_another_env(fault_checkpoint, tmp_path):
    proc = run_cli("landscape", f"checkpoint={fault_checkpoint}", "env=reacher", f"out={tmp_path}", "device=cpu")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "trained on worldjepa/TwoRoom-v0 but env is worldjepa/Reacher-v0" in proc.stderr
