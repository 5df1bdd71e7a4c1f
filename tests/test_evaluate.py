"""Tests for worldjepa.evaluation.plan / costs / videos: oracle planning, outputs, resume, protocol and clear errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

import worldjepa.envs  # noqa: F401  (registers the tasks)
from worldjepa.checkpoint import CheckpointError
from worldjepa.cli import main
from worldjepa.planning.costs import latent_cost, reduce_distances
from worldjepa.planning.oracle import oracle_cost
from worldjepa.evaluation.records import wilson_interval
from worldjepa.evaluation.tasks import Task, make_tasks
from worldjepa.evaluation.episodes import run_batch
from worldjepa.evaluation.plan import run
from worldjepa.evaluation.results import EvalResults
from worldjepa.evaluation.setup import resolve
from worldjepa.models import build_world_model
from worldjepa.evaluation.videos import compose_frame

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TWO_ROOM = "worldjepa/TwoRoom-v0"
# Small renders keep the tests fast; the planners do not care about pixels except the latent cost.
SMALL = ["env.kwargs.image_size=32", "video_scale=2", "progress=false", "subgoals.enabled=false"]  # the tiny model has no dataset


def plan_cfg(tmp_path: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose("plan", overrides=[f"out={tmp_path / 'eval'}", *SMALL, *overrides])


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised TwoRoom WorldModel (32 px, frameskip 2, history 2, train_horizon 3)."""
    torch.manual_seed(0)
    model = build_world_model(
        {"encoder": {"name": "cnn", "embed_dim": 16, "channels": [4, 4, 4]}, "predictor": {"name": "mlp", "hidden": 32, "depth": 1}},
        {}, image_size=32, action_dim=2, frameskip=2, history=2,
    )
    with torch.no_grad():  # the predictor's zero-initialised output layer would make every action cost the same
        for param in model.predictor.parameters():
            param.normal_(0.0, 0.2)
    model.meta.env_id, model.meta.train_horizon = TWO_ROOM, 3
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    model.save(path)
    return path


def test_oracle_cem_reaches_goals_in_the_other_room():
    """The oracle (CEM + true simulator) crosses TwoRoom's door: starts west of the wall, goals east."""
    s = resolve(
        {"name": "two_room", "id": TWO_ROOM, "kwargs": {"image_size": 32}},
        {"name": "oracle", "solver": "cem", "samples": 128, "iterations": 5, "elites": 16},
        checkpoint=None, horizon=6, frameskip=5, budget=50, device="cpu", seed=0,
    )
    rng = np.random.default_rng(0)
    tasks = []
    for i in range(4):
        start = np.array([rng.uniform(-0.6, -0.3), rng.uniform(-0.4, 0.4), 0.0, 0.0])
        goal = np.array([rng.uniform(0.3, 0.6), rng.uniform(-0.4, 0.4), 0.0, 0.0])
        tasks.append((0, Task(episode=i, start_state=start, goal_state=goal)))
    envs = [worldjepa.envs.make("two_room", image_size=32, max_episode_steps=50) for _ in tasks]
    cost = {"reduction": "final", "intermediate_weight": 0.1, "metric": "l2"}
    episodes = run_batch(s.agent(envs, cost, None, 1, replan_every=3, execute=None), envs, tasks, budget=50)
    for e, env in zip(episodes, envs):
        assert env.unwrapped.room_of(e.task.start_state[:2]) != env.unwrapped.room_of(e.task.goal_state[:2])
        assert e.distances[0] > 0.6  # the straight line is blocked by the wall
    successes = [e.success for e in episodes]
    assert sum(successes) >= 3, [e.distances[-1] for e in episodes]
    for e, env in zip(episodes, envs):
        if e.success:  # ended on success, in the room of the goal
            assert e.distances[-1] < s.threshold and all(d >= s.threshold for d in e.distances[:-1])
            assert env.unwrapped.room_of(env.unwrapped.get_state()[:2]) == 1


