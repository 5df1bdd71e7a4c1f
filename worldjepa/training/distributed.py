"""torch.distributed for training under torchrun: process-group setup, agreeing on a stop, replica checks."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from worldjepa.training.device import select_device


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a (possibly single-process) job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process logs, evaluates and writes checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_name: str) -> DistInfo:
    """Join the torchrun process group when RANK/WORLD_SIZE are set (nccl on CUDA, gloo on CPU)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistInfo()
    info = DistInfo(
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )
    if not dist.is_initialized():
        device = select_device(device_name, info.local_rank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return info


def shutdown_distributed(info: DistInfo) -> None:
    """Leave the process group (a no-op for single-process runs)."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_ranks_agree(problem: str | None, info: DistInfo) -> str | None:
    """Under DDP, make every rank stop when any rank hit ``problem`` (one rank raising alone hangs the others)."""
    if not info.enabled:
        return problem
    flag = torch.tensor([float(problem is not None)], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(flag)
    if flag.item() and problem is None:
        return "divergence on another rank"
    return problem


def average_gradients(params: list[nn.Parameter], info: DistInfo) -> None:
    """Average `params`' gradients over the ranks, as DDP does (a no-op in a single process)."""
    if not info.enabled:
        return
    for param in params:
        dist.all_reduce(param.grad)
        param.grad /= info.world_size


@torch.no_grad()
def assert_replicas_equal(model: nn.Module, info: DistInfo) -> None:
    """Check every rank holds rank 0's parameters, EMA target included (a silent desync would make
    rank 0's checkpoint differ from what the other ranks trained)."""
    if not info.enabled:
        return
    for name, param in model.state_dict().items():
        reference = param.detach().clone()
        dist.broadcast(reference, src=0)
        if not torch.equal(reference, param):
            raise RuntimeError(
                f"DDP replicas diverged: rank {info.rank} holds a different {name!r} than rank 0. "
                "This is a bug in the training loop (every rank must apply identical updates): please report it"
            )
