"""`worldjepa value`: fit a GoalValue on a world model's frozen embeddings by expectile TD on hindsight goals (IQL/HIQL style).

Transitions are (z_t, z_{t+frameskip}) of the dataset: one latent step, reward -1, and the episode of
that transition ends when z_t is the goal. Goals are relabelled in hindsight: a future frame of the
same episode at a geometric offset, the frame itself (value 0), or a random frame. The expectile
(tau > 0.5) is optimistic, so the value tends to the *shortest* route in the data rather than the
average one; a Polyak-averaged target network stabilises the backup.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import trange

from worldjepa.atomic import write_json_atomic
from worldjepa.errors import WorldJepaError, check_positive_int
from worldjepa.evaluation.records import rank_correlation
from worldjepa.models.goal_value import GoalValue
from worldjepa.planning.costs import METRICS
from worldjepa.training.device import select_device
from worldjepa.training.frozen import encode_episodes, fitted_summary, load_frozen

VALUE = "value.pt"


@dataclass(frozen=True)
class ValueSettings:
    """Hyperparameters of the fit (configs/value.yaml documents each)."""

    steps: int = 6000
    batch_size: int = 1024
    lr: float = 3e-4
    expectile: float = 0.9
    polyak: float = 0.005
    future_share: float = 0.6
    self_share: float = 0.2
    hidden: int = 256
    depth: int = 2
    gamma: float = 0.97


class HindsightTransitions:
    """Samples (z_t, z_next, z_goal, at_goal) from encoded episodes (`embeddings[e]` is [T_e + 1, D])."""

    def __init__(self, embeddings: list[torch.Tensor], frameskip: int, gamma: float, future_share: float,
                 self_share: float) -> None:
        if not (future_share >= 0 and self_share >= 0 and future_share + self_share <= 1):
            raise ValueError(f"future_share={future_share}, self_share={self_share}: both >= 0 with a sum <= 1")
        self.z, self.frameskip, self.gamma = torch.cat(embeddings), frameskip, gamma
        self.future_share, self.self_share = future_share, self_share
        starts, ends, first = [], [], 0
        for z in embeddings:
            last = first + len(z) - 1
            starts += range(first, last - frameskip + 1)
            ends += [last] * max(0, len(z) - frameskip)
            first += len(z)
        if not starts:
            raise ValueError(f"no episode is longer than frameskip={frameskip} env steps: collect longer episodes")
        self.starts, self.ends = torch.tensor(starts), torch.tensor(ends)

    def sample(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        pick = torch.randint(len(self.starts), (n,), generator=gen)
        t, end = self.starts[pick], self.ends[pick]
        # Geometric offset in latent steps (mean 1 / (1 - gamma)), at least one step, inside the episode.
        u = torch.rand(n, generator=gen).clamp_min(1e-12)
        steps = 1 + torch.floor(torch.log(u) / math.log(self.gamma)).long()
        future = torch.minimum(t + steps * self.frameskip, end)
        random = torch.randint(len(self.z), (n,), generator=gen)
        kind = torch.rand(n, generator=gen)
        goal = torch.where(kind < self.future_share, future,
                           torch.where(kind < self.future_share + self.self_share, t, random))
        return self.z[t], self.z[t + self.frameskip], self.z[goal], goal == t


def fit_value(train: HindsightTransitions, settings: ValueSettings, seed: int, device: torch.device,
              progress: bool = True) -> tuple[GoalValue, dict[str, float]]:
    """Expectile TD: V(z, g) <- -1 + gamma V_target(z', g), and 0 where z is the goal."""
    s = settings
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    value = GoalValue(train.z.shape[1], s.hidden, s.depth, s.gamma).to(device)
    target = copy.deepcopy(value).requires_grad_(False)
    opt = torch.optim.AdamW(value.parameters(), lr=s.lr)
    loss = torch.tensor(math.nan)
    for step in trange(s.steps, desc="value", disable=not progress):
        z, z_next, z_goal, at_goal = (x.to(device) for x in train.sample(s.batch_size, gen))
        with torch.no_grad():
            backup = torch.where(at_goal, torch.zeros(()), -1.0 + s.gamma * target(z_next, z_goal))
        diff = backup - value(z, z_goal)
        loss = (torch.where(diff < 0, 1.0 - s.expectile, s.expectile) * diff.pow(2)).mean()
        if not torch.isfinite(loss):
            raise WorldJepaError(f"value: the loss became {loss.item()} at step {step}: lower lr (now {s.lr}) and rerun")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for p_t, p in zip(target.parameters(), value.parameters()):
                p_t.lerp_(p, s.polyak)
    return value.eval().requires_grad_(False), {"train_loss": loss.item()}


def fit_goal_value(*, checkpoint: str, data: str | None, out: str | Path, seed: int, device: str, progress: bool = True,
                   **settings: Any) -> dict:
    """Fit a GoalValue for `checkpoint` on `data` (default: its training dataset); write out/value.pt.

    `settings` are ValueSettings' fields. A rerun whose out/value.pt was fit on the same checkpoint with the
    same settings returns at once. The summary reports the Spearman rank correlation between the value's
    steps and the true steps left to each held-out episode's last frame, beside L2's.
    """
    s = ValueSettings(**settings)
    for name in ("steps", "batch_size", "hidden", "depth"):
        check_positive_int(name, getattr(s, name))
    if not 0.5 <= s.expectile < 1:
        raise ValueError(f"expectile={s.expectile}: pass a value in [0.5, 1) (0.9 learns the shortest routes)")
    torch_device = select_device(device)
    frozen = load_frozen(checkpoint, data, torch_device)
    out = Path(out)
    recorded = {"dataset": str(frozen.store.root), "seed": seed, **asdict(s)}
    done = fitted_summary(GoalValue, out / VALUE, out / "value.json", frozen.sha, recorded)
    if done is not None:
        print(f"value: {out / VALUE} is already fit on this checkpoint with these settings; delete it to refit")
        return done
    t0 = time.perf_counter()
    model = frozen.model
    embeddings, _ = encode_episodes(model, frozen.store, frozen.train_episodes, torch_device)
    pairs = HindsightTransitions(embeddings, model.frameskip, s.gamma, s.future_share, s.self_share)
    value, losses = fit_value(pairs, s, seed, torch_device, progress)
    held_out, _ = encode_episodes(model, frozen.store, frozen.val_episodes, torch_device)
    meta = {"checkpoint": str(checkpoint), "checkpoint_sha256": frozen.sha, "settings": recorded, **losses,
            **ranking(value, [z[:: model.frameskip] for z in held_out])}
    value.save(out / VALUE, meta)
    summary = {**meta, "seconds": round(time.perf_counter() - t0, 1)}
    write_json_atomic(out / "value.json", summary)
    print(f"value: Spearman with steps left on held-out episodes {summary['spearman_value']:.3f} "
          f"(L2: {summary['spearman_l2']:.3f}) after {s.steps} steps ({summary['seconds']} s) -> {out / VALUE}")
    return summary


@torch.no_grad()
def ranking(value: GoalValue, episodes: list[torch.Tensor]) -> dict[str, float]:
    """Mean Spearman correlation, over episodes, of the value's steps and of L2 with the steps left to the last frame."""
    by_value, by_l2 = [], []
    for z in (z for z in episodes if len(z) > 2):
        left = np.arange(len(z) - 1, -1, -1)
        by_value.append(rank_correlation(value.steps(z, z[-1:]).numpy(), left))
        by_l2.append(rank_correlation(METRICS["l2"](z, z[-1:]).numpy(), left))
    mean = lambda values: float(np.mean(values)) if values else math.nan  # noqa: E731
    return {"spearman_value": mean(by_value), "spearman_l2": mean(by_l2)}


def run(cfg: DictConfig) -> dict:
    """CLI entry (`worldjepa value`): fit with the composed configs/value.yaml."""
    kwargs = OmegaConf.to_container(cfg, resolve=True)
    kwargs.pop("hydra", None)
    return fit_goal_value(**kwargs)
