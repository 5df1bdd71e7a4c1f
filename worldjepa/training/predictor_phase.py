"""The predictor phase of `worldjepa train`: after the JEPA steps, the predictor alone trains on cached embeddings.

The encoders are frozen, the training episodes are encoded once by the target encoder, and each step
samples windows of those embeddings: teacher forcing and the open-loop rollout, both from target
embeddings, which is exactly what planning runs. With no pixels to encode a step costs a fraction of a
JEPA step, so the predictor (the part that limits planning on Push, benchmarks/push_recipe.md) gets many more
updates in the same time. Batches derive from (seed, step) as in the JEPA steps, so a resume is exact.
"""

from __future__ import annotations

import math
import time

import torch
from omegaconf import DictConfig
from tqdm import trange

from worldjepa.training.device import autocast
from worldjepa.training.distributed import DistInfo, all_ranks_agree, average_gradients
from worldjepa.training.frozen import encode_episodes
from worldjepa.training.guards import TrainingDivergedError
from worldjepa.training.interrupts import StopAtStepBoundary
from worldjepa.training.loggers import Logger
from worldjepa.training.meters import MetricMeans
from worldjepa.training.optimisation import clip_gradients, make_optimizer
from worldjepa.training.sampling import step_batch
from worldjepa.training.schedules import learning_rate
from worldjepa.training.setup import TrainingRun


class EmbeddedWindows:
    """Every window of `window` embeddings `frameskip` env steps apart inside one episode, with the actions between.

    `embeddings[e]` is episode e's [T_e + 1, D] and `actions[e]` its [T_e, A]; windows start at every env step,
    as `WindowDataset`'s do, so `get(i)` matches `WindowDataset[i]` encoded. With `aligned` they start only on
    chunk boundaries (every `frameskip`-th env step of an episode), where each chunk of data collected with
    `hold=frameskip` is one held action: the class of action a `hold=true` planner searches.
    """

    def __init__(self, embeddings: list[torch.Tensor], actions: list[torch.Tensor], window: int, frameskip: int,
                 aligned: bool = False) -> None:
        span = (window - 1) * frameskip + 1
        self.z = torch.cat(embeddings)
        # Row i holds the action taken after frame i (a zero row pads each episode's last frame).
        self.actions = torch.cat([torch.cat([a, a.new_zeros(1, a.shape[1])]) for a in actions])
        firsts = torch.tensor([0, *(len(z) for z in embeddings)]).cumsum(0)[:-1].tolist()
        stride = frameskip if aligned else 1
        starts = [torch.arange(first, first + max(len(z) - span + 1, 0), stride) for first, z in zip(firsts, embeddings)]
        self.starts = torch.cat(starts)
        self.frames = torch.arange(window) * frameskip
        self.action_steps = (torch.arange(window - 1) * frameskip)[:, None] + torch.arange(frameskip)

    def __len__(self) -> int:
        return len(self.starts)

    def get(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings [B, window, D] and actions [B, window - 1, frameskip * A] of windows `indices`."""
        start = self.starts[indices]
        return self.z[start[:, None] + self.frames], self.actions[start[:, None, None] + self.action_steps].flatten(2)


def embedded_windows(run: TrainingRun, cfg: DictConfig) -> EmbeddedWindows:
    """The training episodes encoded once by the (frozen) target encoder, cut into history + rollout_steps windows."""
    embeddings, actions = encode_episodes(run.model, run.data.store, run.data.train_episodes, run.device,
                                          batch=cfg.eval.batch_size)
    return EmbeddedWindows(embeddings, actions, cfg.history + cfg.rollout_steps, cfg.frameskip,
                           aligned=cfg.predictor_phase.aligned)


def train_predictor(run: TrainingRun, cfg: DictConfig, info: DistInfo, logger: Logger,
                    stop: StopAtStepBoundary) -> dict[str, float] | None:
    """Steps `start..predictor_phase.steps` of the phase (see the module docstring), checkpointing as the JEPA
    steps do; return the seconds spent encoding and training (None when the checkpoint had finished the phase)."""
    phase, model = cfg.predictor_phase, run.model
    saved = run.checkpoint.predictor_phase
    start = saved["step"] if saved else 0
    if start >= phase.steps:
        return None
    t0 = time.perf_counter()
    model.requires_grad_(False)
    model.predictor.requires_grad_(True)
    optimizer = make_optimizer(model.predictor, cfg.optim)
    if saved:
        optimizer.load_state_dict(saved["optimizer"])
    windows = embedded_windows(run, cfg)
    encoded = time.perf_counter()
    trainable = list(model.predictor.parameters())
    means = MetricMeans()
    for step in trange(start, phase.steps, initial=start, total=phase.steps, desc=f"predictor {run.out}",
                       unit="step", disable=not (info.is_main and cfg.progress)):
        lr = learning_rate(step, lr=phase.lr, warmup_steps=cfg.optim.warmup_steps, total_steps=phase.steps,
                           min_lr_ratio=cfg.optim.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        indices = step_batch(step, num_items=len(windows), batch_size=phase.batch_size, seed=cfg.seed,
                             rank=info.rank, world_size=info.world_size)
        z, actions = (x.to(run.device) for x in windows.get(torch.tensor(indices)))
        with autocast(run.device, run.amp_dtype):
            loss, metrics = model.prediction_loss(z, actions)
        problem = None if math.isfinite(metrics["loss"]) else f"non-finite loss ({metrics['loss']})"
        if all_ranks_agree(problem, info):
            raise TrainingDivergedError(f"the predictor phase diverged at step {step}: {problem}. "
                                        f"{run.checkpoint.describe()}. Fix: lower predictor_phase.lr (now {phase.lr})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(trainable, info)
        clip_gradients(trainable, cfg.optim.grad_clip)
        optimizer.step()
        done = step + 1
        means.add(metrics)
        if info.is_main and (done % cfg.log_every == 0 or done == phase.steps):
            logger.log({f"predictor/{k}": v for k, v in means.pop_means().items()} | {"predictor/lr": lr},
                       step=cfg.steps + done)
        if info.is_main and (done % cfg.ckpt_every == 0 or done == phase.steps or stop.requested):
            run.checkpoint.save_predictor_phase(model, done, optimizer)
        if stop.requested:  # Ctrl-C or SIGTERM: the step is saved, stop here
            raise KeyboardInterrupt
    return {"encode_seconds": round(encoded - t0, 1), "train_seconds": round(time.perf_counter() - encoded, 1),
            "steps": phase.steps - start}
