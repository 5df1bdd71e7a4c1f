"""`worldjepa imitate`: fit a goal-conditioned policy on a trained world model's embeddings.

Every frame of the dataset is encoded once with the checkpoint's (frozen) target encoder. Each step
samples hindsight pairs: the context at time t, a goal frame `goal_offset` env steps later in the
same episode, and the action chunk the data took at t. The policy (worldjepa/models/goal_policy.py)
learns to regress that chunk. `worldjepa plan prior=OUT/policy.pt` then starts CEM/MPPI from its
proposals, or runs it alone with planner=policy.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import trange

from worldjepa.atomic import write_json_atomic
from worldjepa.errors import WorldJepaError, check_positive_int
from worldjepa.models.goal_policy import GoalPolicy
from worldjepa.training.device import autocast, autocast_dtype, select_device
from worldjepa.training.frozen import encode_episodes, fitted_summary, load_frozen

POLICY = "policy.pt"


def check_goal_offset(offsets: tuple[int, int]) -> tuple[int, int]:
    """(low, high) env steps from a context frame to its goal; a clear error unless 1 <= low <= high."""
    if len(offsets) != 2 or not 1 <= offsets[0] <= offsets[1]:
        raise ValueError(f"goal_offset={list(offsets)}: pass [low, high] env steps with 1 <= low <= high")
    return offsets[0], offsets[1]


class HindsightPairs:
    """Samples (context, goal, action chunk) triples from encoded episodes.

    `embeddings[e]` is [T_e + 1, D] (one per frame), `actions[e]` is [T_e, A]. Context frames are
    `frameskip` env steps apart, like the world model's; a start younger than the context repeats
    its first frame. Goals lie `offsets = (low, high)` env steps ahead, inside the episode.
    """

    def __init__(self, embeddings: list[torch.Tensor], actions: list[torch.Tensor], history: int, frameskip: int,
                 offsets: tuple[int, int]) -> None:
        low, high = check_goal_offset(offsets)
        self.history, self.frameskip, self.low, self.high = history, frameskip, low, high
        self.z = torch.cat(embeddings)
        self.actions = torch.cat([torch.cat([a, a[-1:]]) for a in actions])  # padded to one row per frame
        starts, ends, firsts, first = [], [], [], 0
        for z in embeddings:
            last = len(z) - 1  # the final frame's index; frames 0..last-1 have actions
            for t in range(first, first + last - max(frameskip, low) + 1):
                starts.append(t)
                ends.append(first + last)
                firsts.append(first)
            first += len(z)
        if not starts:
            raise ValueError(
                f"no episode is longer than goal_offset low={low} and frameskip={frameskip} env steps: "
                "collect longer episodes or lower goal_offset"
            )
        self.starts, self.ends, self.firsts = torch.tensor(starts), torch.tensor(ends), torch.tensor(firsts)

    def __len__(self) -> int:
        return len(self.starts)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n triples: z_hist [n, k, D], z_goal [n, D], chunk [n, frameskip * A]."""
        pick = torch.randint(len(self.starts), (n,), generator=generator)
        t, end, first = self.starts[pick], self.ends[pick], self.firsts[pick]
        span = torch.minimum(end - t, torch.tensor(self.high)) - self.low + 1
        goal = t + self.low + (torch.rand(n, generator=generator) * span).long()
        back = torch.arange(self.history - 1, -1, -1) * self.frameskip
        hist = torch.maximum(t[:, None] - back, first[:, None])
        chunk = self.actions[t[:, None] + torch.arange(self.frameskip)].flatten(1)
        return self.z[hist], self.z[goal], chunk


