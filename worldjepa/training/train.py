"""`worldjepa train`: fit a JEPA world model on a collected dataset, in one readable loop.

Each step: sample a batch (indices derived from the step, see `training.sampling`), latent loss,
guard against divergence, AdamW step, EMA target update. Periodically: log, evaluate, checkpoint.
Rerunning with the same `out` resumes from `out/last.pt` to exactly the state an uninterrupted run
reaches. Under `torchrun` the trainable modules are wrapped in DDP and only rank 0 logs and writes.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from worldjepa.atomic import is_temp_file, write_json_atomic
from worldjepa.checkpoint import load_checkpoint
from worldjepa.data import Batch, WindowDataset, open_dataset, split_episodes
from worldjepa.training.validation import collapse_metrics, evaluate
from worldjepa.errors import WorldJepaError, check_positive_int
from worldjepa.models import CollapseError, JEPAWorldModel, build_world_model, check_collapse
from worldjepa.training.device import autocast, autocast_dtype, select_device
from worldjepa.training.distributed import (
    DistInfo, all_ranks_agree, assert_replicas_equal, init_distributed, shutdown_distributed,
)
from worldjepa.training.loggers import make_logger
from worldjepa.training.sampling import StepBatchSampler
from worldjepa.training.schedules import ema_momentum, learning_rate
from worldjepa.training.state import rng_state, set_rng_state

log = logging.getLogger(__name__)
CHECKPOINT = "last.pt"
METRICS = "metrics.json"


class TrainingDivergedError(WorldJepaError, RuntimeError):
    """The loss, gradients or embeddings became non-finite or exploded; nothing was checkpointed after."""


class TrainingLoss(nn.Module):
    """`model.training_loss` as a module forward, so DDP (gradient all-reduce) and torch.compile can wrap it.

    It also records the largest raw (pre-LayerNorm) online-encoder output norm of the step: the
    normalised embeddings always have norm sqrt(D), so only the raw output can show them exploding.
    """

    def __init__(self, model: JEPAWorldModel, rollout_steps: int) -> None:
        super().__init__()
        self.model, self.rollout_steps = model, rollout_steps
        self.raw_norm = torch.zeros(())
        model.encoder.register_forward_hook(self._record_norm)

    def _record_norm(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self.raw_norm = output.detach().float().norm(dim=-1).max()

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        return self.model.training_loss(batch, self.rollout_steps)


def compile_modules(model: JEPAWorldModel) -> None:
    """torch.compile the encoders and the predictor's layers in place (state_dict keys unchanged).

    Not the whole loss: `training_loss` reads python floats (`.item()`) for its metrics, which would
    break the graph and recompile on every new value.
    """
    model.encoder.compile()
    model.target_encoder.compile()
    for layer in model.predictor.children():
        layer.compile()


def make_optimizer(model: nn.Module, cfg: DictConfig) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; weight decay on matrices and kernels only (not biases/norms)."""
    if cfg.name != "adamw":
        raise ValueError(f"optim={cfg.name!r} is unknown: use optim=adamw")
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))


def describe_batch(batch: Batch) -> str:
    """The (episode, start step) pairs of a batch, for error messages that let one find the data."""
    pairs = ", ".join(f"({e}, {s})" for e, s in zip(batch.episode.tolist(), batch.step.tolist()))
    return f"[(episode, start step): {pairs}]"


def divergence(loss: float, raw_norm: float, max_norm: float) -> str | None:
    """What went wrong in this step's forward pass, or None when the loss and embeddings are healthy."""
    if not np.isfinite(loss):
        return f"non-finite loss ({loss})"
    if not np.isfinite(raw_norm) or raw_norm > max_norm:
        return f"exploding embeddings (raw encoder output norm {raw_norm:.3g} > guard.max_embed_norm={max_norm:g})"
    return None


def check_config(cfg: DictConfig) -> None:
    """Reject counts and intervals that would break the loop, naming the key to fix."""
    keys = ("steps", "batch_size", "history", "rollout_steps", "frameskip", "log_every", "eval_every", "ckpt_every")
    for key in keys:
        check_positive_int(key, cfg[key], example=100)


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The run's config as a plain dict (what goes into checkpoints and the logger)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    config.pop("hydra", None)
    return config


def resume(path: Path, model: JEPAWorldModel, optimizer: torch.optim.Optimizer, device: torch.device) -> int:
    """Load weights, optimiser state and every RNG from a checkpoint of the same env and model config
    (checked, the latter by `load_weights`); return the step to continue from. The lr/EMA schedules
    are functions of that step."""
    ckpt = load_checkpoint(path, map_location=device)
    state = ckpt["training_state"]
    if state is None:
        raise ValueError(f"{path} holds no training state, so it cannot be resumed: pass resume=false or a new out=")
    trained_on, env_id = ckpt["meta"].get("env_id"), model.meta.env_id
    if trained_on != env_id:
        raise ValueError(
            f"{path} was trained on {trained_on} but data={(model.meta.dataset or {}).get('path')} holds {env_id} "
            "episodes: pass a new out= for this dataset, or the data= the run started with"
        )
    model.load_weights(ckpt)
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    return state["step"]


