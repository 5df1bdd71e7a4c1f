"""Model error under the planner's actions versus the data's -> JSON.

    .venv/bin/python benchmarks/action_shift.py --checkpoint R/last.pt [--out R/action_shift.json]

A planner scores action sequences the exploration policy never took. This script measures how far
the world model's predictions drift on such sequences. From held-out dataset states it rolls the
model forward on three kinds of action sequence, and the true simulator on the same ones:
- `data`: the actions the dataset recorded (the training distribution);
- `gaussian`: N(0, 1) per env step, clipped to [-1, 1] (CEM/MPPI's first-iteration samples);
- `held`: one such action per latent step, held for its frameskip env steps (`hold=true`).
A ridge readout (fit on training-episode frames, as the probe is) turns predicted embeddings into
positions; the figure is the mean Euclidean error of the read-out positions after `horizon` latent
steps, next to the readout's own error on encoded true frames (the floor) and to how far the true
positions moved (`mean_true_displacement`: the error of predicting no motion). Positions are the
dataset's qpos dims unless `--dims` picks others (Push: 0 1 = block x, y; 3 4 = pusher x, y).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from worldjepa.atomic import write_json_atomic
from worldjepa.data import open_dataset, split_episodes
from worldjepa.data.collector import make_env
from worldjepa.training.validation import embed_frames, position_dims
from worldjepa.models import fit_ridge, load_world_model

SOURCES = ("data", "gaussian", "held")


def action_sequences(rng: np.random.Generator, data_actions: np.ndarray, horizon: int, frameskip: int) -> dict:
    """One [horizon * frameskip, A] sequence per source, starting from the same state."""
    steps, dim = data_actions.shape
    per_step = np.clip(rng.normal(size=(steps, dim)), -1, 1)
    held = np.repeat(np.clip(rng.normal(size=(horizon, dim)), -1, 1), frameskip, axis=0)
    return {"data": data_actions, "gaussian": per_step, "held": held}


def window_times(length: int, horizon: int, frameskip: int, history: int, stride: int) -> range:
    """Env steps t of an episode of `length` frames where an evaluation window plans: `history`
    context frames ending at t, then `horizon` latent steps of `frameskip` env steps; window starts
    are `stride` env steps apart."""
    context = (history - 1) * frameskip
    return range(context, length - horizon * frameskip - 1, stride)


@torch.no_grad()
def measure(checkpoint: Path, data: Path | None, dims: list[int] | None, horizon: int | None, stride: int,
            seed: int) -> dict:
    model = load_world_model(checkpoint).requires_grad_(False)
    store = open_dataset(data or (model.meta.dataset or {}).get("path"))
    dims = dims or position_dims(store.meta)
    fs, k, horizon = model.frameskip, model.history, horizon or model.meta.train_horizon
    train_eps, val_eps = split_episodes(store.root, 0.1, seed=0)
    z, y = embed_frames(model, store, train_eps, 20000, dims, batch_size=256, device=torch.device("cpu"))
    weight, bias = (torch.from_numpy(a).float() for a in fit_ridge(z, y))

    def read(e: torch.Tensor) -> np.ndarray:
        return (e.float() @ weight + bias).numpy()

    env = make_env(store.meta["env_id"], store.meta["env_kwargs"])
    sim, rng = env.unwrapped, np.random.default_rng(seed)
    errors = {name: [] for name in (*SOURCES, "readout_floor")}
    moved = {name: [] for name in SOURCES}
    for e in val_eps:
        pixels, actions, states = store.load(e, "pixels"), store.load(e, "actions"), store.load(e, "state")
        for t in window_times(len(pixels), horizon, fs, k, stride):
            z_hist = model.encode(torch.from_numpy(pixels[t - (k - 1) * fs : t + 1 : fs])[None])
            end = t + horizon * fs
            floor = read(model.encode(torch.from_numpy(pixels[end : end + 1])))[0]
            errors["readout_floor"].append(np.linalg.norm(floor - states[end, dims]))
            for name, seq in action_sequences(rng, actions[t : t + horizon * fs], horizon, fs).items():
                truth = sim.simulate(states[t], seq[None].astype(np.float64))[0, -1, dims]
                pred = read(model.rollout(z_hist, torch.from_numpy(seq).float().reshape(1, horizon, -1))[0, -1])
                errors[name].append(np.linalg.norm(pred - truth))
                moved[name].append(np.linalg.norm(truth - states[t, dims]))
    env.close()
    return {
        "checkpoint": str(checkpoint), "dataset": str(store.root), "dims": dims, "horizon": horizon,
        "env_steps": horizon * fs, "windows": len(errors["data"]),
        "mean_position_error": {name: float(np.mean(v)) for name, v in errors.items()},
        "mean_true_displacement": {name: float(np.mean(v)) for name, v in moved.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=None, help="dataset (default: the checkpoint's)")
    parser.add_argument("--dims", type=int, nargs="+", default=None, help="state dims to read out (default: qpos)")
    parser.add_argument("--horizon", type=int, default=None, help="latent steps (default: the model's train horizon)")
    parser.add_argument("--stride", type=int, default=10, help="env steps between window starts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default: next to the checkpoint)")
    args = parser.parse_args()
    result = measure(args.checkpoint, args.data, args.dims, args.horizon, args.stride, args.seed)
    out = args.out or args.checkpoint.parent / "action_shift.json"
    write_json_atomic(out, result)
    for key in ("mean_position_error", "mean_true_displacement"):
        print(key, {k: round(v, 3) for k, v in result[key].items()})
    print("->", out)


if __name__ == "__main__":
    main()
