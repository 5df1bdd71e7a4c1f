"""Device and precision selection for training: auto/cpu/cuda, bf16 autocast (where the hardware has it) or fp32."""

from __future__ import annotations

import contextlib
import functools

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available else CPU; ``cuda`` without CUDA -> ValueError naming the fix."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={name} but this torch ({torch.__version__}) sees no CUDA GPU: "
                "pass device=cpu, or device=auto to use a GPU only when there is one"
            )
        return torch.device("cuda", local_rank) if name == "cuda" else torch.device(name)
    if name != "cpu":
        raise ValueError(f"device={name!r} is unknown: use auto, cpu or cuda")
    return torch.device("cpu")


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN has a bf16 path on this CPU (AVX512 or newer; native on AVX512-BF16 and AMX).

    torch runs bf16 on any CPU, but without such a path a bf16 matmul fell to 0.28 GFLOP/s on a 2-core
    AMD EPYC, 300x slower than fp32; on one with AVX512-BF16 the default model trains 1.3-1.8x faster in
    bf16 at the same held-out error (benchmarks/results/roofline.json). A capability check, not a
    timing, so every run on a machine (a resumed one included) gets the same precision.
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast with ``precision=auto`` on CUDA and on CPUs with native bf16 (`cpu_has_fast_bf16`), else fp32;
    ``fp32`` and ``bf16`` force one."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is unknown: use one of {PRECISIONS}")
    if precision == "auto":
        fast = device.type == "cuda" or (device.type == "cpu" and cpu_has_fast_bf16())
        return torch.bfloat16 if fast else None
    return torch.bfloat16 if precision == "bf16" else None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype``, or a no-op context for full precision."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
