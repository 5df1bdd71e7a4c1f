"""What a training run is built from: checked config, seeds, data, the model with its meta, the loss step, the loader."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from worldjepa.data import Batch, WindowDataset, open_dataset, split_episodes
from worldjepa.data.format import EpisodeStore
from worldjepa.errors import check_positive_int
from worldjepa.models import JEPAWorldModel, build_world_model
from worldjepa.training.checkpointing import RunCheckpoint
from worldjepa.training.device import autocast_dtype, select_device
from worldjepa.training.distributed import DistInfo
from worldjepa.training.optimisation import make_optimizer
from worldjepa.training.sampling import StepBatchSampler


@dataclass
class TrainingData:
    """The dataset, its episode split (made once, by seed) and the training windows."""

    store: EpisodeStore
    train_episodes: list[int]
    val_episodes: list[int]
    windows: WindowDataset  # history + jepa_rollout_steps(cfg) latent frames from the training episodes


@dataclass
class TrainingRun:
    """Everything the loop works on, resumed from `out/last.pt` when there is one."""

    out: Path
    device: torch.device
    amp_dtype: torch.dtype | None
    config: dict[str, Any]  # the resolved run config
    data: TrainingData
    model: JEPAWorldModel
    optimizer: torch.optim.Optimizer
    checkpoint: RunCheckpoint
    start_step: int
    frames_per_step: int  # frames one optimiser step trains on, all processes together


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


def check_config(cfg: DictConfig) -> None:
    """Reject counts and intervals that would break the loop, naming the key to fix."""
    keys = ("steps", "batch_size", "history", "rollout_steps", "frameskip", "log_every", "eval_every", "ckpt_every")
    for key in keys:
        check_positive_int(key, cfg[key], example=100)
    check_positive_int("predictor_phase.batch_size", cfg.predictor_phase.batch_size, example=256)
    if cfg.jepa_rollout_steps is not None:
        check_positive_int("jepa_rollout_steps", cfg.jepa_rollout_steps, example=2)
        if cfg.jepa_rollout_steps != cfg.rollout_steps and not cfg.predictor_phase.steps:
            raise ValueError(f"jepa_rollout_steps={cfg.jepa_rollout_steps} differs from rollout_steps={cfg.rollout_steps}, "
                             "but only a predictor phase trains the predictor on rollout_steps: pass "
                             "predictor_phase.steps=5000, or jepa_rollout_steps=null")
    if cfg.predictor_phase.steps:  # 0 turns the phase off
        check_positive_int("predictor_phase.steps", cfg.predictor_phase.steps, example=5000)
        if cfg.model.get("objective", "jepa") != "jepa":
            raise ValueError(f"predictor_phase.steps={cfg.predictor_phase.steps} trains a JEPA predictor on target "
                             f"embeddings, but model.objective={cfg.model.objective}: pass predictor_phase.steps=0")
    # The evaluation's sizes too: a bad one would otherwise fail only after the last training step.
    for key in ("horizon", "max_windows", "probe_frames", "batch_size"):
        check_positive_int(f"eval.{key}", cfg.eval[key], example=100)


def jepa_rollout_steps(cfg: DictConfig) -> int:
    """The open-loop steps the JEPA steps train (their windows: history + this many frames)."""
    return cfg.rollout_steps if cfg.jepa_rollout_steps is None else cfg.jepa_rollout_steps


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The run's config as a plain dict (what goes into checkpoints and the logger)."""
    config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    config.pop("hydra", None)
    return config


def seed_everything(cfg: DictConfig, info: DistInfo) -> None:
    """torch threads (the cores split between DDP processes unless `threads` is set) and every global RNG."""
    torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // info.world_size))
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)


