"""Evaluation protocol: which (start, goal) pairs an evaluation runs, fixed by a versioned protocol block.

Protocol version 2
- split: "dev" or "test", two disjoint streams of tasks. Tune on dev; report on test. Task i of a
  split is drawn from a generator seeded by (protocol.seed, i) on dev, and by (protocol.seed, i,
  TEST_STREAM) on test, so no choice made on dev tasks has seen a test task. Version 1 was the dev
  split alone.
- goal_source "env" (the default): episode i resets the env with a seed derived from the split's
  stream; the env samples the start and a goal at least two success thresholds away.
- goal_source "dataset" (stable-worldmodel's protocol): episode i picks, with the split's generator,
  a dataset episode and a step t; the start is the recorded state at t and the goal the recorded
  state at t + dataset_offset (25 env steps by default). Pairs whose goal is closer than two success
  thresholds to the start (already solved) are redrawn, as the env does. `protocol.dataset: null`
  means the dataset the checkpoint was trained on.
- budget: env steps per episode (100 by default); success is checked after every step (and at the
  start) and the episode ends at the first success.
The tasks depend only on the protocol, never on the planner or its seed, so every planner and
every entry of `seeds` faces the same starts and goals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

PROTOCOL_VERSION = 2
GOAL_SOURCES = ("env", "dataset")
SPLITS = ("dev", "test")
TEST_STREAM = 1  # the extra seed word that separates test tasks from dev tasks
MIN_GOAL_DISTANCE_IN_THRESHOLDS = 2.0  # same rule the envs apply to their own goals
_MAX_DRAWS = 1000


@dataclass(frozen=True)
class Task:
    """One start/goal pair: either a reset seed (env goals) or explicit states (dataset goals)."""

    episode: int
    reset_seed: int | None = None
    start_state: np.ndarray | None = None
    goal_state: np.ndarray | None = None

    def reset_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `env.reset` that set up this task."""
        if self.start_state is None:
            return {"seed": self.reset_seed}
        return {"seed": self.reset_seed, "options": {"start_state": self.start_state, "goal_state": self.goal_state}}


def check_protocol(protocol: Mapping[str, Any], require_dataset: bool = True) -> None:
    """Validate a protocol block; raise ValueError naming the key and the fix.

    `require_dataset=False` allows a null dataset with goal_source=dataset (resolved later from the checkpoint).
    """
    if protocol.get("version") != PROTOCOL_VERSION:
        raise ValueError(
            f"protocol.version={protocol.get('version')!r}: this worldjepa implements protocol version "
            f"{PROTOCOL_VERSION}; set protocol.version={PROTOCOL_VERSION} (results are only comparable within a version)"
        )
    if protocol.get("goal_source") not in GOAL_SOURCES:
        raise ValueError(f"protocol.goal_source={protocol.get('goal_source')!r}: choose one of {list(GOAL_SOURCES)}")
    if protocol.get("split") not in SPLITS:
        raise ValueError(f"protocol.split={protocol.get('split')!r}: choose dev (to tune on) or test (to report)")
    if require_dataset and protocol["goal_source"] == "dataset" and not protocol.get("dataset"):
        raise ValueError("protocol.goal_source=dataset needs protocol.dataset=PATH (a dataset from `worldjepa collect`)")
    for key in ("budget", "dataset_offset"):
        value = protocol.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"protocol.{key}={value!r} must be a positive integer of env steps")


def _stream(protocol: Mapping[str, Any], episode: int) -> list[int]:
    """The seed words of task `episode` in the protocol's split."""
    words = [int(protocol["seed"]), episode]
    return words + [TEST_STREAM] if protocol["split"] == "test" else words


def _task_seed(words: list[int]) -> int:
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def make_tasks(protocol: Mapping[str, Any], episodes: int, task_env: Any) -> list[Task]:
    """The first `episodes` tasks of the protocol for `task_env` (an unwrapped MujocoGoalEnv)."""
    check_protocol(protocol)
    streams = [_stream(protocol, i) for i in range(episodes)]
    if protocol["goal_source"] == "env":
        return [Task(episode=i, reset_seed=_task_seed(words)) for i, words in enumerate(streams)]
    return _dataset_tasks(protocol["dataset"], streams, int(protocol["dataset_offset"]), task_env)


def _dataset_tasks(root: str, streams: list[list[int]], offset: int, task_env: Any) -> list[Task]:
    from worldjepa.data.format import open_dataset

    store = open_dataset(root)
    meta, env_id, action_repeat = store.meta, task_env.env_id, int(task_env.action_repeat)
    if meta["env_id"] != env_id or int(meta["action_repeat"]) != action_repeat:
        raise ValueError(
            f"protocol.dataset {root} was collected on {meta['env_id']} (action_repeat={meta['action_repeat']}) but "
            f"the evaluation env is {env_id} (action_repeat={action_repeat}): pass a dataset of the same env"
        )
    min_distance = MIN_GOAL_DISTANCE_IN_THRESHOLDS * float(task_env.success_threshold)
    states = {e: store.load(e, "state", mmap=True) for e in store.episodes}
    usable = [e for e, s in states.items() if len(s) > offset]
    if not usable:
        raise ValueError(
            f"no episode of {root} is longer than protocol.dataset_offset={offset} steps: lower the offset "
            "or collect longer episodes"
        )
    tasks = []
    for i, words in enumerate(streams):
        rng = np.random.default_rng(words)
        for _ in range(_MAX_DRAWS):
            traj = states[usable[int(rng.integers(len(usable)))]]
            t = int(rng.integers(len(traj) - offset))
            start, goal = np.array(traj[t]), np.array(traj[t + offset])
            if task_env.task_distance(start, goal) >= min_distance:
                break
        else:
            raise ValueError(
                f"{root}: no start/goal pair {offset} steps apart moves {min_distance} or more in {_MAX_DRAWS} draws: "
                "the dataset barely moves; raise protocol.dataset_offset or recollect with a livelier policy"
            )
        tasks.append(Task(episode=i, reset_seed=_task_seed(words), start_state=start, goal_state=goal))
    return tasks
