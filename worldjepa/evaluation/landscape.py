"""`worldjepa landscape`: the planner's latent cost over a grid of agent positions, for fixed goals.

For each goal the env places the agent at every point of a grid over two state dims (the env's
`grid_axes`; the other dims stay at the goal's), renders the frame and encodes it. The latent cost
of a grid point is the planning metric between its embedding and the goal's: the cost a planner
with a perfect predictor would see. Beside it the plot shows the true task distance, so a basin
in the wrong place (a wall the embedding ignores, a local minimum) is visible at a glance. The
Spearman rank correlation between the two summarises how well the latent cost orders states.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from worldjepa.atomic import write_json_atomic
from worldjepa.evaluation.plots import figure, save_png
from worldjepa.evaluation.records import rank_correlation
from worldjepa.planning.costs import LatentCost
from worldjepa.models.goal_value import GoalValue
from worldjepa.models.protocol import WorldModel
from worldjepa.planning.loading import load_head, load_model
from worldjepa.data.collector import make_env, resolve_env_config


@dataclass
class Landscape:
    """Latent cost and true distance [R, R] over a grid of two state dims (row = second axis)."""

    goal_state: np.ndarray
    axes: tuple[tuple[int, float, float], tuple[int, float, float]]  # (state dim, low, high)
    latent: np.ndarray
    true: np.ndarray

    @property
    def spearman(self) -> float:
        """Rank correlation of latent cost and true distance over the grid (1 = same ordering)."""
        return rank_correlation(self.latent, self.true)


def grid_states(goal_state: np.ndarray, axes, resolution: int) -> np.ndarray:
    """[R*R, state_dim] copies of `goal_state` with the two `axes` dims swept over their ranges."""
    (d0, lo0, hi0), (d1, lo1, hi1) = axes
    g0, g1 = np.meshgrid(np.linspace(lo0, hi0, resolution), np.linspace(lo1, hi1, resolution))
    states = np.repeat(np.asarray(goal_state, dtype=np.float64)[None], resolution * resolution, axis=0)
    states[:, d0], states[:, d1] = g0.ravel(), g1.ravel()
    return states


@torch.no_grad()
def cost_landscape(model: WorldModel, sim: Any, goal_state: np.ndarray, resolution: int = 32, metric: str = "l2",
                   value: GoalValue | None = None,
                   batch_size: int = 256, device: str | torch.device = "cpu") -> Landscape:
    """Render and encode the grid around `goal_state` in `sim` (an unwrapped MujocoGoalEnv)."""
    distance = LatentCost(metric, value=value).distance  # checks the metric, and that metric=value has a value
    if resolution < 2:
        raise ValueError(f"resolution={resolution}: pass 2 or more grid points per axis")
    states = grid_states(goal_state, sim.grid_axes, resolution)
    frames = []
    for state in [goal_state, *states]:
        sim.set_state(state)
        frames.append(sim.render().copy())
    pixels = torch.from_numpy(np.stack(frames))
    z = torch.cat([model.encode(pixels[i : i + batch_size].to(device)).float() for i in range(0, len(pixels), batch_size)])
    latent = distance(z[1:], z[:1]).cpu().numpy()
    true = sim.task_distance(states, goal_state)
    shape = (resolution, resolution)
    return Landscape(np.asarray(goal_state), sim.grid_axes, latent.reshape(shape), np.asarray(true).reshape(shape))


def plot_landscapes(landscapes: Sequence[Landscape], path: str | Path, title: str = "") -> None:
    """One row per goal: latent cost | true distance heatmaps over the grid, the goal marked with a star."""
    plt, fig, axs = figure(len(landscapes), 2, size=(4, 3.6), squeeze=False)
    for row, ls in zip(axs, landscapes):
        (d0, lo0, hi0), (d1, lo1, hi1) = ls.axes
        for ax, values, name in ((row[0], ls.latent, "latent cost"), (row[1], ls.true, "true distance")):
            im = ax.imshow(values, origin="lower", extent=(lo0, hi0, lo1, hi1), cmap="viridis")
            ax.plot(ls.goal_state[d0], ls.goal_state[d1], marker="*", color="red", markersize=14)
            ax.set(xlabel=f"state[{d0}]", ylabel=f"state[{d1}]", title=f"{name} (Spearman {ls.spearman:.2f})")
            fig.colorbar(im, ax=ax, shrink=0.8)
    if title:
        fig.suptitle(title)
    save_png(plt, fig, path)


def landscapes(*, checkpoint: str, env: Any, out: str | Path, goals: int, seed: int, resolution: int, metric: str,
               value: str | None = None,
               device: str) -> dict:
    """Landscapes for `goals` env-sampled goals; writes out/landscape.png and out/landscape.json."""
    from worldjepa.models.meta import check_compatible
    from worldjepa.training.device import select_device

    if goals < 1:
        raise ValueError(f"goals={goals}: pass how many goals to plot (>= 1)")
    torch_device = select_device(device)
    model, sha = load_model(checkpoint, torch_device)
    if metric == "value" and not value:
        raise ValueError("metric=value draws a learned goal value: pass value=PATH (the value.pt of `worldjepa value`)")
    goal_value = load_head(GoalValue, value, sha, torch_device) if metric == "value" else None
    env_cfg = resolve_env_config(env)
    env_cfg["kwargs"].setdefault("image_size", model.meta.image_size)
    gym_env = make_env(env_cfg["id"], env_cfg["kwargs"])
    try:
        sim = gym_env.unwrapped
        if not hasattr(sim, "grid_axes"):
            raise ValueError(f"env {env_cfg['id']} names no grid_axes (the two state dims to sweep): landscape draws "
                             "the built-in tasks (env=two_room, reacher or push)")
        check_compatible(model.meta, env_id=env_cfg["id"], image_size=sim.image_size,
                         action_dim=int(gym_env.action_space.shape[0]))
        rng = np.random.default_rng(seed)
        found = [cost_landscape(model, sim, sim.sample_goal(rng, sim.sample_state(rng)), resolution, metric, goal_value,
                                device=torch_device) for _ in range(goals)]
    finally:
        gym_env.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot_landscapes(found, out / "landscape.png", f"{env_cfg['id']}: {metric} latent cost vs true distance")
    summary = {
        "env_id": env_cfg["id"], "checkpoint": str(checkpoint), "metric": metric, "resolution": resolution,
        "goals": [{"goal_state": ls.goal_state.tolist(), "spearman": ls.spearman} for ls in found],
        "spearman_mean": float(np.mean([ls.spearman for ls in found])), "plot": str(out / "landscape.png"),
    }
    write_json_atomic(out / "landscape.json", summary)
    print(f"landscape: mean Spearman(latent cost, true distance) = {summary['spearman_mean']:.3f} over {goals} goals "
          f"-> {out / 'landscape.png'}")
    return summary


def run(cfg: DictConfig) -> dict:
    """CLI entry (`worldjepa landscape`): plot the composed configs/landscape.yaml."""
    cfg = OmegaConf.to_container(cfg, resolve=True)
    return landscapes(checkpoint=cfg["checkpoint"], env=cfg["env"], out=cfg["out"], goals=cfg["goals"],
                      seed=cfg["seed"], resolution=cfg["resolution"], metric=cfg["metric"], value=cfg["value"],
                      device=cfg["device"])
