"""Collect a rollout dataset: whole episodes run in worker processes, the parent writes them atomically.

Episode ``i`` is seeded with ``seed + i``, so a rerun regenerates identical data; rerunning the same
command skips the episodes already on disk and fills in the rest (an interrupted run loses at most
the episodes in flight).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

import worldjepa
# make_env and resolve_env_config are imported from here by plan, train and the benchmarks.
from worldjepa.data.env_config import (
    adopt_spec, config_dir, interactive_main, make_env, resolve_env_config, to_dict, worker_spec,
)
from worldjepa.data.format import clean_temp_dirs, create_or_check_meta, list_episodes, write_episode
from worldjepa.data.policies import Policy, check_policy_config, make_policy
from worldjepa.errors import check_positive_int

# Seeds a policy's generator apart from the env's own (gymnasium seeds that with the bare seed).
_POLICY_STREAM = 0x5EED
# Read when a library first starts its thread pool (llvmpipe: when the GL context is made, after the
# worker sets them). llvmpipe's default of one render thread per core costs ~45% more CPU per 64 px
# frame than one thread (benchmarks/collect.py) and oversubscribes the cores the other workers use.
_ONE_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LP_NUM_THREADS")


def resolve_policy_config(policy: str | Mapping[str, Any]) -> dict:
    """A policy config ``{name, **params}`` from a mapping or a name (its ``configs/policy`` defaults)."""
    if isinstance(policy, str):
        path = config_dir() / "policy" / f"{policy}.yaml"
        policy = to_dict(OmegaConf.load(path)) if path.exists() else {"name": policy}
    policy = to_dict(policy)
    check_policy_config(policy)
    return policy


def _policy_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([_POLICY_STREAM, seed])


def rollout_episode(env: gym.Env, policy: Policy, seed: int) -> dict[str, np.ndarray]:
    """Run one whole episode (until truncation) and return its arrays in the dataset format."""
    obs, info = env.reset(seed=seed)
    policy.reset(env, _policy_rng(seed))
    # Copy each frame: a renderer may hand back the same buffer every step.
    pixels, proprio, states, actions = [obs["pixels"].copy()], [obs["proprio"]], [info["state"]], []
    while True:
        action = policy.act(obs)
        obs, _, terminated, truncated, info = env.step(action)
        actions.append(action)
        pixels.append(obs["pixels"].copy())
        proprio.append(obs["proprio"])
        states.append(info["state"])
        if terminated or truncated:
            break
    return {
        "pixels": np.stack(pixels).astype(np.uint8, copy=False),
        "actions": np.stack(actions).astype(np.float32, copy=False),
        "proprio": np.stack(proprio).astype(np.float32, copy=False),
        "state": np.stack(states).astype(np.float64, copy=False),
    }


def probe_env(env_cfg: Mapping[str, Any], policy_cfg: Mapping[str, Any], seed: int) -> dict:
    """Build the env once to read the shapes the meta records, and check the policy can drive it."""
    from worldjepa.envs import GYM_GOAL_ID

    env = make_env(env_cfg["id"], env_cfg["kwargs"])
    try:
        if env.spec is None or env.spec.max_episode_steps is None:
            raise ValueError(f"{env_cfg['id']} has no episode time limit: pass episode_steps=N")
        obs, info = env.reset(seed=seed)
        if not isinstance(obs, Mapping) or not {"pixels", "proprio"} <= set(obs) or "state" not in info:
            raise ValueError(
                f"{env_cfg['id']} does not follow the worldjepa env contract (Dict obs with pixels and "
                "proprio, info['state']): wrap it with worldjepa.envs.GymGoalWrapper, e.g. "
                f"env.id={GYM_GOAL_ID} env.kwargs.gym_id={env_cfg['id']} (configs/env/gym_*.yaml show the options)"
            )
        make_policy(policy_cfg).reset(env, _policy_rng(seed))
        task = env.unwrapped
        return {
            "env_id": env_cfg["id"],
            "env_kwargs": dict(env_cfg["kwargs"]),
            "action_repeat": int(task.action_repeat),
            "image_size": int(obs["pixels"].shape[0]),
            "action_dim": int(env.action_space.shape[0]),
            "proprio_dim": int(obs["proprio"].shape[0]),
            "state_dim": int(np.asarray(info["state"]).shape[0]),
            "episode_steps": int(env.spec.max_episode_steps),
        }
    finally:
        env.close()


# Per-worker globals, set once by the pool initializer.
_WORKER: dict[str, Any] = {}


def _init_worker(env_id: str, kwargs: Mapping[str, Any], policy_cfg: Mapping[str, Any], spec: EnvSpec | None) -> None:
    # The parent owns Ctrl-C: it terminates the pool, rather than every worker printing a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in _ONE_THREAD_ENV:
        os.environ[var] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    try:
        adopt_spec(spec)  # a registration the parent made at a prompt, which this process never ran
        _WORKER["env"] = make_env(env_id, kwargs)
        _WORKER["policy"] = make_policy(policy_cfg)
    except Exception as err:  # a raising initializer makes multiprocessing.Pool respawn forever
        _WORKER["error"] = err


def _worker_episode(index_seed: tuple[int, int]) -> tuple[int, dict[str, np.ndarray]]:
    if "error" in _WORKER:
        raise _WORKER["error"]
    index, seed = index_seed
    return index, rollout_episode(_WORKER["env"], _WORKER["policy"], seed)


@contextmanager
def _main_left_behind() -> Iterator[None]:
    """Start workers without re-running an interactive ``__main__`` in them.

    multiprocessing re-runs ``__main__`` from its file in every worker it starts; ``python -`` names
    that file ``<stdin>``, which no worker can read, and the pool would respawn crashing workers
    forever. Workers need nothing from an interactive ``__main__`` (`worker_spec` refuses envs defined there).
    """
    main = sys.modules["__main__"]
    path = getattr(main, "__file__", None)
    if path is None or not interactive_main():
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def _start_method() -> str:
    # Never fork: a GL context inherited through fork hangs the child (see NOTES.md).
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def _collect_missing(
    out: Path, todo: list[int], seed: int, env_cfg: dict, policy_cfg: dict, workers: int, progress: bool,
    spec: EnvSpec | None = None,
) -> dict:
    """Run episodes ``todo`` in a worker pool and write each one as it arrives, in any order.

    ``spec`` is the parent's registration of the env (`worker_spec`), which workers repeat where they lack it.
    """
    written = frames = 0
    write_seconds = 0.0
    started = time.perf_counter()
    with _main_left_behind():
        pool = mp.get_context(_start_method()).Pool(
            min(workers, len(todo)), _init_worker, (env_cfg["id"], env_cfg["kwargs"], policy_cfg, spec)
        )
    bar = tqdm(total=len(todo), unit="ep", desc=f"collect {out}", disable=not progress)
    try:
        for index, arrays in pool.imap_unordered(_worker_episode, [(i, seed + i) for i in todo]):
            t0 = time.perf_counter()
            written += write_episode(out, index, arrays)
            write_seconds += time.perf_counter() - t0
            frames += len(arrays["pixels"])
            bar.update()
            bar.set_postfix(frames_per_s=f"{frames / (time.perf_counter() - started):.0f}")
        pool.close()
    except BaseException:  # Ctrl-C included: stop the workers, keep every episode already written
        pool.terminate()
        print(
            f"\ncollect stopped after writing {written} new episodes to {out}; rerun the same command to continue",
            file=sys.stderr,
        )
        raise
    finally:
        bar.close()
        pool.join()
    return {"written": written, "frames": frames, "write_seconds": write_seconds}


def collect(
    env: str | Mapping[str, Any],
    policy: str | Mapping[str, Any],
    episodes: int,
    out: str | os.PathLike,
    workers: int = 2,
    seed: int = 0,
    episode_steps: int | None = None,
    progress: bool = True,
) -> dict:
    """Collect ``episodes`` episodes of ``env`` driven by ``policy`` into the dataset at ``out``.

    ``env`` is an env config (``{name, id, kwargs}``), a config name (``"two_room"``) or a
    registered gym id; ``policy`` is ``{name, **params}`` or a policy name. Episodes already in
    ``out`` are kept (they are identical by construction), so rerunning continues an interrupted
    collection. ``episode_steps`` overrides the env's time limit; ``progress`` shows a tqdm bar.
    Returns a summary dict (episodes, written, skipped, frames, seconds, frames_per_s, write_seconds).
    """
    check_positive_int("episodes", episodes)
    check_positive_int("workers", workers)
    if episode_steps is not None:
        check_positive_int("episode_steps", episode_steps)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed={seed!r} must be an integer")
    env_cfg = resolve_env_config(env)
    policy_cfg = resolve_policy_config(policy)
    spec = worker_spec(env_cfg["id"])  # before any work: an env the workers could not build fails here
    # The env config's own time limit (configs/env/*.yaml `max_episode_steps`) unless overridden.
    steps = episode_steps if episode_steps is not None else env_cfg.get("max_episode_steps")
    if steps is not None:
        env_cfg["kwargs"]["max_episode_steps"] = int(steps)
    meta = probe_env(env_cfg, policy_cfg, seed)
    meta |= {"policy": policy_cfg, "seed": seed, "worldjepa_version": worldjepa.__version__}
    out = Path(out)
    create_or_check_meta(out, meta)
    clean_temp_dirs(out)

    done = set(list_episodes(out))
    todo = [i for i in range(episodes) if i not in done]
    started = time.perf_counter()
    counts = _collect_missing(out, todo, seed, env_cfg, policy_cfg, workers, progress, spec) if todo else {}
    seconds = time.perf_counter() - started
    frames = counts.get("frames", 0)
    summary = {
        "out": str(out),
        "episodes": len(set(list_episodes(out)) & set(range(episodes))),
        "written": counts.get("written", 0),
        "skipped": episodes - len(todo),
        "frames": frames,
        "seconds": seconds,
        "frames_per_s": frames / seconds if seconds > 0 else 0.0,
        "write_seconds": counts.get("write_seconds", 0.0),
    }
    print(
        f"collect: {summary['episodes']} episodes in {out} ({summary['written']} written, {summary['skipped']} "
        f"already there), {frames} frames in {seconds:.1f} s ({summary['frames_per_s']:.0f} frames/s)"
    )
    return summary


def run(cfg: DictConfig) -> dict:
    """CLI entry (``worldjepa collect``): collect with the composed ``configs/collect.yaml``."""
    return collect(
        env=cfg.env,
        policy=cfg.policy,
        episodes=cfg.episodes,
        out=cfg.out,
        workers=cfg.workers,
        seed=cfg.seed,
        episode_steps=cfg.get("episode_steps"),
        progress=cfg.get("progress", True),
    )
