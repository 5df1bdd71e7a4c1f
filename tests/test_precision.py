"""Tests for the training precision choice: precision=auto follows the hardware, an explicit choice wins."""

from __future__ import annotations

import pytest
import torch

from worldjepa.training import device


@pytest.mark.parametrize("fast_bf16,expected", [(True, torch.bfloat16), (False, None)])
def test_auto_precision_on_cpu_follows_the_cpus_bf16_support(monkeypatch, fast_bf16, expected):
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: fast_bf16)
    assert device.autocast_dtype("auto", torch.device("cpu")) is expected
    assert device.autocast_dtype("fp32", torch.device("cpu")) is None  # an explicit choice always wins
    assert device.autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16

