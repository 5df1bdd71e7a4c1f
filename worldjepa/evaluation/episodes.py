"""Run evaluation episodes in lockstep through an agent, and turn each into its csv record, trace and video."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from worldjepa.evaluation.records import EpisodeRecord
from worldjepa.evaluation.tasks import Task
from worldjepa.planning.agent import MPCAgent


@dataclass
class Episode:
    """What one episode saw: frames, distances to the goal, plan times and the first solve's cost history."""

    task: Task
    seed: int
    goal_pixels: np.ndarray
    pixels: list[np.ndarray]
    distances: list[float]
    success: bool
    plan_times: list[float] = field(default_factory=list)
    cost_history: list[float] | None = None


def run_batch(agent: MPCAgent, envs: Sequence[Any], tasks: Sequence[tuple[int, Task]], budget: int) -> list[Episode]:
    """Run len(tasks) episodes (one env each) in lockstep until each succeeds or `budget` env steps pass."""
    eps, goal_states = [], []
    for env, (seed, task) in zip(envs, tasks):
        obs, info = env.reset(**task.reset_kwargs())
        eps.append(Episode(task, seed, info["goal_pixels"].copy(), [obs["pixels"].copy()], [float(info["distance"])],
                           bool(info["success"])))
        goal_states.append(np.asarray(info["goal_state"]))
    agent.reset(np.stack([e.goal_pixels for e in eps]), np.stack(goal_states))
    for _ in range(budget):
        rows = [i for i, e in enumerate(eps) if not e.success]
        if not rows:
            break
        actions = agent.act(np.stack([eps[i].pixels[-1] for i in rows]), rows)
        if agent.last_plan is not None:  # this step replanned: one batched solve served every running episode
            for j, i in enumerate(rows):
                eps[i].plan_times.append(agent.last_plan_seconds)
                if eps[i].cost_history is None:
                    eps[i].cost_history = agent.last_plan.cost_history[j].tolist()
        for a, i in zip(actions, rows):
            obs, _, _, _, info = envs[i].step(a)
            eps[i].pixels.append(obs["pixels"].copy())
            eps[i].distances.append(float(info["distance"]))
            eps[i].success = bool(info["success"])
    return eps


def finish(e: Episode, out: Path, config_id: str, make_video: bool, scale: int, fps: int) -> tuple[EpisodeRecord, dict]:
    """Write the episode's video (if wanted); return its csv record and its trace."""
    from worldjepa.evaluation.videos import episode_frames, write_video

    video = ""
    if make_video:
        video = f"videos/ep{e.task.episode:03d}_{'success' if e.success else 'failure'}.mp4"
        write_video(out / video, episode_frames(e.pixels, e.goal_pixels, e.distances, e.success, scale), fps)
    trace = {"seed": e.seed, "episode": e.task.episode, "distances": e.distances,
             "cost_history": [v if math.isfinite(v) else None for v in e.cost_history or []]}
    record = EpisodeRecord(
        seed=e.seed, episode=e.task.episode, success=e.success, steps=len(e.distances) - 1,
        initial_distance=e.distances[0], final_distance=e.distances[-1], min_distance=min(e.distances),
        replans=len(e.plan_times), plan_time_s=float(np.mean(e.plan_times)) if e.plan_times else 0.0,
        config_id=config_id, video=video,
    )
    return record, trace
