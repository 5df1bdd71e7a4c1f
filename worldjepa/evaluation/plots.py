"""Diagnostic plots (matplotlib, Agg): planner cost per iteration and distance to goal over time, plus the shared figure helpers."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from worldjepa.atomic import atomic_path


def figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (6, 4), **kwargs):
    import matplotlib

    matplotlib.use("Agg")  # headless: never needs a display
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), dpi=100, **kwargs)


def save_png(plt, fig, path: str | os.PathLike) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def plot_planner_cost(histories: Sequence[Sequence[float]], path: str | os.PathLike, title: str = "") -> None:
    """Best cost per planner iteration of each episode's first replan (thin lines) and their median."""
    plt, fig, ax = figure()
    curves = [np.asarray(h, dtype=float) for h in histories if len(h)]
    for c in curves:
        ax.plot(np.arange(1, len(c) + 1), c, color="tab:blue", alpha=0.25, lw=1)
    if curves and len({len(c) for c in curves}) == 1:
        stacked = np.stack(curves)
        stacked[~np.isfinite(stacked)] = np.nan
        ax.plot(np.arange(1, stacked.shape[1] + 1), np.nanmedian(stacked, 0), color="tab:red", lw=2, label="median")
        ax.legend()
    ax.set(xlabel="planner iteration", ylabel="best cost within the iteration", title=title or "planner cost (first replan)")
    save_png(plt, fig, path)


def plot_distances(
    traces: Sequence[Sequence[float]], successes: Sequence[bool], threshold: float, path: str | os.PathLike, title: str = ""
) -> None:
    """Task distance to the goal at every env step, one line per episode (green success, red failure)."""
    plt, fig, ax = figure()
    for trace, ok in zip(traces, successes):
        ax.plot(np.arange(len(trace)), trace, color="tab:green" if ok else "tab:red", alpha=0.4, lw=1)
    ax.axhline(threshold, color="black", ls="--", lw=1, label=f"success threshold {threshold:g}")
    ax.set(xlabel="env step", ylabel="distance to goal", title=title or "distance to goal")
    ax.legend()
    save_png(plt, fig, path)
