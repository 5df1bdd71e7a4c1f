"""`worldjepa plan`: goal-reaching evaluation of an agent (latent planner, policy, oracle or random).

B episodes run in lockstep through one agent: one batched planner call per replan serves all
still-running episodes. Outputs under `out`: results.json (`EvalResults`), episodes.csv (rewritten
after every batch, so a rerun resumes), traces.jsonl, videos/ep{NNN}_{success|failure}.mp4 and
plots/{planner_cost,distance}.png. The task protocol (which starts and goals) is `evaluation/tasks.py`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from worldjepa.atomic import write_text_atomic
from worldjepa.config import compose_command
from worldjepa.data.collector import make_env
from worldjepa.errors import check_positive_int
from worldjepa.evaluation.episodes import finish, run_batch
from worldjepa.evaluation.records import EpisodeRecord, read_episodes, summarize, write_episodes
from worldjepa.evaluation.results import EvalResults
from worldjepa.evaluation.setup import PlanSetup, resolve, subgoal_graph, training_dataset
from worldjepa.evaluation.tasks import PROTOCOL_VERSION, check_protocol, make_tasks
from worldjepa.planning.ablations import ablate_predictor
from worldjepa.planning.agent import MPCAgent
from worldjepa.planning.costs import check_cost_options
from worldjepa.planning.subgoals import SubgoalGraph
from worldjepa.checkpoint import file_sha256


def _damaged(path: Path, err: Exception) -> ValueError:
    reason = " ".join(str(err).split())[:200]
    return ValueError(f"{path} is damaged ({reason}): delete episodes.csv and traces.jsonl in {path.parent} to rerun "
                      "its episodes, or pass a new out=PATH")


def _read_records(path: Path, config_id: str) -> list[EpisodeRecord]:
    """The episodes an earlier run recorded in `path`; a damaged file is a ValueError naming it and the fix."""
    try:
        records = read_episodes(path, config_id)
        for r in records:
            if not np.isfinite([r.initial_distance, r.final_distance, r.min_distance, r.plan_time_s]).all():
                raise ValueError(f"episode {r.episode} of seed {r.seed} has a NaN or infinite distance or time")
    except (TypeError, ValueError) as err:
        if str(path) in str(err):  # read_episodes' own message names the file and the fix
            raise
        raise _damaged(path, err) from None
    return records


def _read_traces(path: Path, recorded: set[tuple[int, int]]) -> dict[tuple[int, int], dict]:
    """The per-episode traces an earlier run wrote to `path`, one for every (seed, episode) `recorded` in
    episodes.csv; a damaged file is a ValueError naming it and the fix."""
    traces = {}
    try:
        for line in filter(str.strip, path.read_text().splitlines() if path.exists() else []):
            r = json.loads(line)
            ok = isinstance(r, dict) and all(type(r.get(k)) is int for k in ("seed", "episode"))
            numbers = [*r.get("distances", [None]), *(v for v in r.get("cost_history", []) if v is not None)] if ok else []
            if not ok or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers):
                raise ValueError(f"a line is not an episode trace with finite numbers: {line[:80]}")
            traces[r["seed"], r["episode"]] = r
        # Traces are written before episodes.csv (see _write_outputs): a recorded episode without one was cut off.
        untraced = sorted(recorded - traces.keys())
        if untraced:
            raise ValueError(f"it lacks the traces of the (seed, episode) {untraced[:5]} that episodes.csv records")
    except (ValueError, TypeError) as err:
        raise _damaged(path, err) from None
    return traces


def _write_outputs(out: Path, records: dict, traces: dict, header: dict, seeds: list[int], wanted: set) -> EvalResults:
    kept = [r for key, r in records.items() if key in wanted]
    lines = [json.dumps(traces[k]) for k in sorted(traces) if k in wanted]
    # Traces first: episodes.csv is the resume index, so an episode counts as done only once its
    # trace is on disk (a kill between the two writes reruns it instead of losing its trace).
    write_text_atomic(out / "traces.jsonl", "\n".join(lines) + "\n")
    write_episodes(out / "episodes.csv", kept)
    per_seed = {str(sd): summarize([r for r in kept if r.seed == sd]) for sd in seeds} if len(seeds) > 1 else None
    results = EvalResults(**vars(summarize(kept)), **header, complete=len(kept) == len(wanted), per_seed=per_seed)
    results.write(out / "results.json")
    return results


def _plot(out: Path, keys: list, traces: dict, records: dict, s: PlanSetup) -> None:
    from worldjepa.evaluation.plots import plot_distances, plot_planner_cost

    title = f"{s.name} on {s.env_cfg['id']}"
    plot_planner_cost([traces[k]["cost_history"] for k in keys], out / "plots" / "planner_cost.png", title)
    plot_distances([traces[k]["distances"] for k in keys], [records[k].success for k in keys], s.threshold,
                   out / "plots" / "distance.png", title)


def check_settings(c: Mapping[str, Any]) -> None:
    """Refuse the counts and options of a resolved plan config that need neither the model nor the env."""
    check_cost_options(c["cost"]["reduction"], c["cost"]["metric"])
    check_protocol(c["protocol"], require_dataset=False)
    for key in ("video_scale", "video_fps"):
        check_positive_int(key, c[key])
    episodes, batch, seeds, videos = c["episodes"], c["batch"], list(c["seeds"]), c["videos"]
    if episodes < 1 or batch < 1 or not seeds or videos < 0:
        raise ValueError(
            f"episodes={episodes}, batch={batch}, seeds={seeds}, videos={videos}: need episodes >= 1, batch >= 1, "
            "one seed or more and videos >= 0"
        )


def _prepare(c: dict[str, Any]) -> tuple[PlanSetup, dict, SubgoalGraph | None, int]:
    """Check a resolved plan config and resolve what it plans with: (setup, protocol, subgoal graph, env actions
    per replan). Nothing is written, so a refused config leaves `out` as it was."""
    if c.get("threads"):
        torch.set_num_threads(c["threads"])
    check_settings(c)
    protocol = dict(c["protocol"])
    s = resolve(c["env"], c["planner"], c["checkpoint"], c["horizon"], c["frameskip"], protocol["budget"], c["device"],
                list(c["seeds"])[0], c["hold"], c["prior"], dict(c["cost"]))
    if s.model is not None:
        s.model = ablate_predictor(s.model, c["predictor"])
    if protocol.get("goal_source") == "dataset" and not protocol.get("dataset"):
        protocol["dataset"] = training_dataset(s)
    check_protocol(protocol)
    graph = subgoal_graph(s, dict(c["subgoals"]), protocol.get("dataset"))
    execute = s.planner_cfg.get("execute") if c["execute"] is None else c["execute"]  # like horizon: null = the planner's
    if execute is None:  # the MPC default: whole plan steps
        execute = c["replan_every"] * s.frameskip
    return s, protocol, graph, execute


def run(cfg: DictConfig | Mapping[str, Any]) -> EvalResults:
    """Evaluate with a composed configs/plan.yaml (the CLI's entry); write and return results.json.

    `seeds` re-run the same tasks with differently seeded planners. Episodes already in
    out/episodes.csv with the same settings are skipped (resume). `plan_time_per_replan_s` times a
    whole batched replan: encoding the context plus the solve, for all running episodes of the batch.
    """
    c = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    s, protocol, graph, execute = _prepare(c)
    cost, subgoals, seeds, prior = dict(c["cost"]), dict(c["subgoals"]), list(c["seeds"]), c["prior"]
    episodes, batch, videos, budget = c["episodes"], c["batch"], c["videos"], protocol["budget"]
    resolved = {
        "env": s.env_cfg, "planner": s.planner_cfg, "checkpoint": c["checkpoint"] if s.model is not None else None,
        "checkpoint_sha256": s.checkpoint_sha, "horizon": s.horizon, "frameskip": s.frameskip,
        "replan_every": c["replan_every"], "execute": execute, "hold": s.hold,
        "protocol": protocol, "cost": cost, "subgoals": subgoals if graph is not None else {"enabled": False},
        "prior_sha256": file_sha256(prior) if s.policy is not None else None, "predictor": c["predictor"],
        "value_sha256": file_sha256(cost["value"]) if s.latent_cost and s.latent_cost.value is not None else None,
    }
    config_id = hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:12]
    out = Path(c["out"])
    out.mkdir(parents=True, exist_ok=True)
    records = {(r.seed, r.episode): r for r in _read_records(out / "episodes.csv", config_id)}
    traces = _read_traces(out / "traces.jsonl", set(records))
    envs = [make_env(s.env_cfg["id"], s.env_cfg["kwargs"])]
    tasks = make_tasks(protocol, episodes, envs[0].unwrapped)
    wanted = {(sd, t.episode) for sd in seeds for t in tasks}
    todo = [(sd, t) for sd in seeds for t in tasks if (sd, t.episode) not in records]
    header = {
        "protocol_version": PROTOCOL_VERSION, "env_id": s.env_cfg["id"], "planner": s.name,
        "success_threshold": s.threshold, "batch": batch, "device": str(s.device), "config_id": config_id,
        "config": {**resolved, "episodes": episodes, "seeds": seeds, "videos": videos, "batch": batch,
                   "device": c["device"], "out": str(out)},
    }
    envs += [make_env(s.env_cfg["id"], s.env_cfg["kwargs"]) for _ in range(min(batch, len(todo)) - 1)]
    agent = s.agent(envs, cost, graph, subgoals.get("lookahead", 1), c["replan_every"], execute)
    bar = tqdm(total=len(wanted), initial=len(wanted) - len(todo), unit="ep", desc=f"plan {s.name}",
               disable=not c["progress"])
    try:
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            # Seeded per batch from (seed, first episode): a resumed run replays identical batches.
            s.planner.manual_seed(int(np.random.SeedSequence([chunk[0][0], chunk[0][1].episode]).generate_state(1)[0]))
            for e in run_batch(agent, envs[: len(chunk)], chunk, budget):
                key = (e.seed, e.task.episode)
                make_video = e.seed == seeds[0] and e.task.episode < videos
                records[key], traces[key] = finish(e, out, config_id, make_video, c["video_scale"], c["video_fps"])
                bar.update()
            _write_outputs(out, records, traces, header, seeds, wanted)
    finally:
        bar.close()
        for env_ in envs:
            env_.close()
    results = _write_outputs(out, records, traces, header, seeds, wanted)
    _plot(out, [k for k in sorted(traces) if k in wanted and k in records], traces, records, s)
    lo, hi = results.success_ci95
    print(f"plan: {results.successes}/{results.episodes} episodes succeeded ({results.success_rate:.1%}, "
          f"95% CI {lo:.1%}-{hi:.1%}), {results.plan_time_per_replan_s['mean'] * 1e3:.0f} ms/replan -> {out}")
    return results


def evaluate(**settings: Any) -> EvalResults:
    """The Python twin of `worldjepa plan KEY=VALUE ...`: configs/plan.yaml with `settings` applied, then `run`.

    Settings take the config's shape, e.g. ``evaluate(checkpoint="runs/x/last.pt", env="reacher",
    planner={"name": "cem", "samples": 100}, episodes=10)``; the defaults are the CLI's.
    """
    return run(compose_command("plan", settings))


def make_agent(**settings: Any) -> MPCAgent:
    """The agent `worldjepa plan KEY=VALUE ...` would run, for a loop of your own: the same planner, cost, held
    actions, subgoals, prior and predictor, from configs/plan.yaml with `settings` applied (as for `evaluate`).

    ``make_agent(checkpoint="runs/x/last.pt", env="reacher")``; then ``agent.reset(goal_pixels)`` and
    ``agent.act(pixels)`` each step. The oracle plans on simulators it is handed, so run it through `evaluate`.
    """
    c = OmegaConf.to_container(compose_command("plan", settings), resolve=True)
    if c["planner"]["name"] == "oracle":
        raise ValueError("planner=oracle plans on the simulators of the episodes it runs: use worldjepa.evaluate(planner=...)")
    s, _, graph, execute = _prepare(c)
    return s.agent([], c["cost"], graph, c["subgoals"]["lookahead"], c["replan_every"], execute)
