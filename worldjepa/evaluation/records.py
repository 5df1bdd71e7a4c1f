"""Evaluation records: per-episode rows (episodes.csv, written atomically), resume bookkeeping, summary statistics."""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Sequence

import numpy as np

from worldjepa.atomic import write_text_atomic


@dataclass
class EpisodeRecord:
    """One finished evaluation episode (a row of episodes.csv)."""

    seed: int
    episode: int
    success: bool
    steps: int  # env steps taken (stops at the first success, else the budget)
    initial_distance: float
    final_distance: float
    min_distance: float
    replans: int
    plan_time_s: float  # mean wall time of the batched replans this episode took part in
    config_id: str  # fingerprint of the settings that produced it (resume safety)
    video: str = ""

    @classmethod
    def from_row(cls, row: dict[str, str]) -> EpisodeRecord:
        kinds = {f.name: f.type for f in fields(cls)}
        values = {}
        for name, kind in kinds.items():
            raw = row[name]
            values[name] = raw == "True" if kind == "bool" else int(raw) if kind == "int" else float(raw) if kind == "float" else raw
        return cls(**values)


COLUMNS = [f.name for f in fields(EpisodeRecord)]


def read_episodes(path: str | os.PathLike, config_id: str) -> list[EpisodeRecord]:
    """Rows already recorded in `path` (empty if absent); rows from other settings -> ValueError."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            raise ValueError(
                f"{path} has columns {reader.fieldnames}, expected {COLUMNS}: it was not written by this "
                "worldjepa; pass a new out=PATH or delete it"
            )
        records = [EpisodeRecord.from_row(row) for row in reader]
    foreign = {r.config_id for r in records} - {config_id}
    if foreign:
        raise ValueError(
            f"{path} holds episodes from different settings (config ids {sorted(foreign)}, this run is {config_id}): "
            "resuming would mix them; pass a new out=PATH, or delete that directory to start over"
        )
    return records


def write_episodes(path: str | os.PathLike, records: Sequence[EpisodeRecord]) -> None:
    """Atomically (re)write episodes.csv, sorted by (seed, episode)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in sorted(records, key=lambda r: (r.seed, r.episode)):
        writer.writerow(asdict(record))
    write_text_atomic(path, buf.getvalue())


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equally long arrays (1 = same ordering, -1 = reversed)."""
    ranks = [np.argsort(np.argsort(np.ravel(x))).astype(float) for x in (a, b)]
    return float(np.corrcoef(*ranks)[0, 1])


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion (sensible at 0%, 100% and small n)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class Summary:
    """Success rate with its 95% Wilson interval, distances, env steps and planning time over some episodes."""

    episodes: int
    successes: int
    success_rate: float
    success_ci95: list[float]
    mean_final_distance: float | None
    mean_min_distance: float | None
    env_steps: int
    mean_env_steps: float | None
    replans: int
    plan_time_per_replan_s: dict[str, float]  # mean (replan-weighted) and p50 of the episodes' mean plan times


def summarize(records: Sequence[EpisodeRecord]) -> Summary:
    """The Summary of `records`."""
    n = len(records)
    successes = sum(r.success for r in records)
    replans = sum(r.replans for r in records)
    # Replan-weighted mean: every batched replan counts once per episode it served.
    plan_mean = sum(r.plan_time_s * r.replans for r in records) / replans if replans else 0.0
    return Summary(
        episodes=n, successes=successes, success_rate=successes / n if n else 0.0,
        success_ci95=list(wilson_interval(successes, n)),
        mean_final_distance=float(np.mean([r.final_distance for r in records])) if n else None,
        mean_min_distance=float(np.mean([r.min_distance for r in records])) if n else None,
        env_steps=int(sum(r.steps for r in records)),
        mean_env_steps=float(np.mean([r.steps for r in records])) if n else None,
        replans=replans,
        plan_time_per_replan_s={
            "mean": plan_mean,
            "p50": float(np.median([r.plan_time_s for r in records if r.replans])) if replans else 0.0,
        },
    )