def fit_policy(train: HindsightPairs, val: HindsightPairs | None, policy: GoalPolicy, steps: int, batch_size: int,
               lr: float, seed: int, device: torch.device, progress: bool = True,
               amp_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Regress the data's chunks (MSE, cosine-decayed AdamW, the forward under `amp_dtype` autocast);
    returns the final train and val losses."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(policy.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    policy.train()
    loss = torch.tensor(math.nan)
    for step in trange(steps, desc="imitate", disable=not progress):
        z_hist, z_goal, chunk = (x.to(device) for x in train.sample(batch_size, gen))
        with autocast(device, amp_dtype):
            predicted = policy(z_hist, z_goal)
        loss = (predicted.float() - chunk).pow(2).mean()
        if not torch.isfinite(loss):
            raise WorldJepaError(
                f"imitate: the loss became {loss.item()} at step {step}: lower lr (now {lr}) and rerun"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    policy.eval()
    losses = {"train_loss": loss.item()}
    if val is not None:
        with torch.no_grad():
            z_hist, z_goal, chunk = (x.to(device) for x in val.sample(4096, torch.Generator().manual_seed(seed)))
            losses["val_loss"] = (policy(z_hist, z_goal) - chunk).pow(2).mean().item()
    return losses


def imitate(*, checkpoint: str, data: str | None, out: str | Path, steps: int, batch_size: int, lr: float,
            hidden: int, depth: int, goal_offset: tuple[int, int], seed: int, device: str,
            precision: str = "auto", progress: bool = True) -> dict:
    """Fit a GoalPolicy for `checkpoint` on `data` (default: its training dataset); write out/policy.pt.

    The val loss is measured on the episodes the checkpoint's training held out (same fraction and seed).
    A rerun whose out/policy.pt was fit on the same checkpoint with the same settings returns at once.
    """
    for name, value in (("steps", steps), ("batch_size", batch_size), ("hidden", hidden), ("depth", depth)):
        check_positive_int(name, value)
    check_goal_offset(goal_offset)
    torch.manual_seed(seed)
    torch_device = select_device(device)
    amp_dtype = autocast_dtype(precision, torch_device)
    frozen = load_frozen(checkpoint, data, torch_device)
    model, sha, store = frozen.model, frozen.sha, frozen.store
    out = Path(out)
    settings = {"dataset": str(store.root), "steps": steps, "batch_size": batch_size, "lr": lr, "hidden": hidden,
                "depth": depth, "goal_offset": list(goal_offset), "seed": seed, "precision": str(amp_dtype or "fp32")}
    done = fitted_summary(GoalPolicy, out / POLICY, out / "imitate.json", sha, settings)
    if done is not None:
        print(f"imitate: {out / POLICY} is already fit on this checkpoint with these settings; delete it to refit")
        return done
    t0 = time.perf_counter()
    pairs = [HindsightPairs(*encode_episodes(model, store, eps, torch_device), model.history, model.frameskip,
                            tuple(goal_offset)) if eps else None for eps in (frozen.train_episodes, frozen.val_episodes)]
    policy = GoalPolicy(model.embed_dim, model.history, model.frameskip * model.action_dim, hidden, depth).to(torch_device)
    losses = fit_policy(pairs[0], pairs[1], policy, steps, batch_size, lr, seed, torch_device, progress, amp_dtype)
    meta = {"checkpoint": str(checkpoint), "checkpoint_sha256": sha, "settings": settings, **losses}
    policy.save(out / POLICY, meta)
    summary = {**meta, "train_pairs": len(pairs[0]), "seconds": round(time.perf_counter() - t0, 1)}
    write_json_atomic(out / "imitate.json", summary)
    val = f", val {losses['val_loss']:.4f}" if "val_loss" in losses else ""
    print(f"imitate: loss {losses['train_loss']:.4f}{val} after {steps} steps ({summary['seconds']} s) -> {out / POLICY}")
    return summary


def run(cfg: DictConfig) -> dict:
    """CLI entry (`worldjepa imitate`): fit with the composed configs/imitate.yaml."""
    kwargs = OmegaConf.to_container(cfg, resolve=True)
    kwargs.pop("hydra", None)
    return imitate(**kwargs)
