"""`worldjepa plan`: goal-reaching evaluation of a planner (world-model latent cost, oracle or random).

B episodes run in lockstep in-process: one batched planner call per replan serves all still-running
episodes. Outputs under `out`: results.json, episodes.csv (rewritten after every batch, so a rerun
resumes), traces.jsonl, videos/ep{NNN}_{success|failure}.mp4 and plots/{planner_cost,distance}.png.
The task protocol (which starts and goals) lives in `worldjepa.evaluation.tasks`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from worldjepa.atomic import write_text_atomic
from worldjepa.planning.costs import check_cost_options, latent_cost, oracle_cost
from worldjepa.data.collector import make_env, resolve_env_config
from worldjepa.evaluation.records import EpisodeRecord, read_episodes, summarize, write_episodes
from worldjepa.evaluation.tasks import PROTOCOL_VERSION, Task, check_protocol, make_tasks
from worldjepa.planners import HeldChunkPlanner, MPCController, Planner, make_planner
from worldjepa.planning.subgoals import SubgoalGraph, build_graph

PLANNER_NAMES = ("cem", "mppi", "gradient", "random", "oracle", "policy")
# Planning further than the model was trained to roll out degrades predictions gradually, so a
# longer horizon only warns; beyond this multiple the predictions are meaningless and we refuse.
MAX_HORIZON_FACTOR = 4
# Keys of the planner config that configure the evaluation, not the solver's hyperparameters.
_PLANNER_META_KEYS = ("name", "solver", "horizon", "frameskip", "execute")


@dataclass
class Setup:
    """Everything resolved before the first episode: env factory, model, planner, chunking."""

    env_cfg: dict
    planner_cfg: dict
    model: Any | None  # WorldModel, or None for the oracle and random planners
    planner: Planner | HeldChunkPlanner
    frameskip: int
    horizon: int
    action_dim: int
    device: torch.device
    threshold: float
    checkpoint_sha: str | None
    policy: Any | None = None  # GoalPolicy whose proposals start every solve (`prior=PATH`), or None


@dataclass
class Episode:
    """Mutable state of one running episode."""

    task: Task
    seed: int
    env: Any
    goal_state: np.ndarray
    goal_pixels: np.ndarray
    pixels: list[np.ndarray]
    distances: list[float]
    success: bool
    plan_times: list[float] = field(default_factory=list)
    cost_history: list[float] | None = None
    goal_steps: np.ndarray | None = None  # latent steps from every subgoal-graph node to the goal's node


def _plain(cfg: Any) -> Any:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _check_horizon(horizon: int, meta: Mapping[str, Any]) -> None:
    trained = meta.get("train_horizon")
    if not trained:
        return
    if horizon > MAX_HORIZON_FACTOR * trained:
        raise ValueError(
            f"horizon={horizon} is more than {MAX_HORIZON_FACTOR}x the model's train_horizon={trained}: open-loop "
            f"predictions that far out are meaningless; pass horizon<={MAX_HORIZON_FACTOR * trained} "
            "or train with more rollout_steps"
        )
    if horizon > trained:
        warnings.warn(
            f"horizon={horizon} exceeds the model's train_horizon={trained}: predictions past step {trained} "
            "are extrapolated and may drift",
            stacklevel=3,
        )


def load_model(checkpoint: str | Path, device: torch.device):
    """(WorldModel in eval mode without grads, short sha256 of the file) from a `worldjepa train` checkpoint."""
    from worldjepa.models import WorldModel

    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {path} does not exist: pass the last.pt written by `worldjepa train out=...`"
        )
    model = WorldModel.load(path, map_location=device).eval().requires_grad_(False)
    return model, _sha256(path)


def setup(
    env: str | Mapping[str, Any], planner: Mapping[str, Any], checkpoint: str | None, horizon: int | None,
    frameskip: int | None, budget: int, device: str, seed: int, hold: bool = False, prior: str | None = None,
) -> Setup:
    """Resolve env, model (checked against the env), planner, frameskip, horizon and policy prior.

    `hold=True` searches one action per plan step, held for its `frameskip` env steps.
    `prior` (a `worldjepa imitate` policy.pt fit on this checkpoint) proposes the start of every solve.
    """
    from worldjepa.checkpoint import check_compatible
    from worldjepa.training.device import select_device

    planner_cfg = dict(_plain(planner))
    name = planner_cfg.get("name")
    if name not in PLANNER_NAMES:
        raise ValueError(f"unknown planner {name!r}: choose one of {list(PLANNER_NAMES)} (planner=cem)")
    torch_device = select_device(device)
    env_cfg = resolve_env_config(_plain(env))
    model = sha = None
    if name not in ("oracle", "random"):
        if not checkpoint:
            raise ValueError(
                f"planner={name} plans with a world model: pass checkpoint=PATH (e.g. runs/x/last.pt); "
                "planner=oracle and planner=random need no checkpoint"
            )
        model, sha = load_model(checkpoint, torch_device)
        env_cfg["kwargs"].setdefault("image_size", model.meta["image_size"])
    probe = make_env(env_cfg["id"], env_cfg["kwargs"])
    action_dim, threshold = int(probe.action_space.shape[0]), float(probe.unwrapped.success_threshold)
    image_size = int(probe.unwrapped.image_size)
    probe.close()
    env_cfg["kwargs"]["max_episode_steps"] = budget  # the protocol budget, not the env's default time limit
    if model is not None:
        check_compatible(model.meta, env_id=env_cfg["id"], image_size=image_size, action_dim=action_dim)
        if frameskip is not None and frameskip != model.frameskip:
            raise ValueError(
                f"frameskip={frameskip} but the checkpoint was trained with frameskip={model.frameskip}: "
                "leave frameskip=null to use the checkpoint's"
            )
        frameskip = model.frameskip
    else:
        frameskip = planner_cfg.get("frameskip") if frameskip is None else frameskip
    # Only null falls back to the planner config: horizon=0 is a mistake to report, not "use the default".
    horizon = planner_cfg.get("horizon") if horizon is None else horizon
    if not frameskip or not horizon or frameskip < 1 or horizon < 1:
        raise ValueError(
            f"frameskip={frameskip}, horizon={horizon}: both must be positive; set them on the command line "
            "(frameskip=5 horizon=8) or in the planner config"
        )
    if model is not None:
        _check_horizon(horizon, model.meta)
    solver = planner_cfg.get("solver", name) if name == "oracle" else name
    if name == "oracle" and solver == "gradient":
        raise ValueError("planner=oracle needs a sampling solver (cem, mppi or random): the simulator is not differentiable")
    hparams = {k: v for k, v in planner_cfg.items() if k not in _PLANNER_META_KEYS}
    solver_obj = make_planner(
        solver, horizon=horizon, action_dim=(1 if hold else frameskip) * action_dim, device=torch_device, seed=seed,
        **hparams,
    )
    if hold:
        solver_obj = HeldChunkPlanner(solver_obj, frameskip)
    policy = load_policy(prior, name, model, sha, hold, torch_device)
    return Setup(env_cfg, planner_cfg, model, solver_obj, frameskip, horizon, action_dim, torch_device, threshold, sha, policy)


def load_policy(path: str | None, planner: str, model: Any | None, checkpoint_sha: str | None, hold: bool,
                device: torch.device):
    """The GoalPolicy at `path`, checked against the checkpoint and planner; None when no path is given."""
    if not path:
        if planner == "policy":
            raise ValueError("planner=policy executes a learned policy: pass prior=PATH (the policy.pt of `worldjepa imitate`)")
        return None
    if model is None:
        raise ValueError(f"prior={path} proposes plans through a world model: use it with planner=cem, mppi, gradient or policy")
    if hold:
        raise ValueError(f"prior={path} proposes full action chunks, but hold=true searches held actions: pass hold=false")
    from worldjepa.models.goal_policy import GoalPolicy

    policy, meta = GoalPolicy.load(path, map_location=device)
    if meta.get("checkpoint_sha256") != checkpoint_sha:
        raise ValueError(
            f"prior={path} was fit on the embeddings of {meta.get('checkpoint')} (sha256 {meta.get('checkpoint_sha256')}), "
            f"not on this checkpoint (sha256 {checkpoint_sha}): rerun `worldjepa imitate` with this checkpoint"
        )
    return policy


def _training_dataset(s: Setup) -> str:
    """protocol.dataset=null: the dataset the checkpoint was trained on (its meta records the path)."""
    path = ((s.model.meta.get("dataset") or {}) if s.model is not None else {}).get("path")
    if not path or not Path(path).is_dir():
        found = f"the checkpoint's training dataset {path} does not exist here" if path else "there is no checkpoint dataset to default to"
        raise ValueError(
            f"protocol.goal_source=dataset but protocol.dataset is null and {found}: pass protocol.dataset=PATH "
            "(a `worldjepa collect` directory of this env), or protocol.goal_source=env"
        )
    return str(path)


def subgoal_graph(s: Setup, subgoals: Mapping[str, Any], dataset: str | None) -> SubgoalGraph | None:
    """The dataset-frame graph that supplies subgoals (None when subgoals are off or there is no model)."""
    if not subgoals.get("enabled") or s.model is None:
        return None
    from worldjepa.data.format import open_dataset

    lookahead = subgoals["lookahead"]
    if lookahead <= 0:
        raise ValueError(f"subgoals.lookahead={lookahead}: pass the latent steps to the next subgoal (> 0)")
    store = open_dataset(dataset or _training_dataset(s))
    return build_graph(s.model, store, s.frameskip, subgoals["max_nodes"], device=s.device, knn=subgoals["knn"],
                       link_quantile=subgoals["link_quantile"])


def cost_factory(s: Setup, cost: Mapping[str, Any], graph: SubgoalGraph | None = None,
                 lookahead: int = 1) -> Callable[[list[Episode]], Callable]:
    """Returns build(episodes) -> CostFn for the still-running episodes at a replan.

    With a subgoal `graph` the latent cost measures the distance to each episode's current subgoal.
    """
    name = s.planner_cfg["name"]
    if name == "random":
        return lambda eps: (lambda actions: torch.zeros(actions.shape[:2], device=actions.device))
    if name == "oracle":
        return lambda eps: oracle_cost(
            [e.env for e in eps], [e.goal_state for e in eps], s.frameskip, cost["reduction"], cost["intermediate_weight"]
        )
    model = s.model

    def build(eps: list[Episode]):
        z_hist, z_goal = encode_context(s, eps)
        if graph is not None:
            for e, node in zip(eps, graph.nearest(z_goal)):
                if e.goal_steps is None:
                    e.goal_steps = graph.steps_to(int(node))
            z_goal = graph.subgoal(z_hist[:, -1], z_goal, [e.goal_steps for e in eps], lookahead)
        return latent_cost(model, z_hist, z_goal, cost["metric"], cost["reduction"], cost["intermediate_weight"],
                           grad=s.planner.differentiable)

    return build


def encode_context(s: Setup, eps: list[Episode]) -> tuple[torch.Tensor, torch.Tensor]:
    """(z_hist [B, k, D], z_goal [B, D]) of the running episodes, with the target encoder.

    Context frames are frameskip env steps apart, like the training windows; an episode younger
    than the context repeats its first frame.
    """
    t = len(eps[0].pixels) - 1
    idx = [max(0, t - j * s.frameskip) for j in reversed(range(s.model.history))]
    hist = np.stack([np.stack([e.pixels[i] for i in idx]) for e in eps])
    goals = np.stack([e.goal_pixels for e in eps])
    with torch.no_grad():
        return s.model.encode(torch.from_numpy(hist).to(s.device)), s.model.encode(torch.from_numpy(goals).to(s.device))


def proposal_factory(s: Setup) -> Callable[[list[Episode]], torch.Tensor] | None:
    """build(episodes) -> the policy prior's plans [B, H, frameskip*A] at a replan; None without a policy.

    The proposal heads for the episode's goal, also when subgoals steer the cost.
    """
    if s.policy is None:
        return None
    from worldjepa.models.goal_policy import propose

    return lambda eps: propose(s.model, s.policy, *encode_context(s, eps), s.horizon)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_batch(s: Setup, envs: list, tasks: list[tuple[int, Task]], build_cost, controller: MPCController,
              budget: int, propose: Callable[[list[Episode]], torch.Tensor] | None = None) -> list[Episode]:
    """Run up to len(envs) episodes in lockstep until each succeeds or the budget is spent.

    `propose` (see `proposal_factory`) gives every solve its starting plan instead of the warm start.
    """
    eps = []
    for env, (seed, task) in zip(envs, tasks):
        obs, info = env.reset(**task.reset_kwargs())
        eps.append(Episode(task, seed, env, np.asarray(info["goal_state"]), info["goal_pixels"].copy(),
                           [obs["pixels"].copy()], [float(info["distance"])], bool(info["success"])))
    controller.reset(len(eps))
    for _ in range(budget):
        rows = [i for i, e in enumerate(eps) if not e.success]
        if not rows:
            break
        if controller.needs_plan:
            live = [eps[i] for i in rows]
            _sync(s.device)
            t0 = time.perf_counter()
            result = controller.plan(build_cost(live), rows, propose(live) if propose else None)
            _sync(s.device)
            elapsed = time.perf_counter() - t0
            for j, e in enumerate(live):
                e.plan_times.append(elapsed)
                if e.cost_history is None:
                    e.cost_history = result.cost_history[j].tolist()
        actions = controller.next_actions(rows).numpy()
        for a, i in zip(actions, rows):
            obs, _, _, _, info = eps[i].env.step(a)
            eps[i].pixels.append(obs["pixels"].copy())
            eps[i].distances.append(float(info["distance"]))
            eps[i].success = bool(info["success"])
    return eps


def _finish(e: Episode, out: Path, config_id: str, make_video: bool, scale: int, fps: int) -> tuple[EpisodeRecord, dict]:
    """Write the episode's video (if wanted); return its csv record and its trace."""
    from worldjepa.evaluation.videos import episode_frames, write_video

    video = ""
    if make_video:
        video = f"videos/ep{e.task.episode:03d}_{'success' if e.success else 'failure'}.mp4"
        write_video(out / video, episode_frames(e.pixels, e.goal_pixels, e.distances, e.success, scale), fps)
    trace = {"seed": e.seed, "episode": e.task.episode, "distances": e.distances,
             "cost_history": _finite_or_none(e.cost_history or [])}
    return _record(e, config_id, video), trace


