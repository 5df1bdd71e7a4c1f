"""The update half of a training step: AdamW parameter groups, scheduled lr and EMA momentum, gradient clipping."""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn

from worldjepa.training.schedules import ema_momentum, learning_rate


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


def set_learning_rate(optimizer: torch.optim.Optimizer, step: int, cfg: DictConfig) -> float:
    """Set (and return) the scheduled lr of `step`: warmup, then cosine decay over `cfg.steps`."""
    lr = learning_rate(step, lr=cfg.optim.lr, warmup_steps=cfg.optim.warmup_steps, total_steps=cfg.steps,
                       min_lr_ratio=cfg.optim.min_lr_ratio)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def target_momentum(step: int, cfg: DictConfig) -> float:
    """The scheduled EMA momentum of the target encoder at `step`."""
    return ema_momentum(step, start=cfg.ema.start, end=cfg.ema.end, total_steps=cfg.steps, schedule=cfg.ema.schedule)


def clip_gradients(params: list[nn.Parameter], max_norm: float | None) -> float:
    """Clip the gradients' global norm to `max_norm` (None or 0: no clipping); return the norm before clipping."""
    return torch.nn.utils.clip_grad_norm_(params, max_norm or float("inf")).item()