def test_oracle_cost_matches_stepping_the_env():
    env = worldjepa.envs.make("two_room", image_size=32)
    env.reset(seed=3)
    goal = env.unwrapped.goal_state
    actions = torch.rand(1, 4, 3, 2 * 5) * 2 - 1  # B=1, N=4, H=3 steps of frameskip 5 x A=2
    cost = oracle_cost([env], [goal], frameskip=5, intermediate_weight=0.0)(actions)
    assert cost.shape == (1, 4)
    for n in range(4):
        env.unwrapped.set_state(env.unwrapped.get_state())
        saved = env.unwrapped.get_state()
        for a in actions[0, n].reshape(15, 2).numpy():
            _, _, _, _, info = env.step(a)
        assert info["distance"] == pytest.approx(cost[0, n].item(), abs=1e-5)
        env.unwrapped.set_state(saved)


def test_oracle_cost_scores_the_plan_step_states_with_its_distance():
    env = worldjepa.envs.make("two_room", image_size=32)
    env.reset(seed=3)
    start, goal = env.unwrapped.get_state(), env.unwrapped.goal_state
    actions = torch.rand(1, 4, 3, 2 * 5) * 2 - 1
    seen = []

    def x_offset(sim, states, goal_state):  # a distance of our own: how far right of the goal, per plan step
        seen.append(states.shape)
        return states[..., 0] - goal_state[0]

    cost = oracle_cost([env], [goal], frameskip=5, intermediate_weight=0.0, distance=x_offset)(actions)
    assert seen == [(4, 3, len(start))]  # one call per problem, with the states at the 3 plan steps only
    ends = env.unwrapped.simulate(start, actions[0].double().numpy().reshape(4, 15, 2))[:, -1]
    assert cost[0].numpy() == pytest.approx(ends[:, 0] - goal[0], abs=1e-5)


def test_latent_cost_batches_and_differentiates(tiny_checkpoint):
    from worldjepa.models import load_world_model

    model = load_world_model(tiny_checkpoint)
    z_hist, z_goal = torch.randn(3, 2, 16), torch.randn(3, 16)
    calls = []
    rollout = model.rollout
    model.rollout = lambda z, a: calls.append(tuple(a.shape)) or rollout(z, a)
    actions = (torch.rand(3, 5, 4, 4) * 2 - 1).requires_grad_(True)
    cost = latent_cost(model, z_hist, z_goal, grad=True)(actions)
    assert cost.shape == (3, 5) and calls == [(15, 4, 4)]  # one forward for all B x N
    cost.sum().backward()
    assert actions.grad is not None and actions.grad.abs().sum() > 0
    assert not latent_cost(model, z_hist, z_goal)(actions).requires_grad
    d = torch.tensor([[1.0, 2.0, 3.0]])
    assert reduce_distances(d, "final", 0.1).item() == pytest.approx(3.15)
    assert reduce_distances(d, "min").item() == 1.0 and reduce_distances(d, "sum").item() == 6.0


def test_wilson_interval():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-3)
    low, high = wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-3)