def load_data(cfg: DictConfig) -> TrainingData:
    """Open the dataset, split its episodes and cut the training windows; check the held-out episodes too."""
    store = open_dataset(cfg.data)
    train_eps, val_eps = split_episodes(cfg.data, cfg.val_fraction, seed=cfg.seed)
    if not val_eps:
        raise ValueError(f"val_fraction={cfg.val_fraction} leaves no held-out episode for evaluation: pass val_fraction=0.1")
    window = cfg.history + jepa_rollout_steps(cfg)
    windows = WindowDataset(cfg.data, window=window, frameskip=cfg.frameskip, episodes=train_eps)
    # Check the held-out episodes too (damaged files, NaN) now, rather than at the first evaluation.
    WindowDataset(cfg.data, window=1, episodes=val_eps)
    return TrainingData(store, train_eps, val_eps, windows)


def build_model(cfg: DictConfig, store: EpisodeStore, config: dict[str, Any], device: torch.device) -> JEPAWorldModel:
    """The world model for this dataset, its meta recording the env, the run's config and the dataset."""
    model = build_world_model(
        cfg.model, cfg.loss, image_size=store.meta["image_size"], action_dim=store.meta["action_dim"],
        frameskip=cfg.frameskip, history=cfg.history,
    ).to(device)
    meta = model.meta
    meta.env_id, meta.train_horizon = store.meta["env_id"], cfg.rollout_steps
    meta.config = {**config, **meta.config}  # the run's config, with the model/loss defaults filled in
    meta.dataset = {**store.meta, "path": str(cfg.data)}
    return model


def prepare_run(cfg: DictConfig, info: DistInfo) -> TrainingRun:
    """Check the config, seed, load the data, build model and optimiser, and resume from `out/last.pt`."""
    check_config(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = select_device(cfg.device, info.local_rank)
    amp_dtype = autocast_dtype(cfg.precision, device)
    seed_everything(cfg, info)
    data = load_data(cfg)
    config = resolved_config(cfg)
    model = build_model(cfg, data.store, config, device)
    optimizer = make_optimizer(model, cfg.optim)
    checkpoint = RunCheckpoint(out)
    if info.is_main:
        checkpoint.clear_interrupted_writes()
    start_step = checkpoint.resume(model, optimizer, device) if cfg.resume and checkpoint.path.exists() else 0
    if start_step and info.is_main:
        print(f"resuming {out} from step {start_step}", flush=True)
    frames_per_step = cfg.batch_size * (cfg.history + jepa_rollout_steps(cfg)) * info.world_size
    return TrainingRun(out, device, amp_dtype, config, data, model, optimizer, checkpoint, start_step, frames_per_step)


def compile_modules(model: JEPAWorldModel) -> None:
    """torch.compile the encoders and the predictor's layers in place (state_dict keys unchanged).

    Not the whole loss: `training_loss` reads python floats (`.item()`) for its metrics, which would
    break the graph and recompile on every new value.
    """
    model.encoder.compile()
    model.target_encoder.compile()
    for layer in model.predictor.children():
        layer.compile()


def make_step(run: TrainingRun, cfg: DictConfig, info: DistInfo) -> tuple[TrainingLoss, nn.Module]:
    """The loss module (which records the raw embedding norm) and what the loop calls: it, or its DDP wrapper."""
    loss_module = TrainingLoss(run.model, jepa_rollout_steps(cfg))
    if cfg.compile:
        compile_modules(run.model)
    if not info.enabled:
        return loss_module, loss_module
    device_ids = [run.device.index] if run.device.type == "cuda" else None
    return loss_module, DistributedDataParallel(loss_module, device_ids=device_ids)


def make_loader(run: TrainingRun, cfg: DictConfig, info: DistInfo) -> DataLoader:
    """Batches of steps start_step..steps-1, each drawn from (seed, step, rank) alone, so a resume draws the same."""
    sampler = StepBatchSampler(
        len(run.data.windows), cfg.batch_size, seed=cfg.seed, start_step=run.start_step, end_step=cfg.steps,
        rank=info.rank, world_size=info.world_size,
    )
    return DataLoader(
        run.data.windows, batch_sampler=sampler, collate_fn=Batch.collate, num_workers=cfg.num_workers,
        pin_memory=run.device.type == "cuda", generator=torch.Generator().manual_seed(cfg.seed),
    )