def run(cfg: DictConfig) -> dict:
    """Train with the composed `configs/train.yaml`; return (and write to `out/metrics.json`) the final figures."""
    info = init_distributed(cfg.device)
    try:
        return train(cfg, info)
    finally:
        shutdown_distributed(info)


def train(cfg: DictConfig, info: DistInfo) -> dict:
    """The training loop (see the module docstring); `run` adds the distributed setup around it."""
    check_config(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = select_device(cfg.device, info.local_rank)
    amp_dtype = autocast_dtype(cfg.precision, device)
    torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // info.world_size))
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)

    # ---- data: episodes split once (by seed), windows of history + rollout_steps latent frames
    store = open_dataset(cfg.data)
    train_eps, val_eps = split_episodes(cfg.data, cfg.val_fraction, seed=cfg.seed)
    if not val_eps:
        raise ValueError(f"val_fraction={cfg.val_fraction} leaves no held-out episode for evaluation: pass val_fraction=0.1")
    window = cfg.history + cfg.rollout_steps
    train_set = WindowDataset(cfg.data, window=window, frameskip=cfg.frameskip, episodes=train_eps)
    # Check the held-out episodes too (damaged files, NaN) now, rather than at the first evaluation.
    WindowDataset(cfg.data, window=1, episodes=val_eps)

    # ---- model (meta carries everything needed to rebuild it and where its data came from)
    model = build_world_model(
        cfg.model, cfg.loss, image_size=store.meta["image_size"], action_dim=store.meta["action_dim"],
        frameskip=cfg.frameskip, history=cfg.history,
    ).to(device)
    config = resolved_config(cfg)
    meta = model.meta
    meta.env_id, meta.train_horizon = store.meta["env_id"], cfg.rollout_steps
    meta.config = {**config, **meta.config}  # the run's config, with the model/loss defaults filled in
    meta.dataset = {**store.meta, "path": str(cfg.data)}
    optimizer = make_optimizer(model, cfg.optim)

    ckpt_path = out / CHECKPOINT
    if info.is_main:  # temp files of checkpoint/metrics writes that a kill interrupted
        for stale in out.iterdir():
            if stale.is_file() and is_temp_file(stale):
                stale.unlink()
    start_step = resume(ckpt_path, model, optimizer, device) if cfg.resume and ckpt_path.exists() else 0
    if start_step and info.is_main:
        print(f"resuming {out} from step {start_step}", flush=True)
    if start_step >= cfg.steps and (out / METRICS).exists():
        return json.loads((out / METRICS).read_text())

    loss_module = TrainingLoss(model, cfg.rollout_steps)
    if cfg.compile:
        compile_modules(model)
    step_fn: nn.Module = loss_module
    if info.enabled:
        step_fn = DistributedDataParallel(loss_module, device_ids=[device.index] if device.type == "cuda" else None)

    sampler = StepBatchSampler(
        len(train_set), cfg.batch_size, seed=cfg.seed, start_step=start_step, end_step=cfg.steps,
        rank=info.rank, world_size=info.world_size,
    )
    loader = DataLoader(
        train_set, batch_sampler=sampler, collate_fn=Batch.collate, num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(cfg.seed),
    )
    logger = make_logger(cfg.logger, out, config, enabled=info.is_main)
    trainable = [p for p in model.parameters() if p.requires_grad]
    frames_per_step = cfg.batch_size * window * info.world_size
    last_saved: int | None = start_step or None  # the step of the checkpoint on disk, if any

    def stop_if_diverged(problem: str | None, step: int, batch: Batch) -> None:
        if problem is None:
            return
        kept = f"{ckpt_path} (step {last_saved}) is untouched" if last_saved is not None else "no checkpoint was written"
        raise TrainingDivergedError(
            f"training diverged at step {step}: {problem} on batch {describe_batch(batch)}. {kept}. "
            f"Fix: lower optim.lr, keep optim.grad_clip on, or check these episodes with `worldjepa inspect {cfg.data}`"
        )

    def run_eval() -> dict[str, Any]:
        return evaluate(
            model, store, train_eps, val_eps, horizon=cfg.eval.horizon, max_windows=cfg.eval.max_windows,
            probe_frames=cfg.eval.probe_frames, probe_dims=cfg.eval.probe_dims,
            batch_size=cfg.eval.batch_size, device=device,
        )

    val: dict[str, Any] = {}
    logged: dict[str, float] = {}
    sums: dict[str, float] = {}
    sums_count, train_seconds, train_cpu_seconds = 0, 0.0, 0.0
    model.train()
    # Throughput counts data loading and training, not eval or checkpoints. CPU time (all threads of
    # this process) is reported too: unlike wall time it hardly moves when other processes share the cores.
    tick, cpu_tick = time.perf_counter(), time.process_time()
    bar = tqdm(total=cfg.steps, initial=start_step, desc=f"train {out}", unit="step", disable=not (info.is_main and cfg.progress))
    try:
        for step, batch in zip(range(start_step, cfg.steps), loader):
            lr = learning_rate(step, lr=cfg.optim.lr, warmup_steps=cfg.optim.warmup_steps,
                               total_steps=cfg.steps, min_lr_ratio=cfg.optim.min_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = batch.to(device)
            with autocast(device, amp_dtype):
                loss, metrics = step_fn(batch)
            # Checked before backward, on every rank together: a rank that stopped alone would hang the others.
            raw_norm = loss_module.raw_norm.item()
            stop_if_diverged(all_ranks_agree(divergence(metrics["loss"], raw_norm, cfg.guard.max_embed_norm), info), step, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, cfg.optim.grad_clip or float("inf")).item()
            # Gradients are all-reduced, so every rank sees the same norm and stops together.
            stop_if_diverged(None if np.isfinite(grad_norm) else f"non-finite gradient norm ({grad_norm})", step, batch)
            optimizer.step()
            momentum = ema_momentum(step, start=cfg.ema.start, end=cfg.ema.end, total_steps=cfg.steps,
                                    schedule=cfg.ema.schedule)
            model.update_target(momentum)
            train_seconds += time.perf_counter() - tick
            train_cpu_seconds += time.process_time() - cpu_tick
            done = step + 1

            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value
            sums_count += 1
            bar.update()
            bar.set_postfix(loss=f"{metrics['loss']:.3g}",
                            frames_per_s=f"{frames_per_step * (done - start_step) / train_seconds:.0f}", refresh=False)

            if info.is_main and (done % cfg.log_every == 0 or done == cfg.steps):
                health = collapse_metrics(model, batch.pixels)
                logged = {f"train/{k}": v / sums_count for k, v in sums.items()}
                logged |= {"train/lr": lr, "train/ema_momentum": momentum, "train/grad_norm": grad_norm,
                           "train/raw_embed_norm_max": raw_norm}
                logged |= {f"collapse/{k}": v for k, v in health.items()}
                logger.log(logged, step=done)
                sums, sums_count = {}, 0
                warning = check_collapse(health, cfg.collapse.threshold) if done > cfg.collapse.after else None
                if warning:
                    log.warning("step %d: %s", done, warning)
                    if cfg.collapse.stop:
                        raise CollapseError(f"stopped at step {done} (collapse.stop=true): {warning}")

            if info.is_main and (done % cfg.eval_every == 0 or done == cfg.steps):
                val = run_eval()
                logger.log({f"val/{k}": v for k, v in val.items() if not isinstance(v, list)}, step=done)
                h = val["horizon"]
                tqdm.write(f"step {done}: val prediction error vs copy-last: 1-step {val['rel_err_1']:.3f}x, "
                           f"{h}-step {val[f'rel_err_{h}']:.3f}x; position probe R2 {val['probe_r2']:.3f}")

            if info.is_main and (done % cfg.ckpt_every == 0 or done == cfg.steps):
                training_state = {"step": done, "optimizer": optimizer.state_dict(), "rng": rng_state(),
                                  "lr": lr, "ema_momentum": momentum, "world_size": info.world_size}
                model.save(ckpt_path, training_state=training_state)
                last_saved = done
            tick, cpu_tick = time.perf_counter(), time.process_time()
    finally:
        bar.close()
        logger.finish()

    assert_replicas_equal(model, info)
    if not info.is_main:
        return {}
    if not val:  # resumed after the final checkpoint but before metrics.json was written
        val = run_eval()
    steps_run = cfg.steps - start_step
    result = {
        "step": cfg.steps,
        "checkpoint": str(ckpt_path),
        "train": logged,
        "val": val,
        "throughput": {
            "steps_per_s": steps_run / train_seconds if train_seconds else None,
            "frames_per_s": frames_per_step * steps_run / train_seconds if train_seconds else None,
            "cpu_seconds_per_step": train_cpu_seconds / steps_run if steps_run else None,
            "device": str(device), "precision": str(amp_dtype or torch.float32), "world_size": info.world_size,
        },
    }
    write_json_atomic(out / METRICS, result)
    return result
