"""End-to-end smoke test: `worldjepa quickstart` (collect -> train -> plan) through the real CLI, tiny."""

from __future__ import annotations

import json
import subprocess
import sys

import imageio.v3 as iio
from omegaconf import OmegaConf

from worldjepa.quickstart import as_overrides

# Stage keys that configs/quickstart.yaml does not list need no `+`: each stage's own config checks them.
TINY = [
    "collect.episodes=6", "collect.episode_steps=50", "collect.progress=false",
    "train.steps=4", "train.batch_size=4", "train.rollout_steps=2", "train.logger=none", "train.threads=1",
    "train.val_fraction=0.34", "train.eval.probe_frames=40", "train.eval.max_windows=8",
    "train.model.encoder.channels=[4,4,4,4]", "train.model.encoder.embed_dim=8", "train.model.predictor.hidden=16",
    "plan.episodes=2", "plan.batch=2", "plan.budget=10", "plan.videos=1", "plan.horizon=2",
    "plan.planner.samples=16", "plan.planner.iterations=2", "plan.progress=false",
]


def test_quickstart_runs_the_whole_pipeline(tmp_path):
    out = tmp_path / "qs"
    proc = subprocess.run(
        [sys.executable, "-m", "worldjepa.cli", "quickstart", f"out={out}", *TINY],
        capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "success rate:" in proc.stdout and str(out / "eval" / "videos") in proc.stdout

    assert len(list((out / "data" / "episodes").iterdir())) == 6
    assert (out / "run" / "last.pt").is_file()
    results = json.loads((out / "eval" / "results.json").read_text())
    assert results["episodes"] == 2 and 0.0 <= results["success_rate"] <= 1.0
    assert results["planner"] == "mppi"  # quickstart.yaml's planner block, with its samples changed

    videos = list((out / "eval" / "videos").glob("*.mp4"))
    assert len(videos) == 1
    frames = iio.imread(videos[0])
    assert frames.ndim == 4 and frames.shape[0] >= 2 and frames.shape[2] == 2 * frames.shape[1]  # agent | goal


def test_stage_blocks_with_a_name_pick_the_config_group_option_then_change_its_keys():
    settings = OmegaConf.create({
        "planner": {"name": "mppi", "samples": 1000}, "model": {"encoder": {"name": "vit", "depth": 2}},
        "subgoals": {"enabled": True}, "seeds": [0, 1], "checkpoint": None,
    })
    assert as_overrides(settings) == [
        "planner=mppi", "planner.samples=1000", "model/encoder=vit", "model.encoder.depth=2",
        "subgoals.enabled=True", "seeds=[0, 1]", "checkpoint=null",
    ]
