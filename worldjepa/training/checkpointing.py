"""A run's `last.pt`: resume from it, write it, and remember which step is on disk."""

from __future__ import annotations

from pathlib import Path

import torch

from worldjepa.atomic import is_temp_file
from worldjepa.checkpoint import load_checkpoint
from worldjepa.models import JEPAWorldModel
from worldjepa.training.state import rng_state, set_rng_state

CHECKPOINT = "last.pt"


class RunCheckpoint:
    """`out/last.pt`: what `resume` continues from and `save` replaces; `saved_step` is the step on disk."""

    def __init__(self, out: Path) -> None:
        self.path = out / CHECKPOINT
        self.saved_step: int | None = None  # None: no checkpoint of this run is on disk (yet)
        self.training_state: dict | None = None  # what the last save wrote or resume read

    def clear_interrupted_writes(self) -> None:
        """Remove temp files of checkpoint or metrics writes that a kill interrupted."""
        for stale in self.path.parent.iterdir():
            if stale.is_file() and is_temp_file(stale):
                stale.unlink()

    def resume(self, model: JEPAWorldModel, optimizer: torch.optim.Optimizer, device: torch.device) -> int:
        """Load weights, optimiser state and every RNG from a checkpoint of the same env and model config
        (checked, the latter by `load_weights`); return the step to continue from. The lr/EMA schedules
        are functions of that step."""
        ckpt = load_checkpoint(self.path, kind="world_model", map_location=device)
        state = ckpt["training_state"]
        if state is None:
            raise ValueError(
                f"{self.path} holds no training state, so it cannot be resumed: pass resume=false or a new out="
            )
        trained_on, env_id = ckpt["meta"].get("env_id"), model.meta.env_id
        if trained_on != env_id:
            dataset = model.meta.dataset or {}
            raise ValueError(
                f"{self.path} was trained on {trained_on} but data={dataset.get('path')} holds {env_id} "
                "episodes: pass a new out= for this dataset, or the data= the run started with"
            )
        model.load_weights(ckpt, source=self.path)
        optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        self.saved_step, self.training_state = state["step"], state
        return state["step"]

    @property
    def predictor_phase(self) -> dict | None:
        """The predictor phase's state on disk (`step`, `optimizer`), or None before that phase saved."""
        return (self.training_state or {}).get("predictor_phase")

    def save(self, model: JEPAWorldModel, optimizer: torch.optim.Optimizer, *, step: int, lr: float,
             ema_momentum: float, world_size: int) -> None:
        """Write the model with everything an exact resume at `step` needs (optimiser, RNGs)."""
        training_state = {"step": step, "optimizer": optimizer.state_dict(), "rng": rng_state(),
                          "lr": lr, "ema_momentum": ema_momentum, "world_size": world_size}
        model.save(self.path, training_state=training_state)
        self.saved_step, self.training_state = step, training_state

    def save_predictor_phase(self, model: JEPAWorldModel, step: int, optimizer: torch.optim.Optimizer) -> None:
        """Write the model after predictor-phase step `step`: the JEPA steps' final state plus the phase's own."""
        if self.training_state is None:
            raise RuntimeError("the predictor phase saves only after the JEPA steps' final checkpoint")
        phase = {"step": step, "optimizer": optimizer.state_dict()}  # its batches derive from the step: no RNG to keep
        training_state = {**self.training_state, "predictor_phase": phase}
        model.save(self.path, training_state=training_state)
        self.training_state = training_state

    def describe(self) -> str:
        """What is on disk, for messages of a run that stops."""
        if self.saved_step is None:
            return "no checkpoint was written"
        phase = self.predictor_phase
        at = f"step {self.saved_step}" + (f", predictor-phase step {phase['step']}" if phase else "")
        return f"{self.path} ({at}) is untouched"