def test_results_csv_videos_plots_and_resume(tmp_path):
    cfg = plan_cfg(tmp_path, "planner=random", "episodes=3", "batch=2", "budget=8", "videos=2", "protocol.goal_source=env")
    results = run(cfg)
    out = Path(cfg.out)
    saved = json.loads((out / "results.json").read_text())
    assert saved == json.loads(json.dumps(results.to_dict())) and EvalResults.read(out / "results.json") == results
    assert saved["schema_version"] == 1
    types = {
        "protocol_version": int, "success_rate": float, "success_ci95": list, "mean_final_distance": float,
        "plan_time_per_replan_s": dict, "env_steps": int, "episodes": int, "config": dict, "complete": bool,
    }
    for key, kind in types.items():
        assert isinstance(saved[key], kind), key
    assert saved["protocol_version"] == 2 and saved["config"]["protocol"]["split"] == "test" and saved["episodes"] == 3 and saved["complete"]
    assert set(saved["plan_time_per_replan_s"]) == {"mean", "p50"}
    assert saved["config"]["protocol"]["budget"] == 8 and saved["config"]["planner"]["name"] == "random"
    low, high = saved["success_ci95"]
    assert 0 <= low <= saved["success_rate"] <= high <= 1

    rows = list(csv.DictReader(open(out / "episodes.csv")))
    assert [(r["seed"], r["episode"]) for r in rows] == [("0", "0"), ("0", "1"), ("0", "2")]
    assert saved["env_steps"] == sum(int(r["steps"]) for r in rows)
    for r in rows:
        assert 1 <= int(r["steps"]) <= 8 and float(r["final_distance"]) >= 0

    videos = sorted((out / "videos").glob("*.mp4"))
    assert [v.name[:5] for v in videos] == ["ep000", "ep001"]
    for row, video in zip(rows, videos):
        outcome = "success" if row["success"] == "True" else "failure"
        assert video.name == f"ep{int(row['episode']):03d}_{outcome}.mp4"
        frames = imageio.mimread(video, format="FFMPEG")
        assert len(frames) == int(row["steps"]) + 1
        panel = 32 * 2  # image_size x video_scale
        assert frames[0].shape == (panel, 2 * panel, 3)
    for plot in ("planner_cost.png", "distance.png"):
        assert imageio.imread(out / "plots" / plot).shape[0] > 100

    # Resume: a larger episode count runs only the new episode and keeps the recorded rows.
    before = (out / "episodes.csv").read_text().splitlines()
    results = run(plan_cfg(tmp_path, "planner=random", "episodes=4", "batch=2", "budget=8", "videos=2", "protocol.goal_source=env"))
    after = (out / "episodes.csv").read_text().splitlines()
    assert after[: len(before)] == before and len(after) == len(before) + 1 and results.episodes == 4
    # Different settings in the same out dir would mix results: refused.
    with pytest.raises(ValueError, match="different settings"):
        run(plan_cfg(tmp_path, "planner=random", "episodes=4", "budget=9", "protocol.goal_source=env"))


def test_seeds_give_per_seed_breakdown_on_the_same_tasks(tmp_path):
    cfg = plan_cfg(tmp_path, "planner=random", "episodes=2", "batch=4", "budget=3", "videos=0", "seeds=[0,1]",
                   "protocol.goal_source=env")
    results = run(cfg)
    assert set(results.per_seed) == {"0", "1"} and results.episodes == 4
    rows = list(csv.DictReader(open(Path(cfg.out) / "episodes.csv")))
    by_seed = {(r["seed"], r["episode"]): float(r["initial_distance"]) for r in rows}
    assert by_seed[("0", "0")] == by_seed[("1", "0")] and by_seed[("0", "1")] == by_seed[("1", "1")]


def test_dataset_goals_are_recorded_states_offset_steps_apart(tmp_path):
    from worldjepa.data.collector import collect

    data = tmp_path / "data"
    collect("two_room", "waypoint", episodes=2, out=data, workers=1, progress=False)
    env = worldjepa.envs.make("two_room", image_size=32)
    protocol = {"version": 2, "split": "test", "goal_source": "dataset", "dataset": str(data), "dataset_offset": 25, "budget": 50, "seed": 0}
    tasks = make_tasks(protocol, 5, env.unwrapped)
    states = [np.load(p) for p in sorted((data / "episodes").glob("*/state.npy"))]
    for task in tasks:
        matches = [
            (e, t) for e, s in enumerate(states) for t in range(len(s) - 25)
            if np.array_equal(s[t], task.start_state) and np.array_equal(s[t + 25], task.goal_state)
        ]
        assert matches, "start/goal must be recorded states 25 steps apart"
        assert env.unwrapped.task_distance(task.start_state, task.goal_state) >= 2 * env.unwrapped.success_threshold
    assert [t.start_state.tolist() for t in tasks] == [t.start_state.tolist() for t in make_tasks(protocol, 5, env.unwrapped)]


def test_latent_planning_end_to_end_with_tiny_model(tmp_path, tiny_checkpoint):
    for planner in ("cem", "gradient"):
        cfg = plan_cfg(
            tmp_path / planner, f"planner={planner}", f"checkpoint={tiny_checkpoint}", "episodes=2", "batch=2",
            "budget=6", "videos=1", "horizon=3", "replan_every=2", "protocol.goal_source=env",
            *(["planner.samples=16", "planner.iterations=2", "planner.elites=4"] if planner == "cem" else ["planner.iterations=3"]),
        )
        results = run(cfg)
        assert results.episodes == 2 and results.replans >= 2
        assert results.config["frameskip"] == 2  # taken from the checkpoint
        history = json.loads((Path(cfg.out) / "traces.jsonl").read_text().splitlines()[0])["cost_history"]
        assert len(history) == cfg.planner.iterations and all(np.isfinite(history))


