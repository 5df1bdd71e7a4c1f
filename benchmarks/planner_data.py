"""Collect episodes with the latent planner itself (on-policy data, as model-based RL does) -> dataset.

    .venv/bin/python benchmarks/planner_data.py --checkpoint R/last.pt --base D --out D2 [--episodes 200]

D2 starts as a hard-linked copy of the base dataset D; the planner's episodes are appended after its
episodes. Each one is latent CEM (configs/planner/cem.yaml, the plan defaults) toward an env-sampled
goal of protocol seed --task-seed (not the evaluation's seed 0), with Gaussian noise of std --noise
added to every executed action; it ends at success or after --budget env steps. Train a fresh model
with `worldjepa train data=D2` and score it with `action_shift.py`: this tests whether the model's
errors on the planner's own actions shrink once such actions are in its data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from omegaconf import OmegaConf
from tqdm import tqdm

import worldjepa.configs
from worldjepa.atomic import write_json_atomic
from worldjepa.data.collector import make_env
from worldjepa.data.format import ARRAYS, list_episodes, read_meta, write_episode
from worldjepa.evaluation.tasks import PROTOCOL_VERSION, make_tasks
from worldjepa.evaluation.episodes import run_batch
from worldjepa.evaluation.setup import resolve


class NoisyRecorder(gym.Wrapper):
    """Adds N(0, noise) to every action (clipped to the box) and records the episode in the dataset format."""

    def __init__(self, env: gym.Env, noise: float, rng: np.random.Generator) -> None:
        super().__init__(env)
        self.noise, self.rng = noise, rng
        self.arrays: dict[str, list] = {}

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.arrays = {"pixels": [obs["pixels"].copy()], "proprio": [obs["proprio"]], "state": [info["state"]],
                       "actions": []}
        return obs, info

    def step(self, action):
        space = self.action_space
        action = np.clip(action + self.noise * self.rng.standard_normal(action.shape), space.low, space.high)
        obs, reward, terminated, truncated, info = self.env.step(action.astype(np.float32))
        for name, value in (("pixels", obs["pixels"].copy()), ("proprio", obs["proprio"]), ("state", info["state"]),
                            ("actions", action)):
            self.arrays[name].append(value)
        return obs, reward, terminated, truncated, info

    def episode(self) -> dict[str, np.ndarray]:
        return {name: np.stack(values).astype(ARRAYS[name][0]) for name, values in self.arrays.items()}


def plan_defaults() -> tuple[dict, dict]:
    """`worldjepa plan`'s defaults: the CEM planner config and the cost block."""
    config_dir = Path(worldjepa.configs.__file__).parent
    cem = OmegaConf.to_container(OmegaConf.load(config_dir / "planner" / "cem.yaml"))
    return cem, OmegaConf.to_container(OmegaConf.load(config_dir / "plan.yaml").cost)


def dataset_env(meta: dict) -> dict:
    """The env config ({name, id, kwargs}) a dataset was collected with, from its meta.json."""
    return {"name": meta["env_id"].split("/")[-1], "id": meta["env_id"], "kwargs": dict(meta["env_kwargs"])}


def env_goal_tasks(seed: int, budget: int, episodes: int, env: gym.Env) -> list:
    """The first `episodes` env-sampled start/goal tasks of protocol seed `seed`."""
    protocol = {"version": PROTOCOL_VERSION, "split": "dev", "goal_source": "env", "dataset": None, "dataset_offset": 1,
                "budget": budget, "seed": seed}
    return make_tasks(protocol, episodes, env.unwrapped)


def dataset_envs(agent, episodes: int) -> list:
    """`episodes` fresh envs of the env that collected `agent`'s training data (its id and kwargs)."""
    meta = read_meta(agent.model.meta.dataset["path"])
    return [make_env(meta["env_id"], meta["env_kwargs"]) for _ in range(episodes)]


def plan_env_goals(agent, envs: list, budget: int) -> dict:
    """Run `agent` (planner seed 0) on the first len(envs) env-goal tasks of protocol seed 0, one env each, then
    close the envs: successes, and mean task distances at the start and the end."""
    agent.planner.manual_seed(0)
    eps = run_batch(agent, envs, [(0, task) for task in env_goal_tasks(0, budget, len(envs), envs[0])], budget)
    for env in envs:
        env.close()
    return {"episodes": len(envs), "successes": int(sum(e.success for e in eps)),
            "mean_start_distance": float(np.mean([e.distances[0] for e in eps])),
            "mean_final_distance": float(np.mean([e.distances[-1] for e in eps]))}


def diagnosis_parser(doc: str, episodes: int) -> argparse.ArgumentParser:
    """The arguments of a diagnosis of one checkpoint on the first N env-goal tasks (add its own, then parse)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--env", default="push", help="env config of the checkpoint (configs/env)")
    parser.add_argument("--episodes", type=int, default=episodes)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default: next to the checkpoint)")
    return parser


def write_result(result: dict, out: Path | None, checkpoint: Path, name: str) -> None:
    """Write a diagnosis' JSON to `out` (default: `name` beside the checkpoint) and print it."""
    out = out or checkpoint.parent / name
    write_json_atomic(out, result)
    print(result, "->", out)


def collect(checkpoint: Path, base: Path, out: Path, episodes: int, batch: int, budget: int, noise: float,
            task_seed: int) -> dict:
    if out.exists():
        raise FileExistsError(f"{out} exists: pass a new --out (it is built from --base)")
    meta = read_meta(base)
    shutil.copytree(base, out, copy_function=os.link)  # hard links: the base's episodes are never rewritten
    first = max(list_episodes(out)) + 1
    planner, cost = plan_defaults()
    s = resolve(dataset_env(meta), planner, str(checkpoint), None, None, budget, "auto", task_seed, cost=cost)
    rng = np.random.default_rng(task_seed)
    envs = [NoisyRecorder(make_env(s.env_cfg["id"], s.env_cfg["kwargs"]), noise, rng) for _ in range(batch)]
    tasks = env_goal_tasks(task_seed, budget, episodes, envs[0])
    agent = s.agent(envs, cost, None, 1, replan_every=1, execute=None)
    successes, t0 = 0, time.perf_counter()
    for start in tqdm(range(0, episodes, batch), desc="planner episodes", unit="batch"):
        chunk = [(task_seed, task) for task in tasks[start : start + batch]]
        s.planner.manual_seed(task_seed + start)
        for env, e in zip(envs, run_batch(agent, envs[: len(chunk)], chunk, budget)):
            write_episode(out, first + e.task.episode, env.episode())
            successes += e.success
    for env in envs:
        env.close()
    return {"out": str(out), "base_episodes": first, "planner_episodes": episodes, "successes": successes,
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="world model the planner uses")
    parser.add_argument("--base", type=Path, required=True, help="dataset the new one starts from")
    parser.add_argument("--out", type=Path, required=True, help="new dataset directory")
    parser.add_argument("--episodes", type=int, default=200, help="planner episodes to add")
    parser.add_argument("--batch", type=int, default=50, help="episodes planned in lockstep")
    parser.add_argument("--budget", type=int, default=100, help="env steps per episode")
    parser.add_argument("--noise", type=float, default=0.3, help="std of the exploration noise on executed actions")
    parser.add_argument("--task-seed", type=int, default=1000, help="protocol seed of the start/goal tasks")
    args = parser.parse_args()
    print(collect(args.checkpoint, args.base, args.out, args.episodes, args.batch, args.budget, args.noise,
                  args.task_seed))


if __name__ == "__main__":
    main()
