"""Fault matrix, planning and evaluation: kill -9 and a full disk mid-evaluation (the rerun resumes
from episodes.csv with no duplicated and no lost episodes), non-finite warm starts for every solver,
and a checkpoint holding non-finite weights.

Covered elsewhere: out-of-bounds property and non-finite costs (test_planners.py), horizon beyond
training, missing checkpoint, checkpoint of another env (test_evaluate.py), bad CLI values
(test_faults_inputs.py).
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from conftest import WORLDJEPA, write_text_failing_at
from hydra import compose, initialize_config_dir

from worldjepa.checkpoint import CheckpointError, load_checkpoint
from worldjepa.cli import CONFIG_DIR
from worldjepa.evaluation.plan import run
from worldjepa.planners import make_planner

# A random-planner evaluation of 10 tasks, one per batch, so episodes.csv grows episode by episode.
EPISODES = 10
PLAN = ["planner=random", f"episodes={EPISODES}", "batch=1", "budget=15", "videos=0", "progress=false",
        "env.kwargs.image_size=32", "protocol.goal_source=env", "threads=1"]
TIMING = {"plan_time_s"}  # the only per-episode column that may differ between runs


def plan_cfg(out: Path, *overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("plan", overrides=[f"out={out}", *PLAN, *overrides])


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "episodes.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def traces(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "traces.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """An uninterrupted evaluation: the reference every interrupted one must end up equal to."""
    out = tmp_path_factory.mktemp("plan_clean") / "eval"
    run(plan_cfg(out))
    return out


def assert_same_evaluation(out: Path, clean: Path) -> None:
    """Same episodes, each once, same outcomes and traces, and a complete results.json."""
    got = rows(out)
    assert [(r["seed"], r["episode"]) for r in got] == [("0", str(i)) for i in range(EPISODES)], "duplicated or lost"
    assert got == rows(clean)
    assert traces(out) == traces(clean)
    results, reference = (json.loads((d / "results.json").read_text()) for d in (out, clean))
    assert results["complete"] and results["episodes"] == EPISODES
    for key in ("successes", "success_rate", "mean_final_distance", "env_steps", "config_id"):
        assert results[key] == reference[key], key


def test_kill_9_mid_evaluation_resumes_without_duplicates_or_loss(tmp_path, clean):
    out = tmp_path / "eval"
    args = [*WORLDJEPA, "plan", f"out={out}", *PLAN]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "episodes.csv").exists() or len(rows(out)) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "plan ended before it could be killed"
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = len(rows(out))
    assert 3 <= done < EPISODES, "kill came too late to test resuming"
    assert not json.loads((out / "results.json").read_text())["complete"]

    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_evaluation(out, clean)


# Each batch rewrites three files (traces.jsonl, episodes.csv, results.json); fail each write of batch 2.
@pytest.mark.parametrize("call", [4, 5, 6])
def test_disk_full_mid_evaluation_resumes_without_duplicates_or_loss(tmp_path, monkeypatch, clean, call):
    out = tmp_path / "eval"
    monkeypatch.setattr(Path, "write_text", write_text_failing_at(call))
    with pytest.raises(OSError, match="No space left on device"):
        run(plan_cfg(out))
    monkeypatch.undo()
    assert 1 <= len(rows(out)) <= 2  # the last complete state: batch 1, or batches 1-2
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".hydra"], "temp file left"
    json.loads((out / "results.json").read_text())
    run(plan_cfg(out))
    assert_same_evaluation(out, clean)


@pytest.mark.parametrize("name", ["cem", "mppi", "gradient", "random"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_warm_start_is_a_clear_error_for_every_solver(name, bad):
    hp = {"iterations": 1} | ({} if name == "gradient" else {"samples": 4}) | ({"elites": 2} if name == "cem" else {})
    planner = make_planner(name, horizon=3, action_dim=2, **hp)
    init = torch.zeros(2, 3, 2)
    init[1, 2, 0] = bad
    with pytest.raises(ValueError, match="init_mean contains NaN or inf: pass finite actions, or None"):
        planner.solve(lambda a: a.pow(2).sum((-1, -2)), batch_size=2, init_mean=init)


def test_checkpoint_with_non_finite_weights_is_refused(tmp_path, fault_checkpoint):
    ckpt = load_checkpoint(fault_checkpoint)
    name = next(k for k in ckpt["state_dict"] if k.startswith("predictor."))
    ckpt["state_dict"][name].view(-1)[0] = math.nan
    torch.save(ckpt, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=r"non-finite.*predictor\..*retrain|NaN"):
        run(plan_cfg(tmp_path / "eval", "planner=cem", f"checkpoint={tmp_path / 'nan.pt'}", "horizon=2",
                     "planner.samples=4", "planner.iterations=1", "planner.elites=2", "episodes=1"))
