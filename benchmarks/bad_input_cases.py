"""The config cases of benchmarks/bad_inputs.py: a wrong-typed value in every config key of every command,
and zero and negative values for every size."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from worldjepa.config import leaves as config_leaves
from worldjepa.config import type_example


# Tiny settings per command: a run that slipped past validation would still end in seconds.
# {data}, {ckpt}, {policy}, {value}, {case} are filled with the fixtures' and the case dir's paths.
BASE: dict[str, list[str]] = {
    "collect": ["episodes=2", "episode_steps=4", "workers=1", "env.kwargs.image_size=32", "progress=false"],
    "inspect": ["path={data}", "out=inspected", "sheet_episodes=2", "sheet_frames=2", "gif_episodes=1"],
    "train": ["data={data}", "logger=none", "threads=1", "batch_size=4", "history=2", "rollout_steps=2", "frameskip=2",
              "val_fraction=0.2", "eval.probe_frames=40", "eval.max_windows=8", "optim.warmup_steps=2",
              "model.encoder.channels=[4,4,4]", "model.encoder.embed_dim=8", "model.predictor.hidden=16",
              "model.predictor.depth=1", "collapse.threshold=0", "steps=1", "progress=false"],
    "imitate": ["checkpoint={ckpt}", "steps=2", "batch_size=8", "hidden=8", "depth=1", "goal_offset=[2,6]",
                "progress=false"],
    "value": ["checkpoint={ckpt}", "steps=2", "batch_size=8", "hidden=8", "depth=1", "progress=false"],
    "plan": ["checkpoint={ckpt}", "env.kwargs.image_size=32", "episodes=1", "batch=1", "videos=0", "budget=3",
             "horizon=2", "planner.samples=4", "planner.iterations=1", "threads=1",
             "progress=false"],
    "landscape": ["checkpoint={ckpt}", "env.kwargs.image_size=32", "goals=1", "resolution=4"],
    "quickstart": ["collect.episodes=2", "collect.episode_steps=4", "train.steps=1", "train.logger=none",
                   "plan.episodes=1", "plan.videos=0", "plan.budget=3", "plan.progress=false"],
}
WRONG = {"bool": "maybe", "int": "abc", "float": "abc", "str": "[1,2]", "list": "abc", "block": "abc"}


@dataclass
class Case:
    """One refused input: the command line, what the error line must name, and the files it damages."""

    id: str
    command: str
    category: str
    args: list[str]
    names: str  # the key or file the error line must name
    setup: Callable[[Path, dict], None] | None = None
    expected: str = "refused: nonzero exit, one last stderr line `worldjepa <cmd>: error: ...` naming it and a fix, disk untouched"
    extra: dict = field(default_factory=dict)


def kind(key: str, default: object) -> str | None:
    """The type a key takes, from its default (or the example of a null one); None for interpolations."""
    example = type_example(key, default)
    example = "" if example is None else example  # a null key with no example takes a name or path
    if isinstance(example, str) and "${" in example:
        return None
    return {bool: "bool", int: "int", float: "float", list: "list", dict: "block"}.get(type(example), "str")


def with_override(command: str, arg: str) -> list[str]:
    """The command's tiny base arguments with `arg` replacing any base value of the same key."""
    key = arg.split("=", 1)[0]
    return [command, *(a for a in BASE[command] if a.split("=", 1)[0] != key), arg]


def wrong_type_cases(compose: Callable[[str, list[str]], dict]) -> list[Case]:
    """A wrong-typed value in every leaf key of every command's composed config."""
    cases = []
    for command, base in BASE.items():
        tree = compose(command, base)
        for key, default in config_leaves(tree):
            if key == "out" or (kind_ := kind(key, default)) is None:
                continue
            cases.append(Case(f"{command}.type.{key}", command, "wrong_type",
                              with_override(command, f"{key}={WRONG[kind_]}"), key.rsplit(".", 1)[-1]))
    return cases


# command -> size keys that must be positive (zero and a negative value each are a case)
SIZES = {
    "collect": ["episodes", "workers", "episode_steps", "env.kwargs.image_size"],
    "inspect": ["sheet_episodes", "sheet_frames", "gif_episodes", "gif_fps", "coverage_bins"],
    "train": ["steps", "batch_size", "history", "rollout_steps", "frameskip", "log_every", "eval_every", "ckpt_every",
              "eval.horizon", "eval.max_windows", "eval.probe_frames", "eval.batch_size"],
    "imitate": ["steps", "batch_size", "hidden", "depth"],
    "value": ["steps", "batch_size", "hidden", "depth"],
    "plan": ["episodes", "batch", "horizon", "budget", "replan_every", "planner.samples", "video_fps"],
    "landscape": ["goals", "resolution"],
    # A later stage's counts are checked before the first stage writes anything.
    "quickstart": ["collect.episodes", "collect.workers", "train.steps", "train.batch_size", "train.eval.batch_size",
                   "plan.episodes", "plan.batch", "plan.budget"],
}


def size_cases() -> list[Case]:
    """Zero and a negative value for every size key."""
    return [Case(f"{command}.size.{key}={value}", command, "bad_size", with_override(command, f"{key}={value}"),
                 key.rsplit(".", 1)[-1])
            for command, keys in SIZES.items() for key in keys for value in (0, -3)]