def _record(e: Episode, config_id: str, video: str) -> EpisodeRecord:
    return EpisodeRecord(
        seed=e.seed, episode=e.task.episode, success=e.success, steps=len(e.distances) - 1,
        initial_distance=e.distances[0], final_distance=e.distances[-1], min_distance=min(e.distances),
        replans=len(e.plan_times), plan_time_s=float(np.mean(e.plan_times)) if e.plan_times else 0.0,
        config_id=config_id, video=video,
    )


def _finite_or_none(values: Sequence[float]) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values]


def _read_traces(path: Path) -> dict[tuple[int, int], dict]:
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["seed"], r["episode"]): r for r in rows}


def _write_outputs(out: Path, records: dict, traces: dict, header: dict, seeds: Sequence[int], wanted: set) -> dict:
    kept = [r for key, r in records.items() if key in wanted]
    lines = [json.dumps(traces[k]) for k in sorted(traces) if k in wanted]
    # Traces first: episodes.csv is the resume index, so an episode counts as done only once its
    # trace is on disk (a kill between the two writes reruns it instead of losing its trace).
    write_text_atomic(out / "traces.jsonl", "\n".join(lines) + "\n")
    write_episodes(out / "episodes.csv", kept)
    results = {**header, **summarize(kept), "complete": len(kept) == len(wanted)}
    if len(seeds) > 1:
        results["per_seed"] = {str(sd): summarize([r for r in kept if r.seed == sd]) for sd in seeds}
    write_text_atomic(out / "results.json", json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results


def _plot(out: Path, keys: list, traces: dict, records: dict, s: Setup) -> None:
    from worldjepa.evaluation.plots import plot_distances, plot_planner_cost

    title = f"{s.planner_cfg['name']} on {s.env_cfg['id']}"
    plot_planner_cost([traces[k]["cost_history"] for k in keys], out / "plots" / "planner_cost.png", title)
    plot_distances([traces[k]["distances"] for k in keys], [records[k].success for k in keys], s.threshold,
                   out / "plots" / "distance.png", title)


def evaluate(
    *, env: str | Mapping[str, Any], planner: Mapping[str, Any], checkpoint: str | None, out: str | Path,
    episodes: int, batch: int, horizon: int | None, frameskip: int | None, replan_every: int, hold: bool = False,
    seeds: Sequence[int], videos: int, video_scale: int, video_fps: int, device: str,
    protocol: Mapping[str, Any], cost: Mapping[str, Any], progress: bool = True, threads: int | None = None,
    subgoals: Mapping[str, Any] | None = None, prior: str | None = None, execute: int | None = None,
) -> dict:
    """Evaluate a planner on `episodes` protocol tasks per seed; write and return results.json's dict.

    `seeds` re-run the same tasks with differently seeded planners (per-seed breakdown when > 1).
    Episodes already in out/episodes.csv with the same settings are skipped (resume).
    `subgoals` (configs/plan.yaml) turns on graph subgoals for the latent planners (worldjepa/planning/subgoals.py).
    `prior` (a `worldjepa imitate` policy.pt) starts every solve from that policy's proposal.
    `execute` env actions run from each plan before the next replan (null: the planner config's, else
    replan_every x frameskip).
    `plan_time_per_replan_s` times a whole batched replan: encoding the context and goal frames
    plus the solve, for all still-running episodes of the batch.
    """
    if threads:
        torch.set_num_threads(threads)
    protocol, cost, seeds = dict(_plain(protocol)), dict(_plain(cost)), [int(sd) for sd in _plain(seeds)]
    subgoals = dict(_plain(subgoals or {"enabled": False}))
    check_cost_options(cost["reduction"], cost["metric"])
    check_protocol(protocol, require_dataset=False)
    if episodes < 1 or batch < 1 or not seeds or videos < 0:
        raise ValueError(
            f"episodes={episodes}, batch={batch}, seeds={seeds}, videos={videos}: need episodes >= 1, batch >= 1, "
            "one seed or more and videos >= 0"
        )
    budget = protocol["budget"]
    s = setup(env, planner, checkpoint, horizon, frameskip, budget, device, seeds[0], hold, prior)
    if protocol.get("goal_source") == "dataset" and not protocol.get("dataset"):
        protocol["dataset"] = _training_dataset(s)
    check_protocol(protocol)
    execute = s.planner_cfg.get("execute") if execute is None else execute  # like horizon: null = the planner's
    controller = MPCController(s.planner, s.frameskip, replan_every, execute=execute)
    resolved = {
        "env": s.env_cfg, "planner": s.planner_cfg, "checkpoint": checkpoint if s.model is not None else None,
        "checkpoint_sha256": s.checkpoint_sha, "horizon": s.horizon, "frameskip": s.frameskip,
        "replan_every": replan_every, "execute": controller.execute, "hold": hold, "protocol": protocol, "cost": cost,
        "subgoals": subgoals if s.model is not None else {"enabled": False},
        "prior_sha256": _sha256(Path(prior)) if s.policy is not None else None,
    }
    config_id = hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:12]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = {(r.seed, r.episode): r for r in read_episodes(out / "episodes.csv", config_id)}
    traces = _read_traces(out / "traces.jsonl")
    envs = [make_env(s.env_cfg["id"], s.env_cfg["kwargs"])]
    tasks = make_tasks(protocol, episodes, envs[0].unwrapped)
    wanted = {(sd, t.episode) for sd in seeds for t in tasks}
    todo = [(sd, t) for sd in seeds for t in tasks if (sd, t.episode) not in records]
    header = {
        "protocol_version": PROTOCOL_VERSION, "env_id": s.env_cfg["id"], "planner": s.planner_cfg["name"],
        "success_threshold": s.threshold, "batch": batch, "device": str(s.device), "config_id": config_id,
        "config": {**resolved, "episodes": episodes, "seeds": seeds, "videos": videos, "batch": batch,
                   "device": device, "out": str(out)},
    }
    envs += [make_env(s.env_cfg["id"], s.env_cfg["kwargs"]) for _ in range(min(batch, len(todo)) - 1)]
    graph = subgoal_graph(s, subgoals, protocol.get("dataset"))
    build_cost, propose = cost_factory(s, cost, graph, subgoals.get("lookahead", 1)), proposal_factory(s)
    bar = tqdm(total=len(wanted), initial=len(wanted) - len(todo), unit="ep", desc=f"plan {s.planner_cfg['name']}",
               disable=not progress)
    try:
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            # Seeded per batch from (seed, first episode): a resumed run replays identical batches.
            s.planner.manual_seed(int(np.random.SeedSequence([chunk[0][0], chunk[0][1].episode]).generate_state(1)[0]))
            for e in run_batch(s, envs[: len(chunk)], chunk, build_cost, controller, budget, propose):
                key = (e.seed, e.task.episode)
                make_video = e.seed == seeds[0] and e.task.episode < videos
                records[key], traces[key] = _finish(e, out, config_id, make_video, video_scale, video_fps)
                bar.update()
            _write_outputs(out, records, traces, header, seeds, wanted)
    finally:
        bar.close()
        for env_ in envs:
            env_.close()
    results = _write_outputs(out, records, traces, header, seeds, wanted)
    _plot(out, [k for k in sorted(traces) if k in wanted and k in records], traces, records, s)
    lo, hi = results["success_ci95"]
    print(f"plan: {results['successes']}/{results['episodes']} episodes succeeded ({results['success_rate']:.1%}, "
          f"95% CI {lo:.1%}-{hi:.1%}), {results['plan_time_per_replan_s']['mean'] * 1e3:.0f} ms/replan -> {out}")
    return results


def run(cfg: DictConfig) -> dict:
    """CLI entry (`worldjepa plan`): evaluate with the composed configs/plan.yaml."""
    return evaluate(
        env=cfg.env, planner=cfg.planner, checkpoint=cfg.checkpoint, out=cfg.out, episodes=cfg.episodes,
        batch=cfg.batch, horizon=cfg.horizon, frameskip=cfg.frameskip, replan_every=cfg.replan_every,
        hold=cfg.hold,
        seeds=cfg.seeds, videos=cfg.videos, video_scale=cfg.video_scale, video_fps=cfg.video_fps,
        device=cfg.device, protocol=cfg.protocol, cost=cfg.cost, progress=cfg.progress, threads=cfg.threads,
        subgoals=cfg.subgoals, prior=cfg.prior, execute=cfg.execute,
    )
