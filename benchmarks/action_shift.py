"""Model error under the planner's actions versus the data's -> JSON.

    .venv/bin/python benchmarks/action_shift.py --checkpoint R/last.pt [--members R2/last.pt ...] [--out R/action_shift.json]

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

`--members R2/last.pt R3/last.pt` (the same data, other training seeds) adds what an ensemble guard would
see: the members' disagreement, whether it ranks the first model's errors, and whether it tells the pushes
the model hallucinates from the real ones (`ensemble` in the JSON).
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
from worldjepa.evaluation.records import rank_correlation
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


def readout_weights(model, store, episodes: list[int], dims: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A ridge map (weight [D, dims], bias) from `model`'s embeddings to the state `dims`, fit on frames of
    `episodes` (as the probe is)."""
    z, y = embed_frames(model, store, episodes, 20000, dims, batch_size=256, device=torch.device("cpu"))
    weight, bias = (torch.from_numpy(a).float() for a in fit_ridge(z, y))
    return weight, bias


def readout(model, store, episodes: list[int], dims: list[int]):
    """`readout_weights` as a function: embeddings [..., D] -> positions [..., dims] (numpy)."""
    weight, bias = readout_weights(model, store, episodes, dims)
    return lambda e: (e.float() @ weight + bias).numpy()


def auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """P(score of a positive > score of a negative), ties half: how well `scores` flag `positive` (0.5 = chance)."""
    pos, neg = scores[positive], scores[~positive]
    if not len(pos) or not len(neg):
        return None
    return float((pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean())


def correlation(errors: np.ndarray, pairs: list[tuple[int, int]]) -> float | None:
    """Mean Pearson correlation of the members' per-window errors over `pairs`; None if an error never varies."""
    if (errors.std(axis=1) == 0).any():
        return None
    return float(np.mean([np.corrcoef(errors[i], errors[j])[0, 1] for i, j in pairs]))


def ensemble_summary(predictions: list[np.ndarray], truth: np.ndarray, start: np.ndarray, move: float) -> dict:
    """Could the members' disagreement guard against the first model's errors? Predictions [W, dims] per member.

    A "false mover" is a window where the first model predicts a displacement over `move` that is truly under half
    of it (a hallucinated push); a "true mover" one where both are over `move`."""
    preds = np.stack(predictions)  # [K, W, dims]
    errors = np.linalg.norm(preds - truth, axis=-1)
    disagreement = np.linalg.norm(preds - preds.mean(0), axis=-1).mean(0)
    predicted, moved = np.linalg.norm(preds[0] - start, axis=-1), np.linalg.norm(truth - start, axis=-1)
    false_mover, true_mover = (predicted > move) & (moved < move / 2), (predicted > move) & (moved > move)
    flagged = false_mover | true_mover
    pairs = [(i, j) for i in range(len(preds)) for j in range(i + 1, len(preds))]
    return {
        "members": len(preds),
        "mean_disagreement": float(disagreement.mean()),
        "mean_error": float(errors[0].mean()),
        "rank_correlation_disagreement_error": rank_correlation(disagreement, errors[0]),
        "error_correlation_between_members": correlation(errors, pairs),
        "false_movers": int(false_mover.sum()),
        "true_movers": int(true_mover.sum()),
        "auc_disagreement_false_vs_true_movers": auc(disagreement[flagged], false_mover[flagged]),
    }


@torch.no_grad()
def measure(checkpoints: list[Path], data: Path | None, dims: list[int] | None, horizon: int | None, stride: int,
            seed: int, move: float = 0.08) -> dict:
    """Errors of the first checkpoint's predictions per action source; with more checkpoints (an ensemble of
    the same env and dataset), also whether their disagreement flags those errors (`ensemble_summary`)."""
    models = [load_world_model(c).requires_grad_(False) for c in checkpoints]
    model = models[0]
    store = open_dataset(data or (model.meta.dataset or {}).get("path"))
    dims = dims or position_dims(store.meta)
    fs, k, horizon = model.frameskip, model.history, horizon or model.meta.train_horizon
    if any((m.frameskip, m.history, m.meta.env_id) != (fs, k, model.meta.env_id) for m in models):
        raise ValueError("ensemble members must share the env, frameskip and history of the first checkpoint")
    train_eps, val_eps = split_episodes(store.root, 0.1, seed=0)
    reads = [readout(m, store, train_eps, dims) for m in models]

    env = make_env(store.meta["env_id"], store.meta["env_kwargs"])
    sim, rng = env.unwrapped, np.random.default_rng(seed)
    errors = {name: [] for name in (*SOURCES, "readout_floor")}
    moved = {name: [] for name in SOURCES}
    members = {name: {"preds": [], "truth": [], "start": []} for name in SOURCES}
    for e in val_eps:
        pixels, actions, states = store.load(e, "pixels"), store.load(e, "actions"), store.load(e, "state")
        for t in window_times(len(pixels), horizon, fs, k, stride):
            context = torch.from_numpy(pixels[t - (k - 1) * fs : t + 1 : fs])[None]
            z_hists = [m.encode(context) for m in models]  # one encoding per model, shared by every action source
            end = t + horizon * fs
            floor = reads[0](model.encode(torch.from_numpy(pixels[end : end + 1])))[0]
            errors["readout_floor"].append(np.linalg.norm(floor - states[end, dims]))
            for name, seq in action_sequences(rng, actions[t : t + horizon * fs], horizon, fs).items():
                truth = sim.simulate(states[t], seq[None].astype(np.float64))[0, -1, dims]
                chunks = torch.from_numpy(seq).float().reshape(1, horizon, -1)
                preds = [read(m.rollout(z, chunks)[0, -1]) for m, z, read in zip(models, z_hists, reads)]
                errors[name].append(np.linalg.norm(preds[0] - truth))
                moved[name].append(np.linalg.norm(truth - states[t, dims]))
                for key, value in (("preds", preds), ("truth", truth), ("start", states[t, dims])):
                    members[name][key].append(value)
    env.close()
    result = {
        "checkpoint": str(checkpoints[0]), "dataset": str(store.root), "dims": dims, "horizon": horizon,
        "env_steps": horizon * fs, "windows": len(errors["data"]),
        "mean_position_error": {name: float(np.mean(v)) for name, v in errors.items()},
        "mean_true_displacement": {name: float(np.mean(v)) for name, v in moved.items()},
    }
    if len(models) > 1:
        result["members"] = [str(c) for c in checkpoints]
        result["ensemble"] = {
            name: ensemble_summary([np.array(p) for p in zip(*m["preds"])], np.array(m["truth"]), np.array(m["start"]),
                                   move)
            for name, m in members.items()
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--members", type=Path, nargs="+", default=[],
                        help="more checkpoints of the same env and dataset (e.g. other training seeds): also report "
                             "whether their disagreement flags the first model's errors, as an ensemble guard would")
    parser.add_argument("--move", type=float, default=0.08,
                        help="displacement (m) that counts as a push for the ensemble's false/true movers (Push: its "
                             "success radius)")
    parser.add_argument("--data", type=Path, default=None, help="dataset (default: the checkpoint's)")
    parser.add_argument("--dims", type=int, nargs="+", default=None, help="state dims to read out (default: qpos)")
    parser.add_argument("--horizon", type=int, default=None, help="latent steps (default: the model's train horizon)")
    parser.add_argument("--stride", type=int, default=10, help="env steps between window starts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default: next to the checkpoint)")
    args = parser.parse_args()
    result = measure([args.checkpoint, *args.members], args.data, args.dims, args.horizon, args.stride,
                     args.seed, args.move)
    out = args.out or args.checkpoint.parent / "action_shift.json"
    write_json_atomic(out, result)
    for key in ("mean_position_error", "mean_true_displacement"):
        print(key, {k: round(v, 3) for k, v in result[key].items()})
    for name, summary in result.get("ensemble", {}).items():
        print("ensemble", name, {k: round(v, 3) if isinstance(v, float) else v for k, v in summary.items()})
    print("->", out)


if __name__ == "__main__":
    main()
