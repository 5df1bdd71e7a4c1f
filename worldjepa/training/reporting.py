"""What a run reports: metrics every log_every steps, held-out figures every eval_every, and the final summary."""

from __future__ import annotations

import logging
from typing import Any

import torch
from omegaconf import DictConfig
from tqdm import tqdm

from worldjepa.training import validation
from worldjepa.training.distributed import DistInfo
from worldjepa.training.loggers import Logger
from worldjepa.training.meters import TrainClock
from worldjepa.training.setup import TrainingRun

log = logging.getLogger(__name__)


def training_record(means: dict[str, float], health: dict[str, float], **scalars: float) -> dict[str, float]:
    """One log_every record: loss means (`train/`), this step's `scalars` (lr, norms...) and embedding health."""
    return ({f"train/{k}": v for k, v in means.items()} | {f"train/{k}": v for k, v in scalars.items()}
            | {f"collapse/{k}": v for k, v in health.items()})


def evaluate_run(run: TrainingRun, cfg: DictConfig) -> dict[str, Any]:
    """Held-out prediction errors, probe and embedding spread of the model as it is now."""
    # Looked up on the module at each call, so a test can make the evaluation fail.
    return validation.validate_model(
        run.model, run.data.store, run.data.train_episodes, run.data.val_episodes, horizon=cfg.eval.horizon,
        max_windows=cfg.eval.max_windows, probe_frames=cfg.eval.probe_frames, probe_dims=cfg.eval.probe_dims,
        batch_size=cfg.eval.batch_size, device=run.device,
    )


def validate(run: TrainingRun, cfg: DictConfig, logger: Logger, done: int) -> dict[str, Any]:
    """Evaluate after step `done`, log the figures and print the headline ones."""
    try:
        val = evaluate_run(run, cfg)
    except Exception:
        # The traceback alone would suggest the run is lost; say what is on disk.
        saved = run.checkpoint.saved_step
        kept = (f"{run.checkpoint.path} holds step {saved}: rerun the same command to resume from there"
                if saved is not None else "no checkpoint was written")
        log.error("evaluation after step %d failed; %s", done, kept)
        raise
    logger.log({f"val/{k}": v for k, v in val.items() if not isinstance(v, list)}, step=done)
    h = val["horizon"]
    tqdm.write(f"step {done}: val prediction error vs copy-last: 1-step {val['rel_err_1']:.3f}x, "
               f"{h}-step {val[f'rel_err_{h}']:.3f}x; position probe R2 {val['probe_r2']:.3f}")
    return val


def summary(run: TrainingRun, cfg: DictConfig, info: DistInfo, *, logged: dict[str, float], val: dict[str, Any],
            clock: TrainClock, predictor_phase: dict[str, float] | None) -> dict[str, Any]:
    """What metrics.json holds: the final steps and checkpoint, last logged and held-out figures, throughput."""
    return {
        "step": cfg.steps,
        "predictor_steps": cfg.predictor_phase.steps,
        "predictor_phase": predictor_phase,
        "checkpoint": str(run.checkpoint.path),
        "train": logged,
        "val": val,
        "throughput": {
            **clock.throughput(cfg.steps - run.start_step, run.frames_per_step),
            "device": str(run.device), "precision": str(run.amp_dtype or torch.float32),
            "world_size": info.world_size,
        },
    }
