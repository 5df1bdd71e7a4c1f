"""Batched trajectory optimisers (CEM, MPPI, gradient, random) and MPC helpers; torch only."""

from __future__ import annotations

from typing import Any

from .base import BestSoFar, CostFn, PlanResult, Planner
from .cem import CEM
from .gradient import GradientPlanner
from .held import HeldChunkPlanner, hold_chunks
from .mpc import MPCController, shift_warm_start, split_chunks
from .mppi import MPPI
from .proposal import ProposalPlanner
from .sampling import GaussianPlanner
from .uniform import RandomPlanner

PLANNERS: dict[str, type[Planner]] = {"cem": CEM, "mppi": MPPI, "gradient": GradientPlanner, "random": RandomPlanner,
                                   "policy": ProposalPlanner}


def make_planner(name: str, *, horizon: int, action_dim: int, **hparams: Any) -> Planner:
    """Build a planner by registry name; `hparams` are its dataclass fields (samples, iterations, ...)."""
    if name not in PLANNERS:
        raise ValueError(f"unknown planner {name!r}: choose one of {sorted(PLANNERS)}")
    cls = PLANNERS[name]
    try:
        return cls(horizon=horizon, action_dim=action_dim, **hparams)
    except TypeError as err:
        fields = sorted(f for f in cls.__dataclass_fields__ if f not in ("horizon", "action_dim", "generator"))
        raise ValueError(f"bad hyperparameters for planner {name!r} ({err}); valid keys: {fields}") from err


__all__ = [
    "CEM", "MPPI", "GradientPlanner", "RandomPlanner", "ProposalPlanner", "GaussianPlanner", "Planner", "PlanResult", "CostFn", "BestSoFar",
    "MPCController", "HeldChunkPlanner", "hold_chunks", "shift_warm_start", "split_chunks", "PLANNERS", "make_planner",
]
