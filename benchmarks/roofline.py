"""Roofline of training and planning on this machine: peaks, FLOPs per step, achieved FLOP/s, per-phase time.

Writes JSON (default benchmarks/results/roofline.json).

    python benchmarks/roofline.py --data DATA [--variants NAME=k=v,k=v[@bf16] ...]

For each encoder variant it builds the real training run (`worldjepa.training.setup`) on DATA and
times, over --steps steps after a warm-up, each phase of the loop: data (next batch), forward
(the whole `training_loss`, online and target encoder included), backward, optimiser (clip + AdamW),
EMA; the encoder's own share is timed apart (online forward + backward, target forward) on the
same frames. FLOPs come from `torch.utils.flop_counter`. Variants are timed in turns (round
robin), so a busy machine slows each alike. Planning: one replan of MPPI (quickstart: 1,000
samples x 10 iterations, horizon 8, 20 goals) and CEM (300 x 30, horizon 5, 1 goal) through the
default predictor (the encoder only encodes the current frames, so it does not count there).
--quality adds each variant's held-out figures and planning success from runs trained and planned
with the CLI.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from torch.utils.flop_counter import FlopCounterMode

from worldjepa.atomic import write_json_atomic
from worldjepa.config import CONFIG_DIR
from worldjepa.planning.costs import latent_cost
from worldjepa.planners import CEM, MPPI
from worldjepa.training.device import autocast
from worldjepa.training.distributed import DistInfo
from worldjepa.training.optimisation import clip_gradients
from worldjepa.training.setup import jepa_rollout_steps, make_loader, make_step, prepare_run

OLD = "stem_stride=2,channels=[16,32,64,64]"
NEW = "stem_stride=4,channels=[32,64,64]"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a dataset written by `worldjepa collect` (64 px)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/roofline.json"))
    parser.add_argument("--variants", nargs="+", default=[f"overlapping_fp32={OLD}", f"patchify_fp32={NEW}",
                                                        f"patchify_bf16={NEW}@bf16"],
                        help="NAME=k=v,k=v[@PRECISION]: model.encoder overrides (lists in brackets) and "
                             "the training precision (default fp32); the first is the baseline")
    parser.add_argument("--quality", nargs="*", default=[],
                        help="NAME=RUN_DIR[,PLAN_DIR]: a variant's trained run (held-out figures from its "
                             "metrics.json) and a `worldjepa plan` of it (success from its results.json)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant (after 3 warm-up steps)")
    parser.add_argument("--rounds", type=int, default=2, help="round-robin turns; each times --steps steps")
    return parser.parse_args()


def seconds(fn, repeat: int = 3) -> float:
    """Best wall time of `repeat` calls (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peaks() -> dict[str, float]:
    """GFLOP/s of a square matmul (fp32 2048, bf16 512: bf16 can be 300x slower on CPUs without bf16 units)
    and of two well-shaped convs (3x3 128 -> 128 channels on 16x16 maps; the encoder's own 4x4 stride-2
    64 -> 64 on 8x8 maps, 640 frames) in fp32 and bf16.

    A precision's peak is the fastest of its kernels: torch's matmul and conv use different libraries
    (BLAS, oneDNN), and on some CPUs one reaches several times the other's rate.
    """
    out = {}
    for name, n, dtype in (("matmul_fp32", 2048, torch.float32), ("matmul_bf16", 512, torch.bfloat16)):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        out[name] = 2 * n**3 / seconds(lambda: a @ b) / 1e9
    shapes = {"conv3x3": (torch.nn.Conv2d(128, 128, 3, padding=1), (256, 128, 16, 16)),
              "conv4x4s2": (torch.nn.Conv2d(64, 64, 4, stride=2, padding=1), (640, 64, 8, 8))}
    for dtype, suffix in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        for name, (conv, shape) in shapes.items():
            conv, x = conv.to(dtype), torch.randn(*shape, dtype=dtype)
            with torch.no_grad():
                out[f"{name}_{suffix}"] = flops(lambda: conv(x)) / seconds(lambda: conv(x)) / 1e9
        out[suffix] = max(v for k, v in out.items() if k.endswith(suffix))
    return out


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


class Variant:
    """One encoder setting's real training run (model, optimiser, loader), stepped phase by phase."""

    def __init__(self, spec: str, data: Path, workdir: Path) -> None:
        self.name, rest = spec.split("=", 1)
        overrides, _, precision = rest.partition("@")
        # 'a=1,b=[2,3]' -> the overrides model.encoder.a=1 and model.encoder.b=[2,3] (no split inside brackets)
        enc = [f"model.encoder.{kv}" for kv in re.split(r",(?![^\[]*\])", overrides) if kv]
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            self.cfg = compose("train", overrides=[
                f"data={data}", f"out={workdir / self.name}", "logger=none", "resume=false", "progress=false",
                "steps=100000", f"precision={precision or 'fp32'}", *enc])
        info = DistInfo()
        self.run = prepare_run(self.cfg, info)
        self.loss_module, self.step_fn = make_step(self.run, self.cfg, info)
        self.batches = iter(make_loader(self.run, self.cfg, info))
        self.trainable = [p for p in self.run.model.parameters() if p.requires_grad]
        self.times: dict[str, list[float]] = {k: [] for k in ("data", "forward", "backward", "optimizer", "ema")}
        self.run.model.train()

    def step(self, record: bool) -> None:
        """One training step as the loop runs it, each phase timed."""
        marks = [time.perf_counter()]
        batch = next(self.batches).to(self.run.device)
        marks.append(time.perf_counter())
        with autocast(self.run.device, self.run.amp_dtype):
            loss, _ = self.step_fn(batch)
        marks.append(time.perf_counter())
        self.run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        marks.append(time.perf_counter())
        clip_gradients(self.trainable, self.cfg.optim.grad_clip)
        self.run.optimizer.step()
        marks.append(time.perf_counter())
        self.run.model.update_target(0.99)
        marks.append(time.perf_counter())
        if record:
            for key, start, end in zip(self.times, marks, marks[1:]):
                self.times[key].append(end - start)

    def report(self) -> dict:
        model, batch = self.run.model, next(self.batches)
        frames = batch.pixels[:, : self.cfg.history + jepa_rollout_steps(self.cfg)]
        frames = frames.reshape(-1, *frames.shape[-3:])

        def train_step() -> None:
            with autocast(self.run.device, self.run.amp_dtype):
                loss, _ = self.step_fn(batch)
            loss.backward()

        def online() -> None:
            with autocast(self.run.device, self.run.amp_dtype):
                z = model.encoder(frames)
            z.float().square().mean().backward()

        def target() -> None:
            with torch.no_grad(), autocast(self.run.device, self.run.amp_dtype):
                model.target_encoder(frames)

        phases = {k: sum(v) / len(v) for k, v in self.times.items()}
        step_s = sum(phases.values())
        step_flops = flops(train_step)
        layers = [m for m in model.encoder.convs if isinstance(m, torch.nn.Conv2d)]
        return {
            "encoder": model.meta.config["model"]["encoder"], "precision": self.cfg.precision,
            "encoder_params": sum(p.numel() for p in model.encoder.parameters()),
            "frames_per_step": len(frames),
            "step_seconds": step_s, "steps_per_s": 1 / step_s,
            "phase_seconds": phases,
            "encoder_seconds": {"online_fwd_bwd": seconds(online), "target_fwd": seconds(target)},
            "gflop_per_step": step_flops / 1e9,
            "achieved_gflops": step_flops / step_s / 1e9,
            "conv_layers_fwd": conv_profile(layers, frames, self.run),
        }


@torch.no_grad()
def conv_profile(layers: list[torch.nn.Conv2d], frames: torch.Tensor, run) -> list[dict]:
    """Forward time and GFLOP/s of each conv layer on the step's frames, at the run's precision."""
    x = frames.permute(0, 3, 1, 2).float().div(255).sub(0.5)
    if run.amp_dtype is not None:
        x, layers = x.to(run.amp_dtype), [copy.deepcopy(layer).to(run.amp_dtype) for layer in layers]
    rows = []
    for layer in layers:
        t, f = seconds(lambda: layer(x)), flops(lambda: layer(x))
        rows.append({"layer": f"{layer.in_channels}->{layer.out_channels} s{layer.stride[0]} @{x.shape[-1]}px",
                     "ms": 1e3 * t, "gflops": f / t / 1e9, "share_of_flops": f})
        x = torch.nn.functional.silu(layer(x))
    total = sum(r["share_of_flops"] for r in rows)
    for r in rows:
        r["share_of_flops"] /= total
    return rows


@torch.no_grad()
def planning(model) -> dict:
    """Seconds and GFLOP/s of one replan through this model's predictor and the default (L2) latent cost."""
    model.eval()
    a_dim, d, k = model.frameskip * model.action_dim, model.embed_dim, model.history
    out = {}
    for name, planner, goals in (
        ("mppi_1000x10_h8_b20", MPPI(horizon=8, action_dim=a_dim, samples=1000, iterations=10), 20),
        ("cem_300x30_h5_b1", CEM(horizon=5, action_dim=a_dim, samples=300, iterations=30, elites=30), 1),
    ):
        cost = latent_cost(model, torch.randn(goals, k, d), torch.randn(goals, d))  # the planners' default cost
        t, f = seconds(lambda: planner.solve(cost, goals), repeat=2), flops(lambda: planner.solve(cost, goals))
        out[name] = {"seconds": t, "gflop": f / 1e9, "gflops": f / t / 1e9}
    model.train()
    return out


COLUMNS = [["id", "variant"], ["precision", "precision"], ["rate", "train steps/s or s per replan"],
           ["speedup", "speed-up"], ["gflop", "GFLOP per step or replan"], ["achieved_gflops", "GFLOP/s"],
           ["utilization", "of peak"], ["rel_err_1", "1-step err / copy-last"],
           ["rel_err_h", "multi-step err / copy-last"], ["probe_r2", "probe R²"], ["test_success", "test success"]]


def quality(spec: str) -> tuple[str, dict]:
    """NAME=RUN_DIR[,PLAN_DIR] -> (NAME, the held-out figures and the planning success as table cells)."""
    name, dirs = spec.split("=", 1)
    run, _, plan = dirs.partition(",")
    val = json.loads((Path(run) / "metrics.json").read_text())["val"]
    h = val["horizon"]
    cells = {"rel_err_1": f"{val['rel_err_1']:.3f}", "rel_err_h": f"{val[f'rel_err_{h}']:.3f} ({h} steps)",
             "probe_r2": f"{val['probe_r2']:.3f}"}
    if plan:
        res = json.loads((Path(plan) / "results.json").read_text())
        low, high = res["success_ci95"]
        cells["test_success"] = (f"{100 * res['success_rate']:.1f}% ({res['successes']}/{res['episodes']}, "
                                 f"CI {100 * low:.1f}–{100 * high:.1f}%)")
    return name, cells


def table_row(name: str, row: dict, base: dict, peak: float) -> dict:
    """One variant as rendered cells (benchmarks/render_results.py shows a row's own values as they are)."""
    return {"id": name, "precision": row["precision"], "rate": f"{row['steps_per_s']:.2f}",
            "speedup": f"{row['steps_per_s'] / base['steps_per_s']:.2f}x",
            "gflop": f"{row['gflop_per_step']:.1f}", "achieved_gflops": f"{row['achieved_gflops']:.0f}",
            "utilization": f"{100 * row['achieved_gflops'] / peak:.0f}%"}


def planning_rows(plans: dict, peak: float) -> list[dict]:
    """The planners' replans as table rows (their cost does not depend on the encoder)."""
    return [{"id": f"plan {name}", "precision": "fp32", "rate": f"{p['seconds']:.3f}", "gflop": f"{p['gflop']:.1f}",
             "achieved_gflops": f"{p['gflops']:.0f}", "utilization": f"{100 * p['gflops'] / peak:.0f}%"}
            for name, p in plans.items()]


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    machine = {"cpus": os.cpu_count(), "processor": platform.processor(), "torch": torch.__version__,
               "threads": torch.get_num_threads(), "load_average_at_start": os.getloadavg()}
    peak = peaks()
    with tempfile.TemporaryDirectory() as tmp:
        variants = [Variant(spec, data=args.data, workdir=Path(tmp)) for spec in args.variants]
        for v in variants:  # warm-up: allocator, oneDNN kernel choice
            for _ in range(3):
                v.step(record=False)
        for _ in range(args.rounds):
            for v in variants:
                for _ in range(args.steps):
                    v.step(record=True)
        details = {v.name: v.report() for v in variants}
        plans = planning(variants[0].run.model)
    machine["load_average_at_end"] = os.getloadavg()
    base = next(iter(details.values()))
    figures = dict(quality(spec) for spec in args.quality)
    rows = [{**table_row(name, row, base, peak[row["precision"]]),
             **figures.get(name, {})} for name, row in details.items()] + planning_rows(plans, peak["fp32"])
    write_json_atomic(args.out, {
        "title": "Training and planning throughput against the machine's measured peak",
        "provenance": "written by benchmarks/roofline.py",
        "command": "python benchmarks/roofline.py " + " ".join(sys.argv[1:]),
        "columns": COLUMNS, "rows": rows, "machine": machine, "peak_gflops": peak, "details": details,
        "planning": plans,
    })
    for row in rows:
        print(", ".join(f"{k}={v}" for k, v in row.items()))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