def test_horizon_beyond_train_horizon_warns_then_errors(tmp_path, tiny_checkpoint):
    base = [f"checkpoint={tiny_checkpoint}", "episodes=1", "budget=2", "videos=0", "protocol.goal_source=env",
            "planner=cem", "planner.samples=4", "planner.iterations=1", "planner.elites=2"]
    with pytest.warns(UserWarning, match="train_horizon=3"):
        run(plan_cfg(tmp_path / "a", *base, "horizon=5"))
    with pytest.raises(ValueError, match="more than 4x"):
        run(plan_cfg(tmp_path / "b", *base, "horizon=13"))


def test_clear_errors_for_bad_checkpoint_and_mismatched_env(tmp_path, tiny_checkpoint):
    with pytest.raises(ValueError, match="pass checkpoint=PATH"):
        run(plan_cfg(tmp_path, "planner=cem"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run(plan_cfg(tmp_path, f"checkpoint={tmp_path / 'missing.pt'}"))
    with pytest.raises(CheckpointError, match="trained on worldjepa/TwoRoom-v0 but env is worldjepa/Push-v0"):
        run(plan_cfg(tmp_path, f"checkpoint={tiny_checkpoint}", "env=push"))
    with pytest.raises(ValueError, match="protocol.dataset is null"):
        run(plan_cfg(tmp_path, "planner=oracle", "protocol.goal_source=dataset"))  # dataset goals need a dataset
    out = tmp_path / "subgoals"
    with pytest.raises(ValueError, match=r"subgoals.enabled=true \(the default\) reads a dataset.*there is no checkpoint "
                                         r"dataset.*pass protocol.dataset=PATH .*or subgoals.enabled=false"):
        run(plan_cfg(out, f"checkpoint={tiny_checkpoint}", "subgoals.enabled=true", "protocol.goal_source=env"))
    assert not out.exists()  # refused before anything was written


def test_cli_reports_missing_checkpoint_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "worldjepa.cli", "plan", f"out={tmp_path}", "checkpoint=nope.pt"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "worldjepa plan: error: checkpoint nope.pt does not exist" in proc.stderr


def test_help_flag_anywhere_prints_the_commands_help_with_the_other_overrides_applied(capsys):
    main(["plan", "--help", "env=push", "planner=mppi"])
    text = capsys.readouterr().out
    assert text.startswith("worldjepa plan:") and "planner={cem, gradient, mppi, oracle, policy, random}" in text
    assert "id: worldjepa/Push-v0" in text and "name: mppi" in text


def test_compose_frame_layout_and_text():
    agent = np.zeros((16, 16, 3), np.uint8)
    goal = np.full((16, 16, 3), 200, np.uint8)
    frame = compose_frame(agent, goal, step=3, distance=0.5, outcome=True, scale=4)
    assert frame.shape == (64, 128, 3)
    assert (frame[:, 64:] == 200).mean() > 0.5  # right panel is the goal
    assert (frame[:, :64] > 0).any()  # text and the success border drawn on the agent panel
    with pytest.raises(ValueError, match="matching"):
        compose_frame(agent, goal[:8], step=0, distance=0.0)


def test_dev_and_test_splits_draw_disjoint_tasks():
    env = worldjepa.envs.make("two_room", image_size=32)
    protocol = {"version": 2, "goal_source": "env", "dataset": None, "dataset_offset": 25, "budget": 10, "seed": 0}
    dev = make_tasks({**protocol, "split": "dev"}, 200, env.unwrapped)
    test = make_tasks({**protocol, "split": "test"}, 200, env.unwrapped)
    assert not {t.reset_seed for t in dev} & {t.reset_seed for t in test}
    assert [t.reset_seed for t in test] == [t.reset_seed for t in make_tasks({**protocol, "split": "test"}, 200, env.unwrapped)]
    with pytest.raises(ValueError, match="choose dev"):
        make_tasks({**protocol, "split": "train"}, 1, env.unwrapped)
