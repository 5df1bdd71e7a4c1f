"""Benchmark training: the real loop's throughput (fp32 and bf16) and a trained checkpoint's held-out figures.

Writes JSON (default benchmarks/out/train.json).

    python benchmarks/train.py [--data DATA] [--checkpoint runs/x/last.pt] [--steps 30]

Held-out figures (with --checkpoint): 1-step and 10-step latent prediction error relative to the
copy-last-embedding baseline, linear-probe R² of the agent position (qpos), embedding std and
effective rank, computed by `worldjepa.training.validation.validate_model`, the function training itself uses.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from worldjepa.atomic import write_json_atomic
from worldjepa.cli import CONFIG_DIR
from worldjepa.data import open_dataset, split_episodes
from worldjepa.data.collector import collect
from worldjepa.training.setup import jepa_rollout_steps
from worldjepa.training.validation import validate_model
from worldjepa.models import load_world_model
from worldjepa.training.train import run as train


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/train.json"))
    parser.add_argument("--data", type=Path, help="dataset; default: collect 12 TwoRoom episodes (64 px) into a temp dir")
    parser.add_argument("--checkpoint", type=Path, help="trained last.pt to evaluate on --data's held-out episodes")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per precision")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--horizon", type=int, default=10, help="multi-step prediction horizon (latent steps)")
    parser.add_argument("--overrides", nargs="*", default=[], help="extra train config overrides, e.g. batch_size=32")
    return parser.parse_args()


def throughput(data: Path, precision: str, steps: int, workdir: Path, overrides: list[str]) -> dict:
    """steps/s and frames/s of `worldjepa train` (data loading included, eval and checkpoints excluded)."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[
            f"data={data}", f"out={workdir / precision}", f"steps={steps}", f"precision={precision}",
            "logger=none", "resume=false", f"log_every={steps}", f"eval_every={steps}",
            "eval.probe_frames=200", "eval.max_windows=32", *overrides,
        ])
    result = train(cfg)["throughput"]
    return {**result, "batch_size": cfg.batch_size, "window": cfg.history + jepa_rollout_steps(cfg)}


def checkpoint_figures(checkpoint: Path, data: Path, horizon: int) -> dict:
    """Held-out figures of a trained model, on the episodes its own run held out (same split seed)."""
    model = load_world_model(checkpoint)
    config = model.meta.config
    train_eps, val_eps = split_episodes(data, config["val_fraction"], seed=config["seed"])
    figures = validate_model(
        model, open_dataset(data), train_eps, val_eps, horizon=horizon, max_windows=512, probe_frames=4000,
        probe_dims=None, batch_size=128, device=torch.device("cpu"),
    )
    return {"checkpoint": str(checkpoint), "val_episodes": len(val_eps), **figures}


def main() -> None:
    args = parse_args()
    if args.checkpoint is not None and args.data is None:
        raise SystemExit("--checkpoint needs --data: the dataset the checkpoint was trained on (its held-out episodes are scored)")
    report: dict = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor(), "torch": torch.__version__,
                    "load_average_at_start": os.getloadavg()},
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "two_room"
            collect("two_room", "waypoint", episodes=12, out=data, workers=2, progress=False)
        report["data"] = str(args.data or "temp TwoRoom dataset (12 episodes x 100 steps, 64 px)")
        report["throughput"] = {p: throughput(data, p, args.steps, Path(tmp), args.overrides) for p in args.precisions}
        if args.checkpoint is not None:
            report["checkpoint"] = checkpoint_figures(args.checkpoint, data, args.horizon)
    report["machine"]["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, report)
    print(f"wrote {args.out}")
    for precision, figures in report["throughput"].items():
        print(f"{precision}: {figures['steps_per_s']:.2f} steps/s, {figures['frames_per_s']:.0f} frames/s, "
              f"{figures['cpu_seconds_per_step']:.2f} CPU-s/step")


if __name__ == "__main__":
    main()
