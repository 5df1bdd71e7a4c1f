"""`worldjepa train`: fit a JEPA world model on a collected dataset, in one readable loop.

Each step: sample a batch (indices derived from the step, see `training.sampling`), latent loss,
guard against divergence, AdamW step, EMA target update. Periodically: log, checkpoint, evaluate.
Then, with `predictor_phase.steps`, the predictor alone trains on cached embeddings (`training.predictor_phase`).
Rerunning with the same `out` resumes from `out/last.pt` to exactly the state an uninterrupted run
reaches. Under `torchrun` the trainable modules are wrapped in DDP and only rank 0 logs and writes.
The parts live beside this file: setup, optimisation, guards, meters, checkpointing, reporting.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from tqdm import tqdm

from worldjepa.atomic import write_json_atomic
from worldjepa.models import CollapseError, check_collapse
from worldjepa.models.meta import DEFAULT_OBJECTIVE
from worldjepa.training.device import autocast
from worldjepa.training.distributed import DistInfo, assert_replicas_equal, init_distributed, shutdown_distributed
from worldjepa.training.guards import DivergenceGuard
from worldjepa.training.interrupts import StopAtStepBoundary
from worldjepa.training.loggers import make_logger
from worldjepa.training.meters import MetricMeans, TrainClock
from worldjepa.training.optimisation import clip_gradients, set_learning_rate, target_momentum
from worldjepa.training.predictor_phase import train_predictor
from worldjepa.training.reporting import evaluate_run, summary, training_record, validate
from worldjepa.training.setup import make_loader, make_step, prepare_run
from worldjepa.training.validation import collapse_metrics

log = logging.getLogger(__name__)
METRICS = "metrics.json"


def run(cfg: DictConfig) -> dict:
    """Train with the composed `configs/train.yaml`; return (and write to `out/metrics.json`) the final figures."""
    info = init_distributed(cfg.device)
    try:
        return train(cfg, info)
    finally:
        shutdown_distributed(info)


def due(done: int, every: int, total: int) -> bool:
    """Whether a periodic task (log, checkpoint, eval) runs after step `done`: every `every` steps and at the end."""
    return done % every == 0 or done == total


def warn_on_collapse(health: dict[str, float], cfg: DictConfig, done: int) -> bool:
    """Log a warning (or raise CollapseError with collapse.stop) when the embeddings have collapsed; say whether."""
    objective = cfg.model.get("objective", DEFAULT_OBJECTIVE)
    warning = check_collapse(health, cfg.collapse.threshold, objective) if done > cfg.collapse.after else None
    if warning:
        log.warning("step %d: %s", done, warning)
        if cfg.collapse.stop:
            raise CollapseError(f"stopped at step {done} (collapse.stop=true): {warning}")
    return warning is not None


def read_metrics(path: Path) -> dict:
    """A finished run's metrics.json; a damaged one is refused with the fix."""
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        # Without metrics.json a finished run only re-evaluates its last.pt (see the end of `train`).
        raise ValueError(f"{path} is damaged ({err}): delete it and rerun the same command to re-evaluate the run") from err


def train(cfg: DictConfig, info: DistInfo) -> dict:
    """The training loop (see the module docstring); `run` adds the distributed setup around it."""
    r = prepare_run(cfg, info)
    phase_step = (r.checkpoint.predictor_phase or {}).get("step", 0)
    if r.start_step >= cfg.steps and phase_step >= cfg.predictor_phase.steps and (r.out / METRICS).exists():
        return read_metrics(r.out / METRICS)
    if r.start_step < cfg.steps and phase_step:
        raise ValueError(f"{r.checkpoint.path} has finished its {r.start_step} JEPA steps and begun the predictor "
                         f"phase, so steps={cfg.steps} cannot continue them: pass steps={r.start_step} or a new out=")
    loss_module, step_fn = make_step(r, cfg, info)
    loader = make_loader(r, cfg, info)
    logger = make_logger(cfg.logger, r.out, r.config, enabled=info.is_main)
    guard = DivergenceGuard(cfg.guard.max_embed_norm, r.checkpoint, cfg.data, info)
    trainable = [p for p in r.model.parameters() if p.requires_grad]
    val: dict[str, Any] = {}
    phase: dict[str, float] | None = None  # the predictor phase's timings, when this call ran it
    logged: dict[str, float] = {}
    means = MetricMeans()
    r.model.train()
    clock = TrainClock()  # data loading and training steps, not logging, eval or checkpoints
    bar = tqdm(total=cfg.steps, initial=r.start_step, desc=f"train {r.out}", unit="step",
               disable=not (info.is_main and cfg.progress))
    stop = StopAtStepBoundary().install()
    try:
        for step, batch in zip(range(r.start_step, cfg.steps), loader):
            lr = set_learning_rate(r.optimizer, step, cfg)
            batch = batch.to(r.device)
            with autocast(r.device, r.amp_dtype):
                loss, metrics = step_fn(batch)
            raw_norm = loss_module.raw_norm.item()
            guard.check_forward(metrics["loss"], raw_norm, step, batch)
            r.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = clip_gradients(trainable, cfg.optim.grad_clip)
            guard.check_gradients(grad_norm, step, batch)
            r.optimizer.step()
            momentum = target_momentum(step, cfg)
            r.model.update_target(momentum)
            clock.pause()
            done = step + 1

            means.add(metrics)
            bar.update()
            bar.set_postfix(loss=f"{metrics['loss']:.3g}",
                            frames_per_s=f"{r.frames_per_step * (done - r.start_step) / clock.seconds:.0f}", refresh=False)
            if info.is_main and due(done, cfg.log_every, cfg.steps):
                health = collapse_metrics(r.model, batch.pixels)
                health["collapsed"] = float(warn_on_collapse(health, cfg, done))  # 1.0 when this check warned
                logged = training_record(means.pop_means(), health, lr=lr, ema_momentum=momentum,
                                         grad_norm=grad_norm, raw_embed_norm_max=raw_norm)
                logger.log(logged, step=done)
            # The checkpoint comes before the evaluation, so an evaluation that fails loses no weights.
            if info.is_main and due(done, cfg.ckpt_every, cfg.steps):
                r.checkpoint.save(r.model, r.optimizer, step=done, lr=lr, ema_momentum=momentum,
                                  world_size=info.world_size)
            if info.is_main and due(done, cfg.eval_every, cfg.steps):
                val = validate(r, cfg, logger, done)
            if stop.requested:  # Ctrl-C or SIGTERM: keep every finished step, then stop
                if info.is_main and r.checkpoint.saved_step != done:
                    r.checkpoint.save(r.model, r.optimizer, step=done, lr=lr, ema_momentum=momentum,
                                      world_size=info.world_size)
                raise KeyboardInterrupt
            clock.resume()
        bar.close()
        if cfg.predictor_phase.steps:
            phase = train_predictor(r, cfg, info, logger, stop)
            if info.is_main:
                val = validate(r, cfg, logger, cfg.steps + cfg.predictor_phase.steps)
    finally:
        stop.restore()
        bar.close()
        logger.finish()

    assert_replicas_equal(r.model, info)
    if not info.is_main:
        return {}
    if not val:  # resumed after the final checkpoint but before metrics.json was written
        val = evaluate_run(r, cfg)
    result = summary(r, cfg, info, logged=logged, val=val, clock=clock, predictor_phase=phase)
    write_json_atomic(r.out / METRICS, result)
    return result
