"""Pure functions of the step: learning rate (linear warmup + cosine decay) and EMA momentum.

Being pure, they need no state in a checkpoint: the step alone restores them on resume.
"""

from __future__ import annotations

import math


def cosine_ramp(progress: float) -> float:
    """0 -> 1 along a half cosine as ``progress`` goes 0 -> 1 (clamped)."""
    progress = min(max(progress, 0.0), 1.0)
    return 0.5 * (1.0 - math.cos(math.pi * progress))


def learning_rate(step: int, *, lr: float, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """LR for optimiser step ``step`` (0-based): linear warmup to ``lr``, then cosine down to
    ``lr * min_lr_ratio``, reached at the last step ``total_steps - 1``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    decay_steps = max(total_steps - 1 - warmup_steps, 1)
    return lr * (1.0 - (1.0 - min_lr_ratio) * cosine_ramp((step - warmup_steps) / decay_steps))


def ema_momentum(step: int, *, start: float, end: float, total_steps: int, schedule: str = "cosine") -> float:
    """Target-encoder EMA momentum at ``step``: ``start`` -> ``end`` over the run (cosine or linear)."""
    progress = step / max(total_steps - 1, 1)
    if schedule == "cosine":
        ramp = cosine_ramp(progress)
    elif schedule == "linear":
        ramp = min(max(progress, 0.0), 1.0)
    else:
        raise ValueError(f"ema.schedule={schedule!r} is unknown: use 'cosine' or 'linear'")
    return start + (end - start) * ramp
