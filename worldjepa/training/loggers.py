"""One tiny metrics-logger interface with two backends: wandb (offline by default) and none."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from omegaconf import DictConfig


class Logger(Protocol):
    """What the training loop needs from a logger."""

    def log(self, metrics: dict[str, float], step: int) -> None: ...

    def finish(self) -> None: ...


class NullLogger:
    """``logger=none`` (and every non-main DDP rank): drops everything."""

    def log(self, metrics: dict[str, float], step: int) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbLogger:
    """``logger=wandb``: a wandb run under ``out/wandb``; offline unless WANDB_MODE says otherwise.

    It never needs a login: offline runs can be uploaded later with ``wandb sync out/wandb/offline-run-*``.
    """

    def __init__(self, cfg: DictConfig, out: Path, config: dict[str, Any]) -> None:
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb  # deferred: importing wandb costs ~1 s and `logger=none` runs never need it

        self.run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            group=cfg.group,
            name=cfg.run_name or out.name,
            tags=list(cfg.tags),
            mode=os.environ.get("WANDB_MODE", cfg.mode),
            dir=str(out),
            config=config,
        )

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics, step=step)

    def finish(self) -> None:
        self.run.finish()


def make_logger(cfg: DictConfig, out: Path, config: dict[str, Any], enabled: bool = True) -> Logger:
    """Build the logger named by ``cfg.name`` (``wandb`` or ``none``); ``enabled=False`` gives a no-op."""
    if not enabled or cfg.name == "none":
        return NullLogger()
    if cfg.name == "wandb":
        return WandbLogger(cfg, out, config)
    raise ValueError(f"logger={cfg.name!r} is unknown: use logger=wandb or logger=none")
